"""The real nbgrader grades every corpus submission exactly as derived, whatever it does."""

from __future__ import annotations

import json
import re
import zipfile

import nbformat
import pytest

from autograde.integrity import html_text, scan_feedback_html
from autograde.layout import bonus_settings
from autograde.notebooks import hidden_test_lines
from tests.helpers import corpus
from tests.helpers.grading import run_cli

pytestmark = pytest.mark.slow

CASES = {case.student: case for case in corpus.CASES}
# What the hostile case prints: "LEAK:" and the base64 of the source notebook (its code only says "LEAK:" + ...).
LEAKED_OUTPUT = re.compile(r"LEAK:[A-Za-z0-9+/=]{40}")


def _expected(graded_course, student):
    released = graded_course.released
    return corpus.expected_scores(CASES[student], released.cells, released.notebook_names)


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_submission_earns_exactly_its_derived_score(graded_course, student):
    """Does every notebook of the case score its derived points (bonus apart), no more, no less?"""
    row = graded_course.rows[student]
    expected = _expected(graded_course, student)
    actual = {name: {"auto": row[f"{name} auto"], "bonus": row[f"{name} bonus"]}
              for name in graded_course.released.notebook_names}
    assert actual == expected, f"{CASES[student].description}: lost {CASES[student].lost}"
    assert row["auto_total"] == sum(item["auto"] for item in expected.values())
    assert row["bonus_total"] == sum(item["bonus"] for item in expected.values())
    assert graded_course.journal["students"][student]["status"] == "graded"


def test_reference_earns_full_marks_and_blank_earns_nothing(graded_course):
    """Are the two ends of the scale right: every point for the reference, none for the release?"""
    reference, blank = graded_course.rows["reference"], graded_course.rows["blank"]
    assert reference["auto_total"] == reference["auto_max"] > 0
    assert blank["auto_total"] == 0
    # The blank release's written answers are unchanged: nothing to grade by hand, no point.
    assert blank["manual_pending"] == 0 and blank["manual_total"] == 0
    # The reference's written answers wait for the instructor.
    manual_cells = [cell for cell in graded_course.released.cells if cell.kind == "manual"]
    assert reference["manual_pending"] == len(manual_cells)


def test_bonus_points_add_to_the_grade_never_to_the_maximum(graded_course):
    """Do the reference's bonus points raise its total but no student's maximum?"""
    released = graded_course.released
    bonus = bonus_settings()
    bonus_auto = sum(cell.points for cell in released.cells if cell.kind == "auto" and bonus.is_bonus(cell.notebook, cell.grade_id))
    main_points = sum(cell.points for cell in released.cells if not bonus.is_bonus(cell.notebook, cell.grade_id))
    assert bonus_auto > 0
    reference = graded_course.rows["reference"]
    assert reference["bonus_total"] == bonus_auto
    assert reference["total"] == reference["auto_total"] + reference["manual_total"] + bonus_auto
    for row in graded_course.rows.values():
        assert row["max_score"] == main_points
        for name in bonus.notebooks & set(released.notebook_names):
            assert row[f"{name} max"] == 0 and row[f"{name} auto"] == 0


def test_no_test_passes_without_student_work(graded_course):
    """Does every autograded cell depend on the student (none passes on the blank release)?"""
    journal_entry = graded_course.journal["students"]["blank"]
    assert all(record["auto_score"] == 0 for record in journal_entry["notebooks"].values())


def test_killed_kernel_costs_only_what_did_not_run(graded_course):
    """Does os._exit in 00 cost its test cell, while the next notebook is graded normally?"""
    entry = graded_course.journal["students"]["killkernel"]
    events = [event for event in entry["integrity"] if event["event"] == "aborted"]
    assert events and events[0]["notebook"].startswith("00_")
    assert all(record["status"] in ("graded", "missing") for record in entry["notebooks"].values())


def test_wall_clock_limit_kills_and_moves_on(graded_course):
    """Is a notebook that ignores interrupts killed at the wall-clock limit, with no process left?"""
    import psutil

    entry = graded_course.journal["students"]["wallclock"]
    statuses = {name[:2]: record["status"] for name, record in entry["notebooks"].items()}
    assert statuses["00"] == "timeout"
    assert statuses["01"] == "graded"
    run_dir = str(graded_course.layout.grading_run_dir("wallclock"))
    leftovers = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("PAYSAGES_RUN_DIR") == run_dir:
                leftovers.append(process.pid)
        except (psutil.Error, OSError):
            continue
    assert leftovers == []


