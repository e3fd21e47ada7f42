"""Attacks on the grading machine, graded through the real pipeline in the sandbox (issue 10).

One ``paysages autograde`` call (one submission at a time, so that the victim is graded after
the overwriter) grades one-notebook submissions that try to: copy the course's ``source/``
notebooks over their own submission, overwrite a classmate's submitted notebook, drop a
``.pth`` file into site-packages, leave a detached daemon that writes into the course directory
later, connect to a listener on 127.0.0.1, read the grader's variables in ``/proc/*/environ``,
and import ``solutions``. Each attacking case earns its test point only if its attack works
(``tests/helpers/corpus.py``): the derived scores, the files and the processes say that none did.

Without bubblewrap these tests skip with the reason outside CI and fail under CI=true.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import secrets
import site
import socket
import sysconfig
import time
from pathlib import Path

import pytest

from autograde.layout import CourseLayout
from paysages.files import sha256_of_file
from tests.helpers import corpus
from tests.helpers.grading import CommandRun, run_cli
from tests.helpers.sandbox import require_sandbox, wait_until

pytestmark = pytest.mark.slow

SECRET_NAME = "GRADER_TEST_SECRET"
DAEMON_DELAY_SECONDS = 5.0


@dataclasses.dataclass
class SandboxedGrading:
    layout: CourseLayout
    cases: dict[str, corpus.Case]
    autograde: CommandRun
    export_rows: dict[str, dict]
    journal: dict
    marker: str
    secret: str
    submitted_before: dict[str, dict[str, str]]
    submitted_after: dict[str, dict[str, str]]
    source_before: dict[str, str]
    source_after: dict[str, str]
    connections: list
    site_folders: list[str]
    survivors: list[str]


def _hashes(folder: Path) -> dict[str, str]:
    return {path.name: sha256_of_file(path) for path in sorted(folder.glob("*"))} if folder.is_dir() else {}


def _processes_mentioning(*needles: str) -> list[str]:
    """Command lines, read from /proc, of the processes that mention any of ``needles``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in command_line for needle in needles):
            found.append(f"{entry.name}: {command_line[:300]}")
    return found


