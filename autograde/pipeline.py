"""The instructor's grading pipeline: release, collect, autograde, feedback (export, report: report.py).

Every step drives the real nbgrader (``python -m nbgrader ...`` in the course directory, which
holds the copied ``nbgrader_config.py``). The command-line front end is
``autograde/cli.py``; ``autograde/instructor_colab.ipynb`` runs that command line, from its own
virtual environment, on a Colab GPU. Each public function takes the course directory as a :class:`CourseLayout` (opened once by
the caller and handed down) or as a path.

Reading order: :func:`release`, :func:`collect`, :func:`autograde` (one student at a time:
:func:`autograde_student`, one notebook at a time: :func:`_run_notebook`
then :func:`_judge_notebook`), :func:`feedback`.
What they build on lives beside them: the course directory's paths and set-up in
:mod:`autograde.layout`, time limits in :mod:`autograde.limits`, the journal and the gradebook
in :mod:`autograde.records`, the guards between submissions in :mod:`autograde.guards`.

Grading mode (:func:`autograde`):

* fast settings (``paysages_grading.json``: PAYSAGES_MODE=fast, the sample dataset, offline);
  the sample dataset is generated once under ``grading/data`` and each submission gets a fresh
  copy of it, so that no submission can change what the next one reads;
* one nbgrader process per notebook, each under a wall-clock limit (the notebook's, capped by
  what is left of the submission's); on expiry the process, its kernel and any process the
  notebook started are killed, the notebook's test cells score 0 and grading goes on;
* a fresh run folder ``autograded/<student>/<assignment>/_grading_run`` created by the first
  notebook, which the submission cannot pre-populate (only notebooks are ever submitted);
* a journal (``grading/journal.json``) records each student's status as soon as it changes: a
  restarted run skips the students already graded (same submission) unless ``force``; students
  whose grading was interrupted go first, one at a time, and one interrupted twice (a submission
  that kills the grader) is marked failed instead of being graded a third time;
* sandboxed grading (:mod:`autograde.sandbox`, decided once per command: ``decision``): each
  notebook's kernel runs under bubblewrap, in a fresh workspace (:func:`_notebook_sandbox`)
  holding a copy of that notebook, the submission's run folder and the grading data (read-only);
  its working folder is that private folder, not the course directory, and the workspace is
  removed once the notebook ran. The decision is recorded in each student's journal entry, where
  the reports read it back;
* the verdict stage (:mod:`autograde.verdicts`): for a notebook with registered verdicts
  (every graded cell of every notebook), the probes of a fresh seed are written before its kernel starts, the
  trusted verdict process judges the kernel's exports once it ended, and each registered cell
  scores ``points x verdict``, whatever its own outputs say (:func:`_run_notebook`,
  :func:`_judge_notebook`); sandboxed, a notebook's verdicts are computed while the next
  notebook's kernel runs;
* a grading kernel that is not sandboxed (``--unsandboxed``) can write anything the instructor's
  user can, and even a sandboxed one may have been started by an earlier unsandboxed run, so
  before each notebook the files every nbgrader process reads (``nbgrader_config.py``,
  ``paysages_grading.json``, the kernel spec, the Jupyter folders) are written again from their
  pristine source, the grading data is checked against its manifest before it is copied, and
  the gradebook rows the notebook's own grading may not change (other students' grades, manual
  scores and comments) are compared with the pipeline's copy after it and restored. Each
  change found is recorded as an integrity event of the student being graded.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

import nbformat

from autograde import integrity, sandbox
from autograde.collect import DEFAULT_PATTERN, Collector
from autograde.guards import GradingGuards
from autograde.layout import (
    CONFIG_TEMPLATE,
    GRADING_RUN_DIRNAME,
    REPOSITORY_DIR,
    CourseLayout,
    check_student_id,
    load_grading_settings,
    notebook_names,
    prepare_course_dir,
    require_released,
    source_paths,
)
from autograde.limits import ProcessResult, log_tail, run_limited
from autograde.notebooks import assignment_cells, hidden_test_lines
from autograde.records import (
    Journal,
    load_journal,
    notebook_grades,
    now,
    set_auto_fractions,
    unsandboxed_report_lines,
    zero_notebook,
)
from autograde.verdicts import registry as verdict_registry
from autograde.verdicts import stage as verdict_stage
from paysages.errors import PaysagesError
from paysages.files import sha256_of_file, write_bytes_atomic
from paysages.probes import EXPORT_VARIABLE, PROBES_VARIABLE

SUBMITTED_ALLOWED = ("timestamp.txt",)
# A student whose grading was interrupted this many times (the grader killed) is not graded again.
MAX_INTERRUPTED_ATTEMPTS = 2
KERNEL_HOMES_DIRNAME = "kernel_homes"


# Release --------------------------------------------------------------------------------------
def release(course=None, *, db_url: str | None = None, overrides: dict | None = None,
            bundle: bool = True, notebook_dir: Path | None = None) -> dict:
    """Sync sources, generate the release with nbgrader, add Colab badges, build the bundle."""
    from autograde import release as release_module

    layout = CourseLayout.open(course, db_url=db_url)
    settings = prepare_course_dir(layout, overrides)
    names = release_module.sync_sources(layout, notebook_dir)
    result = run_nbgrader(layout, ["generate_assignment", layout.assignment, "--force"],
                          log_name="generate_assignment", settings=settings)
    log_path = layout.logs_dir / "generate_assignment.log"
    if result.returncode != 0:
        raise PaysagesError(f"nbgrader generate_assignment failed (exit {result.returncode}):\n{log_tail(log_path)}")
    release_module.decorate_release(layout, names)
    bundle_path = release_module.build_bundle(layout, names) if bundle else None
    return {"course_dir": layout.root, "notebooks": names, "release_dir": layout.release_dir, "bundle": bundle_path}


# Collect --------------------------------------------------------------------------------------
def collect(folder, course=None, *, db_url: str | None = None, pattern: str = DEFAULT_PATTERN, **limits):
    """Import a folder of submissions (see :mod:`autograde.collect`)."""
    layout = CourseLayout.open(course, db_url=db_url)
    collector = Collector(layout, notebook_names(layout), pattern=pattern, **limits)
    return collector.collect(Path(folder))


# Autograde: the command, then one student, then one notebook ------------------------------------
def autograde(course=None, *, db_url: str | None = None, students: list[str] | None = None,
              force: bool = False, overrides: dict | None = None, jobs: int = 1, echo=print,
              decision: sandbox.SandboxDecision | None = None) -> dict:
    """Autograde every collected submission (or ``students``); return the journal.

    ``jobs`` submissions are graded at once (each in its own processes; 1 by default). A
    submission that crashes the grader is recorded as an error and the others go on. Students
    whose last grading was interrupted are graded first, one at a time, so that a submission
    that kills the grader is found alone.

    ``decision``: whether the kernels run in the sandbox (:func:`autograde.sandbox.grading_decision`,
    made once by the caller); by default the sandbox is required, and grading refuses to start
    (:class:`autograde.sandbox.SandboxRefused`) where bubblewrap cannot run.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}.")
    if decision is None:
        decision = sandbox.grading_decision(unsandboxed=False)
    if decision.report_first_line:
        echo(decision.report_first_line)
    requested = [check_student_id(student) for student in students or []]
    layout = CourseLayout.open(course, db_url=db_url)
    require_released(layout)
    settings = prepare_course_dir(layout, overrides) if overrides else load_grading_settings(layout)
    names = notebook_names(layout)
    cells = assignment_cells(source_paths(layout))
    auto_ids = {name: {cell.grade_id for cell in cells if cell.notebook == name and cell.kind == "auto"}
                for name in names}
    available = layout.students_submitted()
    selected = requested or available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        raise PaysagesError(f"No collected submission for: {', '.join(unknown)} (run `paysages collect`).")
    explicit = set(students or [])
    # Longest submissions first, so that parallel graders finish together.
    selected = sorted(selected, key=lambda student: -len(list(layout.submitted_dir(student).glob("*.ipynb"))))
    guards = GradingGuards.create(layout, settings)
    journal = Journal(layout)

    def grade(student_id: str) -> None:
        try:
            autograde_student(layout, student_id, settings=settings, journal=journal, names=names,
                              auto_ids=auto_ids, force=force, echo=echo, guards=guards,
                              explicit=student_id in explicit, decision=decision)
        except Exception as error:  # One submission never stops the others.
            entry = journal.get(student_id) or {}
            entry.update(status="error", error=f"{type(error).__name__}: {error}", finished_at=now())
            journal.put(student_id, entry)
            echo(f"{student_id}: grading error, moving on: {error}")

    interrupted = [student for student in selected if (journal.get(student) or {}).get("status") == "running"]
    others = [student for student in selected if student not in interrupted]
    for group, workers in ((interrupted, 1), (others, jobs)):
        if workers == 1:
            for student_id in group:
                try:
                    grade(student_id)
                except KeyboardInterrupt:
                    echo(f"{student_id}: interrupted; run autograde again to finish (graded students are kept)")
                    raise
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                for future in [pool.submit(grade, student_id) for student_id in group]:
                    future.result()
    guards.gradebook.save_snapshot()
    return journal.snapshot()


