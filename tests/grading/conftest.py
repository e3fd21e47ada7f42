"""Session fixtures of the grading tests: one released course directory, one graded corpus.

The expensive work (nbgrader release, grading every corpus submission, feedback, export,
report) happens once per session, in ``graded_course``; the tests only read its results.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from autograde import pipeline
from autograde import report as report_module
from autograde.layout import CourseLayout, load_grading_settings, write_grading_settings
from autograde.notebooks import GradedCell, assignment_cells
from tests.grading import corpus

# The fastest grading settings that keep the hidden tests meaningful (see the constant's comment):
# the corpus checks that the reference still earns every point with them.
TEST_GRADING_OVERRIDES = pipeline.QUICK_GRADING_OVERRIDES
# Submissions graded at once (2 cores: one grader trains while the other starts its kernels).
TEST_JOBS = int(os.environ.get("PAYSAGES_TEST_GRADING_JOBS", "2"))


@dataclasses.dataclass
class ReleasedCourse:
    layout: CourseLayout
    notebook_names: list[str]
    cells: list[GradedCell]
    bundle: Path
    seconds: float


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
    messages: list[str]

    @property
    def layout(self) -> CourseLayout:
        return self.released.layout


@pytest.fixture(scope="session")
def released_course(tmp_path_factory) -> ReleasedCourse:
    course_dir = tmp_path_factory.mktemp("grading") / "course"
    started = time.monotonic()
    result = pipeline.release(course_dir, db_url=f"sqlite:///{course_dir / 'gradebook.db'}",
                              overrides=TEST_GRADING_OVERRIDES)
    layout = CourseLayout.create(course_dir, db_url=f"sqlite:///{course_dir / 'gradebook.db'}")
    names = result["notebooks"]
    cells = assignment_cells([layout.source_dir / f"{name}.ipynb" for name in names])
    return ReleasedCourse(layout, names, cells, result["bundle"], time.monotonic() - started)


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

    messages: list[str] = []
    seconds = {}
    started = time.monotonic()
    collect_report = pipeline.collect(submissions, layout.root, db_url=layout.db_url)
    seconds["collect"] = time.monotonic() - started

    normal = [case.student for case in corpus.CASES if case.limits == "normal"]
    started = time.monotonic()
    pipeline.autograde(layout.root, db_url=layout.db_url, students=normal, jobs=TEST_JOBS, echo=messages.append)
    seconds["autograde"] = time.monotonic() - started

    saved = load_grading_settings(layout)
    for limits, overrides in corpus.TIGHT_LIMITS.items():
        students = [case.student for case in corpus.CASES if case.limits == limits]
        started = time.monotonic()
        pipeline.autograde(layout.root, db_url=layout.db_url, students=students, overrides=overrides,
                           echo=messages.append)
        seconds[f"autograde ({limits} limits)"] = time.monotonic() - started
    write_grading_settings(layout, {key: saved[key] for key in
                                    ("cell_timeout_seconds", "notebook_timeout_seconds", "submission_timeout_seconds")})

    started = time.monotonic()
    pages = pipeline.feedback(layout.root, db_url=layout.db_url, echo=messages.append)
    seconds["feedback"] = time.monotonic() - started
    csv_path = layout.reports_dir / "grades.csv"
    rows = report_module.export_csv(layout.root, csv_path, db_url=layout.db_url)
    report_path = report_module.write_report(layout.root, db_url=layout.db_url)
    journal = json.loads(layout.journal_path.read_text(encoding="utf-8"))
    timings = ", ".join(f"{key} {value:.0f} s" for key, value in seconds.items())
    print(f"\n[grading corpus] release {released_course.seconds:.0f} s, {timings}")
    return GradedCourse(released_course, submissions, collect_report, journal, {row["student"]: row for row in rows},
                        csv_path, report_path, pages, seconds, messages)
