"""The points table: computed from the graded cells, published in course/README.md, printed by report."""

from __future__ import annotations

import pytest

from autograde import points
from autograde.layout import BonusSettings, bonus_settings, course_notebooks
from autograde.notebooks import GradedCell, assignment_cells
from paysages.errors import PaysagesError


def _bonus(notebooks=(), cells=None) -> BonusSettings:
    return BonusSettings(frozenset(notebooks), {name: frozenset(ids) for name, ids in (cells or {}).items()})


def test_rows_split_autograded_written_and_bonus_points():
    """Does each graded cell count once, in its own column, bonus cells only as bonus?"""
    cells = [
        GradedCell("01_a", "test_one", 2, "auto"),
        GradedCell("01_a", "answer_one", 3, "manual"),
        GradedCell("01_a", "test_extra", 1, "auto"),
        GradedCell("02_b", "test_two", 4, "auto"),
        GradedCell("09_c", "test_bonus", 5, "auto"),
        GradedCell("09_c", "answer_bonus", 2, "manual"),
    ]
    rows = points.points_by_notebook(cells, _bonus(["09_c"], {"01_a": ["test_extra"]}))
    assert rows == [
        points.NotebookPoints("01_a", 2, 3, 1),
        points.NotebookPoints("02_b", 4, 0, 0),
        points.NotebookPoints("09_c", 0, 0, 7),
    ]
    table = points.format_points_table(rows)
    assert "| **Total** | **6** | **3** | **8** |" in table
    assert "Maximum 9 points: 6 autograded, 3 written (33% of the maximum)" in table


def test_an_unknown_cell_kind_is_refused():
    """Is a graded cell that is neither a test nor an answer refused, naming it?"""
    with pytest.raises(PaysagesError, match="01_a/odd has an unknown kind 'other'"):
        points.points_by_notebook([GradedCell("01_a", "odd", 1, "other")], _bonus())


def test_written_answers_carry_at_least_half_of_the_course_maximum():
    """Does the course follow the brief: method and analyses (by hand) at least half the maximum?"""
    rows = points.points_by_notebook(assignment_cells(course_notebooks()), bonus_settings())
    written = sum(row.written for row in rows)
    autograded = sum(row.autograded for row in rows)
    assert written >= autograded, f"written {written} < autograded {autograded}"
    assert all(row.autograded + row.written == 0 for row in rows if row.notebook >= "09"), "09-11 are bonus only"


def test_the_readme_table_is_the_course_table():
    """Is the table in course/README.md the one the course notebooks give (else run --write-readme)?"""
    readme = points.README_PATH.read_text(encoding="utf-8")
    assert points.readme_with_table(readme, points.course_points_table()) == readme, (
        "course/README.md's points table is out of date: run python -m autograde.points --write-readme"
    )


def test_readme_markers_are_required():
    """Does rewriting refuse a README without exactly one pair of markers?"""
    with pytest.raises(PaysagesError, match="must hold the markers"):
        points.readme_with_table("no markers here", "| table |")
    text = f"intro\n{points.TABLE_START}\nold\n{points.TABLE_END}\nend\n"
    assert points.readme_with_table(text, "new") == f"intro\n{points.TABLE_START}\nnew\n{points.TABLE_END}\nend\n"