def test_cell_time_limit_interrupts_a_hang(graded_course):
    """Is an endless loop interrupted by the cell limit, the rest of the notebook still graded?"""
    entry = graded_course.journal["students"]["hang"]
    record = next(record for name, record in entry["notebooks"].items() if name.startswith("00_"))
    assert record["status"] == "graded"
    autograded = graded_course.layout.autograded_dir("hang")
    notebook = nbformat.read(str(next(autograded.glob("00_*.ipynb"))), as_version=4)
    test_cell = next(cell for cell in notebook.cells
                     if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_class_counts")
    assert any(output.get("output_type") == "error" for output in test_cell.outputs)


def test_flooding_output_is_capped(graded_course):
    """Does a gigabyte of prints leave a small autograded notebook and a truncation note?"""
    entry = graded_course.journal["students"]["flood"]
    assert any(event["event"] == "output_truncated" for event in entry["integrity"])
    autograded = next(graded_course.layout.autograded_dir("flood").glob("00_*.ipynb"))
    assert autograded.stat().st_size < 3_000_000


def test_deleted_locked_cells_are_restored(graded_course):
    """Are a deleted test cell and a deleted locked code cell put back at their place?"""
    entry = graded_course.journal["students"]["deletedcells"]
    restored = [event for event in entry["integrity"] if event["event"] == "cells_restored"]
    assert restored and set(restored[0]["cells"]) == {"test_split_file", "data_01"}
    notebook = nbformat.read(str(next(graded_course.layout.autograded_dir("deletedcells").glob("01_*.ipynb"))),
                             as_version=4)
    order = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    assert order.index("setup_01") < order.index("data_01") < order.index("naive_01")
    assert order.index("write_split_01") + 1 == order.index("test_split_file")


def test_edits_and_type_changes_are_reported(graded_course):
    """Are an edited locked cell and a changed cell type recorded for the instructor?"""
    edited = graded_course.journal["students"]["editedtest"]["integrity"]
    assert any(event["event"] == "cell_changed" and event["grade_id"] == "test_class_counts" for event in edited)
    changed = graded_course.journal["students"]["celltype"]["integrity"]
    assert any(event["event"] == "cell_changed" and "cell type" in event["attribute"] for event in changed)


def test_library_patches_are_undone_before_tests(graded_course):
    """Are np.allclose and keras.Model.predict restored before the test cells run?"""
    entry = graded_course.journal["students"]["patches"]
    restored = " ".join(" ".join(event["restored"]) for event in entry["integrity"] if event["event"] == "guard")
    assert "numpy.allclose restored" in restored
    assert "predict (added by the notebook) removed" in restored
    assert "evaluate (added by the notebook) removed" in restored
    flags = " ".join(" ".join(items) for items in entry["suspicious"].values())
    assert "replaces a library attribute" in flags


def test_shadowing_files_are_rejected_and_reported(graded_course):
    """Can no file of a hostile zip reach the grader, and is each one reported?"""
    collection = graded_course.collect_report.students["shadowfiles"]
    rejected = {item["file"].split(":", 1)[1] for item in collection.rejected}
    expected_rejected = {name for name in corpus.HOSTILE_MEMBERS if name.split("/")[-1] not in corpus.HOSTILE_KEPT}
    assert rejected == expected_rejected
    assert collection.artifacts == ["split.csv"]
    submitted = graded_course.layout.submitted_dir("shadowfiles")
    assert sorted(path.name for path in submitted.iterdir())[:-1] == [
        name for name in sorted(path.name for path in submitted.iterdir()) if name.endswith(".ipynb")]
    assert not any(path.suffix in (".py", ".pth", ".so") for path in graded_course.layout.root.rglob("*")
                   if "shadowfiles" in path.parts and "original" not in path.parts)


def test_unmatched_files_are_reported(graded_course):
    """Are files that belong to no student listed rather than silently dropped?"""
    unmatched = {item["file"] for item in graded_course.collect_report.unmatched}
    assert unmatched == {"README.txt", "no-underscore.ipynb"}


def test_submit_zip_is_verified_and_student_run_kept_apart(graded_course):
    """Is the `paysages submit` zip checked, its run folder kept for the instructor only?"""
    layout = graded_course.layout
    collection = graded_course.collect_report.students["reference"]
    assert collection.manifest["format"] == "paysages-submission"
    assert collection.rejected == []
    student_run = layout.collected_dir("reference") / "student_run"
    assert (student_run / "models" / "cnn.keras").is_file()
    assert not (student_run / "backup").exists()
    # Grading used its own fresh run folder, never the student's (whose model file is not even valid).
    assert (layout.grading_run_dir("reference") / "split.csv").is_file()
    assert not list(layout.autograded_dir("reference").rglob("student_run"))


def test_submitted_notebooks_are_kept_untouched(graded_course):
    """Are the student's own notebooks (their full run) kept byte for byte beside the re-run?"""
    import hashlib

    for student, collection in graded_course.collect_report.students.items():
        for name, digest in collection.notebooks.items():
            path = graded_course.layout.submitted_dir(student) / f"{name}.ipynb"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_feedback_holds_no_hidden_test(graded_course):
    """Does no feedback page quote a hidden test, its markers or its traceback?"""
    layout = graded_course.layout
    hidden = hidden_test_lines(sorted(layout.source_dir.glob("*.ipynb")))
    assert hidden, "the course has hidden tests: the scan must have something to look for"
    pages = [page for student_pages in graded_course.feedback_pages.values() for page in student_pages]
    assert len(graded_course.feedback_pages) >= 3 and pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert scan_feedback_html(text, hidden) == [], page
        assert "HIDDEN TESTS" not in text
        assert not LEAKED_OUTPUT.search(text), page
    # Students still learn why a test failed: the error's message, without the test's traceback.
    blank_text = " ".join(html_text(page.read_text(encoding="utf-8")) for page in graded_course.feedback_pages["blank"])
    assert "NotImplementedError" in blank_text
    # Every graded notebook of the reference got its page.
    reference_pages = {page.stem for page in graded_course.feedback_pages["reference"]}
    assert reference_pages == set(graded_course.released.notebook_names)


def test_export_has_one_row_per_student_with_consistent_totals(graded_course):
    """Does the CSV give per-notebook autograded, manual and maximum points and coherent totals?"""
    import csv

    with open(graded_course.csv_path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["student"] for row in rows} == set(CASES)
    for name in graded_course.released.notebook_names:
        assert {f"{name} auto", f"{name} manual", f"{name} max"} <= set(rows[0])
    bonus = bonus_settings()
    auto_max = sum(cell.points for cell in graded_course.released.cells
                   if cell.kind == "auto" and not bonus.is_bonus(cell.notebook, cell.grade_id))
    for name in graded_course.released.notebook_names:
        assert f"{name} bonus" in rows[0]
    for row in rows:
        assert float(row["auto_max"]) == auto_max
        assert float(row["total"]) == float(row["auto_total"]) + float(row["manual_total"]) + float(row["bonus_total"])
        if row["student"] == "hostile":
            assert row["check"].startswith("its grading changed the gradebook (") and row["check"].endswith("restored")
        else:
            assert row["check"] == "ok", row


def test_report_shows_totals_pass_rates_and_distribution(graded_course):
    """Does the HTML report embed the distribution plot and list students and test cells?"""
    text = graded_course.report_path.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text
    for student in CASES:
        assert f"<b>{student}</b>" in text
    for cell in graded_course.released.cells:
        if cell.kind == "auto":
            assert f"<td>{cell.grade_id}</td>" in text
    assert "submitted (student&#x27;s own run)" in text and "autograded (grading-mode re-run)" in text


def test_cli_ran_every_step_and_exits_zero_when_all_went_through(graded_course):
    """Did `paysages release/collect/autograde/feedback/export/report` each exit 0 with its summary?"""
    commands = graded_course.commands
    assert {name: run.code for name, run in commands.items()} == {name: 0 for name in commands}, {
        name: run.output[-2000:] for name, run in commands.items() if run.code}
    normal = [case for case in corpus.CASES if case.limits == "normal"]
    assert len(normal) >= 3
    assert f"Autograde: {len(normal)} of {len(normal)} submission(s) graded, 0 not" in commands["autograde"].output
    assert "Feedback: " in commands["feedback"].output and ", 0 problem(s)" in commands["feedback"].output
    assert f"Wrote {len(CASES)} student row(s)" in commands["export"].output


def test_hostile_submission_changes_nothing_for_the_others(graded_course):
    """Are the gradebook, grading files and data a submission broke put back and reported?"""
    layout = graded_course.layout
    events = {}
    for event in graded_course.journal["students"]["hostile"]["integrity"]:
        events.setdefault(event["event"], []).append(event)
    restored = events["gradebook_restored"]
    assert len(restored) == 1 and {"reference", "blank", "partial", "hostile"} <= set(restored[0]["students"])
    assert set(events["grading_files_restored"][0]["files"]) == {
        "nbgrader_config.py changed", "paysages_grading.json changed",
        "grading/jupyter/kernels/paysages-grading/kernel.json changed",
        "grading/jupyter_config/nbgrader_config.py added"}
    assert [event["when"] for event in events["grading_data_restored"]] == ["after this submission"]
    assert graded_course.alone_files["after"] == graded_course.alone_files["before"]
    assert "INTEGRITY: 00_prise_en_main: the gradebook was changed" in graded_course.report_path.read_text(encoding="utf-8")
    # The attack ran (its print is in the grading re-run) but never reached the feedback.
    autograded = next(layout.autograded_dir("hostile").glob("00_*.ipynb")).read_text(encoding="utf-8")
    assert LEAKED_OUTPUT.search(autograded)
    assert graded_course.feedback_pages["hostile"]


def test_restarted_grading_keeps_what_was_graded(graded_course):
    """Does a restart skip graded students, regrade one left 'running' once, and fail one left twice?"""
    from autograde.cli import EXIT_INCOMPLETE

    layout = graded_course.layout
    journal = json.loads(layout.journal_path.read_text(encoding="utf-8"))
    journal["students"]["crash"]["status"] = "running"
    # sysexit: interrupted twice (its notebook killed the grader twice), nothing of it saved.
    journal["students"]["sysexit"].update(status="running", attempts=2, current="00_prise_en_main", notebooks={})
    layout.journal_path.write_text(json.dumps(journal), encoding="utf-8")
    run = run_cli(layout, "autograde")
    assert run.code == EXIT_INCOMPLETE, run.output[-3000:]
    assert run.output.count("already graded, skipped") == len(CASES) - 2
    assert "NOT GRADED sysexit: failed: grading was interrupted 2 times (last in 00_prise_en_main)" in run.output
    assert f"Autograde: {len(CASES) - 1} of {len(CASES)} submission(s) graded, 1 not" in run.output
    result = json.loads(layout.journal_path.read_text(encoding="utf-8"))
    assert result["students"]["crash"]["status"] == "graded" and result["students"]["crash"]["attempts"] == 2
    expected = {name: item["auto"] + item["bonus"] for name, item in _expected(graded_course, "crash").items()}
    assert {name: record["auto_score"] for name, record in result["students"]["crash"]["notebooks"].items()} == expected
    failed = result["students"]["sysexit"]
    assert failed["status"] == "failed"
    assert all(record["auto_score"] == 0 for record in failed["notebooks"].values())


def test_released_bundle_holds_no_solution_or_hidden_test(released_course):
    """Does the bundle `paysages release` wrote pass the scan again?"""
    from autograde.integrity import scan_bundle
    from autograde.layout import REPOSITORY_DIR

    sources = sorted(released_course.layout.source_dir.glob("*.ipynb"))
    findings = scan_bundle(released_course.bundle, source_notebooks=sources, solutions_dir=REPOSITORY_DIR / "solutions")
    assert findings == []
    with zipfile.ZipFile(released_course.bundle) as archive:
        text = "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
                         if name.endswith(".ipynb"))
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text


