"""The instructor's grading pipeline: release, collect, autograde, feedback, export, report.

Every step drives the real nbgrader (``python -m nbgrader ...`` in the course directory, which
holds the copied ``nbgrader_config.py``). The command-line front end is
``paysages/cli_instructor.py``; ``autograde/instructor_colab.ipynb`` runs the same functions on
a Colab GPU.

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
  restarted run skips the students already graded (same submission) unless ``force``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import dataclasses
import datetime
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from autograde import integrity
from autograde.collect import DEFAULT_PATTERN, Collector
from autograde.layout import (
    GRADING_RUN_DIRNAME,
    KERNEL_NAME,
    REPOSITORY_DIR,
    CourseLayout,
    check_student_id,
    load_grading_settings,
    write_grading_settings,
)
from autograde.notebooks import assignment_cells, hidden_test_lines, reference_notebook
from paysages.errors import PaysagesError

CONFIG_TEMPLATE = Path(__file__).with_name("nbgrader_config.py")
# The quickest grading settings that keep the hidden tests meaningful: fewer epochs, a smaller
# sample dataset and t-SNE subset than grading mode's fast-mode defaults. The corpus tests check
# that the reference still earns every point with them and each broken case loses exactly its
# cells; `make demo` and the tests use them. Real grading keeps the fast-mode defaults, which an
# honest but weaker model may need.
QUICK_GRADING_OVERRIDES = {
    "environment": {"PAYSAGES_NUM_EPOCHS": "3", "PAYSAGES_FINE_TUNE_EPOCHS": "1", "PAYSAGES_TSNE_SAMPLES": "150"},
    "sample_per_class": 60,
}
JOURNAL_VERSION = 1
SUBMITTED_ALLOWED = ("timestamp.txt",)


# Course directory set-up --------------------------------------------------------------------
def prepare_course_dir(layout: CourseLayout, overrides: dict | None = None) -> dict:
    """Write the nbgrader configuration, the grading settings and the grading kernel spec."""
    layout.root.mkdir(parents=True, exist_ok=True)
    settings = write_grading_settings(layout, overrides)
    shutil.copyfile(CONFIG_TEMPLATE, layout.config_path)
    kernel_dir = layout.jupyter_dir / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "paysages grading (the grader's Python)",
        "language": "python",
        "metadata": {"debugger": False},
    }, indent=2) + "\n", encoding="utf-8")
    layout.jupyter_config_dir.mkdir(parents=True, exist_ok=True)
    return settings


def notebook_names(layout: CourseLayout) -> list[str]:
    """The assignment's notebooks, from the synchronised source folder."""
    names = sorted(path.stem for path in layout.source_dir.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        raise PaysagesError(f"No source notebook in {layout.source_dir}: run `paysages release` first.")
    return names


def source_paths(layout: CourseLayout) -> list[Path]:
    return [layout.source_dir / f"{name}.ipynb" for name in notebook_names(layout)]


# Running nbgrader under a wall-clock limit ---------------------------------------------------
@dataclasses.dataclass
class ProcessResult:
    returncode: int | None
    timed_out: bool
    seconds: float


def _kill_process_tree(pid: int) -> None:
    """Kill a process, its descendants (the kernel runs in its own session) and its group."""
    try:
        import psutil
    except ImportError:
        psutil = None
    victims = []
    if psutil is not None:
        try:
            parent = psutil.Process(pid)
            victims = parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            victims = []
    for victim in victims:
        with contextlib.suppress(Exception):
            victim.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def kill_processes_with_token(token: str) -> int:
    """Kill every process whose environment carries this grading token; return how many."""
    try:
        import psutil
    except ImportError:
        return 0
    killed = 0
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get("PAYSAGES_GRADING_TOKEN") == token:
                process.kill()
                killed += 1
        except (psutil.Error, OSError):
            continue
    return killed


def run_limited(command: list[str], *, cwd: Path, env: dict, timeout: float | None, log_path: Path,
                token: str | None = None) -> ProcessResult:
    """Run ``command`` with its output in ``log_path``; kill everything it started on time-out."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(command)}\n".encode("utf-8"))
        log.flush()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = False
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_process_tree(process.pid)
            returncode = process.wait()
        except BaseException:
            _kill_process_tree(process.pid)
            process.wait()
            raise
        finally:
            if token:
                kill_processes_with_token(token)
    return ProcessResult(returncode=returncode, timed_out=timed_out, seconds=time.monotonic() - started)


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
    log_path = (log_dir or layout.grading_dir / "logs") / f"{log_name}.log"
    return run_limited(command, cwd=layout.root, env=nbgrader_environment(layout, settings, extra_env),
                       timeout=timeout, log_path=log_path, token=token)


def _tail(path: Path, characters: int = 3000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-characters:]


# Release --------------------------------------------------------------------------------------
def release(course_dir=None, *, db_url: str | None = None, overrides: dict | None = None,
            bundle: bool = True, notebook_dir: Path | None = None) -> dict:
    """Sync sources, generate the release with nbgrader, add Colab badges, build the bundle."""
    from autograde import release as release_module

    layout = CourseLayout.create(course_dir, db_url=db_url)
    settings = prepare_course_dir(layout, overrides)
    names = release_module.sync_sources(layout, notebook_dir)
    result = run_nbgrader(layout, ["generate_assignment", layout.assignment, "--force"],
                          log_name="generate_assignment", settings=settings)
    log_path = layout.grading_dir / "logs" / "generate_assignment.log"
    if result.returncode != 0:
        raise PaysagesError(f"nbgrader generate_assignment failed (exit {result.returncode}):\n{_tail(log_path)}")
    release_module.decorate_release(layout, names)
    bundle_path = release_module.build_bundle(layout, names) if bundle else None
    return {"course_dir": layout.root, "notebooks": names, "release_dir": layout.release_dir, "bundle": bundle_path}


# Collect --------------------------------------------------------------------------------------
def collect(folder, course_dir=None, *, db_url: str | None = None, pattern: str = DEFAULT_PATTERN, **limits):
    """Import a folder of submissions (see :mod:`autograde.collect`)."""
    layout = CourseLayout.create(course_dir, db_url=db_url)
    collector = Collector(layout, notebook_names(layout), pattern=pattern, **limits)
    return collector.collect(Path(folder))


# Journal --------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_journal(layout: CourseLayout) -> dict:
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
    layout.journal_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=layout.journal_path.parent, suffix=".tmp")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(journal, handle, indent=2, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, layout.journal_path)


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


def submission_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.ipynb")):
        digest.update(path.name.encode("utf-8"))
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# Grading data -----------------------------------------------------------------------------------
def _tree_manifest(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def prepare_grading_data(layout: CourseLayout, settings: dict) -> Path:
    """Generate the sample dataset once (and its decoding cache); verify it on later calls."""
    from paysages.data import scan_and_decode
    from paysages.settings import get_settings

    manifest_path = layout.grading_dir / "data_manifest.json"
    data_dir = layout.pristine_data_dir
    if manifest_path.is_file() and data_dir.is_dir():
        if _tree_manifest(data_dir) == json.loads(manifest_path.read_text(encoding="utf-8")):
            return data_dir
        shutil.rmtree(data_dir)
    environment = dict(settings["environment"])
    if settings.get("sample_per_class"):
        environment["PAYSAGES_SAMPLE_PER_CLASS"] = str(settings["sample_per_class"])
    environment["PAYSAGES_SEED"] = str(settings.get("seed", 42))
    with tempfile.TemporaryDirectory() as scratch:
        grading_settings = get_settings(environ=environment, data_root=data_dir, run_dir=Path(scratch) / "run")
        if grading_settings.dataset != "sample":
            raise PaysagesError("Grading mode uses the sample dataset: set PAYSAGES_DATASET=sample in "
                                f"{layout.settings_path}.")
        scan_and_decode(grading_settings)
    manifest_path.write_text(json.dumps(_tree_manifest(data_dir), indent=1) + "\n", encoding="utf-8")
    return data_dir


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


def zero_notebook(layout: CourseLayout, student_id: str, notebook: str, auto_grade_ids: set[str]) -> None:
    """Score 0 every test cell of a notebook whose grading did not finish."""
    from nbgrader.api import MissingEntry

    with gradebook(layout) as book:
        try:
            submitted = book.find_submission_notebook(notebook, layout.assignment, student_id)
        except MissingEntry:
            return
        for grade in submitted.grades:
            if grade.name in auto_grade_ids:
                grade.auto_score = 0.0
                grade.needs_manual_grade = False
        book.db.commit()


# Autograde --------------------------------------------------------------------------------------
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


def _grade_notebook(layout: CourseLayout, student_id: str, name: str, *, settings: dict, timeout: float,
                    extra_env: dict, token: str, log_dir: Path, auto_ids: set[str]) -> dict:
    """Run nbgrader on one notebook of one submission; return its journal record."""
    record = {"status": None}
    for attempt in range(2):
        result = run_nbgrader(
            layout, ["autograde", layout.assignment, "--student", student_id, "--notebook", name, "--force"],
            log_name=name, settings=settings, timeout=timeout, extra_env=extra_env, token=token, log_dir=log_dir)
        record["seconds"] = round(result.seconds, 1)
        produced = (layout.autograded_dir(student_id) / f"{name}.ipynb").is_file()
        if result.timed_out:
            record["status"] = "timeout"
        elif result.returncode == 0 and produced:
            record["status"] = "graded"
        else:
            record["status"] = "error"
            record["log_tail"] = _tail(log_dir / f"{name}.log", 1500)
            # Two graders sharing an SQLite gradebook may collide once: try that notebook again.
            if attempt == 0 and "database is locked" in record["log_tail"]:
                timeout = max(1.0, timeout - result.seconds)
                continue
        break
    if record["status"] != "graded":
        zero_notebook(layout, student_id, name, auto_ids)
    grades = notebook_grades(layout, student_id, name)
    record["auto_score"] = sum(float(grades[key]["auto"] or 0) for key in grades if key in auto_ids)
    return record


def autograde_student(layout: CourseLayout, student_id: str, *, settings: dict, journal: Journal,
                      names: list[str], auto_ids: dict[str, set[str]], force: bool = False,
                      echo=print) -> dict:
    """Grade one student's submission, notebook by notebook; return its journal entry."""
    check_student_id(student_id)
    submitted = layout.submitted_dir(student_id)
    fingerprint = submission_fingerprint(submitted)
    previous = journal.get(student_id)
    if previous and previous.get("status") == "graded" and previous.get("fingerprint") == fingerprint and not force:
        echo(f"{student_id}: already graded, skipped (use --force to grade again)")
        return previous
    entry = {"status": "running", "fingerprint": fingerprint, "started_at": _now(), "notebooks": {},
             "quarantined": [], "integrity": [], "suspicious": {}, "error": None}
    journal.put(student_id, entry)

    unexpected = _unexpected_submitted_files(submitted)
    if unexpected:
        entry.update(status="rejected", error="unexpected files in submitted/ (only notebooks are graded): "
                     + ", ".join(unexpected[:10]), finished_at=_now())
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
    data_root = work / "data"
    shutil.copytree(layout.pristine_data_dir, data_root)
    integrity_log = log_dir / "integrity.jsonl"
    token = secrets.token_hex(16)
    extra_env = {
        "PAYSAGES_DATA_ROOT": str(data_root),
        "PAYSAGES_RUN_DIR": str(layout.grading_run_dir(student_id)),
        "PAYSAGES_GRADING_TOKEN": token,
        "PAYSAGES_INTEGRITY_LOG": str(integrity_log),
    }
    started = time.monotonic()
    deadline = started + float(settings["submission_timeout_seconds"])
    allowed = {f"{name}.ipynb" for name in names} | set(SUBMITTED_ALLOWED)
    for name in names:
        if not (submitted / f"{name}.ipynb").is_file():
            entry["notebooks"][name] = {"status": "missing", "seconds": 0.0, "auto_score": 0.0}
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 1:
            zero_notebook(layout, student_id, name, auto_ids[name])
            entry["notebooks"][name] = {"status": "not run: submission time limit reached", "seconds": 0.0,
                                        "auto_score": 0.0}
            journal.put(student_id, entry)
            continue
        entry["quarantined"] += _quarantine_strays(autograded, allowed, work / "quarantine")
        record = _grade_notebook(layout, student_id, name, settings=settings,
                                 timeout=min(float(settings["notebook_timeout_seconds"]), remaining),
                                 extra_env=extra_env, token=token, log_dir=log_dir, auto_ids=auto_ids[name])
        entry["notebooks"][name] = record
        journal.put(student_id, entry)
        echo(f"{student_id}: {name} {record['status']} ({record['seconds']:.0f} s, "
             f"autograded {record['auto_score']:g} points)")
    entry["quarantined"] += _quarantine_strays(autograded, allowed, work / "quarantine")
    entry["integrity"] = _read_integrity_events(integrity_log)
    for path in sorted(submitted.glob("*.ipynb")):
        with contextlib.suppress(Exception):
            flags = integrity.suspicious_code(nbformat.read(str(path), as_version=4))
            if flags:
                entry["suspicious"][path.stem] = flags
    shutil.rmtree(data_root, ignore_errors=True)
    entry.update(status="graded", finished_at=_now(), seconds=round(time.monotonic() - started, 1))
    journal.put(student_id, entry)
    return entry


def autograde(course_dir=None, *, db_url: str | None = None, students: list[str] | None = None,
              force: bool = False, overrides: dict | None = None, jobs: int = 1, echo=print) -> dict:
    """Autograde every collected submission (or ``students``); return the journal.

    ``jobs`` submissions are graded at once (each in its own processes; 1 by default). A
    submission that crashes the grader is recorded as an error and the others go on.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}.")
    layout = CourseLayout.create(course_dir, db_url=db_url)
    if not layout.config_path.is_file():
        raise PaysagesError(f"{layout.root} is not a released course directory: run `paysages release` first.")
    settings = prepare_course_dir(layout, overrides) if overrides else load_grading_settings(layout)
    shutil.copyfile(CONFIG_TEMPLATE, layout.config_path)
    names = notebook_names(layout)
    cells = assignment_cells(source_paths(layout))
    auto_ids = {name: {cell.grade_id for cell in cells if cell.notebook == name and cell.kind == "auto"}
                for name in names}
    available = layout.students_submitted()
    selected = available if not students else [check_student_id(student) for student in students]
    unknown = sorted(set(selected) - set(available))
    if unknown:
        raise PaysagesError(f"No collected submission for: {', '.join(unknown)} (run `paysages collect`).")
    # Longest submissions first, so that parallel graders finish together.
    selected = sorted(selected, key=lambda student: -len(list(layout.submitted_dir(student).glob("*.ipynb"))))
    prepare_grading_data(layout, settings)
    journal = Journal(layout)

    def grade(student_id: str) -> None:
        try:
            autograde_student(layout, student_id, settings=settings, journal=journal, names=names,
                              auto_ids=auto_ids, force=force, echo=echo)
        except Exception as error:  # One submission never stops the others.
            entry = journal.get(student_id) or {}
            entry.update(status="error", error=f"{type(error).__name__}: {error}", finished_at=_now())
            journal.put(student_id, entry)
            echo(f"{student_id}: grading error, moving on: {error}")

    if jobs == 1:
        for student_id in selected:
            try:
                grade(student_id)
            except KeyboardInterrupt:
                echo(f"{student_id}: interrupted; run autograde again to finish (graded students are kept)")
                raise
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(grade, student_id) for student_id in selected]:
                future.result()
    return journal.snapshot()


# Feedback ---------------------------------------------------------------------------------------
def feedback(course_dir=None, *, db_url: str | None = None, students: list[str] | None = None,
             echo=print) -> dict[str, list[Path]]:
    """Generate HTML feedback (hidden tests removed) and check every page for hidden-test text.

    A page that still quotes a hidden-test line (other than one the student wrote) is deleted
    and reported: it never reaches the student.
    """
    layout = CourseLayout.create(course_dir, db_url=db_url)
    shutil.copyfile(CONFIG_TEMPLATE, layout.config_path)
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
            echo(f"nbgrader generate_feedback failed (exit {result.returncode}); see "
                 f"{layout.grading_dir / 'logs' / 'generate_feedback.log'}")
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
            problems = integrity.scan_feedback_html(page.read_text(encoding="utf-8"), hidden, own)
            if problems:
                page.unlink()
                echo(f"{student_id}: feedback {page.name} WITHHELD, it quotes hidden tests: {problems[:3]}")
                continue
            written.append(page)
        # Only the HTML pages go back to students.
        if folder.is_dir():
            for path in sorted(folder.rglob("*"), reverse=True):
                if path.is_file() and path.suffix != ".html":
                    path.unlink()
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        pages[student_id] = written
        echo(f"{student_id}: {len(written)} feedback page(s) in {layout.relative(folder)}")
    return pages


# Demo ---------------------------------------------------------------------------------------------
def write_reference_submissions(layout: CourseLayout, out_dir: Path, *, reference_id: str = "reference",
                                blank_id: str = "blank") -> list[Path]:
    """Write the reference (solutions put back) and blank (release as is) submissions as LMS files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in notebook_names(layout):
        release_notebook = nbformat.read(str(layout.release_dir / f"{name}.ipynb"), as_version=4)
        source_notebook = nbformat.read(str(layout.source_dir / f"{name}.ipynb"), as_version=4)
        reference = reference_notebook(release_notebook, source_notebook)
        for student_id, notebook in ((reference_id, reference), (blank_id, release_notebook)):
            path = out_dir / f"{student_id}_{name}.ipynb"
            nbformat.write(notebook, str(path))
            written.append(path)
    return written


def run_demo_grading(out_dir, *, quick: bool = True, jobs: int = 2, echo=print) -> dict:
    """Release, then autograde the reference and the blank submissions and print their grades.

    Called by ``make demo``; everything goes under ``out_dir`` (course directory ``course/``).
    ``quick`` grades with :data:`QUICK_GRADING_OVERRIDES` (about 5 minutes on 2 cores) instead
    of the fast-mode defaults of real grading.
    """
    from autograde import report as report_module

    out_dir = Path(out_dir).resolve()
    course_dir = out_dir / "course"
    db_url = f"sqlite:///{course_dir / 'gradebook.db'}"
    echo("== Grading demo: release, collect, autograde (reference and blank submissions) ==")
    release(course_dir, db_url=db_url, bundle=False, overrides=QUICK_GRADING_OVERRIDES if quick else None)
    layout = CourseLayout.create(course_dir, db_url=db_url)
    submissions = out_dir / "submissions"
    if submissions.exists():
        shutil.rmtree(submissions)
    write_reference_submissions(layout, submissions)
    echo(collect(submissions, course_dir, db_url=db_url).format())
    autograde(course_dir, db_url=db_url, force=True, jobs=jobs, echo=echo)
    grades = report_module.export_csv(course_dir, out_dir / "grades.csv", db_url=db_url)
    for row in grades:
        echo(f"{row['student']}: autograded {row['auto_total']:g} / {row['auto_max']:g} points "
             f"(written answers to grade by hand: {row['manual_max']:g} points)")
    return {row["student"]: row for row in grades}
