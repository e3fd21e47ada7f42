"""Small file utilities used across the kit: hashing, atomic writes and folder swaps.

Every module that hashes a file, writes a file a reader may see half-written, or replaces a
whole folder goes through here, so that each of these is written (and tested) once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

CHUNK_SIZE = 1 << 20


def sha256_of_bytes(data: bytes) -> str:
    """Return the hexadecimal SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: str | os.PathLike, chunk_size: int = CHUNK_SIZE) -> str:
    """Return the hexadecimal SHA-256 digest of a file, read in chunks (any size fits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], Any], *, durable: bool = False) -> Path:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    ``write`` receives the open binary handle. A reader sees the old file or the complete new
    one, never a partial one; on any error the temporary file is removed and ``path`` is left
    as it was. With ``durable=True`` the data is flushed to disk (``fsync``) before the rename,
    for files that must survive a crash (a Colab runtime recycled, Drive syncing late). A
    symbolic link at ``path`` is replaced by the file, never followed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, durable: bool = False) -> Path:
    """Replace ``path`` by ``data`` at once (see :func:`write_atomic`)."""
    return write_atomic(path, lambda handle: handle.write(data), durable=durable)


def write_text_atomic(path: str | os.PathLike, text: str, *, durable: bool = False) -> Path:
    """Replace ``path`` by ``text`` encoded in UTF-8 at once (see :func:`write_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


def write_json_atomic(path: str | os.PathLike, data: Any, *, durable: bool = False, indent: int | None = 2) -> Path:
    """Replace ``path`` by ``data`` as JSON (UTF-8, a final newline) at once."""
    text = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    return write_text_atomic(path, text, durable=durable)


def swap_folder_into_place(staging: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Replace the folder ``destination`` by the finished ``staging`` folder, with renames only.

    ``destination`` is never half-written: it is the old folder or the new one. If the second
    rename fails, the old folder is put back and ``staging`` is kept (nothing is lost) before
    the error is raised again. Both folders must be on the same file system.
    """
    staging = Path(staging)
    destination = Path(destination)
    if not destination.exists() and not destination.is_symlink():
        os.replace(staging, destination)
        return destination
    retired = destination.with_name(f".{destination.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(destination, retired)
    try:
        os.replace(staging, destination)
    except BaseException:
        os.replace(retired, destination)
        raise
    if retired.is_dir() and not retired.is_symlink():
        shutil.rmtree(retired, ignore_errors=True)
    else:
        retired.unlink(missing_ok=True)
    return destination
