"""Download, check and unpack the real ml5js Landscapes dataset.

Everything lives under one data root (``settings.data_root``; ``datasets/`` in a source checkout)::

    <root>/_downloads/landscapes_small.zip        the archive, kept: re-extracting needs no network
    <root>/_downloads/landscapes_small.zip.part   an unfinished download, resumed by the next run
    <root>/_downloads/landscapes_small.zip.bad    an archive that failed extraction, moved aside
    <root>/landscapes/licenses/<class>_photos_info.json   licence metadata, one file per class
    <root>/landscapes/<class>/<photo>.jpg         the images, one folder per class
    <root>/landscapes/paysages_dataset.json       the manifest, written last

The manifest is written only once the images are extracted and checked, so a folder without it is
never complete. Without network, :func:`fetch_landscapes` raises :class:`OfflineError` at once with
the exact paths where the files can be put by hand.

Only the standard library's ``urllib`` talks to the network.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import functools
import http.client
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from paysages import __version__
from paysages.files import sha256_of_file, swap_folder_into_place, write_json_atomic
from paysages.errors import ArchiveError, DatasetError, DownloadError, FingerprintError, OfflineError
from paysages.licences import (
    PhotoInfo,
    load_licence_metadata,
    no_derivative_files,
    verify_sha256,
)
from paysages.registry import DatasetSpec, get_dataset_spec

# Where the files go under the data root.
DOWNLOADS_DIRNAME = "_downloads"
LICENCES_DIRNAME = "licenses"
MANIFEST_FILENAME = "paysages_dataset.json"
MANIFEST_FORMAT_VERSION = 1

# Seconds before the first retry; each further retry waits twice as long. Tests lower it.
DEFAULT_BACKOFF_SECONDS = 1.0
# Seconds to wait for a connection to each address of a server: short, so that "no network"
# fails quickly. Seconds to wait for data once connected: longer, for slow mirrors.
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0
CHUNK_SIZE = 1 << 16
USER_AGENT = f"paysages/{__version__} (Python urllib)"

# A Git LFS pointer is a small text file that stands in for the real file on some mirrors.
LFS_POINTER_PREFIX = b"version https://git-lfs"
LFS_POINTER_MAX_SIZE = 1024

# Refuse archives that claim to unpack to more than this (a decompression bomb, or the wrong file).
MAX_EXTRACTED_BYTES = 8 * 1024**3

# Names that operating systems and notebooks leave behind; they never become classes.
JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})

# Connection errors meaning "no network here", as opposed to a server that answered badly.
_UNREACHABLE_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, "ENETUNREACH", None),
        getattr(errno, "EHOSTUNREACH", None),
        getattr(errno, "ENETDOWN", None),
        getattr(errno, "EHOSTDOWN", None),
        getattr(errno, "EADDRNOTAVAIL", None),
        getattr(errno, "ECONNREFUSED", None),
    )
    if code is not None
)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Downloading one file.
# --------------------------------------------------------------------------------------------


class _ConnectTimeout(TimeoutError):
    """No connection could be made within the connect timeout (as opposed to a slow answer)."""


@functools.cache
def _with_read_timeout(connection_class: type, read_timeout: float) -> type:
    """Return a subclass of an ``http.client`` connection class with a separate read timeout.

    urllib uses one timeout for everything; this connection connects within the request's
    timeout (the connect timeout), then waits up to ``read_timeout`` for each read.
    """

    class TimedConnection(connection_class):
        def connect(self):
            try:
                super().connect()
            except TimeoutError as error:
                raise _ConnectTimeout(
                    f"no connection to {self.host} within {self.timeout:g} s"
                ) from error
            self.sock.settimeout(read_timeout)

    TimedConnection.__name__ = f"Timed{connection_class.__name__}"
    return TimedConnection


class _ReadTimeoutMixin:
    """Give the connections an HTTP(S) handler opens a read timeout of their own."""

    def __init__(self, read_timeout: float):
        super().__init__()
        self.read_timeout = read_timeout

    def do_open(self, http_class, request, **options):
        return super().do_open(_with_read_timeout(http_class, self.read_timeout), request, **options)


class _TimedHTTPHandler(_ReadTimeoutMixin, urllib.request.HTTPHandler):
    pass


class _TimedHTTPSHandler(_ReadTimeoutMixin, urllib.request.HTTPSHandler):
    pass


def _build_opener(read_timeout: float) -> urllib.request.OpenerDirector:
    """An opener whose connections use ``read_timeout`` once connected (proxies still apply)."""
    return urllib.request.build_opener(_TimedHTTPHandler(read_timeout), _TimedHTTPSHandler(read_timeout))


class _Unreachable(Exception):
    """The server could not be reached (connection refused, unknown host, no route, timeout)."""


class _Permanent(Exception):
    """The server answered, and asking it again will not help (404, 403, wrong content)."""


class _Transient(Exception):
    """Something that a retry may fix (a 5xx answer, a transfer cut short, a read timeout)."""


def _is_unreachable(reason: object) -> bool:
    # A timeout while connecting means no network; a timeout once connected is a slow server.
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror, _ConnectTimeout)):
        return True
    return isinstance(reason, OSError) and reason.errno in _UNREACHABLE_ERRNOS


def _part_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """Return ``(first_byte, total_size)`` from a ``Content-Range`` header, or None."""
    if not value:
        return None
    match = _CONTENT_RANGE.match(value.strip())
    if match is None:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _is_lfs_pointer(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size > LFS_POINTER_MAX_SIZE:
        return False
    with open(path, "rb") as stream:
        return stream.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX


def _transfer(
    opener: urllib.request.OpenerDirector,
    url: str,
    part: Path,
    *,
    expected_size: int | None,
    connect_timeout: float,
    progress: bool,
    description: str,
) -> None:
    """Fetch ``url`` into ``part``, resuming what ``part`` already holds when the server allows."""
    existing = part.stat().st_size if part.is_file() else 0
    if expected_size is not None and existing > expected_size:
        # The partial file is longer than the real one: it cannot be resumed.
        part.unlink()
        existing = 0
    if expected_size is not None and 0 < existing == expected_size:
        return

    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if existing:
        headers["Range"] = f"bytes={existing}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = opener.open(request, timeout=connect_timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and existing:
            match = _UNSATISFIED_RANGE.match((error.headers or {}).get("Content-Range", "") or "")
            if match is not None and int(match.group(1)) == existing:
                return  # The partial file already holds the whole file.
            if match is not None:
                raise _Permanent(
                    f"this server's file has {match.group(1)} bytes, not more than the "
                    f"{existing} bytes already downloaded"
                ) from error
            part.unlink()
            raise _Transient("the server refused to resume; starting again from zero") from error
        if error.code in (408, 425, 429) or error.code >= 500:
            raise _Transient(f"HTTP {error.code} {error.reason}") from error
        raise _Permanent(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        if _is_unreachable(error.reason):
            raise _Unreachable(str(error.reason)) from error
        if isinstance(error.reason, (ConnectionError, TimeoutError, http.client.HTTPException)):
            raise _Transient(f"{type(error.reason).__name__}: {error.reason}") from error
        raise _Permanent(str(error.reason)) from error
    except (ConnectionError, TimeoutError, http.client.HTTPException) as error:
        raise _Transient(f"{type(error).__name__}: {error}") from error

    with response:
        status = response.status
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        if status == 206 and existing:
            content_range = _parse_content_range(response.headers.get("Content-Range"))
            if content_range is None or content_range[0] != existing:
                # The server sent some other part of the file: start again cleanly.
                part.unlink()
                raise _Transient("the server answered the resume request with the wrong range")
            mode = "ab"
            total = content_range[1]
            if total is None and length is not None:
                total = existing + length
        elif status == 200:
            # Either a fresh download or a server that ignores Range: start from zero.
            mode = "wb"
            existing = 0
            total = length
        else:
            raise _Permanent(f"unexpected HTTP status {status}")

        received = existing
        try:
            with open(part, mode) as stream, tqdm(
                total=total,
                initial=existing,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=description,
                disable=not progress,
                leave=False,
            ) as bar:
                while True:
                    chunk = response.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    stream.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            # A full or read-only disk is not the network's fault: retrying cannot help.
            if getattr(error, "errno", None) in (errno.ENOSPC, errno.EACCES, errno.EROFS):
                raise DownloadError(f"Cannot write {part}: {error}") from error
            raise _Transient(
                f"the transfer stopped after {received} bytes ({type(error).__name__}: {error})"
            ) from error
    if total is not None and received < total:
        raise _Transient(f"the connection closed after {received} of {total} bytes")


def download_file(
    urls: str | Sequence[str],
    destination: Path,
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    retries: int = 3,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    progress: bool = True,
    backoff: float | None = None,
) -> Path:
    """Download a file, trying each URL in turn, and return its path once verified.

    The bytes go to ``<destination>.part`` first; an interrupted transfer is resumed with an HTTP
    ``Range`` request (from zero when the server ignores it). Only a file whose size and SHA-256
    match (when known) is renamed to ``destination``, so ``destination`` is never half-written.
    A mirror that answers a Git LFS pointer instead of the file is skipped.

    A partial file is kept after a transfer that keeps failing, so that the next call resumes it;
    a complete file that fails verification is deleted.

    Args:
        urls: one URL or several (first choice first); only ``http`` and ``https`` are accepted.
        destination: where the verified file goes; its folder is created if needed.
        expected_sha256: the hexadecimal SHA-256 digest the file must have, if known.
        expected_size: the size in bytes the file must have, if known.
        retries: how many times a failing transfer is tried again on the same URL.
        connect_timeout: seconds to wait for a connection to each of the server's addresses
            (default: ``CONNECT_TIMEOUT_SECONDS``, short: no network must fail quickly).
        read_timeout: seconds to wait for each piece of data once connected (default:
            ``READ_TIMEOUT_SECONDS``); a read that times out is retried.
        progress: show a progress bar.
        backoff: seconds before the first retry, doubled at each further retry
            (default: ``DEFAULT_BACKOFF_SECONDS``).

    Returns:
        ``destination``.

    Raises:
        OfflineError: no URL could be reached at all (connection refused, unknown host, no route,
            no connection within the connect timeout); raised without retrying.
        DownloadError: a server answered but the file could not be completed or verified.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    if not urls:
        raise ValueError("download_file needs at least one URL.")
    for url in urls:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"Only http and https URLs can be downloaded, not {url!r}.")
    if retries < 0:
        raise ValueError(f"retries must be zero or more, got {retries}.")
    expected_sha256 = expected_sha256.lower() if expected_sha256 else None
    backoff = DEFAULT_BACKOFF_SECONDS if backoff is None else backoff
    connect_timeout = CONNECT_TIMEOUT_SECONDS if connect_timeout is None else connect_timeout
    read_timeout = READ_TIMEOUT_SECONDS if read_timeout is None else read_timeout
    if connect_timeout <= 0 or read_timeout <= 0:
        raise ValueError(
            f"Timeouts must be positive, got connect {connect_timeout} s and read {read_timeout} s."
        )

    destination = Path(destination)
    if (
        expected_sha256 is not None
        and destination.is_file()
        and sha256_of_file(destination) == expected_sha256
    ):
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(destination)
    # A fresh opener per call picks up the current proxy environment variables.
    opener = _build_opener(read_timeout)

    failures: list[str] = []
    unreachable = 0
    for url in urls:
        last_problem = None
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                _transfer(
                    opener,
                    url,
                    part,
                    expected_size=expected_size,
                    connect_timeout=connect_timeout,
                    progress=progress,
                    description=destination.name,
                )
            except _Unreachable as error:
                failures.append(f"{url}: unreachable ({error})")
                unreachable += 1
                break
            except _Permanent as error:
                failures.append(f"{url}: {error}")
                break
            except _Transient as error:
                last_problem = error
                continue

            problem = _verification_problem(part, expected_size, expected_sha256)
            if problem is None:
                os.replace(part, destination)
                return destination
            part.unlink(missing_ok=True)
            failures.append(f"{url}: {problem}")
            break
        else:
            failures.append(
                f"{url}: gave up after {retries + 1} attempt(s), last problem: {last_problem}"
            )

    if unreachable == len(urls):
        raise OfflineError(
            f"No server could be reached to download {destination.name}:\n  "
            + "\n  ".join(failures)
            + f"\nOn a machine with internet, download {urls[0]} and put it at {destination}."
        )
    kept = (
        f"\nThe partial file {part} is kept: the next attempt resumes it."
        if part.is_file()
        else ""
    )
    raise DownloadError(
        f"Could not download {destination.name}:\n  " + "\n  ".join(failures) + kept
    )


