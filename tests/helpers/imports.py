"""The import graph of the repository's packages, read with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGES = ("paysages", "autograde", "solutions")


def module_name(repository_dir: Path, path: Path) -> str:
    """``paysages/data.py`` -> ``paysages.data``; ``autograde/__init__.py`` -> ``autograde``."""
    parts = list(path.relative_to(repository_dir).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path) -> set[str]:
    """Every module named by an import statement of the file, at any depth (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph(repository_dir: Path) -> dict[str, set[str]]:
    """Module -> the repository modules it imports (``from a import b`` counts a.b when it is a module)."""
    files = {module_name(repository_dir, path): path
             for package in PACKAGES for path in sorted((repository_dir / package).rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        graph[name] = {imported for imported in imported_names(path) if imported in files and imported != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index_of, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index_of[module] = low[module] = len(index_of)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index_of:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index_of[imported])
        if low[module] == index_of[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index_of:
            visit(module)
    return cycles