def autograde_student(layout: CourseLayout, student_id: str, *, settings: dict, journal: Journal,
                      names: list[str], auto_ids: dict[str, set[str]], force: bool = False,
                      echo=print, guards: GradingGuards | None = None, explicit: bool = False,
                      decision: sandbox.SandboxDecision | None = None) -> dict:
    """Grade one student's submission, notebook by notebook; return its journal entry.

    ``explicit``: the instructor named this student (``--student``), so that ``force`` grades
    again even a submission marked failed after interrupted gradings. ``decision``: see
    :func:`autograde` (by default the sandbox is required).
    """
    check_student_id(student_id)
    if decision is None:
        decision = sandbox.grading_decision(unsandboxed=False)
    guards = guards or GradingGuards.create(layout, settings)
    submitted = layout.submitted_dir(student_id)
    fingerprint = submission_fingerprint(submitted)
    previous = journal.get(student_id)
    same = previous is not None and previous.get("fingerprint") == fingerprint
    if same and previous.get("status") == "graded" and not force:
        echo(f"{student_id}: already graded, skipped (use --force to grade again)")
        return previous
    if same and previous.get("status") == "failed" and not (force and explicit):
        echo(f"{student_id}: not graded again, {previous.get('error')}")
        return previous
    attempts = 1
    if same and previous.get("status") == "running":
        attempts = int(previous.get("attempts") or 1) + 1
        if attempts > MAX_INTERRUPTED_ATTEMPTS:
            return _give_up(layout, student_id, previous, names=names, auto_ids=auto_ids, journal=journal,
                            guards=guards, echo=echo)
        echo(f"{student_id}: its last grading was interrupted; attempt {attempts} of {MAX_INTERRUPTED_ATTEMPTS}")
    entry = {"status": "running", "fingerprint": fingerprint, "started_at": now(), "attempts": attempts,
             "current": None, "notebooks": {}, "quarantined": [], "integrity": [], "suspicious": {}, "error": None,
             "sandbox": decision.record()}
    journal.put(student_id, entry)

    unexpected = _unexpected_submitted_files(submitted)
    if unexpected:
        entry.update(status="rejected", error="unexpected files in submitted/ (only notebooks are graded): "
                     + ", ".join(unexpected[:10]), finished_at=now())
        journal.put(student_id, entry)
        echo(f"{student_id}: NOT graded, {entry['error']}")
        return entry

    autograded = layout.autograded_dir(student_id)
    work = layout.work_dir(student_id)
    log_dir = layout.log_dir(student_id)
    for folder in (autograded, work, log_dir, layout.feedback_dir(student_id)):
        if folder.exists():
            shutil.rmtree(folder)
    log_dir.mkdir(parents=True)
    events: list[dict] = []  # What the pipeline found and undid (the kernels' own events are in the log).
    data_root = work / "data"
    for note in guards.data.copy_to(data_root):
        events.append({"event": "grading_data_restored", "when": "before this submission", "details": note})
        echo(f"{student_id}: {note} (changed by an earlier grading)")
    kernel_homes = work / KERNEL_HOMES_DIRNAME
    integrity_log = log_dir / "integrity.jsonl"
    token = secrets.token_hex(16)
    extra_env = {
        "PAYSAGES_DATA_ROOT": str(data_root),
        "PAYSAGES_RUN_DIR": str(layout.grading_run_dir(student_id)),
        "PAYSAGES_GRADING_TOKEN": token,
        "PAYSAGES_INTEGRITY_LOG": str(integrity_log),
        "PAYSAGES_KERNEL_HOME_ROOT": str(kernel_homes),
    }
    started = time.monotonic()
    deadline = started + float(settings["submission_timeout_seconds"])
    allowed = {f"{name}.ipynb" for name in names} | set(SUBMITTED_ALLOWED)
    # Notebooks not (or no longer) submitted first: no stale grade of an earlier submission counts.
    for name in names:
        if not (submitted / f"{name}.ipynb").is_file():
            with guards.gradebook.watch(student_id, name, events, trusted=True):
                stale = zero_notebook(layout, student_id, name, auto_ids[name], clear_manual=True)
            entry["notebooks"][name] = {"status": "missing", "seconds": 0.0, "auto_score": 0.0}
            if stale:
                entry["notebooks"][name]["note"] = f"{stale} grade(s) of an earlier submission set to 0"
    def judge(ran: RanNotebook) -> None:
        with guards.gradebook.watch(student_id, ran.name, events, trusted=True):
            record = _judge_notebook(layout, student_id, ran, auto_ids=auto_ids[ran.name])
        entry["notebooks"][ran.name] = record
        entry["integrity"] = list(events)
        journal.put(student_id, entry)
        echo(f"{student_id}: {ran.name} {record['status']} ({record['seconds']:.0f} s, "
             f"autograded {record['auto_score']:g} points)")

    # Sandboxed, a notebook's verdicts are computed while the next notebook's kernel runs (each
    # reads only its own workspace); unsandboxed, a later kernel could reach the export folder.
    waiting: RanNotebook | None = None
    try:
        for name in names:
            if name in entry["notebooks"]:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 1:
                if waiting is not None:  # The journal lists the notebooks in order.
                    judge(waiting)
                    waiting = None
                with guards.gradebook.watch(student_id, name, events, trusted=True):
                    zero_notebook(layout, student_id, name, auto_ids[name])
                entry["notebooks"][name] = {"status": "not run: submission time limit reached", "seconds": 0.0,
                                            "auto_score": 0.0}
                journal.put(student_id, entry)
                continue
            entry["quarantined"] += _quarantine_strays(autograded, allowed, work / "quarantine")
            entry["current"] = name
            journal.put(student_id, entry)
            guards.files.restore()
            try:
                with guards.gradebook.watch(student_id, name, events):
                    ran = _run_notebook(layout, student_id, name, settings=settings,
                                        timeout=min(float(settings["notebook_timeout_seconds"]), remaining),
                                        extra_env=extra_env, token=token, log_dir=log_dir, auto_ids=auto_ids[name],
                                        sandboxed=decision.sandboxed)
            finally:
                shutil.rmtree(kernel_homes, ignore_errors=True)
                changed = guards.files.check_and_restore()
                if changed:
                    events.append({"event": "grading_files_restored", "notebook": name, "files": changed})
            # From here on, this notebook is the one whose workspace an error must remove.
            previous, waiting = waiting, ran
            if previous is not None:
                judge(previous)
            if not decision.sandboxed:
                waiting = None
                judge(ran)
        if waiting is not None:
            judge(waiting)
            waiting = None
    finally:
        if waiting is not None:  # An error or an interruption: the workspace goes all the same.
            if waiting.pending is not None:
                waiting.pending.wait()
            waiting.cleanup.close()
    entry["quarantined"] += _quarantine_strays(autograded, allowed, work / "quarantine")
    for note in guards.data.check():
        events.append({"event": "grading_data_restored", "when": "after this submission", "details": note})
    for event in events:
        if event["event"] != "grading_data_restored" or event.get("when") == "after this submission":
            echo(f"{student_id}: INTEGRITY {integrity.describe_event(event)}")
    entry["integrity"] = _read_integrity_events(integrity_log) + events
    for path in sorted(submitted.glob("*.ipynb")):
        with contextlib.suppress(Exception):
            flags = integrity.suspicious_code(nbformat.read(str(path), as_version=4))
            if flags:
                entry["suspicious"][path.stem] = flags
    shutil.rmtree(data_root, ignore_errors=True)
    shutil.rmtree(kernel_homes, ignore_errors=True)
    entry.update(status="graded", current=None, finished_at=now(), seconds=round(time.monotonic() - started, 1))
    journal.put(student_id, entry)
    guards.gradebook.save_snapshot()
    return entry