def _verification_problem(
    part: Path, expected_size: int | None, expected_sha256: str | None
) -> str | None:
    """Return why the downloaded ``part`` is not the wanted file, or None when it is."""
    if _is_lfs_pointer(part):
        return "answered a Git LFS pointer instead of the file"
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        return f"got {size} bytes, expected {expected_size}"
    if expected_sha256 is not None:
        actual = sha256_of_file(part)
        if actual != expected_sha256:
            return f"sha256 {actual} differs from the expected {expected_sha256}"
    return None


# --------------------------------------------------------------------------------------------
# Extracting the archive.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ExtractReport:
    """What :func:`extract_archive` did with each member of the archive."""

    archive: Path
    destination: Path
    layout: str  # "root", or the name of the single top folder holding the class folders
    counts: dict[str, int]
    ignored: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    excluded: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unexpected_folders(self) -> list[str]:
        """The folders (relative to the class folders' parent) holding unexpected files."""
        folders = set()
        prefix = "" if self.layout == "root" else self.layout + "/"
        for name in self.unexpected:
            relative = name[len(prefix):] if prefix and name.startswith(prefix) else name
            if "/" in relative:
                folders.add(relative.split("/", 1)[0])
        return sorted(folders)

    def format(self) -> str:
        lines = [f"Extracted {self.total} files from {self.archive.name} into {self.destination}:"]
        lines += [f"  {name:<10} {count:>5}" for name, count in self.counts.items()]
        if self.excluded:
            lines.append(f"Left out {len(self.excluded)} files on request (licence filter).")
        if self.ignored:
            lines.append(
                f"Ignored {len(self.ignored)} system or hidden files (__MACOSX, .DS_Store, ...)."
            )
        if self.unexpected:
            lines.append(
                f"Did not extract {len(self.unexpected)} files outside the class folders, e.g. "
                + ", ".join(self.unexpected[:5])
            )
        return "\n".join(lines)