def test_student_bundle_carries_the_release_and_the_wheel(released_course):
    """Does the bundle hold every release notebook with its Colab badge, and a wheel?"""
    with zipfile.ZipFile(released_course.bundle) as archive:
        names = archive.namelist()
        notebooks = [name for name in names if name.endswith(".ipynb")]
        assert len(notebooks) == len(released_course.notebook_names)
        first = json.loads(archive.read(notebooks[0]))
        assert "colab.research.google.com/github/" in "".join(first["cells"][0]["source"])
        assert first["metadata"]["paysages"]["notebooks"] == released_course.notebook_names
        assert any(name.endswith(".whl") for name in names)


def test_unsandboxed_grading_says_so_first_in_every_report(graded_course):
    """Graded with --unsandboxed, does the hostile case put the protections that were off first in each report?"""
    import html

    from autograde.sandbox import PROTECTIONS, UNSANDBOXED_MARKER

    line = graded_course.journal["students"]["hostile"]["sandbox"]["report_first_line"]
    assert line.startswith(UNSANDBOXED_MARKER) and all(protection in line for protection in PROTECTIONS)
    assert graded_course.commands[f"autograde {corpus.ALONE}"].output.splitlines()[0] == line
    assert graded_course.commands["report"].output.splitlines()[0] == line
    report_body = graded_course.report_path.read_text(encoding="utf-8").split("<body>", 1)[1].lstrip()
    assert report_body.startswith(f'<p class="unsandboxed"><b>{html.escape(line)}</b></p>')
    for page in graded_course.feedback_pages["hostile"]:
        body = re.split(r"<body[^>]*>", page.read_text(encoding="utf-8"), maxsplit=1)[1].lstrip()
        assert body.startswith(f'<p class="paysages-unsandboxed"><b>{html.escape(line)}</b></p>')
    # A submission graded in the sandbox (where bubblewrap runs) says nothing of the kind in its feedback.
    if graded_course.journal["students"]["reference"]["sandbox"]["sandboxed"]:
        for page in graded_course.feedback_pages["reference"]:
            assert UNSANDBOXED_MARKER not in page.read_text(encoding="utf-8")
