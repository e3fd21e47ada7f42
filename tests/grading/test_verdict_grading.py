"""Attacks on the verdicts of notebooks 00 and 01, graded through the real pipeline in the sandbox (issue 10 item 2).

One ``paysages autograde`` call grades small submissions: the reference (00 and 01), the blank
release of 00, and a wrong ``imbalance_ratio`` whose cell also forges what nbgrader reads from the
test cell (an execute_result published by a ``pre_run_cell`` hook, a custom exception handler or
an input transformer kept installed by a thread) or plants files where the verdict stage might
look (verdict files, a pickled export, a link); in 01, a split with the wrong ratio whose test
cell gets its 2 points from a ``pre_run_cell`` hook. The cells of 00 and 01 are scored from the
verdicts of the trusted process outside the sandbox: each attack loses the points of its wrong
function, and the tests check that the forgeries did fool nbgrader's own reading of the outputs.

Without bubblewrap these tests skip with the reason outside CI and fail under CI=true.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import determine_grade

from autograde.layout import CourseLayout
from autograde.notebooks import grade_id_of
from autograde.records import notebook_grades
from tests.helpers import corpus
from tests.helpers.grading import CommandRun, run_cli
from tests.helpers.sandbox import require_sandbox

pytestmark = pytest.mark.slow

NOTEBOOK = "00_prise_en_main"
NOTEBOOK_01 = "01_separation"
# The cases whose forgery fools nbgrader's reading of the outputs. The custom exception handler
# does not: ipykernel still reports the swallowed failure as an error output (its verdict is
# checked by the scores all the same).
FORGING = ("hookcredit", "transformer")


@dataclasses.dataclass
class VerdictGrading:
    layout: CourseLayout
    cases: dict[str, corpus.Case]
    autograde: CommandRun
    journal: dict
    marker: Path


@pytest.fixture(scope="module")
def verdict_grading(released_course, tmp_path_factory) -> VerdictGrading:
    require_sandbox()
    layout = released_course.copy(tmp_path_factory.mktemp("verdicts") / "course")
    marker = Path(tempfile.gettempdir()) / f"paysages-unpickled-{secrets.token_hex(6)}"
    cases = corpus.verdict_cases(marker_path=str(marker))
    submissions = tmp_path_factory.mktemp("verdict_submissions")
    for case in cases:
        notebooks = corpus.build_notebooks(case, layout.release_dir, layout.source_dir, released_course.notebook_names)
        corpus.write_submission(case, notebooks, submissions, submissions)
    collect = run_cli(layout, "collect", str(submissions))
    assert collect.code == 0, collect.output
    autograde = run_cli(layout, "autograde", "--jobs", "2")
    return VerdictGrading(layout=layout, cases={case.student: case for case in cases}, autograde=autograde,
                          journal=json.loads(layout.journal_path.read_text(encoding="utf-8")), marker=marker)


def _autograded_cell(grading: VerdictGrading, student: str, grade_id: str, notebook: str = NOTEBOOK):
    path = grading.layout.autograded_dir(student) / f"{notebook}.ipynb"
    notebook = nbformat.read(str(path), as_version=4)
    return next(cell for cell in notebook.cells if grade_id_of(cell) == grade_id)


def test_each_case_earns_exactly_its_derived_score(verdict_grading, released_course):
    """Do the reference earn full marks, the blank 0, and each forging case lose its wrong function's points?"""
    assert verdict_grading.autograde.code == 0, verdict_grading.autograde.output[-3000:]
    for student, case in verdict_grading.cases.items():
        entry = verdict_grading.journal["students"][student]
        assert entry["status"] == "graded" and entry["sandbox"]["sandboxed"] is True, student
        scores = corpus.expected_scores(case, released_course.cells, released_course.notebook_names)
        for notebook in corpus.included_notebooks(case, released_course.notebook_names):
            auto_ids = {cell.grade_id for cell in released_course.cells
                        if cell.notebook == notebook and cell.kind == "auto"}
            grades = notebook_grades(verdict_grading.layout, student, notebook)
            actual = sum(float(grades[grade_id]["auto"] or 0) for grade_id in auto_ids)
            assert actual == scores[notebook]["auto"], f"{student}/{notebook}: {case.description}: {grades}"
    reference = verdict_grading.journal["students"]["verdictref"]["notebooks"]
    assert reference[NOTEBOOK]["auto_score"] == 2.0
    assert reference[NOTEBOOK_01]["auto_score"] == 6.0