@dataclasses.dataclass
class RanNotebook:
    """One notebook whose nbgrader process has ended; its verdicts may still be computed.

    ``pending``: the trusted verdict process, running in the background; ``cleanup`` removes the
    notebook's sandbox workspace (its export folder is read until the verdicts are in).
    """

    name: str
    record: dict
    judged: list[str]
    seed: int | None
    pending: verdict_stage.PendingVerdicts | None
    cleanup: contextlib.ExitStack


def _run_notebook(layout: CourseLayout, student_id: str, name: str, *, settings: dict, timeout: float,
                  extra_env: dict, token: str, log_dir: Path, auto_ids: set[str], sandboxed: bool) -> RanNotebook:
    """Run nbgrader on one notebook of one submission and start its verdict process.

    ``sandboxed``: each nbgrader process grades in a fresh sandbox workspace (:func:`_notebook_sandbox`).
    The verdict process starts as soon as the kernel has ended; :func:`_judge_notebook` waits
    for it and scores the notebook.
    """
    record = {"status": None}
    judged = sorted(verdict_registry.registered_grade_ids(name) & set(auto_ids))
    for attempt in range(2):
        seed = verdict_stage.new_seed() if judged else None
        pending = None
        cleanup = contextlib.ExitStack()
        try:
            exchange = cleanup.enter_context(_notebook_sandbox(layout, student_id, name, settings=settings,
                                                               extra_env=extra_env, sandboxed=sandboxed))
            if judged:
                verdict_registry.write_probes(name, seed, exchange.probes_dir)
            result = run_nbgrader(
                layout, ["autograde", layout.assignment, "--student", student_id, "--notebook", name, "--force"],
                log_name=name, settings=settings, timeout=timeout, extra_env={**extra_env, **exchange.variables},
                token=token, log_dir=log_dir)
            if judged and not result.timed_out:
                # The kernel has ended: its export folder is judged before the workspace goes.
                pending = verdict_stage.PendingVerdicts(
                    name, seed, exchange.export_dir, log_dir / f"{name}.verdicts.json",
                    log_path=log_dir / f"{name}.verdicts.log",
                    settings=nbgrader_environment(layout, settings, extra_env))
        except BaseException:
            cleanup.close()
            raise
        record["seconds"] = round(result.seconds, 1)
        produced = (layout.autograded_dir(student_id) / f"{name}.ipynb").is_file()
        if result.timed_out:
            record["status"] = "timeout"
        elif result.returncode == 0 and produced:
            record["status"] = "graded"
        else:
            record["status"] = "error"
            record["log_tail"] = log_tail(log_dir / f"{name}.log", 1500)
            # Two graders sharing an SQLite gradebook may collide once: try that notebook again.
            if attempt == 0 and "database is locked" in record["log_tail"]:
                timeout = max(1.0, timeout - result.seconds)
                if pending is not None:
                    pending.wait()
                cleanup.close()
                continue
        break
    return RanNotebook(name, record, judged, seed, pending, cleanup)


