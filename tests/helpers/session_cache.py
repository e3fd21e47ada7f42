"""Build an expensive test input once per test session, even when pytest-xdist runs workers.

With ``pytest -n 2`` each worker has its own session, so a ``scope="session"`` fixture would
build its input once per worker. :func:`build_once` keeps the result in the folder that every
worker's temporary folder shares (``getbasetemp().parent``), behind a file lock: the first
worker builds it, the others wait and reuse it. Without xdist it is an ordinary session cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

DONE_MARKER = ".complete"


def shared_root(tmp_path_factory) -> Path:
    """The folder shared by every worker of this run (the session's own one without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """Return ``<shared root>/<name>``, calling ``build(folder)`` only if no worker did it yet.

    ``build`` must write into the folder it is given; the result is marked complete only once
    ``build`` returned, so an interrupted build is started again, never half reused.
    """
    root = shared_root(tmp_path_factory) / "session-cache"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / name
    with _locked(root / f"{name}.lock"):
        if not (root / f"{name}{DONE_MARKER}").is_file():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            (root / f"{name}{DONE_MARKER}").write_text("", encoding="utf-8")
    return folder
