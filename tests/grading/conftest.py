"""Session fixtures of the grading tests: one released course directory, one graded corpus.

The expensive work (nbgrader release, grading every corpus submission, feedback, export,
report) happens once per session, in ``graded_course``, through the real command-line entry
point (``paysages.cli.main``); the tests only read its results and exit statuses.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import time
import types
from pathlib import Path

import pytest

from autograde import sandbox
from autograde.layout import (
    QUICK_GRADING_OVERRIDES,
    CourseLayout,
    kernel_spec_path,
    load_grading_settings,
    notebook_names,
    write_grading_settings,
)
from autograde.notebooks import GradedCell, assignment_cells
from tests.helpers import corpus
from tests.helpers.grading import CommandRun, run_cli

# The fastest grading settings that keep the hidden tests meaningful (see the constant's comment):
# the corpus checks that the reference still earns every point with them.
TEST_GRADING_OVERRIDES = QUICK_GRADING_OVERRIDES
# Submissions graded at once (2 cores: one grader trains while the other starts its kernels).
TEST_JOBS = int(os.environ.get("PAYSAGES_TEST_GRADING_JOBS", "2"))
# The CLI options of the grading settings a tight-limits group changes.
LIMIT_OPTIONS = {"cell_timeout_seconds": "--cell-timeout", "notebook_timeout_seconds": "--notebook-timeout",
                 "submission_timeout_seconds": "--submission-timeout"}
TEXT_COLUMNS = {"student", "status", "check"}


@dataclasses.dataclass
class ReleasedCourse:
    layout: CourseLayout
    notebook_names: list[str]
    cells: list[GradedCell]
    bundle: Path
    seconds: float
    release: CommandRun
    pristine: Path  # a copy of the course directory as release left it (no submission yet)

    def copy(self, root: Path) -> CourseLayout:
        """A new course directory, released like this one, with its own SQLite gradebook."""
        shutil.copytree(self.pristine, root)
        return CourseLayout.create(root, db_url=f"sqlite:///{root / 'gradebook.db'}")


@dataclasses.dataclass
class GradedCourse:
    released: ReleasedCourse
    submissions_dir: Path
    collect_report: object
    journal: dict
    rows: dict[str, dict]
    csv_path: Path
    report_path: Path
    feedback_pages: dict[str, list[Path]]
    seconds: dict[str, float]
    commands: dict[str, CommandRun]
    alone_files: dict[str, dict[str, bytes]]

    @property
    def layout(self) -> CourseLayout:
        return self.released.layout


def _collect_report(path: Path):
    """collect_report.json as objects with the attributes of autograde.collect.CollectReport."""
    data = json.loads(path.read_text(encoding="utf-8"))
    students = {student: types.SimpleNamespace(**item) for student, item in data["students"].items()}
    return types.SimpleNamespace(students=students, unmatched=data["unmatched"])


def _read_csv(path: Path) -> dict[str, dict]:
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {row["student"]: {key: value if key in TEXT_COLUMNS else float(value) for key, value in row.items()}
            for row in rows}


def _grading_files(layout: CourseLayout) -> dict[str, bytes]:
    paths = [layout.config_path, layout.settings_path, kernel_spec_path(layout)]
    return {layout.relative(path): path.read_bytes() for path in paths}


def _sandbox_options() -> list[str]:
    """The corpus is graded in the sandbox; where bubblewrap cannot run, outside CI, without it.

    The corpus's normal and tight-limits cases attack nothing outside their own notebook, so
    their grades are the same either way; under CI=true a missing sandbox is a failure.
    """
    availability = sandbox.sandbox_available()
    if availability.available:
        return []
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the grading corpus must run in the sandbox under CI: {availability.reason}")
    return ["--unsandboxed"]


@pytest.fixture(scope="session")
def released_course(tmp_path_factory) -> ReleasedCourse:
    course_dir = tmp_path_factory.mktemp("grading") / "course"
    layout = CourseLayout.create(course_dir, db_url=f"sqlite:///{course_dir / 'gradebook.db'}")
    # `paysages release` keeps the settings already in the course directory.
    write_grading_settings(layout, TEST_GRADING_OVERRIDES)
    started = time.monotonic()
    release = run_cli(layout, "release")
    seconds = time.monotonic() - started
    assert release.code == 0, release.output
    names = notebook_names(layout)
    cells = assignment_cells([layout.source_dir / f"{name}.ipynb" for name in names])
    bundle = layout.bundle_dir / f"paysages-{layout.assignment}-etudiant.zip"
    pristine = tmp_path_factory.mktemp("released") / "course"
    shutil.copytree(course_dir, pristine)
    return ReleasedCourse(layout, names, cells, bundle, seconds, release, pristine)


@pytest.fixture(scope="session")
def graded_course(released_course, tmp_path_factory) -> GradedCourse:
    layout = released_course.layout
    submissions = tmp_path_factory.mktemp("submissions")
    work = tmp_path_factory.mktemp("student_work")
    for case in corpus.CASES:
        notebooks = corpus.build_notebooks(case, layout.release_dir, layout.source_dir, released_course.notebook_names)
        corpus.write_submission(case, notebooks, submissions, work)
    # Files an LMS export may hold that match no student.
    (submissions / "README.txt").write_text("export notes\n", encoding="utf-8")
    (submissions / "no-underscore.ipynb").write_text("{}", encoding="utf-8")

    commands: dict[str, CommandRun] = {"release": released_course.release}
    seconds = {}
    started = time.monotonic()
    commands["collect"] = run_cli(layout, "collect", str(submissions))
    seconds["collect"] = time.monotonic() - started

    def students(limits):
        return [argument for case in corpus.CASES if case.limits == limits for argument in ("--student", case.student)]

    sandbox_options = _sandbox_options()
    started = time.monotonic()
    commands["autograde"] = run_cli(layout, "autograde", *students("normal"), "--jobs", str(TEST_JOBS), *sandbox_options)
    seconds["autograde"] = time.monotonic() - started

    saved = load_grading_settings(layout)
    for limits, overrides in corpus.TIGHT_LIMITS.items():
        options = [item for key, value in overrides.items() for item in (LIMIT_OPTIONS[key], str(value))]
        started = time.monotonic()
        commands[f"autograde {limits}"] = run_cli(layout, "autograde", *students(limits), *options, *sandbox_options)
        seconds[f"autograde ({limits} limits)"] = time.monotonic() - started
    write_grading_settings(layout, {key: saved[key] for key in LIMIT_OPTIONS})

    # The hostile case, alone, last, WITHOUT the sandbox: it tests the pipeline's own defence of
    # unsandboxed grading (the grading files before and after it are compared, the gradebook
    # restored), and the reports' first line that says which protections were off.
    alone_files = {"before": _grading_files(layout)}
    started = time.monotonic()
    commands[f"autograde {corpus.ALONE}"] = run_cli(layout, "autograde", *students(corpus.ALONE), "--unsandboxed")
    seconds[f"autograde ({corpus.ALONE})"] = time.monotonic() - started
    alone_files["after"] = _grading_files(layout)

    started = time.monotonic()
    commands["feedback"] = run_cli(layout, "feedback")
    seconds["feedback"] = time.monotonic() - started
    csv_path = layout.reports_dir / "grades.csv"
    commands["export"] = run_cli(layout, "export", "--csv", str(csv_path))
    commands["report"] = run_cli(layout, "report")
    report_path = layout.reports_dir / "report.html"
    journal = json.loads(layout.journal_path.read_text(encoding="utf-8"))
    feedback_root = layout.root / "feedback"
    pages = {folder.name: sorted(layout.feedback_dir(folder.name).glob("*.html"))
             for folder in sorted(feedback_root.iterdir()) if folder.is_dir()} if feedback_root.is_dir() else {}
    timings = ", ".join(f"{key} {value:.0f} s" for key, value in seconds.items())
    print(f"\n[grading corpus] release {released_course.seconds:.0f} s, {timings}")
    return GradedCourse(released_course, submissions, _collect_report(layout.grading_dir / "collect_report.json"),
                        journal, _read_csv(csv_path), csv_path, report_path, pages, seconds, commands, alone_files)