class _ArchiveFault(ArchiveError):
    """The archive itself is corrupt, unsafe or not the dataset: using it again cannot help.

    ``problem`` is the message without the advice, for callers that act on the archive.
    """

    def __init__(self, problem: str, advice: str):
        super().__init__(f"{problem} {advice}")
        self.problem = problem


def _member_parts(name: str) -> list[str]:
    # Some Windows tools write backslashes: treat them as separators too.
    return [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]


def _unsafe_reason(zip_file: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """Return why a member must not be extracted, or None when its path is safe."""
    name = info.filename
    normalized = name.replace("\\", "/")
    if "\x00" in name:
        return "its name holds a NUL character"
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return "its path is absolute"
    if ".." in _member_parts(name):
        return "its path climbs out of the folder with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        target = zip_file.read(info).decode("utf-8", errors="replace").replace("\\", "/")
        if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
            return f"it is a symbolic link to the absolute path {target!r}"
        depth = 0
        for part in _member_parts(str(PurePosixPath(normalized).parent)) + target.split("/"):
            if part in ("", "."):
                continue
            depth = depth - 1 if part == ".." else depth + 1
            if depth < 0:
                return f"it is a symbolic link to {target!r}, outside the archive's folder"
    return None


def _is_junk(part: str) -> bool:
    return part.startswith(".") or part in JUNK_NAMES


def _remove_stale_siblings(destination: Path) -> None:
    # Leftovers of an extraction that was interrupted (power cut, killed kernel).
    for pattern in (f".{destination.name}.extracting-*", f".{destination.name}.old-*"):
        for stale in destination.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def extract_archive(
    zip_path: Path,
    destination: Path,
    class_names: Sequence[str],
    *,
    exclude: Iterable[tuple[str, str]] = frozenset(),
) -> ExtractReport:
    """Extract the class folders of a zip archive into ``destination/<class>/``, safely.

    The archive may hold the class folders at its root or under exactly one top folder (such as
    ``landscapes_small/city/...``). ``__MACOSX``, ``.DS_Store``, ``.ipynb_checkpoints`` and other
    hidden files are ignored; files outside the declared class folders are reported, not
    extracted. Everything is first written to a hidden sibling folder that replaces
    ``destination`` in one rename once complete. Entries of an existing ``destination`` other than
    the class folders and the manifest (the licence metadata, for instance) are carried over.

    Args:
        zip_path: the archive.
        destination: the folder that will hold one sub-folder per class.
        class_names: the class folders the archive must provide.
        exclude: ``(class_name, filename)`` pairs to leave out (the no-derivatives filter).

    Returns:
        An :class:`ExtractReport`.

    Raises:
        ArchiveError: the archive is corrupt, holds a member whose path is absolute, climbs out
            with ``..`` or is a symbolic link pointing outside (nothing is extracted then), or
            lacks class folders (named).
    """
    zip_path = Path(zip_path)
    destination = Path(destination)
    class_names = list(class_names)
    class_set = set(class_names)
    exclude = set(exclude)
    advice = f"Delete {zip_path} and run the download again."

    if not zip_path.is_file():
        raise ArchiveError(f"The archive {zip_path} does not exist.")
    if not zipfile.is_zipfile(zip_path):
        raise _ArchiveFault(f"{zip_path} is not a valid zip archive (corrupt or truncated).", advice)
    try:
        zip_file = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise _ArchiveFault(f"{zip_path} cannot be opened as a zip archive ({error}).", advice) from error

    with zip_file:
        try:
            bad_member = zip_file.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
            raise _ArchiveFault(f"{zip_path} is corrupt ({error}).", advice) from error
        if bad_member is not None:
            raise _ArchiveFault(
                f"{zip_path} is corrupt: member {bad_member!r} fails its CRC check.", advice
            )
        # Every member is checked before anything is written.
        infos = zip_file.infolist()
        for info in infos:
            reason = _unsafe_reason(zip_file, info)
            if reason is not None:
                raise _ArchiveFault(
                    f"{zip_path} holds the unsafe member {info.filename!r}: {reason}. "
                    "Nothing was extracted; this archive is not the expected dataset.",
                    advice,
                )

        # Sort members into ignored junk, symbolic links and candidate files.
        ignored, unexpected, candidates = [], [], []
        for info in infos:
            parts = _member_parts(info.filename)
            if info.is_dir() or not parts:
                continue
            if any(_is_junk(part) for part in parts):
                ignored.append(info.filename)
            elif stat.S_ISLNK(info.external_attr >> 16):
                unexpected.append(info.filename)
            else:
                candidates.append((info, parts))

        # Find where the class folders are: at the root, or under exactly one top folder.
        top_folders = {parts[0] for _, parts in candidates if len(parts) > 1}
        if top_folders & class_set:
            layout, depth = "root", 0
        elif len(top_folders) == 1:
            layout, depth = next(iter(top_folders)), 1
        else:
            raise _ArchiveFault(
                f"{zip_path} has none of the class folders ({', '.join(class_names)}) at its root "
                "or under a single top folder; its top folders are: "
                + (", ".join(sorted(top_folders)) or "none")
                + ".",
                advice,
            )

        selected: dict[tuple[str, str], zipfile.ZipInfo] = {}
        found = {name: 0 for name in class_names}
        for info, parts in candidates:
            relative = parts[depth:] if depth == 0 or parts[0] == layout else []
            if len(relative) != 2 or relative[0] not in class_set:
                unexpected.append(info.filename)
                continue
            key = (relative[0], relative[1])
            if key in selected:
                unexpected.append(info.filename)  # A duplicate name: keep the first one.
                continue
            selected[key] = info
            found[key[0]] += 1

        missing = [name for name in class_names if found[name] == 0]
        if missing:
            present = [name for name in class_names if found[name]]
            raise _ArchiveFault(
                f"{zip_path} lacks the class folder(s) {', '.join(missing)} "
                f"(found: {', '.join(present) or 'none'}).",
                advice,
            )
        excluded = sorted(key for key in selected if key in exclude)
        to_extract = {key: info for key, info in selected.items() if key not in exclude}
        declared = sum(info.file_size for info in to_extract.values())
        if declared > MAX_EXTRACTED_BYTES:
            raise _ArchiveFault(
                f"{zip_path} would unpack to {declared / 1024**3:.1f} GiB, more than the "
                f"{MAX_EXTRACTED_BYTES / 1024**3:.0f} GiB limit: it is not the expected dataset.",
                advice,
            )

        destination.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_siblings(destination)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{destination.name}.extracting-", dir=destination.parent)
        )
        try:
            for name in class_names:
                (staging / name).mkdir()
            for (class_name, filename), info in sorted(to_extract.items()):
                target_path = staging / class_name / filename
                with zip_file.open(info) as source, open(target_path, "wb") as target:
                    shutil.copyfileobj(source, target, CHUNK_SIZE)
            _carry_over(destination, staging, class_set)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise _ArchiveFault(f"{zip_path} is corrupt ({error}).", advice) from error
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            swap_folder_into_place(staging, destination)
        except BaseException:
            # The old folder is back in place; the unfinished copy is not needed.
            shutil.rmtree(staging, ignore_errors=True)
            raise

    counts = {name: 0 for name in class_names}
    for class_name, _ in to_extract:
        counts[class_name] += 1
    return ExtractReport(
        archive=zip_path,
        destination=destination,
        layout=layout,
        counts=counts,
        ignored=ignored,
        unexpected=unexpected,
        excluded=excluded,
    )