def _judge_notebook(layout: CourseLayout, student_id: str, ran: RanNotebook, *, auto_ids: set[str]) -> dict:
    """Wait for one notebook's verdicts, store its scores and return its journal record.

    The cells with a registered verdict (:mod:`autograde.verdicts`) are scored from the verdicts
    of the trusted verdict process, never from their own outputs.
    """
    verdicts, verdict_error = None, None
    try:
        if ran.pending is not None:
            verdicts, verdict_error = ran.pending.wait()
    finally:
        ran.cleanup.close()
    record = ran.record
    if ran.judged:
        record["verdicts"] = verdict_stage.journal_record(ran.seed, verdicts, verdict_error)
        if record["status"] == "graded" and verdict_error:
            record["status"] = "error"
            record["log_tail"] = verdict_error[-1500:]
    if record["status"] != "graded":
        zero_notebook(layout, student_id, ran.name, auto_ids)
    elif ran.judged:
        set_auto_fractions(layout, student_id, ran.name, verdict_stage.verdict_fractions(verdicts, ran.judged))
    grades = notebook_grades(layout, student_id, ran.name)
    record["auto_score"] = sum(float(grades[key]["auto"] or 0) for key in grades if key in auto_ids)
    return record


@dataclasses.dataclass(frozen=True)
class NotebookExchange:
    """The folders of one notebook's verdict stage and the variables of its nbgrader process.

    ``probes_dir``: where the grader writes the probes before the kernel starts; ``export_dir``:
    where the kernel exported its results (hostile data, read by the trusted verdict process).
    """

    variables: dict
    probes_dir: Path
    export_dir: Path


