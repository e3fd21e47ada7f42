"""Start a real grading kernel through the sandbox's kernel spec, the way nbgrader would.

The kernel spec is found through ``JUPYTER_PATH`` and the KernelManager is configured by
``autograde.sandbox.configure_kernel_manager`` from the variables of
``autograde.sandbox.grader_environment``: the same path an nbgrader process takes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

import pytest
from jupyter_client import KernelManager
from traitlets.config import Config

from autograde import sandbox

STARTUP_TIMEOUT_SECONDS = 60
SKIP_MESSAGE = "the sandbox tests need a working bubblewrap: {reason}. Under CI=true they fail instead of skipping."


def require_sandbox() -> sandbox.Availability:
    """Skip (outside CI) or fail (under CI=true) when bubblewrap cannot run here."""
    availability = sandbox.sandbox_available()
    if not availability.available:
        message = SKIP_MESSAGE.format(reason=availability.reason)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return availability


@contextlib.contextmanager
def patched_environ(values: dict[str, str]):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class KernelSession:
    """A started sandboxed kernel: run code in it, read what it printed."""

    def __init__(self, manager: KernelManager, client):
        self.manager = manager
        self.client = client

    def run(self, code: str, timeout: float = 60) -> tuple[str, dict]:
        """Execute ``code``; return (its standard output, the execute reply's content)."""
        printed = []

        def keep_output(message):
            if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
                printed.append(message["content"]["text"])

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=keep_output)
        return "".join(printed), reply["content"]

    def run_json(self, code: str, timeout: float = 60):
        """Execute ``code``, which must print one JSON document as its last line; return it."""
        output, reply = self.run(code, timeout=timeout)
        if reply["status"] != "ok":
            raise AssertionError(f"the kernel raised {reply.get('ename')}: {reply.get('evalue')}\n{output}")
        return json.loads(output.strip().splitlines()[-1])


@contextlib.contextmanager
def sandboxed_kernel(workspace: sandbox.SandboxWorkspace, *, limits: sandbox.SandboxLimits | None = None,
                     environment: dict[str, str] | None = None, extra_packages: dict | None = None,
                     jupyter_path: list = ()):
    """Start a kernel from the workspace's sandboxed kernel spec; shut it down on exit.

    ``jupyter_path``: more folders after the workspace on ``JUPYTER_PATH`` (the course's own).
    """
    sandbox.write_kernel_spec(workspace, limits=limits, environment=environment, extra_packages=extra_packages)
    grader_variables = sandbox.grader_environment(workspace, jupyter_path=jupyter_path)
    config = Config()
    if not sandbox.configure_kernel_manager(config, environ=grader_variables):
        raise AssertionError("configure_kernel_manager did not configure the IPC transport")
    # The kernel's own output (bwrap's and ipykernel's messages) goes to a log beside the
    # workspace's folders, out of the kernel's view; a kernel that never answers shows its tail.
    log_path = workspace.root / "kernel.log"
    with open(log_path, "ab") as log, patched_environ(grader_variables):
        manager = KernelManager(kernel_name=sandbox.KERNEL_NAME, config=config)
        manager.start_kernel(stdout=log, stderr=log)
    client = manager.client()
    client.start_channels()
    try:
        try:
            client.wait_for_ready(timeout=STARTUP_TIMEOUT_SECONDS)
        except RuntimeError as error:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"{error}; the kernel's output:\n{tail}") from error
        yield KernelSession(manager, client)
    finally:
        client.stop_channels()
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)


def wait_until(condition, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