def _carry_over(destination: Path, staging: Path, class_set: set[str]) -> None:
    """Copy what ``destination`` holds besides class folders and manifest into ``staging``."""
    if not destination.exists():
        return
    if not destination.is_dir():
        raise ArchiveError(f"{destination} exists and is not a folder: move it away first.")
    for child in destination.iterdir():
        if child.name in class_set or child.name == MANIFEST_FILENAME:
            continue
        target = staging / child.name
        if child.is_dir() and not child.is_symlink():
            shutil.copytree(child, target, symlinks=True)
        else:
            shutil.copy2(child, target, follow_symlinks=False)



# --------------------------------------------------------------------------------------------
# Checking the extracted files against the licence metadata.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class MetadataReport:
    """How the extracted class folders compare with the licence metadata."""

    counts: dict[str, int]
    missing: dict[str, list[str]]
    unexpected: dict[str, list[str]]
    missing_folders: list[str] = dataclasses.field(default_factory=list)
    excluded_count: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.missing_folders
            or any(self.missing.values())
            or any(self.unexpected.values())
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def format(self, limit: int = 10) -> str:
        """Return a readable summary naming up to ``limit`` files per class and problem."""
        lines = [f"{self.total} images in the class folders:"]
        lines += [f"  {name:<10} {count:>5}" for name, count in self.counts.items()]
        if self.excluded_count:
            lines.append(f"{self.excluded_count} photos left out by the licence filter.")
        for name in self.missing_folders:
            lines.append(f"Missing class folder: {name}")
        for title, table in (
            ("described in the licence metadata but missing", self.missing),
            ("present but not in the licence metadata", self.unexpected),
        ):
            for class_name, filenames in table.items():
                if not filenames:
                    continue
                shown = ", ".join(filenames[:limit])
                more = f" and {len(filenames) - limit} more" if len(filenames) > limit else ""
                lines.append(f"{class_name}: {len(filenames)} file(s) {title}: {shown}{more}")
        lines.append("All files match the licence metadata." if self.ok else "Mismatches found.")
        return "\n".join(lines)