@contextlib.contextmanager
def _notebook_sandbox(layout: CourseLayout, student_id: str, name: str, *, settings: dict, extra_env: dict,
                      sandboxed: bool):
    """The sandbox of one nbgrader process; yields its :class:`NotebookExchange`.

    A fresh workspace holds a copy of the notebook being graded (the kernel's working folder),
    the submission's run folder and the verdict stage's probe (read-only) and export folders;
    the grading data is bound read-only. Its kernel spec, put first on nbgrader's
    ``JUPYTER_PATH``, shadows the course's unsandboxed one; its variables are the grader's
    ``PAYSAGES_*`` settings, secrets dropped, paths translated. ``solutions`` is never bound:
    every graded cell is judged outside the kernel (``autograde/verdicts/``). The workspace is
    removed once the process ended and its exports were judged, whatever it held.

    Unsandboxed, the probe and export folders are a fresh folder of the student's work folder,
    named to the kernel through its environment (the kernel could write anywhere there).
    """
    if not sandboxed:
        folder = layout.work_dir(student_id) / "exchange" / name
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "probes").mkdir(parents=True)
        (folder / "export").mkdir()
        try:
            yield NotebookExchange({PROBES_VARIABLE: str(folder / "probes"), EXPORT_VARIABLE: str(folder / "export")},
                                   folder / "probes", folder / "export")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    run_dir = layout.grading_run_dir(student_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    workspace = sandbox.SandboxWorkspace.create(run_dir=run_dir, data_dir=Path(extra_env["PAYSAGES_DATA_ROOT"]),
                                                notebook=layout.submitted_dir(student_id) / f"{name}.ipynb")
    try:
        grading_variables = nbgrader_environment(layout, settings, extra_env)
        sandbox.write_kernel_spec(workspace, kernel_name=settings.get("kernel_name", sandbox.KERNEL_NAME),
                                  environment=sandbox.kernel_environment(grading_variables))
        yield NotebookExchange(sandbox.grader_environment(workspace, jupyter_path=[layout.jupyter_dir]),
                               workspace.probes_dir, workspace.export_dir)
    finally:
        workspace.remove()


def _give_up(layout: CourseLayout, student_id: str, entry: dict, *, names: list[str],
             auto_ids: dict[str, set[str]], journal: Journal, guards: GradingGuards, echo) -> dict:
    """Mark a student whose grading was interrupted too often as failed, keeping what was saved."""
    submitted = layout.submitted_dir(student_id)
    saved = {name for name, record in entry.get("notebooks", {}).items() if record.get("status")}
    events = entry.setdefault("integrity", [])
    for name in names:
        if name in saved:
            continue
        with guards.gradebook.watch(student_id, name, events, trusted=True):
            zero_notebook(layout, student_id, name, auto_ids[name],
                          clear_manual=not (submitted / f"{name}.ipynb").is_file())
        entry["notebooks"][name] = {"status": "not graded: grading interrupted", "seconds": 0.0, "auto_score": 0.0}
    where = f" (last in {entry['current']})" if entry.get("current") else ""
    entry.update(status="failed", finished_at=now(), error=(
        f"grading was interrupted {entry.get('attempts', MAX_INTERRUPTED_ATTEMPTS)} times{where}: the submission "
        "may stop or kill the grader. Not graded again: the notebooks graded before keep their scores, the "
        f"others score 0. Read the logs, then `paysages autograde --student {student_id} --force` to try again."))
    journal.put(student_id, entry)
    guards.gradebook.save_snapshot()
    echo(f"{student_id}: FAILED, {entry['error']}")
    return entry


# What autograde_student checks and keeps -------------------------------------------------------
def submission_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.ipynb")):
        digest.update(path.name.encode("utf-8"))
        digest.update(bytes.fromhex(sha256_of_file(path)))
    return digest.hexdigest()


def _unexpected_submitted_files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if not (path.is_file() and (path.suffix == ".ipynb" or path.name in SUBMITTED_ALLOWED)
                          and path.parent == folder) and not path.is_dir())


