"""The pipeline's guards between submissions, with a real gradebook and a stand-in for nbgrader.

``run_nbgrader`` is replaced by a fake that does what nbgrader's autograde does to the gradebook
(creates the submission, saves the test cells' scores) after running a per-test "kernel" hook
that tampers like a hostile notebook would: the grading files, the pristine data, the gradebook.
Everything else (journal, guards, zeroing, the CLI's exit status, the export) is the real code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograde import guards, pipeline, sandbox
from autograde import report as report_module
from autograde.layout import (
    CourseLayout,
    kernel_spec_bytes,
    kernel_spec_path,
    migration_marker_path,
    prepare_course_dir,
)
from autograde.limits import ProcessResult

NAMES = ["00_toy", "01_toy"]
TEST_POINTS = 2.0
ANSWER_POINTS = 3.0


def _cell(kind, source, grade_id, **flags):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, "grade_id": grade_id,
                                 "schema_version": 3, "task": False, **flags}
    cell.id = grade_id
    return cell


def _toy_notebook(name):
    return nbformat.v4.new_notebook(cells=[
        _cell("code", "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION", f"f_{name}", solution=True),
        _cell("code", "assert f(1) == 1", f"test_{name}", grade=True, locked=True, points=TEST_POINTS),
        _cell("markdown", "Réponse.", f"answer_{name}", grade=True, solution=True, points=ANSWER_POINTS),
    ])


@dataclasses.dataclass
class Seen:
    """What one (fake) nbgrader process found when it started."""

    student: str
    notebook: str
    config: bytes
    settings: bytes
    spec: bytes
    extra_files: list[str]
    data: dict[str, str]


@dataclasses.dataclass
class ToyCourse:
    layout: CourseLayout
    seen: list[Seen]
    hooks: dict
    generated: list[int]

    def submit(self, student, names=NAMES):
        folder = self.layout.submitted_dir(student)
        if folder.exists():
            for path in folder.iterdir():
                path.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            nbformat.write(_toy_notebook(name), str(folder / f"{name}.ipynb"))
        (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC", encoding="utf-8")

    def grades(self, student) -> dict[str, tuple]:
        """"notebook/grade_id" -> (auto, manual, extra) of one student."""
        found = {}
        with Gradebook(self.layout.db_url, self.layout.course_id) as book:
            for name in NAMES:
                submitted = book.find_submission_notebook(name, self.layout.assignment, student)
                for grade in submitted.grades:
                    found[f"{name}/{grade.name}"] = (grade.auto_score, grade.manual_score, grade.extra_credit)
        return found

    def autograde(self, **options):
        messages = []
        # The guards are the defence of unsandboxed grading (--unsandboxed): these toy notebooks
        # attack the course directory, which a sandboxed kernel cannot even see.
        options.setdefault("decision", sandbox.grading_decision(unsandboxed=True))
        journal = pipeline.autograde(self.layout.root, db_url=self.layout.db_url, echo=messages.append, **options)
        return journal, messages


def _fake_data(layout, settings, data_dir):
    (data_dir / "images").mkdir(parents=True)
    for index in range(3):
        (data_dir / "images" / f"{index}.jpg").write_bytes(bytes([index]) * 100)
    (data_dir / "cache.npz").write_bytes(b"cache")


@pytest.fixture(scope="module")
def released_gradebook(tmp_path_factory) -> Path:
    """A gradebook holding the toy assignment, as `nbgrader generate_assignment` leaves it (made once)."""
    folder = tmp_path_factory.mktemp("toy_gradebook")
    layout = CourseLayout.create(folder, db_url=f"sqlite:///{folder / 'gradebook.db'}")
    # A new gradebook runs nbgrader's `alembic` script, found on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", path)
        with Gradebook(layout.db_url, layout.course_id) as book:
            book.add_assignment(layout.assignment)
            for name in NAMES:
                book.add_notebook(name, layout.assignment)
                book.add_grade_cell(f"test_{name}", name, layout.assignment, max_score=TEST_POINTS, cell_type="code")
                book.add_grade_cell(f"answer_{name}", name, layout.assignment, max_score=ANSWER_POINTS,
                                    cell_type="markdown")
                book.add_solution_cell(f"f_{name}", name, layout.assignment)
                book.add_solution_cell(f"answer_{name}", name, layout.assignment)
    return folder / "gradebook.db"


@pytest.fixture
def toy(tmp_path, monkeypatch, released_gradebook) -> ToyCourse:
    course_dir = tmp_path / "course"
    layout = CourseLayout.create(course_dir, db_url=f"sqlite:///{course_dir / 'gradebook.db'}")
    layout.source_dir.mkdir(parents=True)
    for name in NAMES:
        nbformat.write(_toy_notebook(name), str(layout.source_dir / f"{name}.ipynb"))
    prepare_course_dir(layout)
    shutil.copyfile(released_gradebook, course_dir / "gradebook.db")
    generated = []

    def generate(layout_, settings, data_dir):
        generated.append(1)
        _fake_data(layout_, settings, data_dir)

    monkeypatch.setattr(guards, "_generate_grading_data", generate)
    course = ToyCourse(layout, [], {}, generated)

    def fake_run_nbgrader(layout_, arguments, *, log_name, settings=None, timeout=None, extra_env=None,
                          token=None, log_dir=None):
        student = arguments[arguments.index("--student") + 1]
        notebook = arguments[arguments.index("--notebook") + 1]
        extra = sorted(path.relative_to(layout_.root).as_posix()
                       for folder in (layout_.jupyter_dir, layout_.jupyter_config_dir)
                       for path in folder.rglob("*") if path.is_file())
        course.seen.append(Seen(student, notebook, layout_.config_path.read_bytes(), layout_.settings_path.read_bytes(),
                                kernel_spec_path(layout_).read_bytes(), extra,
                                guards.tree_manifest(Path(extra_env["PAYSAGES_DATA_ROOT"]))))
        hook = course.hooks.get((student, notebook))
        if hook:
            hook(layout_)
        # What nbgrader's autograde and SaveAutoGrades write.
        with Gradebook(layout_.db_url, layout_.course_id) as book:
            book.update_or_create_student(student)
            book.update_or_create_submission(layout_.assignment, student)
            for grade in book.find_submission_notebook(notebook, layout_.assignment, student).grades:
                if grade.name.startswith("test_"):
                    grade.auto_score = grade.max_score
                    grade.needs_manual_grade = grade.manual_score is not None
            book.db.commit()
        out = layout_.autograded_dir(student) / f"{notebook}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(_toy_notebook(notebook), str(out))
        return ProcessResult(returncode=0, timed_out=False, seconds=0.01)

    monkeypatch.setattr(pipeline, "run_nbgrader", fake_run_nbgrader)
    return course


def _sql(layout, statement, *parameters):
    with contextlib.closing(sqlite3.connect(str(layout.root / "gradebook.db"))) as database:
        database.execute(statement, parameters)
        database.commit()


OWN_ROWS = ("SELECT grade.id FROM grade JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "WHERE submitted_assignment.student_id = ?")


def test_grading_files_and_data_changed_by_one_submission_never_reach_the_next(toy):
    """Are the config, settings, kernel spec, Jupyter folders and data pristine for the next student?"""
    layout = toy.layout
    pristine = {"config": layout.config_path.read_bytes(), "settings": layout.settings_path.read_bytes(),
                "spec": kernel_spec_bytes()}

    def tamper_files(layout_):
        layout_.config_path.write_text("c = get_config()\nc.Execute.timeout = 1\n", encoding="utf-8")
        layout_.settings_path.write_text(json.dumps({"repository_dir": "/tmp/evil"}), encoding="utf-8")
        kernel_spec_path(layout_).write_text('{"argv": ["false"]}', encoding="utf-8")
        (layout_.jupyter_config_dir / "nbgrader_config.py").write_text("c.Execute.timeout = 1\n", encoding="utf-8")

    def tamper_data(layout_):
        (layout_.pristine_data_dir / "images" / "0.jpg").write_bytes(b"poisoned")
        (layout_.pristine_data_dir / "images" / "1.jpg").unlink()
        # Even a manifest made to match the poisoned data does not fool the next check.
        manifest = guards.tree_manifest(layout_.pristine_data_dir)
        (layout_.grading_dir / "data_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    toy.hooks[("alice", "00_toy")] = tamper_files
    toy.hooks[("alice", "01_toy")] = tamper_data
    for student in ("alice", "bob"):
        toy.submit(student)
    journal, messages = toy.autograde()

    reference_data = toy.seen[0].data
    assert set(reference_data) == {"images/0.jpg", "images/1.jpg", "images/2.jpg", "cache.npz"}
    for seen in toy.seen:
        assert (seen.config, seen.settings, seen.spec) == (pristine["config"], pristine["settings"], pristine["spec"])
        assert seen.extra_files == [kernel_spec_path(layout).relative_to(layout.root).as_posix(),
                                    migration_marker_path(layout).relative_to(layout.root).as_posix()]
        assert seen.data == reference_data
    assert [(seen.student, seen.notebook) for seen in toy.seen] == [
        ("alice", "00_toy"), ("alice", "01_toy"), ("bob", "00_toy"), ("bob", "01_toy")]
    # The files are pristine again after the command, and the data was made again once.
    assert layout.config_path.read_bytes() == pristine["config"]
    assert layout.settings_path.read_bytes() == pristine["settings"]
    assert not (layout.jupyter_config_dir / "nbgrader_config.py").exists()
    assert guards.tree_manifest(layout.pristine_data_dir) == reference_data
    assert len(toy.generated) == 2  # Once for the course, once after alice.

    events = {event["event"]: event for event in journal["students"]["alice"]["integrity"]}
    assert set(events["grading_files_restored"]["files"]) == {
        "nbgrader_config.py changed", "paysages_grading.json changed",
        "grading/jupyter/kernels/paysages-grading/kernel.json changed",
        "grading/jupyter_config/nbgrader_config.py added"}
    assert events["grading_files_restored"]["notebook"] == "00_toy"
    assert events["grading_data_restored"]["when"] == "after this submission"
    assert "1 file(s) changed, 1 removed" in events["grading_data_restored"]["details"]
    assert journal["students"]["bob"]["integrity"] == []
    assert any("alice: INTEGRITY" in message for message in messages)


def test_gradebook_changed_by_a_submission_is_restored_and_reported(toy, tmp_path):
    """Are other students' scores and a submission's own manual scores put back, and the change reported?"""
    layout = toy.layout
    toy.submit("bob")
    toy.autograde()
    bob_before = toy.grades("bob")
    assert bob_before["00_toy/test_00_toy"] == (TEST_POINTS, None, None)
    _sql(layout, "UPDATE comment SET manual_comment = 'Bien vu.' WHERE id IN (SELECT comment.id FROM comment "
                 "JOIN submitted_notebook ON comment.notebook_id = submitted_notebook.id)")

    def tamper_gradebook(layout_):
        # What a notebook cell can do with ../../../gradebook.db.
        _sql(layout_, f"UPDATE grade SET auto_score = 0, manual_score = 0 WHERE id NOT IN ({OWN_ROWS})", "alice")
        _sql(layout_, f"UPDATE grade SET manual_score = 99, extra_credit = 5 WHERE id IN ({OWN_ROWS})", "alice")
        _sql(layout_, "UPDATE comment SET manual_comment = 'pwned'")

    toy.submit("alice")
    toy.hooks[("alice", "01_toy")] = tamper_gradebook
    journal, messages = toy.autograde(students=["alice"])

    assert toy.grades("bob") == bob_before
    alice = toy.grades("alice")
    assert alice["00_toy/test_00_toy"] == (TEST_POINTS, None, None)
    assert alice["01_toy/test_01_toy"] == (TEST_POINTS, None, None)
    assert alice["01_toy/answer_01_toy"] == (None, None, None)
    with contextlib.closing(sqlite3.connect(str(layout.root / "gradebook.db"))) as database:
        comments = {row[0] for row in database.execute("SELECT manual_comment FROM comment")}
    assert comments <= {"Bien vu.", None} and "Bien vu." in comments

    events = [event for event in journal["students"]["alice"]["integrity"] if event["event"] == "gradebook_restored"]
    assert len(events) == 1 and events[0]["notebook"] == "01_toy"
    assert events[0]["students"] == ["alice", "bob"]
    assert any("bob 00_toy/test_00_toy grade auto_score 0.0 instead of 2.0" in change for change in events[0]["changes"])
    assert journal["students"]["alice"]["notebooks"]["01_toy"]["auto_score"] == TEST_POINTS

    rows = {row["student"]: row for row in report_module.export_csv(layout.root, tmp_path / "grades.csv",
                                                                     db_url=layout.db_url)}
    assert rows["bob"]["check"] == "ok" and rows["bob"]["auto_total"] == 2 * TEST_POINTS
    assert rows["alice"]["auto_total"] == 2 * TEST_POINTS
    assert "changed the gradebook (" in rows["alice"]["check"] and "alice, bob), restored" in rows["alice"]["check"]
    page = report_module.write_report(layout.root, db_url=layout.db_url).read_text(encoding="utf-8")
    assert "INTEGRITY: 01_toy: the gradebook was changed" in page


def test_manual_override_after_autograde_is_shown_in_the_check_column(toy, tmp_path):
    """Is a manual score given to an autograded cell after the last autograde shown for review?"""
    toy.submit("bob")
    toy.autograde()
    _sql(toy.layout, "UPDATE grade SET manual_score = 0.5 WHERE cell_id IN "
                     "(SELECT id FROM base_cell WHERE name = 'test_00_toy')")
    row = report_module.export_csv(toy.layout.root, tmp_path / "grades.csv", db_url=toy.layout.db_url)[0]
    assert row["00_toy auto"] == 0.5
    assert "set after the last autograde: 00_toy/test_00_toy 0.5 (autograded 2)" in row["check"]


def test_a_submission_interrupted_twice_is_marked_failed_not_graded_again(toy, capsys):
    """Does a student left 'running' by two killed runs fail (saved notebooks kept, others 0) with exit 3?"""
    from autograde.cli import EXIT_INCOMPLETE
    from paysages.cli import main

    for student in ("alice", "bob", "carol"):
        toy.submit(student)
    toy.autograde()
    journal = json.loads(toy.layout.journal_path.read_text(encoding="utf-8"))
    # alice: killed twice, the second time in 01 (00 was saved). carol: killed once, in 00.
    journal["students"]["alice"].update(status="running", attempts=2, current="01_toy")
    del journal["students"]["alice"]["notebooks"]["01_toy"]
    journal["students"]["carol"].update(status="running", attempts=1, current="00_toy", notebooks={})
    toy.layout.journal_path.write_text(json.dumps(journal), encoding="utf-8")
    toy.seen.clear()

    code = main(["autograde", "--course-dir", str(toy.layout.root), "--db-url", toy.layout.db_url])
    output = capsys.readouterr().out
    assert code == EXIT_INCOMPLETE
    assert "NOT GRADED alice: failed: grading was interrupted 2 times (last in 01_toy)" in output
    assert "Autograde: 2 of 3 submission(s) graded, 1 not" in output
    journal = json.loads(toy.layout.journal_path.read_text(encoding="utf-8"))
    alice = journal["students"]["alice"]
    assert alice["status"] == "failed"
    assert alice["notebooks"]["01_toy"] == {"status": "not graded: grading interrupted", "seconds": 0.0,
                                            "auto_score": 0.0}
    grades = toy.grades("alice")
    assert grades["00_toy/test_00_toy"][0] == TEST_POINTS and grades["01_toy/test_01_toy"][0] == 0.0
    # carol went again, alone and first (attempt 2); alice never ran; bob was already graded.
    assert [(seen.student, seen.notebook) for seen in toy.seen] == [("carol", "00_toy"), ("carol", "01_toy")]
    assert journal["students"]["carol"]["status"] == "graded" and journal["students"]["carol"]["attempts"] == 2
    # A later run leaves alice alone; naming her with --force grades her again.
    toy.seen.clear()
    assert main(["autograde", "--course-dir", str(toy.layout.root), "--db-url", toy.layout.db_url]) == EXIT_INCOMPLETE
    assert toy.seen == []
    assert main(["autograde", "--course-dir", str(toy.layout.root), "--db-url", toy.layout.db_url,
                 "--student", "alice", "--force"]) == 0
    assert {seen.student for seen in toy.seen} == {"alice"}
    assert "Autograde: 1 of 1 submission(s) graded, 0 not" in capsys.readouterr().out


def test_a_notebook_no_longer_submitted_keeps_no_stale_grade(toy, tmp_path):
    """Does a re-collected submission without 01 score 0 there, instructor's manual grades included?"""
    toy.submit("alice")
    toy.autograde()
    _sql(toy.layout, "UPDATE grade SET manual_score = 3 WHERE cell_id IN (SELECT id FROM base_cell "
                     "WHERE name = 'answer_01_toy')")
    toy.submit("alice", names=["00_toy"])
    journal, _ = toy.autograde()
    grades = toy.grades("alice")
    assert grades["01_toy/test_01_toy"] == (0.0, None, None)
    assert grades["01_toy/answer_01_toy"] == (0.0, None, None)
    record = journal["students"]["alice"]["notebooks"]["01_toy"]
    assert record["status"] == "missing" and record["note"] == "2 grade(s) of an earlier submission set to 0"
    row = report_module.export_csv(toy.layout.root, tmp_path / "grades.csv", db_url=toy.layout.db_url)[0]
    assert (row["01_toy auto"], row["01_toy manual"], row["total"]) == (0.0, 0.0, TEST_POINTS)
    assert row["check"] == "ok"
