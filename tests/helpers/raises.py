"""The ``pytest.raises(...)`` calls of the test files that name no expected message, read with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

# "tests/path/to/test_file.py:line" -> why that ``pytest.raises`` may go without ``match=``
# (an exception whose message is empty, so there is nothing to match). Every entry needs its reason.
ALLOWED_WITHOUT_MATCH: dict[str, str] = {}


def _raises_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The names the file gives the pytest module (``import pytest as pt``) and ``raises`` itself."""
    modules, functions = {"pytest"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name for alias in node.names if alias.name == "pytest")
        elif isinstance(node, ast.ImportFrom) and node.module == "pytest" and node.level == 0:
            functions.update(alias.asname or alias.name for alias in node.names if alias.name == "raises")
    return modules, functions


def _is_raises(call: ast.Call, modules: set[str], functions: set[str]) -> bool:
    function = call.func
    if isinstance(function, ast.Attribute):
        return function.attr == "raises" and isinstance(function.value, ast.Name) and function.value.id in modules
    return isinstance(function, ast.Name) and function.id in functions


def _has_match(call: ast.Call) -> bool:
    """Is there a ``match=`` keyword that is not ``match=None`` (``**options`` does not count)?"""
    return any(keyword.arg == "match" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is None)
               for keyword in call.keywords)


def raises_without_match_in_source(source: str) -> list[int]:
    """The line of every ``pytest.raises(...)`` call of ``source`` (``with`` item or plain call) without ``match=``."""
    tree = ast.parse(source)
    modules, functions = _raises_names(tree)
    return sorted(node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and _is_raises(node, modules, functions) and not _has_match(node))


def raises_without_match(repository_dir: Path) -> list[str]:
    """``tests/...py:line`` for every ``pytest.raises(...)`` without ``match=`` in the test files."""
    sites = []
    for path in sorted((repository_dir / "tests").rglob("*.py")):
        relative = path.relative_to(repository_dir).as_posix()
        lines = raises_without_match_in_source(path.read_text(encoding="utf-8"))
        sites.extend(f"{relative}:{line}" for line in lines)
    return sites