def _quarantine_strays(folder: Path, allowed_names: set[str], destination: Path) -> list[str]:
    """Move files the notebooks wrote next to themselves (``numpy.py``...) out of the way."""
    moved = []
    if not folder.is_dir():
        return moved
    for path in sorted(folder.iterdir()):
        if path.name in allowed_names or path.name == GRADING_RUN_DIRNAME:
            continue
        destination.mkdir(parents=True, exist_ok=True)
        target = destination / f"{len(moved):03d}_{path.name}"
        shutil.move(str(path), str(target))
        moved.append(path.name)
    return moved


def _read_integrity_events(path: Path) -> list[dict]:
    events = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:2000]:
            with contextlib.suppress(json.JSONDecodeError):
                events.append(json.loads(line))
    return events


# Feedback ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class FeedbackResult:
    """The feedback pages written per student, and what went wrong (nbgrader, withheld pages)."""

    pages: dict[str, list[Path]]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def feedback(course=None, *, db_url: str | None = None, students: list[str] | None = None,
             echo=print) -> FeedbackResult:
    """Generate HTML feedback (hidden tests removed) and check every page for hidden-test text.

    A page that still quotes a hidden-test line (other than one the student wrote) is deleted
    and reported: it never reaches the student.
    """
    layout = CourseLayout.open(course, db_url=db_url)
    require_released(layout)
    write_bytes_atomic(layout.config_path, CONFIG_TEMPLATE.read_bytes())
    problems = []
    journal = load_journal(layout)
    graded = [student for student, entry in sorted(journal["students"].items()) if entry.get("status") == "graded"]
    selected = [check_student_id(student) for student in students] if students else graded
    for student_id in selected:
        if layout.feedback_dir(student_id).exists():
            shutil.rmtree(layout.feedback_dir(student_id))
    # One nbgrader process for everybody (it starts slowly), or one per chosen student.
    calls = [[]] if not students else [["--student", student_id] for student_id in selected]
    for call in calls:
        result = run_nbgrader(layout, ["generate_feedback", layout.assignment, "--force", *call],
                              log_name="generate_feedback")
        if result.returncode != 0:
            problems.append(f"nbgrader generate_feedback {' '.join(call)} failed (exit {result.returncode}); see "
                            f"{layout.grading_dir / 'logs' / 'generate_feedback.log'}".replace("  ", " "))
            echo(problems[-1])
    if not students:
        # Scan every page nbgrader wrote, whatever the journal says about its student.
        feedback_root = layout.root / "feedback"
        selected = sorted({*selected, *(path.name for path in feedback_root.iterdir()
                                        if path.is_dir())} if feedback_root.is_dir() else selected)
    hidden = hidden_test_lines(source_paths(layout))
    pages = {}
    for student_id in selected:
        folder = layout.feedback_dir(student_id)
        written = []
        for page in sorted(folder.glob("*.html")) if folder.is_dir() else []:
            submitted = layout.submitted_dir(student_id) / f"{page.stem}.ipynb"
            own = ""
            if submitted.is_file():
                with contextlib.suppress(Exception):
                    own = integrity.student_text(nbformat.read(str(submitted), as_version=4))
            if problems_found := integrity.scan_feedback_html(page.read_text(encoding="utf-8"), hidden, own):
                page.unlink()
                problems.append(f"{student_id}: feedback {page.name} WITHHELD, it quotes hidden tests: "
                                f"{problems_found[:3]}")
                echo(problems[-1])
                continue
            notices = unsandboxed_report_lines(journal, [student_id])
            if notices:
                page.write_text(_with_first_lines(page.read_text(encoding="utf-8"), notices), encoding="utf-8")
            written.append(page)
        # Only the HTML pages go back to students.
        if folder.is_dir():
            for path in sorted(folder.rglob("*"), reverse=True):
                if path.is_file() and path.suffix != ".html":
                    path.unlink()
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        pages[student_id] = written
        if not written and student_id in graded:
            problems.append(f"{student_id}: graded, but no feedback page was written")
        echo(f"{student_id}: {len(written)} feedback page(s) in {layout.relative(folder)}")
    return FeedbackResult(pages=pages, problems=problems)


