"""What grading records: the journal, the nbgrader gradebook and the gradebook snapshot.

* the journal (``grading/journal.json``): each student's grading status, notebook by notebook,
  and whether its kernels ran in the sandbox, saved as soon as it changes (a restarted
  ``autograde`` reads it to skip or resume; the reports read the sandbox decision back);
* the gradebook (nbgrader's database, SQLite or any SQLAlchemy URL): the scores of each cell,
  read and written here only;
* the gradebook snapshot (``grading/gradebook_snapshot.json``): the scores as the last
  ``autograde`` left them, which the report compares with the gradebook (a manual score set
  later is shown as such).

Nothing here runs nbgrader or a kernel: :mod:`autograde.pipeline` does, and
:mod:`autograde.report` reads these records.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import shutil
import threading

from autograde.layout import CourseLayout
from paysages.files import write_json_atomic

JOURNAL_VERSION = 1
SNAPSHOT_FILENAME = "gradebook_snapshot.json"


# Journal ------------------------------------------------------------------------------------------
# Journal --------------------------------------------------------------------------------------
def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_journal(layout: CourseLayout) -> dict:
    """The grading journal (an empty one when absent; a corrupt one is kept aside as a copy)."""
    if layout.journal_path.is_file():
        try:
            journal = json.loads(layout.journal_path.read_text(encoding="utf-8"))
            if journal.get("version") == JOURNAL_VERSION:
                return journal
        except json.JSONDecodeError:
            backup = layout.journal_path.with_suffix(".corrupt.json")
            shutil.copyfile(layout.journal_path, backup)
    return {"version": JOURNAL_VERSION, "students": {}}


def save_journal(layout: CourseLayout, journal: dict) -> None:
    """Write the journal at once and to disk (it must survive the grader being killed)."""
    write_json_atomic(layout.journal_path, journal, durable=True)


class Journal:
    """The grading journal, shared by the grading threads; every change is saved at once."""

    def __init__(self, layout: CourseLayout):
        self.layout = layout
        self.lock = threading.RLock()
        self.data = load_journal(layout)

    def get(self, student_id: str) -> dict | None:
        with self.lock:
            entry = self.data["students"].get(student_id)
            return copy.deepcopy(entry) if entry is not None else None

    def put(self, student_id: str, entry: dict) -> None:
        with self.lock:
            self.data["students"][student_id] = copy.deepcopy(entry)
            save_journal(self.layout, self.data)

    def snapshot(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.data)


def grading_failures(journal: dict, students: list[str] | None = None) -> dict[str, str]:
    """student -> why its submission is not fully graded (nbgrader error, rejected, failed...)."""
    failures = {}
    for student, entry in sorted(journal.get("students", {}).items()):
        if students and student not in students:
            continue
        status = entry.get("status")
        if status != "graded":
            failures[student] = f"{status}: {entry.get('error') or 'no detail'}"
            continue
        broken = [name for name, record in entry.get("notebooks", {}).items() if record.get("status") == "error"]
        if broken:
            failures[student] = "nbgrader failed on " + ", ".join(broken) + " (see its log)"
    return failures


def unsandboxed_report_lines(journal: dict, students: list[str] | None = None) -> list[str]:
    """The lines a report must start with: each distinct unsandboxed decision recorded for ``students``.

    ``autograde`` records its sandbox decision in every student's journal entry (``"sandbox"``);
    an empty list means every recorded grading was sandboxed.
    """
    lines = []
    for student, entry in sorted(journal.get("students", {}).items()):
        if students is not None and student not in students:
            continue
        line = (entry.get("sandbox") or {}).get("report_first_line")
        if line and line not in lines:
            lines.append(line)
    return lines


# Gradebook access ---------------------------------------------------------------------------------
@contextlib.contextmanager
def gradebook(layout: CourseLayout):
    from nbgrader.api import Gradebook

    with Gradebook(layout.db_url, layout.course_id) as book:
        yield book


def notebook_grades(layout: CourseLayout, student_id: str, notebook: str) -> dict[str, dict]:
    """grade_id -> {auto, manual, max, needs_manual} of one submitted notebook ({} if none)."""
    from nbgrader.api import MissingEntry

    with gradebook(layout) as book:
        try:
            submitted = book.find_submission_notebook(notebook, layout.assignment, student_id)
        except MissingEntry:
            return {}
        return {grade.name: {"auto": grade.auto_score, "manual": grade.manual_score, "max": grade.max_score,
                             "needs_manual": bool(grade.needs_manual_grade)} for grade in submitted.grades}


def zero_notebook(layout: CourseLayout, student_id: str, notebook: str, auto_grade_ids: set[str], *,
                  clear_manual: bool = False) -> int:
    """Score 0 every test cell of a notebook whose grading did not finish; return how many had points.

    ``clear_manual`` (a notebook no longer submitted) also zeroes its written answers and drops
    every manual score and extra credit of it, so that no stale grade counts.
    """
    from nbgrader.api import MissingEntry

    with gradebook(layout) as book:
        try:
            submitted = book.find_submission_notebook(notebook, layout.assignment, student_id)
        except MissingEntry:
            return 0
        stale = 0
        for grade in submitted.grades:
            if grade.name in auto_grade_ids or clear_manual:
                if (grade.auto_score or 0) or (clear_manual and (grade.manual_score is not None
                                                                 or grade.extra_credit is not None)):
                    stale += 1
                grade.auto_score = 0.0
                grade.needs_manual_grade = False
                if clear_manual:
                    grade.manual_score = None
                    grade.extra_credit = None
        book.db.commit()
        return stale


def set_auto_fractions(layout: CourseLayout, student_id: str, notebook: str, fractions: dict[str, float]) -> dict:
    """Store ``max score x fraction`` as the automatic score of each named cell; return grade id -> score.

    Used by the verdict stage (:mod:`autograde.verdicts.stage`): for these cells, what nbgrader
    derived from the cell's outputs is replaced by the verdict computed outside the kernel.
    """
    from nbgrader.api import MissingEntry

    stored = {}
    with gradebook(layout) as book:
        try:
            submitted = book.find_submission_notebook(notebook, layout.assignment, student_id)
        except MissingEntry:
            return stored
        for grade in submitted.grades:
            if grade.name in fractions:
                fraction = float(fractions[grade.name])
                if not 0.0 <= fraction <= 1.0:
                    raise ValueError(f"The verdict of {notebook}/{grade.name} is {fraction!r}, not a fraction.")
                grade.auto_score = float(grade.max_score or 0) * fraction
                grade.needs_manual_grade = False
                stored[grade.name] = grade.auto_score
        book.db.commit()
    return stored


# Every grade and comment row --------------------------------------------------------------------
_GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
_COMMENT_FIELDS = ("auto_comment", "manual_comment")
TABLE_FIELDS = {"grade": _GRADE_FIELDS, "comment": _COMMENT_FIELDS}


def gradebook_rows(layout: CourseLayout) -> dict[tuple[str, str], dict]:
    """Every grade and comment row: (table, row id) -> its student, notebook, cell and values."""
    from nbgrader.api import BaseCell, Comment, Grade, Notebook, SubmittedAssignment, SubmittedNotebook

    rows = {}
    with gradebook(layout) as book:
        for table, model in (("grade", Grade), ("comment", Comment)):
            fields = TABLE_FIELDS[table]
            query = (book.db.query(model.id, model.notebook_id, model.cell_id, SubmittedAssignment.student_id,
                                   Notebook.name, BaseCell.name, *[getattr(model, field) for field in fields])
                     .select_from(model)
                     .outerjoin(SubmittedNotebook, model.notebook_id == SubmittedNotebook.id)
                     .outerjoin(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                     .outerjoin(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                     .outerjoin(BaseCell, model.cell_id == BaseCell.id))
            for row in query:
                values = dict(zip(fields, row[6:]))
                rows[(table, row[0])] = {"notebook_id": row[1], "cell_id": row[2], "student": row[3],
                                         "notebook": row[4], "cell": row[5], **values}
    return rows


def restore_gradebook_rows(layout: CourseLayout, wanted: dict[tuple[str, str], dict | None]) -> None:
    """Put rows back as in ``wanted`` (None: a row that must not exist)."""
    from nbgrader.api import Comment, Grade

    models = {"grade": Grade, "comment": Comment}
    with gradebook(layout) as book:
        for (table, row_id), row in wanted.items():
            model = models[table]
            existing = book.db.query(model).filter(model.id == row_id).one_or_none()
            if row is None:
                if existing is not None:
                    book.db.delete(existing)
                continue
            values = {field: row[field] for field in TABLE_FIELDS[table]}
            values.update(notebook_id=row["notebook_id"], cell_id=row["cell_id"])
            if existing is None:
                book.db.add(model(id=row_id, **values))
            else:
                for field, value in values.items():
                    setattr(existing, field, value)
        book.db.commit()


# Gradebook snapshot -------------------------------------------------------------------------------
def write_gradebook_snapshot(layout: CourseLayout, students: dict) -> None:
    """Write student -> "notebook/grade_id" -> {auto, manual, extra} (read by the report)."""
    write_json_atomic(layout.grading_dir / SNAPSHOT_FILENAME, {"written_at": now(), "students": students},
                      indent=1)


def load_gradebook_snapshot(layout: CourseLayout) -> dict:
    """student -> "notebook/grade_id" -> {auto, manual, extra} as the last autograde left them ({} if none)."""
    path = layout.grading_dir / SNAPSHOT_FILENAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("students", {})
    except (json.JSONDecodeError, AttributeError):
        return {}