def _files_in(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        path.name for path in folder.iterdir() if path.is_file() and not _is_junk(path.name)
    }


def verify_against_metadata(
    dataset_dir: Path,
    metadata: dict[tuple[str, str], PhotoInfo],
    spec: DatasetSpec,
    *,
    excluded: Iterable[tuple[str, str]] = frozenset(),
) -> MetadataReport:
    """Compare the class folders of ``dataset_dir`` with the licence metadata, file by file.

    Photos in ``excluded`` (the no-derivatives filter) must be absent: they are not reported
    missing, and reported unexpected when present.
    """
    dataset_dir = Path(dataset_dir)
    excluded = set(excluded)
    expected: dict[str, set[str]] = {name: set() for name in spec.class_names}
    for class_name, filename in metadata:
        if class_name in expected and (class_name, filename) not in excluded:
            expected[class_name].add(filename)

    counts, missing, unexpected, missing_folders = {}, {}, {}, []
    for class_name in spec.class_names:
        folder = dataset_dir / class_name
        if not folder.is_dir():
            missing_folders.append(class_name)
        present = _files_in(folder)
        counts[class_name] = len(present)
        missing[class_name] = sorted(expected[class_name] - present)
        unexpected[class_name] = sorted(present - expected[class_name])
    return MetadataReport(
        counts=counts,
        missing=missing,
        unexpected=unexpected,
        missing_folders=missing_folders,
        excluded_count=len(excluded),
    )