def _with_first_lines(page: str, lines: list[str]) -> str:
    """The HTML page with ``lines`` as the first text of its body (the unsandboxed-grading notice)."""
    notice = "".join(f'<p class="paysages-unsandboxed"><b>{html.escape(line)}</b></p>\n' for line in lines)
    body = re.search(r"<body[^>]*>", page, flags=re.IGNORECASE)
    if body is None:
        return notice + page
    return page[:body.end()] + "\n" + notice + page[body.end():]


# Running nbgrader in the course directory --------------------------------------------------------
def nbgrader_environment(layout: CourseLayout, settings: dict, extra: dict | None = None) -> dict:
    """The environment of an nbgrader process: the instructor's, with grading-mode settings."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PAYSAGES_")}
    environment.update({key: str(value) for key, value in settings["environment"].items()})
    environment.update({
        "PAYSAGES_GRADEBOOK_URL": layout.db_url,
        "PAYSAGES_SEED": str(settings.get("seed", 42)),
        "JUPYTER_PATH": str(layout.jupyter_dir),
        "JUPYTER_CONFIG_DIR": str(layout.jupyter_config_dir),
        "PYTHONPATH": os.pathsep.join(
            [str(REPOSITORY_DIR)] + [item for item in os.environ.get("PYTHONPATH", "").split(os.pathsep) if item]),
        "PYTHONUNBUFFERED": "1",
        # nbgrader runs the `alembic` script of its own environment: put that environment first.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]),
        "TF_CPP_MIN_LOG_LEVEL": environment.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "MPLBACKEND": "Agg",
    })
    if settings.get("sample_per_class"):
        environment["PAYSAGES_SAMPLE_PER_CLASS"] = str(settings["sample_per_class"])
    environment.update({key: str(value) for key, value in (extra or {}).items()})
    return environment


def run_nbgrader(layout: CourseLayout, arguments: list[str], *, log_name: str, settings: dict | None = None,
                 timeout: float | None = None, extra_env: dict | None = None, token: str | None = None,
                 log_dir: Path | None = None) -> ProcessResult:
    settings = settings or load_grading_settings(layout)
    command = [sys.executable, "-m", "nbgrader", *arguments]
    log_path = (log_dir or layout.logs_dir) / f"{log_name}.log"
    return run_limited(command, cwd=layout.root, env=nbgrader_environment(layout, settings, extra_env),
                       timeout=timeout, log_path=log_path, token=token)
