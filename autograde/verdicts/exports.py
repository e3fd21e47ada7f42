"""Read what a grading kernel exported: plain data only, size-capped, links never followed.

The export folder was writable by the student's code, so everything in it is hostile input. The
loader opens the folder and each file without following symbolic links (``O_NOFOLLOW``, names
resolved relative to the folder's descriptor), reads only regular files of one link, and parses
only three formats:

* ``.json``: ``json`` without NaN or infinities;
* ``.npz``: NumPy arrays of plain kinds (booleans, integers, floats, text), read with
  ``allow_pickle=False`` after the archive's members and their unpacked sizes were checked;
* ``.keras``: a Keras model archive, kept as bytes (:class:`SavedModel`) once its members, their
  unpacked sizes and its ``config.json`` were checked. Nothing is rebuilt here: a verdict that
  needs the model loads it with ``safe_mode=True`` (:mod:`autograde.verdicts.models`).

Anything else (another suffix, a folder, a link, a FIFO, a file over the size cap, a pickled
array, unreadable content) is left unread and listed in :attr:`Exports.ignored`, with why.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import stat
import zipfile

import numpy as np

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
# Notebook 03 exports a model per variant, twice (built, then trained), with a few probes.
MAX_FILES = 128
MAX_ARRAYS_PER_FILE = 64
# A student's CNN of a few million parameters weighs tens of megabytes.
MAX_MODEL_BYTES = 256 * 1024 * 1024
MAX_MODEL_CONFIG_BYTES = 4 * 1024 * 1024
# All the files read from one export folder together: the trusted process holds them in memory.
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
# The members of a model saved by Keras 3 (``model.save("name.keras")``).
MODEL_MEMBERS = frozenset({"metadata.json", "config.json", "model.weights.h5"})
ACCEPTED_SUFFIXES = (".json", ".npz", ".keras")
# NumPy kinds an exported array may have: booleans, integers, floats and text (never objects).
PLAIN_ARRAY_KINDS = "biufU"
_OPEN_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_FOLDER_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


class RejectedExport(ValueError):
    """One exported file that is not plain data the verdicts may read."""


@dataclasses.dataclass(frozen=True)
class SavedModel:
    """An exported ``.keras`` archive whose members were checked, and its parsed ``config.json``."""

    data: bytes = dataclasses.field(repr=False)
    config: dict


@dataclasses.dataclass
class Exports:
    """The plain data read from one export folder (file name -> value) and what was left unread."""

    values: dict[str, object]
    ignored: list[str]


def load_exports(folder: os.PathLike | str, *, max_file_bytes: int = MAX_FILE_BYTES,
                 max_files: int = MAX_FILES) -> Exports:
    """Read every plain-data file at the top of ``folder`` (an absent folder holds nothing)."""
    exports = Exports({}, [])
    try:
        folder_descriptor = os.open(folder, _OPEN_FOLDER_FLAGS)
    except FileNotFoundError:
        return exports
    except OSError as error:
        # O_NOFOLLOW with O_DIRECTORY reports a link as "not a directory": say what it is.
        why = "a symbolic link, not followed" if os.path.islink(folder) else _why(error)
        exports.ignored.append(f"the export folder itself: not opened ({why})")
        return exports
    total = 0
    try:
        names = sorted(os.listdir(folder_descriptor))
        for index, name in enumerate(names):
            if index >= max_files:
                exports.ignored.append(f"{len(names) - max_files} more file(s): over the limit of {max_files} files")
                break
            label = ascii(name)[1:-1]
            if not name.endswith(ACCEPTED_SUFFIXES) or name.startswith("."):
                exports.ignored.append(f"{label}: not a .json, .npz or .keras export")
                continue
            try:
                limit = max(max_file_bytes, MAX_MODEL_BYTES) if name.endswith(".keras") else max_file_bytes
                data = _read_regular_file(folder_descriptor, name, min(limit, MAX_TOTAL_BYTES - total))
                total += len(data)
                exports.values[name] = _parse(name, data)
            except RejectedExport as error:
                exports.ignored.append(f"{label}: {error}")
    finally:
        os.close(folder_descriptor)
    return exports


def _why(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link, not followed"
    return error.strerror or type(error).__name__


def _read_regular_file(folder_descriptor: int, name: str, max_bytes: int) -> bytes:
    try:
        descriptor = os.open(name, _OPEN_FILE_FLAGS, dir_fd=folder_descriptor)
    except OSError as error:
        raise RejectedExport(_why(error)) from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise RejectedExport("not a regular file")
    with os.fdopen(descriptor, "rb") as handle:
        if info.st_nlink != 1:
            raise RejectedExport("a file with several hard links")
        if info.st_size > max_bytes:
            raise RejectedExport(f"larger than {max_bytes} bytes")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RejectedExport(f"larger than {max_bytes} bytes")
    return data


def _parse(name: str, data: bytes):
    if name.endswith(".json"):
        return _parse_json(data)
    if name.endswith(".keras"):
        return _parse_model(data)
    return _parse_npz(data)


def _refuse_constant(constant: str):
    raise RejectedExport(f"JSON holds {constant}")


def _parse_json(data: bytes):
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except RejectedExport:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise RejectedExport(f"not valid JSON ({type(error).__name__})") from None


def _parse_npz(data: bytes) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise RejectedExport(f"not an .npz archive ({type(error).__name__})") from None
    if len(members) > MAX_ARRAYS_PER_FILE:
        raise RejectedExport(f"more than {MAX_ARRAYS_PER_FILE} arrays")
    if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
        raise RejectedExport(f"unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    arrays = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            for key in archive.files:
                array = archive[key]
                if array.dtype.kind not in PLAIN_ARRAY_KINDS:
                    raise RejectedExport(f"array {ascii(key)} has dtype {array.dtype}, not plain data")
                arrays[key] = array
    except RejectedExport:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise RejectedExport("holds pickled objects (refused: allow_pickle=False)") from None
        raise RejectedExport(f"unreadable arrays ({type(error).__name__})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise RejectedExport(f"unreadable arrays ({type(error).__name__})") from None
    return arrays


def _parse_model(data: bytes) -> SavedModel:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            if len(names) != len(members) or not names <= MODEL_MEMBERS or "config.json" not in names:
                raise RejectedExport("not a Keras model archive (members other than "
                                     f"{', '.join(sorted(MODEL_MEMBERS))}, or no config.json)")
            if sum(member.file_size for member in members) > MAX_MODEL_BYTES:
                raise RejectedExport(f"unpacks to more than {MAX_MODEL_BYTES} bytes")
            if archive.getinfo("config.json").file_size > MAX_MODEL_CONFIG_BYTES:
                raise RejectedExport(f"its config.json is larger than {MAX_MODEL_CONFIG_BYTES} bytes")
            config = _parse_json(archive.read("config.json"))
    except RejectedExport:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise RejectedExport(f"not a Keras model archive ({type(error).__name__})") from None
    if not isinstance(config, dict):
        raise RejectedExport("its config.json does not describe a model")
    return SavedModel(data, config)
