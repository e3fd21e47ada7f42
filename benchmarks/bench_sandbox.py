"""Kernel start overhead of the grading sandbox: a sandboxed kernel against a plain one.

Usage::

    .venv/bin/python benchmarks/bench_sandbox.py [--repeats 5] [--import-module keras]

Each round starts one plain kernel (the grader's Python, TCP, as today's kernel spec) and one
sandboxed kernel (``autograde/sandbox.py``: workspace, kernel spec, bwrap, IPC), in alternating
order, and times what grading one notebook adds around its cells: creating the workspace and
the kernel spec (sandboxed only), starting the kernel until it answers, running one cell (which
imports ``--import-module``, default nothing), shutting the kernel down and removing the
workspace. It prints the median of each and the sandbox's overhead per notebook; the goal is
under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_DIR))

GOAL_SECONDS = 1.0
STARTUP_TIMEOUT_SECONDS = 120


def _run_one_cell(manager, code: str) -> None:
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=STARTUP_TIMEOUT_SECONDS)
        reply = client.execute_interactive(code, timeout=STARTUP_TIMEOUT_SECONDS, output_hook=lambda message: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the benchmark cell failed: {reply['content'].get('evalue')}")
    finally:
        client.stop_channels()


def plain_round(code: str) -> float:
    """Start a kernel with the grader's own Python over TCP, run one cell, shut it down."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory(prefix="bench-plain-") as folder:
        spec_dir = Path(folder) / "kernels" / "plain"
        spec_dir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "plain", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        started = time.perf_counter()
        manager = KernelManager(kernel_name="plain",
                                kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir.parent)]))
        manager.start_kernel(env={"PATH": os.environ.get("PATH", os.defpath), "PYTHONNOUSERSITE": "1",
                                  "TF_CPP_MIN_LOG_LEVEL": "2"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _run_one_cell(manager, code)
        finally:
            manager.shutdown_kernel(now=True)
        return time.perf_counter() - started


def sandboxed_round(code: str) -> float:
    """The same through the sandbox: workspace, kernel spec, bwrap, IPC; everything removed after."""
    from jupyter_client import KernelManager
    from traitlets.config import Config

    from autograde import sandbox

    started = time.perf_counter()
    with sandbox.SandboxWorkspace.create() as workspace:
        sandbox.write_kernel_spec(workspace)
        grader_variables = sandbox.grader_environment(workspace)
        config = Config()
        sandbox.configure_kernel_manager(config, environ=grader_variables)
        saved = {name: os.environ.get(name) for name in grader_variables}
        os.environ.update(grader_variables)
        try:
            manager = KernelManager(kernel_name=sandbox.KERNEL_NAME, config=config)
            manager.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        try:
            _run_one_cell(manager, code)
        finally:
            manager.shutdown_kernel(now=True)
    return time.perf_counter() - started


def main(argv=None) -> int:
    from autograde import sandbox

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds of each kind (default 5)")
    parser.add_argument("--import-module", default="", help="a module the cell imports (for instance keras)")
    arguments = parser.parse_args(argv)
    if arguments.repeats < 1:
        parser.error("--repeats must be at least 1")

    availability = sandbox.sandbox_available()
    if not availability.available:
        print(f"bench_sandbox: skipped, {availability.reason}")
        return 0
    code = f"import {arguments.import_module}" if arguments.import_module else "pass"
    plain_times, sandboxed_times = [], []
    for round_number in range(arguments.repeats):
        # Alternate the order so that neither kind always runs on a warmer page cache.
        if round_number % 2 == 0:
            plain_times.append(plain_round(code))
            sandboxed_times.append(sandboxed_round(code))
        else:
            sandboxed_times.append(sandboxed_round(code))
            plain_times.append(plain_round(code))
    plain = statistics.median(plain_times)
    sandboxed = statistics.median(sandboxed_times)
    overhead = sandboxed - plain
    print(f"kernel start + one cell ({code!r}) + shutdown, median of {arguments.repeats}:")
    print(f"  plain kernel (TCP):          {plain:6.2f} s   (all: {', '.join(f'{value:.2f}' for value in plain_times)})")
    print(f"  sandboxed kernel (bwrap):    {sandboxed:6.2f} s   (all: {', '.join(f'{value:.2f}' for value in sandboxed_times)})")
    verdict = "within" if overhead < GOAL_SECONDS else "OVER"
    print(f"  sandbox overhead per notebook: {overhead:+.2f} s ({verdict} the {GOAL_SECONDS:.0f} s goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
