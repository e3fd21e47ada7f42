"""Running a command under a wall-clock limit, and killing everything it started on expiry.

A grading kernel runs in its own session and may start processes of its own: on time-out
(or any error) the whole process tree is killed, and every process that still carries the
grading token in its environment too. ``psutil`` (the ``instructor`` extra) finds the
descendants; without it only the process group is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path


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


def log_tail(path: Path, characters: int = 3000) -> str:
    """The last ``characters`` of a log file ("" when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-characters:]
