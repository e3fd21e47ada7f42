"""``paysages collect``: import the submissions of a folder into the course directory.

Each file of the folder whose name matches the submission pattern (a regular expression with a
``student`` group) belongs to that student. The default pattern,
``^(?P<student>[A-Za-z0-9][A-Za-z0-9.-]*)_.+\\.(ipynb|zip)$``, matches what learning platforms
export: ``<studentid>_<anything>.ipynb`` or ``<studentid>_<anything>.zip`` (the student id
stops at the first underscore). A file is either

* a bare notebook, whose name must contain a course notebook name (``alice_02_cnn.ipynb``,
  ``alice_02_cnn (1).ipynb``, Colab's ``alice_Copie de 02_CNN.ipynb``); or
* a zip: the one ``paysages submit`` writes (``manifest.json``, ``notebooks/``, ``run/``; every
  file's SHA-256 and size are checked against the manifest), or any zip of notebooks.

Extraction is safe: no absolute path, no ``..``, no link, at most ``max_members`` members and
``max_total_bytes`` per archive and ``max_student_bytes`` for all the files of one student, counted
while each member is decompressed (an archive's index may lie about its sizes). A run-folder path
longer than the file system allows, or that clashes with another (the same path twice, the same
path in another letter case, a file where another path needs a folder), is skipped and reported.
Every refusal names the student and the file; no file of one student stops the collection of the
others. The limits live in :mod:`autograde.layout`. Only course notebooks (``NN_name.ipynb``) reach
``submitted/<student>/<assignment>/``, byte for byte. Run-folder artifacts with a known data
extension go to ``collected/<student>/student_run/`` for the instructor to read; grading never
uses them. Everything else (``numpy.py``, ``keras.py``, ``sitecustomize.py``, any ``.py``,
``.pth``, ``.so``...) is rejected and reported, so that nothing a student sends can shadow a
module of the grader. Legacy Keras HDF5 models (``.h5``, ``.hdf5``: loading them ignores
``safe_mode``) and pickles (loading one runs code) are dropped too, with their own reason. Files
whose name matches no student, or whose student id is not a safe folder name, are reported too.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import shutil
import stat
import unicodedata
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import nbformat

from autograde.layout import (
    COLLECT_MAX_BYTES_PER_ARCHIVE,
    COLLECT_MAX_BYTES_PER_STUDENT,
    COLLECT_MAX_MEMBERS_PER_ARCHIVE,
    COLLECT_MAX_NAME_BYTES,
    COLLECT_MAX_NOTEBOOK_BYTES,
    COLLECT_MAX_PATH_BYTES,
    STUDENT_ID_PATTERN,
    CourseLayout,
    check_student_id,
)
from paysages.errors import PaysagesError
from paysages.files import sha256_of_bytes
from paysages.submit import DEFAULT_SUBMISSION_PATTERN, MERGED_METADATA_KEY, course_notebook_name

DEFAULT_PATTERN = DEFAULT_SUBMISSION_PATTERN
# Run-folder artifacts kept for the instructor (never executed nor loaded by the grader).
ARTIFACT_SUFFIXES = {".json", ".csv", ".keras", ".npz", ".npy", ".png", ".jpg", ".jpeg", ".svg",
                     ".pdf", ".txt"}
# Files that run code when an instructor loads them: legacy Keras HDF5 models (Lambda layers
# ignore safe_mode there) and pickles (joblib, pandas and NumPy pickles included).
UNSAFE_SUFFIXES = {".h5", ".hdf5", ".pkl", ".pickle", ".joblib"}
UNSAFE_REASON = ("dropped: an HDF5 Keras model or a pickle can run code when loaded (save models as .keras, "
                 "data as .npz or .json)")
MANIFEST_NAME = "manifest.json"
# Archive members are decompressed this many bytes at a time, each chunk counted against the caps.
READ_CHUNK_BYTES = 1024 * 1024
# What zipfile raises on a damaged, encrypted or oddly compressed member.
MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError)
# Folders that archiving tools add and that are never part of a submission.
METADATA_FOLDERS = {"__MACOSX"}
# The longest file name shown in a report (an archive may hold a name of 65,535 bytes).
SHOWN_NAME_CHARACTERS = 200


class MemberRefused(Exception):
    """An archive member that is not kept; its message is the reason shown in the report."""


@dataclasses.dataclass
class StudentCollection:
    """What collect kept and rejected for one student."""

    student_id: str
    sources: list[str] = dataclasses.field(default_factory=list)
    notebooks: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> sha256
    artifacts: list[str] = dataclasses.field(default_factory=list)
    rejected: list[dict] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    manifest: dict | None = None
    # The accepted bytes, written once every file of the student has been read.
    notebook_data: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False)
    artifact_data: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False)
    # Bytes read from every file of the student so far, counted against the student's cap.
    extracted_bytes: int = dataclasses.field(default=0, repr=False)
    # The kept run-folder paths and their folders, in the form that decides a clash (see _path_key).
    artifact_keys: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    folder_keys: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    def reject(self, name: str, reason: str) -> None:
        self.rejected.append({"file": name, "reason": reason})

    def release_data(self) -> None:
        """Forget the accepted bytes once they are written (the next student's may be large)."""
        self.notebook_data.clear()
        self.artifact_data.clear()

    def to_dict(self) -> dict:
        return {
            "student_id": self.student_id,
            "sources": self.sources,
            "notebooks": self.notebooks,
            "artifacts": self.artifacts,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "manifest": self.manifest,
        }


@dataclasses.dataclass
class CollectReport:
    students: dict[str, StudentCollection]
    unmatched: list[dict]

    def to_dict(self) -> dict:
        return {
            "students": {key: value.to_dict() for key, value in sorted(self.students.items())},
            "unmatched": self.unmatched,
        }

    def format(self) -> str:
        lines = [f"{len(self.students)} student(s) collected."]
        for student_id, collection in sorted(self.students.items()):
            lines.append(f"  {student_id}: {len(collection.notebooks)} notebook(s), "
                         f"{len(collection.artifacts)} run file(s), {len(collection.rejected)} rejected")
            for item in collection.rejected:
                lines.append(f"    REJECTED {item['file']}: {item['reason']}")
            for warning in collection.warnings:
                lines.append(f"    warning: {warning}")
        for item in self.unmatched:
            lines.append(f"  NOT MATCHED {item['file']}: {item['reason']}")
        return "\n".join(lines)


def shown_name(name: str) -> str:
    """A file name as a report shows it: whole unless it is over-long."""
    if len(name) <= SHOWN_NAME_CHARACTERS:
        return name
    return f"{name[:SHOWN_NAME_CHARACTERS]}... ({len(name.encode('utf-8', 'surrogateescape'))} bytes)"


def path_length_problem(path: str) -> str | None:
    """Why a relative path is too long to write on Linux, or None."""
    encoded = path.encode("utf-8", "surrogateescape")
    if len(encoded) > COLLECT_MAX_PATH_BYTES:
        return f"path too long ({len(encoded)} bytes, at most {COLLECT_MAX_PATH_BYTES})"
    longest = max((len(part.encode("utf-8", "surrogateescape")) for part in path.split("/")), default=0)
    if longest > COLLECT_MAX_NAME_BYTES:
        return f"file or folder name too long ({longest} bytes, at most {COLLECT_MAX_NAME_BYTES})"
    return None


def _path_key(path: str) -> str:
    """The form in which two paths are the same file on some file system (macOS, Windows).

    Letter case is folded and Unicode normalised, so that ``Model.json`` and ``model.json``, or an
    accented name in its composed and decomposed forms, clash on every instructor's machine alike.
    """
    return unicodedata.normalize("NFC", path).casefold()


def _safe_member_name(name: str) -> str | None:
    """The member's normalised relative path, or None when it is unsafe."""
    if not name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    path = PurePosixPath(name)
    if any(part in ("..", "") for part in path.parts) or path.is_absolute():
        return None
    return path.as_posix()


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _notebook_name(file_name: str, notebook_names: list[str]) -> str | None:
    """The course notebook a file name refers to: the whole name, or what follows the student id.

    Colab's copies count (see :func:`paysages.submit.course_notebook_name`); otherwise the
    longest course name contained in the file name (LMS exports add their own words).
    """
    name = Path(file_name).name
    for candidate in (name, name.split("_", 1)[-1]):
        found = course_notebook_name(candidate, notebook_names)
        if found:
            return found
    matches = [known for known in notebook_names if known.casefold() in name.casefold()]
    return max(matches, key=len) if matches else None


def _is_merged_notebook(path: Path, max_bytes: int) -> bool:
    """True for the merged notebook ``paysages submit`` writes beside its zip."""
    if path.stat().st_size > max_bytes:
        return False
    try:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False
    kit = metadata.get("paysages") if isinstance(metadata, dict) else None
    return isinstance(kit, dict) and MERGED_METADATA_KEY in kit


def _valid_notebook(data: bytes) -> str | None:
    """None when ``data`` is a readable notebook, else the reason it is not."""
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        return f"not a readable notebook ({type(error).__name__})"
    if not isinstance(notebook.get("cells"), list):
        return "not a notebook (no cells)"
    return None


class Collector:
    """Collect one folder of submissions into a course directory."""

    def __init__(self, layout: CourseLayout, notebook_names: list[str], *, pattern: str = DEFAULT_PATTERN,
                 max_members: int = COLLECT_MAX_MEMBERS_PER_ARCHIVE,
                 max_total_bytes: int = COLLECT_MAX_BYTES_PER_ARCHIVE,
                 max_student_bytes: int = COLLECT_MAX_BYTES_PER_STUDENT,
                 max_notebook_bytes: int = COLLECT_MAX_NOTEBOOK_BYTES):
        try:
            self.pattern = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"Invalid submission pattern {pattern!r}: {error}") from error
        if "student" not in self.pattern.groupindex:
            raise ValueError(f"The submission pattern {pattern!r} needs a (?P<student>...) group.")
        if not notebook_names:
            raise PaysagesError("No course notebook is known: run `paysages release` first.")
        for name, value in (("max_members", max_members), ("max_total_bytes", max_total_bytes),
                            ("max_student_bytes", max_student_bytes), ("max_notebook_bytes", max_notebook_bytes)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        self.layout = layout
        self.notebook_names = list(notebook_names)
        self.max_members = max_members
        self.max_total_bytes = max_total_bytes
        self.max_student_bytes = max_student_bytes
        self.max_notebook_bytes = max_notebook_bytes

    # Files -----------------------------------------------------------------------------------
    def collect(self, folder: Path) -> CollectReport:
        folder = Path(folder)
        if not folder.is_dir():
            raise PaysagesError(f"{folder} is not a folder of submissions.")
        files_of: dict[str, list[Path]] = {}
        unmatched = []
        for path in sorted(folder.iterdir()):
            if path.is_symlink() or not path.is_file():
                unmatched.append({"file": path.name, "reason": "not a regular file"})
                continue
            match = self.pattern.match(path.name)
            student_id = match.group("student") if match else None
            if not student_id or not STUDENT_ID_PATTERN.match(student_id):
                reason = ("the name matches no student id" if path.suffix.lower() in (".ipynb", ".zip")
                          else "neither a notebook nor a zip (or the name matches no student id)")
                unmatched.append({"file": path.name, "reason": reason})
                continue
            try:
                check_student_id(student_id)
            except ValueError as error:  # "a..b": not a safe folder name; never abort the others.
                unmatched.append({"file": path.name, "reason": f"unsafe student id: {error}"})
                continue
            files_of.setdefault(student_id, []).append(path)
        students: dict[str, StudentCollection] = {}
        # One student at a time, written before the next is read: only one student's bytes are
        # ever held, and whatever one student sent never stops the collection of the others.
        for student_id, paths in sorted(files_of.items()):
            collection = students[student_id] = StudentCollection(student_id)
            try:
                for path in paths:
                    collection.sources.append(path.name)
                    self._add_file(collection, path)
                self._write_student(collection, folder)
            except Exception as error:  # A case no check above foresaw: reported, and the next student goes on.
                collection.reject(", ".join(collection.sources) or student_id,
                                  f"collection of this student failed ({type(error).__name__}: {error})")
            finally:
                collection.release_data()
        report = CollectReport(students=students, unmatched=unmatched)
        self.layout.grading_dir.mkdir(parents=True, exist_ok=True)
        (self.layout.grading_dir / "collect_report.json").write_text(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return report

    def _add_file(self, collection: StudentCollection, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix == ".ipynb":
            self._add_bare_notebook(collection, path)
        elif suffix == ".zip":
            self._add_zip(collection, path)
        elif suffix in UNSAFE_SUFFIXES:
            collection.reject(path.name, UNSAFE_REASON)
        else:
            collection.reject(path.name, "neither a notebook nor a zip")

    def _student_cap_reason(self) -> str:
        return f"skipped: this student's files exceed {self.max_student_bytes} bytes in total once extracted"

    def _add_bare_notebook(self, collection: StudentCollection, path: Path) -> None:
        name = _notebook_name(path.name, self.notebook_names)
        if name is None and _is_merged_notebook(path, self.max_notebook_bytes):
            collection.warnings.append(f"{path.name}: merged notebook of `paysages submit` (to read, not graded)")
            return
        if name is None:
            collection.reject(path.name, "its name contains no course notebook name")
            return
        size = path.stat().st_size
        if size > self.max_notebook_bytes:
            collection.reject(path.name, f"larger than {self.max_notebook_bytes} bytes")
            return
        if collection.extracted_bytes + size > self.max_student_bytes:
            collection.reject(path.name, self._student_cap_reason())
            return
        data = path.read_bytes()
        collection.extracted_bytes += len(data)
        self._add_notebook(collection, name, data, path.name)

    def _add_notebook(self, collection: StudentCollection, name: str, data: bytes, origin: str) -> None:
        problem = _valid_notebook(data)
        if problem:
            collection.reject(origin, problem)
            return
        if name in collection.notebooks:
            collection.warnings.append(f"{name} submitted more than once: {origin} replaces the earlier copy")
        collection.notebooks[name] = sha256_of_bytes(data)
        collection.notebook_data[name] = data

    def _add_zip(self, collection: StudentCollection, path: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            collection.reject(path.name, f"not a readable zip ({error})")
            return
        with archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            if len(infos) > self.max_members:
                collection.reject(path.name, f"more than {self.max_members} files")
                return
            # The index's sizes refuse an honest oversized archive at once; a lying index is
            # caught while extracting (_extract), where every byte is counted.
            total = sum(info.file_size for info in infos)
            if total > self.max_total_bytes:
                collection.reject(path.name, f"more than {self.max_total_bytes} bytes once extracted")
                return
            extracted = [0]  # Bytes extracted from this archive so far.
            manifest = None
            manifest_info = next((info for info in infos if info.filename == MANIFEST_NAME), None)
            if manifest_info is not None:
                try:
                    data = self._extract(archive, manifest_info, collection, extracted)
                    manifest = json.loads(data.decode("utf-8"))
                    listed = {item["path"]: item for item in manifest["files"]}
                except (MemberRefused, ValueError, KeyError, TypeError, UnicodeDecodeError):
                    collection.reject(f"{path.name}:{MANIFEST_NAME}", "unreadable manifest: archive ignored")
                    return
                collection.manifest = {key: value for key, value in manifest.items() if key != "files"}
                if manifest.get("student_id") not in (None, collection.student_id):
                    collection.warnings.append(
                        f"{path.name}: manifest student id {manifest.get('student_id')!r} differs from the file name's")
                missing = sorted(set(listed) - {info.filename for info in infos})
                for name in missing:
                    collection.reject(f"{path.name}:{shown_name(str(name))}", "listed in the manifest but absent")
            for info in infos:
                if info.filename == MANIFEST_NAME:
                    continue
                origin = f"{path.name}:{shown_name(info.filename)}"
                try:
                    member = self._check_member(info)
                    data = self._extract(archive, info, collection, extracted)
                except MemberRefused as refusal:
                    collection.reject(origin, str(refusal))
                    continue
                if manifest is not None:
                    entry = listed.get(member)
                    if not isinstance(entry, dict):
                        collection.reject(origin, "not listed in the manifest")
                        continue
                    if entry.get("sha256") != sha256_of_bytes(data) or entry.get("size") != len(data):
                        collection.reject(origin, "SHA-256 or size differs from the manifest (corrupt upload?)")
                        continue
                self._add_member(collection, member, data, origin)

    def _check_member(self, info: zipfile.ZipInfo) -> str:
        """The member's normalised relative path; MemberRefused when it cannot be kept as it is named."""
        member = _safe_member_name(info.filename)
        if member is None or _is_link(info):
            raise MemberRefused("unsafe path (absolute, '..' or link)")
        if PurePosixPath(member).parts[0] in METADATA_FOLDERS:
            raise MemberRefused("archiving tool metadata (__MACOSX), not part of the submission")
        problem = path_length_problem(member)
        if problem:
            raise MemberRefused(problem)
        return member

    def _extract(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, collection: StudentCollection,
                 extracted: list[int]) -> bytes:
        """The member's bytes, read in chunks and counted against the archive's and the student's caps.

        The index's sizes are never trusted alone: extraction stops as soon as a cap is passed.
        ``extracted`` holds the bytes already extracted from this archive (updated here).
        """
        if collection.extracted_bytes > self.max_student_bytes:
            raise MemberRefused(self._student_cap_reason())
        chunks = []
        size = 0
        try:
            with archive.open(info) as handle:
                while chunk := handle.read(READ_CHUNK_BYTES):
                    size += len(chunk)
                    extracted[0] += len(chunk)
                    collection.extracted_bytes += len(chunk)
                    if collection.extracted_bytes > self.max_student_bytes:
                        raise MemberRefused(self._student_cap_reason())
                    if extracted[0] > self.max_total_bytes:
                        raise MemberRefused(f"skipped: the archive holds more than {self.max_total_bytes} bytes "
                                            "once extracted")
                    if size > info.file_size:
                        raise MemberRefused("larger than the archive's index says")
                    chunks.append(chunk)
        except MEMBER_ERRORS as error:
            raise MemberRefused(f"unreadable member ({type(error).__name__}: {error})") from error
        if size != info.file_size:
            raise MemberRefused("size differs from the archive's index")
        return b"".join(chunks)

    def _add_member(self, collection: StudentCollection, member: str, data: bytes, origin: str) -> None:
        parts = PurePosixPath(member).parts
        file_name = parts[-1]
        suffix = PurePosixPath(file_name).suffix.lower()
        if suffix == ".ipynb":
            if ".ipynb_checkpoints" in parts:
                collection.reject(origin, "notebook checkpoint")
                return
            stem = course_notebook_name(file_name, self.notebook_names)
            if stem is None:
                collection.reject(origin, "not a course notebook")
                return
            if len(data) > self.max_notebook_bytes:
                collection.reject(origin, f"larger than {self.max_notebook_bytes} bytes")
                return
            self._add_notebook(collection, stem, data, origin)
            return
        if suffix in UNSAFE_SUFFIXES:
            collection.reject(origin, UNSAFE_REASON)
            return
        run_parts = parts[1:] if parts[0] in ("run", "paysages_run") else None
        if run_parts and suffix in ARTIFACT_SUFFIXES and not file_name.startswith("."):
            relative = "/".join(run_parts)
            clash = self._artifact_clash(collection, relative)
            if clash:
                collection.reject(origin, clash)
                return
            collection.artifacts.append(relative)
            collection.artifact_data[relative] = data
            return
        collection.reject(origin, "unexpected file (only course notebooks and run-folder data files "
                                  "are accepted; code files are never accepted)")

    @staticmethod
    def _artifact_clash(collection: StudentCollection, relative: str) -> str | None:
        """Why ``relative`` cannot join the run files kept so far (the first one kept wins), or None.

        On success the path and its folders are recorded.
        """
        key = _path_key(relative)
        if key in collection.artifact_keys:
            earlier = collection.artifact_keys[key]
            if earlier == relative:
                return f"skipped: run file {relative} was already sent (the first copy is kept)"
            return f"skipped: clashes with run file {earlier} (the same name in another letter case)"
        if key in collection.folder_keys:
            return f"skipped: {collection.folder_keys[key]} is a folder of other run files"
        parts = relative.split("/")
        folders = ["/".join(parts[:index]) for index in range(1, len(parts))]
        for folder in folders:
            clashing = collection.artifact_keys.get(_path_key(folder))
            if clashing is not None:
                return f"skipped: its folder {folder} clashes with run file {clashing}"
        collection.artifact_keys[key] = relative
        for folder in folders:
            collection.folder_keys.setdefault(_path_key(folder), folder)
        return None

    # Writing -----------------------------------------------------------------------------------
    def _write_student(self, collection: StudentCollection, folder: Path) -> None:
        layout = self.layout
        collected = layout.collected_dir(collection.student_id)
        if collected.exists():
            shutil.rmtree(collected)
        (collected / "original").mkdir(parents=True)
        for name in collection.sources:
            shutil.copyfile(folder / name, collected / "original" / name)
        for relative, data in collection.artifact_data.items():
            target = collected / "student_run" / relative
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            except OSError as error:  # The checks above should leave nothing the file system refuses.
                collection.artifacts.remove(relative)
                collection.reject(f"run/{shown_name(relative)}", f"could not be written ({error.strerror or error})")
        pending = collection.notebook_data
        submitted = layout.submitted_dir(collection.student_id)
        if pending:
            if submitted.exists():
                shutil.rmtree(submitted)
            submitted.mkdir(parents=True)
            for name, data in sorted(pending.items()):
                (submitted / f"{name}.ipynb").write_bytes(data)
            timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
            (submitted / "timestamp.txt").write_text(timestamp, encoding="utf-8")
        else:
            collection.warnings.append("no course notebook in this submission: nothing to grade")
        (collected / "collect.json").write_text(
            json.dumps(collection.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
