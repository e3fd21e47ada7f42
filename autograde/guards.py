"""What one ``autograde`` command keeps pristine across submissions.

Every grading kernel can write anything the instructor's user can (it is not a sandbox), so:

* :class:`GradingFiles`: before each notebook, the files every nbgrader process reads
  (``nbgrader_config.py``, ``paysages_grading.json``, the kernel spec, the Jupyter folders) are
  written again from their pristine content;
* :class:`GradingData`: the grading data is checked against its manifest before each copy and
  after each submission, and generated again when it changed;
* :class:`GradebookGuard`: the gradebook rows a notebook's grading may not change (other
  students' grades, manual scores and comments) are compared with the guard's copy after it and
  put back.

Each change found becomes an integrity event of the student being graded (see
:mod:`autograde.pipeline`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from autograde.layout import (
    CONFIG_TEMPLATE,
    MIGRATION_MARKER,
    CourseLayout,
    kernel_spec_bytes,
    kernel_spec_path,
    migration_marker_path,
)
from autograde.records import TABLE_FIELDS, gradebook_rows, restore_gradebook_rows, write_gradebook_snapshot
from paysages.errors import PaysagesError
from paysages.files import sha256_of_file, write_bytes_atomic


# Grading data -------------------------------------------------------------------------------------
def tree_manifest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (a link counts as a change)."""
    manifest = {}
    if not folder.is_dir() or folder.is_symlink():
        return manifest
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            manifest[path.relative_to(folder).as_posix()] = f"link:{os.readlink(path)}"
        elif path.is_file():
            manifest[path.relative_to(folder).as_posix()] = sha256_of_file(path)
    return manifest


def _describe_tree_change(expected: dict[str, str], current: dict[str, str]) -> str:
    changed = sorted(name for name in set(expected) & set(current) if expected[name] != current[name])
    removed = sorted(set(expected) - set(current))
    added = sorted(set(current) - set(expected))
    examples = ", ".join((changed + removed + added)[:3])
    return f"{len(changed)} file(s) changed, {len(removed)} removed, {len(added)} added (e.g. {examples})"


def _manifest_bytes(manifest: dict[str, str]) -> bytes:
    """The manifest file's exact content (compared byte for byte with the file on disk)."""
    return (json.dumps(manifest, indent=1) + "\n").encode("utf-8")


def _data_manifest_path(layout: CourseLayout) -> Path:
    return layout.grading_dir / "data_manifest.json"


def prepare_grading_data(layout: CourseLayout, settings: dict) -> Path:
    """Generate the sample dataset once (and its decoding cache); verify it on later calls."""
    manifest_path = _data_manifest_path(layout)
    data_dir = layout.pristine_data_dir
    if manifest_path.is_file() and data_dir.is_dir():
        with contextlib.suppress(json.JSONDecodeError):
            if tree_manifest(data_dir) == json.loads(manifest_path.read_text(encoding="utf-8")):
                return data_dir
    if data_dir.exists():
        shutil.rmtree(data_dir)
    _generate_grading_data(layout, settings, data_dir)
    write_bytes_atomic(manifest_path, _manifest_bytes(tree_manifest(data_dir)))
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
        self.manifest = tree_manifest(data_dir)
        write_bytes_atomic(_data_manifest_path(self.layout), _manifest_bytes(self.manifest))

    def check(self) -> list[str]:
        """Regenerate the pristine data (and its manifest file) if either changed; say what was found."""
        with self.lock:
            notes = []
            current = tree_manifest(self.layout.pristine_data_dir)
            if current != self.manifest:
                notes.append(f"grading/data differed from its manifest: {_describe_tree_change(self.manifest, current)}; "
                             "regenerated")
                self._regenerate()
            manifest_path = _data_manifest_path(self.layout)
            expected = _manifest_bytes(self.manifest)
            if not manifest_path.is_file() or manifest_path.is_symlink() or manifest_path.read_bytes() != expected:
                notes.append("grading/data_manifest.json was changed: written again")
                write_bytes_atomic(manifest_path, expected)
            return notes

    def copy_to(self, target: Path) -> list[str]:
        """Copy the checked pristine data to ``target`` and check the copy; say what was restored."""
        with self.lock:
            notes = self.check()
            for _ in range(2):
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(self.layout.pristine_data_dir, target)
                copied = tree_manifest(target)
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
                    write_bytes_atomic(path, data)
            for folder in self.folders:
                folder.mkdir(parents=True, exist_ok=True)

    def check_and_restore(self) -> list[str]:
        with self.lock:
            found = self.changes()
        if found:
            self.restore()
        return found


# Gradebook guard ----------------------------------------------------------------------------------
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
        self.expected = gradebook_rows(layout)

    def begin(self, student_id: str, notebook: str) -> None:
        with self.lock:
            self.busy[student_id] = notebook

    def _own_row(self, table: str, old: dict | None, new: dict, notebook: str) -> dict:
        """What ``new`` (a row of the student just graded) may be, given what it was."""
        allowed = new.copy()
        automatic = ("auto_score", "needs_manual_grade") if table == "grade" else ("auto_comment",)
        own_notebook = new["notebook"] == notebook
        for field in TABLE_FIELDS[table]:
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
                current = gradebook_rows(self.layout)
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
                    fields = [field for field in TABLE_FIELDS[table] if allowed[field] != new[field]]
                    fields += [field for field in ("notebook_id", "cell_id") if allowed[field] != new[field]]
                    changes.append(f"{_row_label(allowed)} {table} " + ", ".join(
                        f"{field} {new.get(field)!r} instead of {allowed.get(field)!r}" for field in fields))
            if not wanted:
                return None
            try:
                restore_gradebook_rows(self.layout, wanted)
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
            write_gradebook_snapshot(self.layout, students)


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