def test_the_verdicts_were_computed_outside_the_kernel(verdict_grading):
    """Does the journal hold, for each student, this run's seed and the verdict of each cell of 00 (and 01)?"""
    seeds = set()
    for student in verdict_grading.cases:
        record = verdict_grading.journal["students"][student]["notebooks"][NOTEBOOK]["verdicts"]
        assert record["computed_outside_kernel"] is True
        assert set(record["cells"]) == {"test_class_counts", "test_imbalance_ratio"}
        seeds.add(record["seed"])
    assert len(seeds) == len(verdict_grading.cases)
    for student in ("verdictref", "hooksplit"):
        record = verdict_grading.journal["students"][student]["notebooks"][NOTEBOOK_01]["verdicts"]
        assert set(record["cells"]) == {"test_stratified_split", "test_split_table", "test_split_file",
                                        "test_leakage_report"}


@pytest.mark.parametrize("student", FORGING)
def test_the_forgery_fooled_nbgraders_reading_of_the_outputs(verdict_grading, student):
    """Would nbgrader's own scoring of the test cell's outputs have given the point the verdict refuses?"""
    cell = _autograded_cell(verdict_grading, student, "test_imbalance_ratio")
    earned, maximum = determine_grade(cell)
    assert earned == maximum == 1.0, cell.outputs
    record = verdict_grading.journal["students"][student]["notebooks"][NOTEBOOK]["verdicts"]
    assert record["cells"]["test_imbalance_ratio"]["fraction"] == 0.0


def test_a_forged_pass_in_notebook_01_earns_nothing(verdict_grading):
    """Would nbgrader have given the hooked split's cells their points, which the verdicts refuse with their reasons?"""
    record = verdict_grading.journal["students"]["hooksplit"]["notebooks"][NOTEBOOK_01]["verdicts"]["cells"]
    # The visible check of test_stratified_split fails before its hidden part exports anything;
    # test_split_file's visible check passes (split.csv is the student's) and its export is judged.
    for grade_id, points, reason in (("test_stratified_split", 2.0, "exported nothing"),
                                     ("test_split_file", 1.0, "wrong ratio")):
        earned, maximum = determine_grade(_autograded_cell(verdict_grading, "hooksplit", grade_id, NOTEBOOK_01))
        assert earned == maximum == points, grade_id
        assert record[grade_id]["fraction"] == 0.0 and reason in record[grade_id]["reason"], record[grade_id]
    assert record["test_split_table"]["fraction"] == record["test_leakage_report"]["fraction"] == 1.0


def test_planted_files_are_ignored_and_never_unpickled(verdict_grading):
    """Are the pickled export and the link reported as ignored, and was the pickle's payload never run?"""
    record = verdict_grading.journal["students"]["forgedexport"]["notebooks"][NOTEBOOK]["verdicts"]
    assert set(record["ignored_exports"]) == {
        "test_imbalance_ratio.json: a symbolic link, not followed",
        "test_imbalance_ratio.npz: holds pickled objects (refused: allow_pickle=False)",
        "verdicts.json: read, but no verdict uses it",
        "00_prise_en_main.verdicts.json: read, but no verdict uses it",
    }
    assert not verdict_grading.marker.exists()
    verdict_file = verdict_grading.layout.log_dir("forgedexport") / f"{NOTEBOOK}.verdicts.json"
    assert json.loads(verdict_file.read_text(encoding="utf-8"))["verdicts"]["test_imbalance_ratio"]["fraction"] == 0.0


def test_solutions_is_never_bound_in_a_sandbox(verdict_grading):
    """Is notebook 00 graded without the reference solutions anywhere in its sandbox (no bind, even off the path)?"""
    cell = _autograded_cell(verdict_grading, "forgedexport", "imbalance_ratio")
    printed = "".join(output.get("text", "") for output in cell.outputs)
    assert "reference solutions readable: False" in printed


def test_feedback_follows_the_verdict_not_the_forged_outputs(verdict_grading):
    """Does the student's feedback say "failed" for the forged cell, as its stored score does, and "passed" for the reference?"""
    feedback = run_cli(verdict_grading.layout, "feedback", "--student", "hookcredit")
    assert feedback.code == 0, feedback.output
    page = (verdict_grading.layout.feedback_dir("hookcredit") / f"{NOTEBOOK}.html").read_text(encoding="utf-8")
    assert "Test échoué (résultat vérifié hors de votre noyau)" in page
    assert "Test réussi. (résultat vérifié hors de votre noyau)" in page  # test_class_counts is right.