# --------------------------------------------------------------------------------------------
# The whole procedure.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DatasetPaths:
    """Where each file of a downloaded dataset lives under the data root."""

    root: Path
    archive: Path
    dataset_dir: Path
    licences_dir: Path
    manifest: Path


def dataset_paths(root: Path, spec: DatasetSpec) -> DatasetPaths:
    """Return the paths :func:`fetch_landscapes` uses under ``root`` for ``spec``."""
    if not spec.archive_filename:
        raise DatasetError(f"Dataset {spec.name!r} has no archive to download.")
    root = Path(root)
    dataset_dir = root / spec.name
    return DatasetPaths(
        root=root,
        archive=root / DOWNLOADS_DIRNAME / spec.archive_filename,
        dataset_dir=dataset_dir,
        licences_dir=dataset_dir / LICENCES_DIRNAME,
        manifest=dataset_dir / MANIFEST_FILENAME,
    )


def manual_download_instructions(
    root: Path,
    spec: DatasetSpec,
    *,
    archive: bool = True,
    metadata_classes: Sequence[str] | None = None,
) -> str:
    """Explain where to put the dataset's files by hand (for a machine without network)."""
    paths = dataset_paths(root, spec)
    metadata_classes = spec.class_names if metadata_classes is None else metadata_classes
    lines = ["To install the dataset by hand, on a machine with internet:"]
    step = 1
    if archive:
        lines.append(f"  {step}. download the archive (a zip of several megabytes) from one of")
        lines += [f"       {url}" for url in spec.archive_urls]
        lines.append(f"     and put it at {paths.archive}")
        lines.append("     (a file of a few hundred bytes is a Git LFS pointer: try the next address)")
        step += 1
    if metadata_classes:
        lines.append(f"  {step}. download the licence metadata files from one of")
        lines += [f"       {template}" for template in spec.metadata_url_templates]
        lines.append(
            "     with {class_name} = "
            + ", ".join(metadata_classes)
            + f", and put them in {paths.licences_dir}/"
        )
        lines.append(
            "     (" + ", ".join(spec.metadata_filename(name) for name in metadata_classes) + ")"
        )
    lines.append(
        "Then run the download again: it uses these files and needs no network. Meanwhile the "
        "fast mode works offline with the bundled sample dataset (PAYSAGES_MODE=fast)."
    )
    return "\n".join(lines)


def read_manifest(dataset_dir: Path) -> dict | None:
    """Return the manifest of a fetched dataset, or None when there is none (or it is damaged).

    A folder without a readable manifest was never completely fetched: fetch it again.
    """
    path = Path(dataset_dir) / MANIFEST_FILENAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None



def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, flush=True)


def _is_up_to_date(paths: DatasetPaths, spec: DatasetSpec, exclude_no_derivatives: bool) -> bool:
    manifest = read_manifest(paths.dataset_dir)
    if manifest is None or manifest.get("dataset") != spec.name:
        return False
    if (manifest.get("filter") or {}).get("exclude_no_derivatives") != exclude_no_derivatives:
        return False
    archive_record = manifest.get("archive") or {}
    if spec.archive_sha256 and archive_record.get("sha256") != spec.archive_sha256.lower():
        return False
    if spec.archive_size is not None and archive_record.get("size") != spec.archive_size:
        return False
    counts = manifest.get("counts") or {}
    for class_name in spec.class_names:
        if len(_files_in(paths.dataset_dir / class_name)) != counts.get(class_name):
            return False
    try:
        verify_sha256(paths.licences_dir, spec)
    except DatasetError:
        return False
    return True


def quarantine_archive(archive: Path) -> Path:
    """Move a bad archive aside as ``<name>.bad`` (``<name>.2.bad``... if taken); return the new path.

    Nothing is deleted, so the file can still be inspected, and the next run downloads afresh.
    """
    archive = Path(archive)
    target = archive.with_name(archive.name + ".bad")
    number = 2
    while target.exists():
        target = archive.with_name(f"{archive.name}.{number}.bad")
        number += 1
    os.replace(archive, target)
    return target


