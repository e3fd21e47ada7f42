"""Read what the grading needs from nbgrader notebooks: graded cells, points, hidden tests.

Everything is discovered from the notebooks' nbgrader metadata, never hard-coded: a notebook
added to course/ or a test cell whose points change is picked up as it is.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
_REGION_MARKERS = {
    "solution": (re.compile(r"^\s*###\s*BEGIN SOLUTION\s*$"), re.compile(r"^\s*###\s*END SOLUTION\s*$")),
    "hidden": (re.compile(r"^\s*###\s*BEGIN HIDDEN TESTS\s*$"), re.compile(r"^\s*###\s*END HIDDEN TESTS\s*$")),
}


@dataclasses.dataclass(frozen=True)
class GradedCell:
    """One graded cell of a source notebook."""

    notebook: str
    grade_id: str
    points: float
    kind: str  # "auto" (a code test cell) or "manual" (a written answer)

    @property
    def key(self) -> str:
        return f"{self.notebook}/{self.grade_id}"


def nbgrader_metadata(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_grade_cell(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("grade"))


def is_solution_cell(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("solution"))


def is_locked_cell(cell) -> bool:
    return bool(nbgrader_metadata(cell).get("locked"))


def grade_id_of(cell) -> str | None:
    return nbgrader_metadata(cell).get("grade_id")


def read_notebook(path: Path):
    return nbformat.read(str(path), as_version=4)


def graded_cells(notebook, notebook_name: str) -> list[GradedCell]:
    """The graded cells of one notebook, in order."""
    found = []
    for cell in notebook.cells:
        metadata = nbgrader_metadata(cell)
        if not metadata.get("grade"):
            continue
        kind = "auto" if cell.cell_type == "code" and not metadata.get("solution") else "manual"
        found.append(GradedCell(notebook_name, metadata["grade_id"], float(metadata.get("points", 0)), kind))
    return found


def assignment_cells(notebook_paths) -> list[GradedCell]:
    """The graded cells of every notebook, in notebook order."""
    cells = []
    for path in notebook_paths:
        cells.extend(graded_cells(read_notebook(path), Path(path).stem))
    return cells


def region_lines(source: str, region: str) -> list[str]:
    """The lines strictly between the markers of ``region`` ("solution" or "hidden")."""
    begin, end = _REGION_MARKERS[region]
    inside, lines = False, []
    for line in source.splitlines():
        if begin.match(line):
            inside = True
        elif end.match(line):
            inside = False
        elif inside:
            lines.append(line)
    return lines


def remove_region(source: str, region: str) -> str:
    """``source`` without the ``region`` blocks (markers included)."""
    begin, end = _REGION_MARKERS[region]
    inside, kept = False, []
    for line in source.splitlines():
        if begin.match(line):
            inside = True
        elif end.match(line):
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept).rstrip()


def remove_marker_lines(source: str) -> str:
    """``source`` with the solution markers removed and the code between them kept."""
    begin, end = _REGION_MARKERS["solution"]
    return "\n".join(line for line in source.splitlines() if not (begin.match(line) or end.match(line)))


def normalise_line(line: str) -> str:
    return " ".join(line.split())


_PRIVATE_NAME = re.compile(r"(?<![\w.])_[A-Za-z]\w*")
_LONG_STRING = re.compile(r"[\"'][^\"']{20,}[\"']")


def hidden_test_lines(source_paths, *, minimum_length: int = 30) -> set[str]:
    """Distinctive lines of the hidden tests, seen nowhere outside them.

    A line counts when it is at least ``minimum_length`` characters long and names a private
    variable (``_model``: hidden tests keep their names private) or holds a long string (their
    messages); generic code such as ``if not isinstance(value, str):`` does not identify them.
    """
    hidden, visible = set(), set()
    for path in source_paths:
        for cell in read_notebook(path).cells:
            for line in region_lines(cell.source, "hidden"):
                hidden.add(normalise_line(line))
            for line in remove_region(cell.source, "hidden").splitlines():
                visible.add(normalise_line(line))
    return {line for line in hidden
            if len(line) >= minimum_length and line not in visible and not line.startswith("#")
            and (_PRIVATE_NAME.search(line) or _LONG_STRING.search(line))}


def reference_notebook(release_notebook, source_notebook):
    """The release notebook with the source's solution code and reference answers put back.

    Solution cells (code and written answers) take their source-notebook text, solution markers
    removed; every other cell stays as released (so the release's extra cells, such as the Colab
    badge, stay too).
    """
    source_cells = {grade_id_of(cell): cell for cell in source_notebook.cells if grade_id_of(cell)}
    notebook = copy.deepcopy(release_notebook)
    for cell in notebook.cells:
        grade_id = grade_id_of(cell)
        if grade_id and is_solution_cell(cell) and grade_id in source_cells:
            cell.source = remove_marker_lines(source_cells[grade_id].source)
    return notebook