@pytest.fixture(scope="module")
def sandboxed_grading(released_course, tmp_path_factory) -> SandboxedGrading:
    require_sandbox()
    layout = released_course.copy(tmp_path_factory.mktemp("sandboxed") / "course")
    marker = "paysages-attack-" + secrets.token_hex(6)
    secret = secrets.token_hex(16)
    site_folders = sorted({*site.getsitepackages(), sysconfig.get_paths()["purelib"]})
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        cases = corpus.sandbox_cases(course_dir=layout.root, assignment=layout.assignment,
                                     port=listener.getsockname()[1], marker=marker, host_site_folders=site_folders,
                                     secret_names=[SECRET_NAME, "PAYSAGES_GRADEBOOK_URL"],
                                     daemon_delay=DAEMON_DELAY_SECONDS)
        submissions = tmp_path_factory.mktemp("sandboxed_submissions")
        for case in cases:
            notebooks = corpus.build_notebooks(case, layout.release_dir, layout.source_dir,
                                               released_course.notebook_names)
            corpus.write_submission(case, notebooks, submissions, submissions)
        collect = run_cli(layout, "collect", str(submissions))
        assert collect.code == 0, collect.output
        submitted_before = {case.student: _hashes(layout.submitted_dir(case.student)) for case in cases}
        source_before = _hashes(layout.source_dir)
        # A secret in the grader's environment, which every nbgrader process inherits.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SECRET_NAME, secret)
            autograde = run_cli(layout, "autograde", "--jobs", "1")
        # Left behind: a process of the sandbox (the daemon, a kernel, bwrap), found by /proc.
        survivors = _processes_mentioning(marker, str(layout.root))
        # Long enough for the daemon to have written, had it survived.
        time.sleep(DAEMON_DELAY_SECONDS + 1)
        listener.setblocking(False)
        connections = []
        while True:
            try:
                connection, address = listener.accept()
            except BlockingIOError:
                break
            connections.append(address)
            connection.close()
        export = run_cli(layout, "export", "--csv", str(layout.reports_dir / "grades.csv"))
        assert export.code == 0, export.output
    finally:
        listener.close()
        for folder in site_folders:
            (Path(folder) / f"{marker}.pth").unlink(missing_ok=True)
    with open(layout.reports_dir / "grades.csv", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return SandboxedGrading(
        layout=layout, cases={case.student: case for case in cases}, autograde=autograde, export_rows=rows,
        journal=json.loads(layout.journal_path.read_text(encoding="utf-8")), marker=marker, secret=secret,
        submitted_before=submitted_before,
        submitted_after={case.student: _hashes(layout.submitted_dir(case.student)) for case in cases},
        source_before=source_before, source_after=_hashes(layout.source_dir), connections=connections,
        site_folders=site_folders, survivors=survivors)


def test_every_attack_earns_exactly_its_derived_score(sandboxed_grading, released_course):
    """Does each attacking case lose the point its attack would have earned, and the others score in full?"""
    assert sandboxed_grading.autograde.code == 0, sandboxed_grading.autograde.output[-3000:]
    count = len(sandboxed_grading.cases)
    assert f"Autograde: {count} of {count} submission(s) graded, 0 not" in sandboxed_grading.autograde.output
    assert "UNSANDBOXED" not in sandboxed_grading.autograde.output
    for student, case in sandboxed_grading.cases.items():
        entry = sandboxed_grading.journal["students"][student]
        assert entry["sandbox"]["sandboxed"] is True and entry["status"] == "graded"
        expected = corpus.expected_scores(case, released_course.cells, released_course.notebook_names)
        row = sandboxed_grading.export_rows[student]
        actual = {name: {"auto": float(row[f"{name} auto"]), "bonus": float(row[f"{name} bonus"])}
                  for name in released_course.notebook_names}
        assert actual == expected, f"{student}: {case.description}"


def test_no_submission_reaches_the_course_directory(sandboxed_grading):
    """Are source/ and every submitted/ folder (the victim's included) unchanged, and no daemon file written?"""
    assert sandboxed_grading.source_after == sandboxed_grading.source_before
    assert sandboxed_grading.submitted_after == sandboxed_grading.submitted_before
    assert sandboxed_grading.export_rows["victim"]["auto_total"] == sandboxed_grading.export_rows["daemon"]["auto_total"]
    assert not list(sandboxed_grading.layout.root.glob("daemon-*"))


def test_no_pth_file_reaches_site_packages(sandboxed_grading):
    """Did the .pth attack leave nothing in any site-packages folder of the grader?"""
    assert [folder for folder in sandboxed_grading.site_folders
            if (Path(folder) / f"{sandboxed_grading.marker}.pth").exists()] == []


def test_no_process_of_the_sandbox_survives_grading(sandboxed_grading):
    """Once autograde returned, is no process left that mentions the daemon's marker or the course directory?"""
    assert sandboxed_grading.survivors == []
    assert wait_until(lambda: not _processes_mentioning(sandboxed_grading.marker), timeout=1)


def test_the_listener_on_localhost_receives_nothing(sandboxed_grading):
    """Did the connection attempt to 127.0.0.1 never reach the test's listener?"""
    assert sandboxed_grading.connections == []


def test_no_grader_variable_is_visible_to_a_kernel(sandboxed_grading):
    """Is the grader's secret absent from everything the grading wrote (autograded notebook, journal, logs)?"""
    layout = sandboxed_grading.layout
    texts = [path.read_text(encoding="utf-8", errors="replace")
             for folder in (layout.autograded_dir("readenviron"), layout.log_dir("readenviron"))
             for path in folder.rglob("*") if path.is_file()]
    assert any("attack failed: LookupError" in text for text in texts)
    assert not any(sandboxed_grading.secret in text for text in texts)
    assert not any("FOUND" in text and "PAYSAGES_GRADEBOOK_URL=" in text for text in texts)


def test_solutions_cannot_be_imported_by_the_students_code(sandboxed_grading):
    """Does `import solutions` fail in a student's cell (no sandbox binds solutions/)?"""
    autograded = next(sandboxed_grading.layout.autograded_dir("importsolutions").glob("00_*.ipynb"))
    assert "attack failed: ModuleNotFoundError" in autograded.read_text(encoding="utf-8")