def format_fingerprint(sha256: str, size: int) -> str:
    """Return the line that identifies an archive: its SHA-256 and its size in bytes."""
    return f"SHA-256 {sha256}, {size:,} bytes ({size / 1024**2:.1f} MiB)"


def _has_fingerprint(spec: DatasetSpec) -> bool:
    return bool(spec.archive_sha256) or spec.archive_size is not None


def check_archive_fingerprint(archive: Path, spec: DatasetSpec) -> tuple[str, int]:
    """Return the archive's SHA-256 and size, after checking them against the registry.

    The registry's ``sha256`` and ``size`` are checked when it carries them. On a mismatch the
    archive is quarantined (renamed ``*.bad``, nothing is deleted) and a
    :class:`~paysages.errors.FingerprintError` names the file, what was expected and what was
    found.
    """
    archive = Path(archive)
    size = archive.stat().st_size
    sha256 = sha256_of_file(archive)
    differences = []
    if spec.archive_sha256 and sha256 != spec.archive_sha256.lower():
        differences.append(f"SHA-256 expected {spec.archive_sha256.lower()}, found {sha256}")
    if spec.archive_size is not None and size != spec.archive_size:
        differences.append(f"size expected {spec.archive_size:,} bytes, found {size:,} bytes")
    if not differences:
        return sha256, size
    quarantined = quarantine_archive(archive)
    raise FingerprintError(
        f"The archive {archive} is not the file recorded in the dataset registry: "
        + "; ".join(differences)
        + f". It was moved aside to {quarantined} (kept for inspection, nothing is deleted); the "
        "next run downloads it again. If the new copy differs the same way, the file on the server "
        "has changed: tell the instructor, who records the archive's fingerprint."
    )


def _archive_is_reusable(paths: DatasetPaths, spec: DatasetSpec, progress: bool) -> bool:
    """Say whether the archive already on disk can be used.

    With a fingerprint in the registry, a kept archive is reused and then checked by
    :func:`check_archive_fingerprint`. Without one, an archive that is not a zip is deleted and
    downloaded again (it is a failed download, such as an HTML error page).
    """
    archive = paths.archive
    if not archive.is_file():
        return False
    if _has_fingerprint(spec):
        # fetch_landscapes checks (and quarantines) it right after the downloads.
        return True
    if zipfile.is_zipfile(archive):
        return True
    _say(progress, f"{archive} is not a valid zip archive: downloading it again.")
    archive.unlink()
    return False


def _metadata_is_reusable(path: Path, expected_sha256: str | None) -> bool:
    if not path.is_file():
        return False
    if expected_sha256 is None or sha256_of_file(path) == expected_sha256.lower():
        return True
    path.unlink()
    return False


def _download_missing_files(paths: DatasetPaths, spec: DatasetSpec, progress: bool) -> None:
    """Download the archive and the licence metadata files that are not on disk yet."""
    need_archive = not _archive_is_reusable(paths, spec, progress)
    need_metadata = [
        name
        for name in spec.class_names
        if not _metadata_is_reusable(
            paths.licences_dir / spec.metadata_filename(name), spec.metadata_sha256.get(name)
        )
    ]
    if need_archive and not spec.archive_urls:
        raise DatasetError(
            f"No download URL is known for {spec.archive_filename}.\n"
            + manual_download_instructions(paths.root, spec, metadata_classes=need_metadata)
        )

    done_archive = not need_archive
    done_metadata: list[str] = []
    try:
        if need_archive:
            _say(progress, f"Downloading {spec.archive_filename} into {paths.archive.parent} ...")
            # The fingerprint is checked by fetch_landscapes rather than by download_file, so
            # that a wrong archive is quarantined (kept for inspection) instead of deleted.
            download_file(spec.archive_urls, paths.archive, progress=progress)
            done_archive = True
            if not _has_fingerprint(spec) and not zipfile.is_zipfile(paths.archive):
                paths.archive.unlink()
                raise DownloadError(
                    f"The server's answer for {spec.archive_filename} is not a zip archive."
                )
        if need_metadata:
            _say(progress, f"Downloading the licence metadata into {paths.licences_dir} ...")
        for name in need_metadata:
            download_file(
                spec.metadata_urls(name),
                paths.licences_dir / spec.metadata_filename(name),
                expected_sha256=spec.metadata_sha256.get(name),
                progress=False,
            )
            done_metadata.append(name)
    except DatasetError as error:
        still_needed = [name for name in need_metadata if name not in done_metadata]
        instructions = manual_download_instructions(
            paths.root, spec, archive=not done_archive, metadata_classes=still_needed
        )
        kind = OfflineError if isinstance(error, OfflineError) else type(error)
        headline = (
            "No network: the Landscapes dataset cannot be downloaded."
            if isinstance(error, OfflineError)
            else "The Landscapes dataset could not be downloaded."
        )
        raise kind(f"{headline}\n{error}\n\n{instructions}") from error


