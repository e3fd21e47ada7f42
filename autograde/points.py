"""The course's points table: per notebook, autograded, written and bonus points.

Read from the graded cells of the course notebooks (nbgrader metadata) and the bonus settings of
``autograde/course.json``, so the table always says what the gradebook will count. ``paysages
report`` prints it; ``course/README.md`` holds a copy between two markers, which
``python -m autograde.points --write-readme`` rewrites and a test compares.

Run ``python -m autograde.points`` to print the table.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from autograde.layout import COURSE_NOTEBOOK_DIR, BonusSettings, bonus_settings, course_notebooks
from autograde.notebooks import GradedCell, assignment_cells
from paysages.errors import PaysagesError
from paysages.files import write_text_atomic

README_PATH = COURSE_NOTEBOOK_DIR / "README.md"
TABLE_START = "<!-- points-table:start (python -m autograde.points --write-readme) -->"
TABLE_END = "<!-- points-table:end -->"


@dataclasses.dataclass(frozen=True)
class NotebookPoints:
    """The points one notebook offers: autograded tests, written answers, and bonus (both kinds)."""

    notebook: str
    autograded: float
    written: float
    bonus: float


def points_by_notebook(cells: list[GradedCell], bonus: BonusSettings) -> list[NotebookPoints]:
    """One row per notebook that has graded cells, in notebook order.

    Bonus cells (``bonus_notebooks`` and ``bonus_cells``) count in ``bonus`` only: they add to a
    grade, never to the maximum, so ``autograded`` and ``written`` are the maximum's two parts.
    """
    rows: dict[str, dict[str, float]] = {}
    for cell in cells:
        row = rows.setdefault(cell.notebook, {"auto": 0.0, "manual": 0.0, "bonus": 0.0})
        if bonus.is_bonus(cell.notebook, cell.grade_id):
            row["bonus"] += cell.points
        elif cell.kind in ("auto", "manual"):
            row[cell.kind] += cell.points
        else:
            raise PaysagesError(f"Graded cell {cell.key} has an unknown kind {cell.kind!r}.")
    return [NotebookPoints(name, row["auto"], row["manual"], row["bonus"]) for name, row in rows.items()]


def _number(value: float) -> str:
    return f"{value:g}"


def format_points_table(rows: list[NotebookPoints]) -> str:
    """A Markdown table of ``rows`` with a total line and the written share of the maximum."""
    lines = [
        "| Notebook | Autograded | Written (by hand) | Bonus |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row.notebook} | {_number(row.autograded)} | {_number(row.written)} | {_number(row.bonus)} |")
    autograded = sum(row.autograded for row in rows)
    written = sum(row.written for row in rows)
    bonus = sum(row.bonus for row in rows)
    lines.append(f"| **Total** | **{_number(autograded)}** | **{_number(written)}** | **{_number(bonus)}** |")
    maximum = autograded + written
    share = written / maximum if maximum else 0.0
    lines.append("")
    lines.append(
        f"Maximum {_number(maximum)} points: {_number(autograded)} autograded, {_number(written)} written "
        f"({share:.0%} of the maximum); bonus points add to a grade, never to the maximum."
    )
    return "\n".join(lines)


def course_points_table(notebook_paths: list[Path] | None = None) -> str:
    """The points table of the course notebooks (``course/NN_*.ipynb`` by default)."""
    paths = course_notebooks() if notebook_paths is None else notebook_paths
    return format_points_table(points_by_notebook(assignment_cells(paths), bonus_settings()))


def readme_with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the two table markers replaced by ``table``."""
    if readme.count(TABLE_START) != 1 or readme.count(TABLE_END) != 1:
        raise PaysagesError(
            f"{README_PATH} must hold the markers {TABLE_START!r} and {TABLE_END!r} once each, in that order."
        )
    head, rest = readme.split(TABLE_START)
    _, tail = rest.split(TABLE_END)
    return f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograde.points", description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", action="store_true", help=f"rewrite the table in {README_PATH}")
    arguments = parser.parse_args(argv)
    table = course_points_table()
    if arguments.write_readme:
        write_text_atomic(README_PATH, readme_with_table(README_PATH.read_text(encoding="utf-8"), table))
        print(f"written: {README_PATH}")
    else:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
