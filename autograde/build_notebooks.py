"""Build the nbgrader source notebooks ``course/*.ipynb`` from ``course/src/*.py``.

Each source is a Python file in "percent" format. A line ``# %% [KIND] key=value ...`` opens a
cell; the kinds are:

* ``markdown``: locked instructions (each line's leading ``# `` is removed);
* ``code``: a locked code cell students run as is (set-up, plots);
* ``free``: an ordinary code cell students may change (not graded);
* ``solution``: an autograded answer cell. A line ``#| solution: module.function`` is replaced
  by that function's source from ``solutions/``: its signature and docstring stay visible and
  its body goes between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The reference
  implementation in ``solutions/`` is therefore the single source of every solution;
* ``tests``: a locked, graded test cell (``points=N``); it must open with a docstring;
* ``answer``: a manually graded markdown answer (``points=N``); its text is the instructor's
  reference answer and becomes "VOTRE RÉPONSE ICI" in the release.

In a ``code`` or ``free`` cell, a line ``#| definition: module.NAME`` is replaced by the
top-level assignment of ``NAME`` in ``solutions/`` (a constant students read, or a reference
choice they may change in a ``free`` cell, such as the 03 variants): it is defined once there and
copied as is into the notebook, which needs no ``solutions`` package to run.

Every cell needs ``id=...`` except ``markdown``, ``code`` and ``free`` cells, which get one
derived from their position. Run ``python -m autograde.build_notebooks`` (``make notebooks``)
after editing a source, a solution or ``autograde/course.json``; ``--check`` exits non-zero when
a notebook (or the registry, below) is stale.

The same command writes the dataset archive's fingerprint recorded in ``autograde/course.json``
(``dataset_archive``: ``sha256`` and ``size``) into ``datasets/registry.json``
(:func:`sync_registry`): that registry is what the student package reads (shipped as
``paysages/registry.json`` in the wheel and the published repository), and the student package
never reads ``autograde/``. So course.json is the one place where the fingerprint is written by
hand, and every download (``paysages data download``, notebook 00 in Colab) is checked against
it (:func:`paysages.data.verification.check_archive_fingerprint`).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import json
import os
import re
import sys
import textwrap
from pathlib import Path

import nbformat

from autograde.layout import COURSE_NOTEBOOK_DIR, REPOSITORY_DIR, course_config, kit_tag
from paysages import __version__
from paysages.files import write_text_atomic

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SOURCE_DIR = COURSE_NOTEBOOK_DIR / "src"
NOTEBOOK_DIR = COURSE_NOTEBOOK_DIR
REGISTRY_PATH = REPOSITORY_DIR / "datasets" / "registry.json"
# The registry entry whose archive fingerprint comes from course.json's dataset_archive.
FINGERPRINTED_DATASET = "landscapes"
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")

KINDS = ("markdown", "code", "free", "solution", "tests", "answer")
_HEADER = re.compile(r"^# %% \[(?P<kind>[a-z]+)\](?P<attributes>.*)$")
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)#\| solution: (?P<target>[\w.]+)\s*$")
_INCLUDE = re.compile(r"^#\| include: (?P<name>[\w]+)\s*$")
_DEFINITION = re.compile(r"^#\| definition: (?P<target>[\w.]+)\s*$")


def _expand_includes(lines: list[str]) -> list[str]:
    """Replace ``#| include: NAME`` by course/src/_NAME.py, with the course settings filled in.

    Besides autograde/course.json's keys, an include may name ``kit_version`` (the kit's
    version) and ``kit_tag`` (the published repository's tag for that version).
    """
    expanded = []
    for line in lines:
        match = _INCLUDE.match(line)
        if match:
            path = SOURCE_DIR / f"_{match.group('name')}.py"
            values = {**course_config(), "kit_version": __version__, "kit_tag": kit_tag()}
            text = path.read_text(encoding="utf-8").format(**values)
            expanded.extend(text.splitlines())
        else:
            expanded.append(line)
    return expanded


class NotebookSourceError(ValueError):
    """A course source file is malformed; the message names the file and line."""


class CourseSettingsError(ValueError):
    """A value of autograde/course.json is malformed; the message names the key and the fix."""


def dataset_archive_fingerprint(config: dict) -> tuple[str | None, int | None]:
    """Return course.json's ``dataset_archive`` as ``(sha256, size)``; ``(None, None)`` if not recorded.

    ``sha256`` is 64 hexadecimal digits (written in lower case) and ``size`` a number of bytes;
    both are recorded together, or neither (null or absent: downloads then say that the archive
    is not verified, and print the values to record).
    """
    entry = config.get("dataset_archive")
    entry = {} if entry is None else entry
    if not isinstance(entry, dict):
        raise CourseSettingsError(
            'dataset_archive in autograde/course.json must be an object {"sha256": ..., "size": ...}.'
        )
    sha256, size = entry.get("sha256") or None, entry.get("size")
    if sha256 is not None:
        if not isinstance(sha256, str) or not _SHA256_PATTERN.match(sha256.strip().lower()):
            raise CourseSettingsError(
                f"dataset_archive.sha256 in autograde/course.json must be 64 hexadecimal digits, "
                f"not {sha256!r}: copy the SHA-256 that `paysages data download` prints."
            )
        sha256 = sha256.strip().lower()
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise CourseSettingsError(
            f"dataset_archive.size in autograde/course.json must be a positive number of bytes, "
            f"not {size!r}: copy the size that `paysages data download` prints."
        )
    if (sha256 is None) != (size is None):
        raise CourseSettingsError(
            "dataset_archive in autograde/course.json records only one of sha256 and size: "
            "record both (as `paysages data download` prints them), or neither."
        )
    return sha256, size


def registry_with_fingerprint(registry_text: str, config: dict) -> str:
    """Return the registry's text with course.json's archive fingerprint in its landscapes entry."""
    registry = json.loads(registry_text)
    archive = registry[FINGERPRINTED_DATASET]["archive"]
    archive["sha256"], archive["size"] = dataset_archive_fingerprint(config)
    return json.dumps(registry, indent=2, ensure_ascii=False) + "\n"


def sync_registry(check: bool = False, *, registry_path: Path | None = None,
                  config: dict | None = None) -> list[Path]:
    """Write (or, with ``check``, compare) the registry's archive fingerprint; return it if stale.

    ``datasets/registry.json``'s ``landscapes.archive.sha256`` and ``size`` are generated from
    ``autograde/course.json``'s ``dataset_archive``: edit that one, then ``make notebooks``.
    """
    path = REGISTRY_PATH if registry_path is None else Path(registry_path)
    current = path.read_text(encoding="utf-8")
    text = registry_with_fingerprint(current, course_config() if config is None else config)
    if text == current:
        return []
    if not check:
        write_text_atomic(path, text)
    return [path]


@dataclasses.dataclass
class CellSource:
    kind: str
    attributes: dict[str, str]
    lines: list[str]
    line_number: int


def parse_source(text: str, name: str = "<source>") -> list[CellSource]:
    """Split a percent-format source into cells."""
    cells: list[CellSource] = []
    current: CellSource | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if match:
            kind = match.group("kind")
            if kind not in KINDS:
                raise NotebookSourceError(f"{name}:{number}: unknown cell kind [{kind}].")
            attributes = {}
            for item in match.group("attributes").split():
                if "=" not in item:
                    raise NotebookSourceError(f"{name}:{number}: attribute {item!r} is not key=value.")
                key, value = item.split("=", 1)
                attributes[key] = value
            current = CellSource(kind, attributes, [], number)
            cells.append(current)
        elif current is None:
            if line.strip() and not line.startswith("#"):
                raise NotebookSourceError(f"{name}:{number}: code before the first cell header.")
        else:
            current.lines.append(line)
    return cells


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _markdown_text(lines: list[str], name: str, line_number: int) -> str:
    text = []
    for offset, line in enumerate(lines):
        if line == "#":
            text.append("")
        elif line.startswith("# "):
            text.append(line[2:])
        elif not line.strip():
            text.append("")
        else:
            raise NotebookSourceError(
                f"{name}:{line_number + offset + 1}: markdown lines must start with '# '."
            )
    return "\n".join(_strip_blank_edges(text))


def function_with_solution_region(target: str) -> str:
    """Return a function's source with its body (after the docstring) as a solution region."""
    module_name, _, function_name = target.rpartition(".")
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    source = textwrap.dedent(inspect.getsource(function))
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, (ast.FunctionDef, ast.ClassDef)):
        raise NotebookSourceError(f"{target} is not a function or class.")
    body = definition.body
    docstring = (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    first_solution_statement = body[1] if docstring else body[0]
    if docstring and len(body) == 1:
        raise NotebookSourceError(f"{target} has only a docstring: nothing to hide.")
    lines = source.splitlines()
    # Statement line numbers are 1-based; decorators and comments before it stay visible.
    split_at = first_solution_statement.lineno - 1
    while split_at > 0 and lines[split_at - 1].strip().startswith("#"):
        split_at -= 1
    head, tail = lines[:split_at], lines[split_at:]
    indent = re.match(r"\s*", tail[0]).group(0)
    return "\n".join(
        head + [f"{indent}### BEGIN SOLUTION"] + tail + [f"{indent}### END SOLUTION"]
    )


def _expand_solution_directives(lines: list[str]) -> list[str]:
    expanded = []
    for line in lines:
        match = _DIRECTIVE.match(line)
        if match:
            code = function_with_solution_region(match.group("target"))
            expanded.extend(textwrap.indent(code, match.group("indent")).splitlines())
        else:
            expanded.append(line)
    return expanded


def definition_source(target: str) -> str:
    """Return the source of the top-level assignment ``NAME = ...`` of ``module.NAME``."""
    module_name, _, constant_name = target.rpartition(".")
    module_source = inspect.getsource(importlib.import_module(module_name))
    assignments = [
        node for node in ast.parse(module_source).body
        if isinstance(node, ast.Assign) and [getattr(item, "id", None) for item in node.targets] == [constant_name]
    ]
    if len(assignments) != 1:
        raise NotebookSourceError(f"{target}: expected one top-level assignment, found {len(assignments)}.")
    return ast.get_source_segment(module_source, assignments[0])


def _expand_definition_directives(lines: list[str]) -> list[str]:
    expanded = []
    for line in lines:
        match = _DEFINITION.match(line)
        if match:
            expanded.extend(definition_source(match.group("target")).splitlines())
        else:
            expanded.append(line)
    return expanded


def _nbgrader_metadata(grade_id, *, grade, solution, locked, points=None, task=False) -> dict:
    metadata = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": task,
    }
    if points is not None:
        metadata["points"] = points
    return metadata