def fetch_landscapes(
    root: Path,
    *,
    spec: DatasetSpec | None = None,
    exclude_no_derivatives: bool = False,
    progress: bool = True,
) -> Path:
    """Download (or reuse), check and extract the ml5js Landscapes dataset; return its folder.

    The archive is kept in ``root/_downloads/`` and the licence metadata in
    ``root/landscapes/licenses/``; the images are extracted into ``root/landscapes/<class>/``
    and the manifest ``root/landscapes/paysages_dataset.json`` is written last. A second call with
    the same filter returns at once; with another filter it re-extracts from the kept archive
    without network.

    Args:
        root: the data root (``settings.data_root``).
        spec: the registry entry; defaults to ``get_dataset_spec("landscapes")``.
        exclude_no_derivatives: leave out the photos whose licence forbids derivative works
            (licences 3 and 6), as the ml5js README asks for projects that build upon the images.
        progress: print what happens and show progress bars.

    Returns:
        The dataset folder, ``root/landscapes``.

    Raises:
        OfflineError: a file was missing and no server could be reached; the message says where
            to put each file by hand.
        DownloadError, ArchiveError, DatasetError: a download, the archive or the metadata is
            wrong; the message says what to do.
    """
    spec = get_dataset_spec("landscapes") if spec is None else spec
    if spec.kind != "download" or not spec.metadata_filename_template:
        raise DatasetError(f"Dataset {spec.name!r} is not a downloadable dataset with licences.")
    paths = dataset_paths(Path(root).expanduser(), spec)

    if _is_up_to_date(paths, spec, exclude_no_derivatives):
        _say(progress, f"The {spec.title} dataset is already in {paths.dataset_dir}.")
        archive_record = read_manifest(paths.dataset_dir)["archive"]
        _say(progress, f"Archive {spec.archive_filename}: "
             + format_fingerprint(archive_record["sha256"], archive_record["size"]))
        return paths.dataset_dir

    _download_missing_files(paths, spec, progress)
    archive_sha256, archive_size = check_archive_fingerprint(paths.archive, spec)
    _say(progress, f"Archive {paths.archive}: {format_fingerprint(archive_sha256, archive_size)}")
    metadata_sha256 = verify_sha256(paths.licences_dir, spec)
    metadata = load_licence_metadata(paths.licences_dir, spec)
    excluded = no_derivative_files(metadata, spec) if exclude_no_derivatives else set()

    # The manifest goes first and comes back last: a folder without it is never complete.
    paths.manifest.unlink(missing_ok=True)
    _say(progress, f"Extracting {paths.archive.name} into {paths.dataset_dir} ...")
    try:
        extract_report = extract_archive(
            paths.archive, paths.dataset_dir, spec.class_names, exclude=excluded
        )
    except _ArchiveFault as error:
        # A kept archive that cannot be used would otherwise be reused by every later run.
        quarantined = quarantine_archive(paths.archive)
        _say(progress, f"The archive is unusable: moved aside to {quarantined}.")
        raise ArchiveError(
            f"{error.problem}\nThe archive was moved aside to {quarantined} (kept for inspection, "
            "nothing is deleted); the next run downloads it again. If the new copy fails the "
            "same way, the server's file itself is damaged.\n"
            + manual_download_instructions(paths.root, spec, metadata_classes=[])
        ) from error
    check = verify_against_metadata(paths.dataset_dir, metadata, spec, excluded=excluded)
    if not check.ok:
        warnings.warn(
            "The extracted Landscapes images do not match their licence metadata:\n"
            + check.format(),
            stacklevel=2,
        )

    if not spec.archive_sha256:
        _say(
            progress,
            "Note: the registry does not record the archive's fingerprint yet; the instructor "
            "records the SHA-256 and size above in autograde/course.json, and every later "
            "download is checked against them.",
        )
    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "dataset": spec.name,
        "title": spec.title,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "paysages_version": __version__,
        "archive": {
            "path": paths.archive.relative_to(paths.root).as_posix(),
            "sha256": archive_sha256,
            "size": archive_size,
            "sha256_in_registry": spec.archive_sha256,
            "layout": extract_report.layout,
            "ignored_members": len(extract_report.ignored),
            "unexpected_members": extract_report.unexpected,
        },
        "licence_metadata": {
            "folder": LICENCES_DIRNAME,
            "sha256": metadata_sha256,
            "photos": len(metadata),
        },
        "filter": {
            "exclude_no_derivatives": exclude_no_derivatives,
            "excluded_licences": (
                sorted(spec.no_derivative_licences) if exclude_no_derivatives else []
            ),
            "excluded_files": len(excluded),
        },
        "counts": check.counts,
        "total": check.total,
        "metadata_check": {
            "ok": check.ok,
            "missing": {name: files for name, files in check.missing.items() if files},
            "unexpected": {name: files for name, files in check.unexpected.items() if files},
        },
    }
    write_json_atomic(paths.manifest, manifest)
    _say(progress, check.format())
    return paths.dataset_dir
