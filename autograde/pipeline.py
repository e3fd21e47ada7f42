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
  restarted run skips the students already graded (same submission) unless ``force``; students
  whose grading was interrupted go first, one at a time, and one interrupted twice (a submission
  that kills the grader) is marked failed instead of being graded a third time;
* every grading kernel can write anything the instructor's user can (it is not a sandbox), so
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
# A student whose grading was interrupted this many times (the grader killed) is not graded again.
MAX_INTERRUPTED_ATTEMPTS = 2
SNAPSHOT_FILENAME = "gradebook_snapshot.json"
KERNEL_HOMES_DIRNAME = "kernel_homes"


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` at once (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


# Course directory set-up --------------------------------------------------------------------
def kernel_spec_path(layout: CourseLayout) -> Path:
    return layout.jupyter_dir / "kernels" / KERNEL_NAME / "kernel.json"


def kernel_spec_bytes() -> bytes:
    """The grading kernel spec: the grader's own Python."""
    return (json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "paysages grading (the grader's Python)",
        "language": "python",
        "metadata": {"debugger": False},
    }, indent=2) + "\n").encode("utf-8")


def migration_marker_path(layout: CourseLayout) -> Path:
    """jupyter_core's "already migrated" marker: without it, every nbgrader process would copy the
    instructor's ~/.ipython configuration into the grading JUPYTER_CONFIG_DIR."""
    return layout.jupyter_config_dir / "migrated"


MIGRATION_MARKER = b"paysages: nothing is migrated from ~/.ipython into the grading configuration\n"


def prepare_course_dir(layout: CourseLayout, overrides: dict | None = None) -> dict:
    """Write the nbgrader configuration, the grading settings and the grading kernel spec."""
    layout.root.mkdir(parents=True, exist_ok=True)
    settings = write_grading_settings(layout, overrides)
    _write_atomic(layout.config_path, CONFIG_TEMPLATE.read_bytes())
    _write_atomic(kernel_spec_path(layout), kernel_spec_bytes())
    _write_atomic(migration_marker_path(layout), MIGRATION_MARKER)
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
    """Relative path -> SHA-256 of every file under ``folder`` (a link counts as a change)."""
    manifest = {}
    if not folder.is_dir() or folder.is_symlink():
        return manifest
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            manifest[path.relative_to(folder).as_posix()] = f"link:{os.readlink(path)}"
        elif path.is_file():
            manifest[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return manifest


def _describe_tree_change(expected: dict[str, str], current: dict[str, str]) -> str:
    changed = sorted(name for name in set(expected) & set(current) if expected[name] != current[name])
    removed = sorted(set(expected) - set(current))
    added = sorted(set(current) - set(expected))
    examples = ", ".join((changed + removed + added)[:3])
    return f"{len(changed)} file(s) changed, {len(removed)} removed, {len(added)} added (e.g. {examples})"


def _data_manifest_path(layout: CourseLayout) -> Path:
    return layout.grading_dir / "data_manifest.json"


def prepare_grading_data(layout: CourseLayout, settings: dict) -> Path:
    """Generate the sample dataset once (and its decoding cache); verify it on later calls."""
    manifest_path = _data_manifest_path(layout)
    data_dir = layout.pristine_data_dir
    if manifest_path.is_file() and data_dir.is_dir():
        with contextlib.suppress(json.JSONDecodeError):
            if _tree_manifest(data_dir) == json.loads(manifest_path.read_text(encoding="utf-8")):
                return data_dir
    if data_dir.exists():
        shutil.rmtree(data_dir)
    _generate_grading_data(layout, settings, data_dir)
    _write_atomic(manifest_path, (json.dumps(_tree_manifest(data_dir), indent=1) + "\n").encode("utf-8"))
    return data_dir


def _generate_grading_data(layout: CourseLayout, settings: dict, data_dir: Path) -> None:
    """Generate the sample dataset of grading mode (and its decoding cache) in ``data_dir``."""
    from paysages.data import scan_and_decode
    from paysages.settings import get_settings

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


class GradingData:
    """The pristine grading data, checked against the manifest held in memory.

    The manifest is read once, when the command starts (no kernel runs then); each submission's
    copy is checked against it, and the pristine folder is checked again after each submission:
    a grading kernel that changed it (``../../../grading/data`` from its working folder) cannot
    change what the next submission reads.
    """

    def __init__(self, layout: CourseLayout, settings: dict):
        self.layout = layout
        self.settings = settings
        self.lock = threading.RLock()
        prepare_grading_data(layout, settings)
        self.manifest = json.loads(_data_manifest_path(layout).read_text(encoding="utf-8"))

    def _regenerate(self) -> None:
        data_dir = self.layout.pristine_data_dir
        if data_dir.is_symlink():
            data_dir.unlink()
        elif data_dir.exists():
            shutil.rmtree(data_dir)
        _generate_grading_data(self.layout, self.settings, data_dir)
        self.manifest = _tree_manifest(data_dir)
        _write_atomic(_data_manifest_path(self.layout), (json.dumps(self.manifest, indent=1) + "\n").encode("utf-8"))

    def check(self) -> list[str]:
        """Regenerate the pristine data (and its manifest file) if either changed; say what was found."""
        with self.lock:
            notes = []
            current = _tree_manifest(self.layout.pristine_data_dir)
            if current != self.manifest:
                notes.append(f"grading/data differed from its manifest: {_describe_tree_change(self.manifest, current)}; "
                             "regenerated")
                self._regenerate()
            manifest_path = _data_manifest_path(self.layout)
            expected = (json.dumps(self.manifest, indent=1) + "\n").encode("utf-8")
            if not manifest_path.is_file() or manifest_path.is_symlink() or manifest_path.read_bytes() != expected:
                notes.append("grading/data_manifest.json was changed: written again")
                _write_atomic(manifest_path, expected)
            return notes

    def copy_to(self, target: Path) -> list[str]:
        """Copy the checked pristine data to ``target`` and check the copy; say what was restored."""
        with self.lock:
            notes = self.check()
            for _ in range(2):
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(self.layout.pristine_data_dir, target)
                copied = _tree_manifest(target)
                if copied == self.manifest:
                    return notes
                notes.append(f"grading data changed while it was copied: {_describe_tree_change(self.manifest, copied)}; "
                             "regenerated")
                self._regenerate()
            raise PaysagesError("The grading data keeps changing while it is copied: stop every grading process "
                                f"and delete {self.layout.pristine_data_dir}.")


# Files every nbgrader process reads ----------------------------------------------------------------
class GradingFiles:
    """``nbgrader_config.py``, ``paysages_grading.json``, the kernel spec and the Jupyter folders.

    Their pristine content is taken when the command starts: the configuration template, the
    settings file as the command wrote or found it, the kernel spec it writes. :meth:`restore`
    writes them again (and empties the Jupyter folders of anything else); :meth:`changes` lists
    what differs.
    """

    def __init__(self, layout: CourseLayout):
        self.layout = layout
        self.lock = threading.Lock()
        settings_path = layout.settings_path
        self.pristine = {
            layout.config_path: CONFIG_TEMPLATE.read_bytes(),
            settings_path: settings_path.read_bytes() if settings_path.is_file() else None,
            kernel_spec_path(layout): kernel_spec_bytes(),
            migration_marker_path(layout): MIGRATION_MARKER,
        }
        self.folders = (layout.jupyter_dir, layout.jupyter_config_dir)

    def _extra_files(self) -> list[Path]:
        extra = []
        for folder in self.folders:
            if folder.is_symlink():
                extra.append(folder)
            elif folder.is_dir():
                extra += [path for path in sorted(folder.rglob("*"))
                          if (path.is_symlink() or not path.is_dir()) and path not in self.pristine]
        return extra

    def changes(self) -> list[str]:
        found = []
        for path, data in self.pristine.items():
            current = path.read_bytes() if path.is_file() and not path.is_symlink() else None
            if current != data:
                state = "removed" if current is None else "added" if data is None else "changed"
                found.append(f"{self.layout.relative(path)} {state}")
        found += [f"{self.layout.relative(path)} added" for path in self._extra_files()]
        return found

    def restore(self) -> None:
        with self.lock:
            for path in self._extra_files():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            for path, data in self.pristine.items():
                if data is None:
                    if path.is_symlink() or path.is_file():
                        path.unlink()
                elif path.is_symlink() or not path.is_file() or path.read_bytes() != data:
                    _write_atomic(path, data)
            for folder in self.folders:
                folder.mkdir(parents=True, exist_ok=True)

    def check_and_restore(self) -> list[str]:
        with self.lock:
            found = self.changes()
        if found:
            self.restore()
        return found


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


# Gradebook guard ------------------------------------------------------------------------------------
_GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
_COMMENT_FIELDS = ("auto_comment", "manual_comment")
_TABLE_FIELDS = {"grade": _GRADE_FIELDS, "comment": _COMMENT_FIELDS}


def _gradebook_rows(layout: CourseLayout) -> dict[tuple[str, str], dict]:
    """Every grade and comment row: (table, row id) -> its student, notebook, cell and values."""
    from nbgrader.api import BaseCell, Comment, Grade, Notebook, SubmittedAssignment, SubmittedNotebook

    rows = {}
    with gradebook(layout) as book:
        for table, model in (("grade", Grade), ("comment", Comment)):
            fields = _TABLE_FIELDS[table]
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


def _restore_gradebook_rows(layout: CourseLayout, wanted: dict[tuple[str, str], dict | None]) -> None:
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
            values = {field: row[field] for field in _TABLE_FIELDS[table]}
            values.update(notebook_id=row["notebook_id"], cell_id=row["cell_id"])
            if existing is None:
                book.db.add(model(id=row_id, **values))
            else:
                for field, value in values.items():
                    setattr(existing, field, value)
        book.db.commit()


def _row_label(row: dict) -> str:
    return f"{row.get('student')} {row.get('notebook')}/{row.get('cell')}"


class GradebookGuard:
    """The pipeline's own copy of the gradebook's grade and comment rows.

    A notebook's grading may change only the automatic fields (``auto_score``,
    ``needs_manual_grade``, ``auto_comment``) of its own rows. After each notebook every other
    difference (another student's grades, this student's other notebooks, any manual score,
    extra credit or comment) is undone from the copy and described. Rows of a student being
    graded by another thread at that moment are judged when that student's notebook ends.
    Manual grading in formgrader while autograde runs is undone too: grade by hand afterwards.
    """

    def __init__(self, layout: CourseLayout):
        self.layout = layout
        self.lock = threading.Lock()
        self.busy: dict[str, str] = {}
        self.expected = _gradebook_rows(layout)

    def begin(self, student_id: str, notebook: str) -> None:
        with self.lock:
            self.busy[student_id] = notebook

    def _own_row(self, table: str, old: dict | None, new: dict, notebook: str) -> dict:
        """What ``new`` (a row of the student just graded) may be, given what it was."""
        allowed = new.copy()
        automatic = ("auto_score", "needs_manual_grade") if table == "grade" else ("auto_comment",)
        own_notebook = new["notebook"] == notebook
        for field in _TABLE_FIELDS[table]:
            if old is None:  # Created by nbgrader now (its first grading creates every notebook's rows).
                if field not in automatic:
                    allowed[field] = None
                elif not own_notebook and field != "needs_manual_grade" and new[field]:
                    allowed[field] = None  # nbgrader sets 0 for a notebook not submitted, nothing else.
            elif field not in automatic or not own_notebook:
                allowed[field] = old[field]
        if old is not None:
            allowed.update(notebook_id=old["notebook_id"], cell_id=old["cell_id"], student=old["student"],
                           notebook=old["notebook"], cell=old["cell"])
        if table == "grade" and allowed != new and allowed["notebook"] == notebook:
            # What nbgrader's SaveAutoGrades would have decided with the genuine manual score.
            allowed["needs_manual_grade"] = allowed["manual_score"] is not None or allowed["auto_score"] is None
        return allowed

    def end(self, student_id: str, notebook: str, *, trusted: bool = False) -> dict | None:
        """Compare the gradebook with the copy after ``student_id``'s ``notebook``; return the event.

        ``trusted``: the pipeline itself changed that notebook's rows (no kernel ran for it).
        """
        with self.lock:
            self.busy.pop(student_id, None)
            try:
                current = _gradebook_rows(self.layout)
            except Exception as error:  # A replaced or broken gradebook file.
                return {"event": "gradebook_restored", "notebook": notebook, "rows": 0, "students": [],
                        "changes": [f"the gradebook could not be read after grading: {type(error).__name__}: {error}"],
                        "in_flight": sorted(self.busy)}
            wanted, changes, owners = {}, [], set()
            for key in sorted(set(self.expected) | set(current)):
                table = key[0]
                old, new = self.expected.get(key), current.get(key)
                if old == new:
                    continue
                owner = (new or old).get("student")
                if owner in self.busy:
                    continue  # Being graded by another thread: judged when that notebook ends.
                if owner == student_id and new is not None:
                    allowed = new if trusted and new["notebook"] == notebook else self._own_row(table, old, new, notebook)
                    if allowed == new:
                        self.expected[key] = new
                        continue
                else:
                    allowed = old
                wanted[key] = allowed
                owners.add(str(owner))
                if new is None:
                    changes.append(f"{_row_label(old)} ({table}) deleted")
                elif allowed is None:
                    changes.append(f"{_row_label(new)} ({table}) added")
                else:
                    fields = [field for field in _TABLE_FIELDS[table] if allowed[field] != new[field]]
                    fields += [field for field in ("notebook_id", "cell_id") if allowed[field] != new[field]]
                    changes.append(f"{_row_label(allowed)} {table} " + ", ".join(
                        f"{field} {new.get(field)!r} instead of {allowed.get(field)!r}" for field in fields))
            if not wanted:
                return None
            try:
                _restore_gradebook_rows(self.layout, wanted)
            except Exception as error:
                changes.append(f"could not restore every row: {type(error).__name__}: {error}")
            for key, row in wanted.items():
                if row is None:
                    self.expected.pop(key, None)
                else:
                    self.expected[key] = row
            return {"event": "gradebook_restored", "notebook": notebook, "rows": len(wanted),
                    "students": sorted(owners), "changes": changes[:30], "in_flight": sorted(self.busy)}

    @contextlib.contextmanager
    def watch(self, student_id: str, notebook: str, events: list, *, trusted: bool = False):
        self.begin(student_id, notebook)
        try:
            yield
        finally:
            event = self.end(student_id, notebook, trusted=trusted)
            if event:
                events.append(event)

    def save_snapshot(self) -> None:
        """Write the copy's scores (read by the report: a manual score set later is shown)."""
        with self.lock:
            students: dict[str, dict] = {}
            for (table, _), row in self.expected.items():
                if table == "grade" and row.get("student"):
                    students.setdefault(row["student"], {})[f"{row['notebook']}/{row['cell']}"] = {
                        "auto": row["auto_score"], "manual": row["manual_score"], "extra": row["extra_credit"]}
            data = json.dumps({"written_at": _now(), "students": students}, indent=1, sort_keys=True) + "\n"
            _write_atomic(self.layout.grading_dir / SNAPSHOT_FILENAME, data.encode("utf-8"))


def load_gradebook_snapshot(layout: CourseLayout) -> dict:
    """student -> "notebook/grade_id" -> {auto, manual, extra} as the last autograde left them ({} if none)."""
    path = layout.grading_dir / SNAPSHOT_FILENAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("students", {})
    except (json.JSONDecodeError, AttributeError):
        return {}


@dataclasses.dataclass
class GradingGuards:
    """What one autograde command keeps pristine across submissions."""

    files: GradingFiles
    data: GradingData
    gradebook: GradebookGuard

    @classmethod
    def create(cls, layout: CourseLayout, settings: dict) -> "GradingGuards":
        files = GradingFiles(layout)
        files.restore()
        return cls(files=files, data=GradingData(layout, settings), gradebook=GradebookGuard(layout))


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
    entry.update(status="failed", finished_at=_now(), error=(
        f"grading was interrupted {entry.get('attempts', MAX_INTERRUPTED_ATTEMPTS)} times{where}: the submission "
        "may stop or kill the grader. Not graded again: the notebooks graded before keep their scores, the "
        f"others score 0. Read the logs, then `paysages autograde --student {student_id} --force` to try again."))
    journal.put(student_id, entry)
    guards.gradebook.save_snapshot()
    echo(f"{student_id}: FAILED, {entry['error']}")
    return entry


def autograde_student(layout: CourseLayout, student_id: str, *, settings: dict, journal: Journal,
                      names: list[str], auto_ids: dict[str, set[str]], force: bool = False,
                      echo=print, guards: GradingGuards | None = None, explicit: bool = False) -> dict:
    """Grade one student's submission, notebook by notebook; return its journal entry.

    ``explicit``: the instructor named this student (``--student``), so that ``force`` grades
    again even a submission marked failed after interrupted gradings.
    """
    check_student_id(student_id)
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
    entry = {"status": "running", "fingerprint": fingerprint, "started_at": _now(), "attempts": attempts,
             "current": None, "notebooks": {}, "quarantined": [], "integrity": [], "suspicious": {}, "error": None}
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
    for name in names:
        if name in entry["notebooks"]:
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 1:
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
                record = _grade_notebook(layout, student_id, name, settings=settings,
                                         timeout=min(float(settings["notebook_timeout_seconds"]), remaining),
                                         extra_env=extra_env, token=token, log_dir=log_dir, auto_ids=auto_ids[name])
        finally:
            shutil.rmtree(kernel_homes, ignore_errors=True)
            changed = guards.files.check_and_restore()
            if changed:
                events.append({"event": "grading_files_restored", "notebook": name, "files": changed})
        if events and events[-1].get("event") == "gradebook_restored" and events[-1].get("notebook") == name:
            # The record's score was read before the gradebook was put back: read it again.
            grades = notebook_grades(layout, student_id, name)
            record["auto_score"] = sum(float(grades[key]["auto"] or 0) for key in grades if key in auto_ids[name])
        entry["notebooks"][name] = record
        entry["integrity"] = list(events)
        journal.put(student_id, entry)
        echo(f"{student_id}: {name} {record['status']} ({record['seconds']:.0f} s, "
             f"autograded {record['auto_score']:g} points)")
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
    entry.update(status="graded", current=None, finished_at=_now(), seconds=round(time.monotonic() - started, 1))
    journal.put(student_id, entry)
    guards.gradebook.save_snapshot()
    return entry


def autograde(course_dir=None, *, db_url: str | None = None, students: list[str] | None = None,
              force: bool = False, overrides: dict | None = None, jobs: int = 1, echo=print) -> dict:
    """Autograde every collected submission (or ``students``); return the journal.

    ``jobs`` submissions are graded at once (each in its own processes; 1 by default). A
    submission that crashes the grader is recorded as an error and the others go on. Students
    whose last grading was interrupted are graded first, one at a time, so that a submission
    that kills the grader is found alone.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}.")
    layout = CourseLayout.create(course_dir, db_url=db_url)
    if not layout.config_path.is_file():
        raise PaysagesError(f"{layout.root} is not a released course directory: run `paysages release` first.")
    settings = prepare_course_dir(layout, overrides) if overrides else load_grading_settings(layout)
    names = notebook_names(layout)
    cells = assignment_cells(source_paths(layout))
    auto_ids = {name: {cell.grade_id for cell in cells if cell.notebook == name and cell.kind == "auto"}
                for name in names}
    available = layout.students_submitted()
    selected = available if not students else [check_student_id(student) for student in students]
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
                              explicit=student_id in explicit)
        except Exception as error:  # One submission never stops the others.
            entry = journal.get(student_id) or {}
            entry.update(status="error", error=f"{type(error).__name__}: {error}", finished_at=_now())
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


# Feedback ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class FeedbackResult:
    """The feedback pages written per student, and what went wrong (nbgrader, withheld pages)."""

    pages: dict[str, list[Path]]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def feedback(course_dir=None, *, db_url: str | None = None, students: list[str] | None = None,
             echo=print) -> FeedbackResult:
    """Generate HTML feedback (hidden tests removed) and check every page for hidden-test text.

    A page that still quotes a hidden-test line (other than one the student wrote) is deleted
    and reported: it never reaches the student.
    """
    layout = CourseLayout.create(course_dir, db_url=db_url)
    _write_atomic(layout.config_path, CONFIG_TEMPLATE.read_bytes())
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
        echo(f"{row['student']}: autograded {row['auto_total']:g} / {row['auto_max']:g} points, "
             f"bonus {row['bonus_total']:g} (written answers to grade by hand: {row['manual_max']:g} points)")
    return {row["student"]: row for row in grades}