def build_notebook(source_path: Path) -> nbformat.NotebookNode:
    """Turn one course source into an nbgrader source notebook."""
    name = source_path.relative_to(REPOSITORY_DIR).as_posix()
    cells = parse_source(source_path.read_text(encoding="utf-8"), name)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "paysages": {
            "generated_from": name,
            "generator": "autograde/build_notebooks.py",
            "note": "Generated file: edit the source and the solutions/ package, then run make notebooks.",
        },
    }
    seen_ids = set()
    stem = source_path.stem
    for index, cell in enumerate(cells):
        grade_id = cell.attributes.get("id") or f"{stem}_{cell.kind}_{index:02d}"
        if grade_id in seen_ids:
            raise NotebookSourceError(f"{name}:{cell.line_number}: duplicate cell id {grade_id!r}.")
        seen_ids.add(grade_id)
        points = cell.attributes.get("points")
        if cell.kind in ("tests", "answer") and points is None:
            raise NotebookSourceError(f"{name}:{cell.line_number}: a {cell.kind} cell needs points=N.")
        if cell.kind in ("solution", "tests", "answer") and "id" not in cell.attributes:
            raise NotebookSourceError(f"{name}:{cell.line_number}: a {cell.kind} cell needs id=...")
        points_value = float(points) if points is not None else None
        if points_value is not None and points_value.is_integer():
            points_value = int(points_value)

        if cell.kind in ("markdown", "answer"):
            text = _markdown_text(cell.lines, name, cell.line_number)
            new = nbformat.v4.new_markdown_cell(text)
        else:
            lines = _strip_blank_edges(_expand_includes(cell.lines))
            if cell.kind in ("code", "free"):
                lines = _expand_definition_directives(lines)
            if cell.kind == "solution":
                lines = _expand_solution_directives(lines)
                if not any("### BEGIN SOLUTION" in line for line in lines):
                    raise NotebookSourceError(
                        f"{name}:{cell.line_number}: a solution cell needs a solution region."
                    )
            if cell.kind == "tests":
                body = "\n".join(lines).lstrip()
                if not (body.startswith('"""') or body.startswith("'''")):
                    raise NotebookSourceError(
                        f"{name}:{cell.line_number}: a test cell must open with a docstring."
                    )
            new = nbformat.v4.new_code_cell("\n".join(lines))

        if cell.kind == "markdown":
            new.metadata["nbgrader"] = _nbgrader_metadata(grade_id, grade=False, solution=False, locked=True)
        elif cell.kind == "code":
            new.metadata["nbgrader"] = _nbgrader_metadata(grade_id, grade=False, solution=False, locked=True)
        elif cell.kind == "solution":
            new.metadata["nbgrader"] = _nbgrader_metadata(grade_id, grade=False, solution=True, locked=False)
        elif cell.kind == "tests":
            new.metadata["nbgrader"] = _nbgrader_metadata(
                grade_id, grade=True, solution=False, locked=True, points=points_value
            )
        elif cell.kind == "answer":
            new.metadata["nbgrader"] = _nbgrader_metadata(
                grade_id, grade=True, solution=True, locked=False, points=points_value
            )
        new.id = re.sub(r"[^A-Za-z0-9_-]", "-", grade_id)[:64]
        notebook.cells.append(new)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    """Serialise a notebook the way it is committed (stable, no outputs)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def source_files() -> list[Path]:
    return sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))


def build_all(check: bool = False) -> list[Path]:
    """Write (or, with ``check``, compare) every notebook and the registry's archive fingerprint;
    return the stale or written paths."""
    changed = sync_registry(check)
    for source in source_files():
        target = NOTEBOOK_DIR / f"{source.stem}.ipynb"
        text = render(build_notebook(source))
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            changed.append(target)
            if not check:
                target.write_text(text, encoding="utf-8")
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    arguments = parser.parse_args(argv)
    try:
        changed = build_all(check=arguments.check)
    except CourseSettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verb = "stale" if arguments.check else "written"
    for path in changed:
        print(f"{verb}: {path.relative_to(REPOSITORY_DIR)}")
    if not changed:
        print("All course notebooks (and the registry's archive fingerprint) are up to date.")
    return 1 if (arguments.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
