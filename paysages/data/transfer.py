"""Download one file over HTTP(S): mirrors in turn, resumed transfers, retries, verification.

Only the standard library's ``urllib`` talks to the network. The bytes go to
``<destination>.part`` first and are renamed into place once complete and verified, so a
destination is never half-written; an interrupted transfer is resumed with a ``Range`` request.
A short connect timeout makes a machine without network fail at once
(:class:`~paysages.errors.OfflineError`); a longer read timeout tolerates slow servers.
"""

from __future__ import annotations

import errno
import functools
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from paysages import __version__
from paysages.errors import DownloadError, OfflineError
from paysages.files import sha256_of_file


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
