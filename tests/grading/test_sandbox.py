"""The grading sandbox (autograde/sandbox.py), tested without nbgrader.

The ``slow`` tests start real kernels through the sandbox's kernel spec with jupyter_client
(IPC transport, kernel spec found on JUPYTER_PATH, as an nbgrader process would) and run the
attacks of issue 10 from inside them: reading the course directory and the repository,
importing ``solutions``, seeing the grader's process and environment, connecting to a listener
on 127.0.0.1, writing outside the private folder, leaving a detached process behind, busy-looping,
dropping a ``.pth`` file into the virtual environment.

Without bubblewrap these tests skip with the reason outside CI and fail under CI=true.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import site
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from autograde import sandbox
from tests.helpers.sandbox import require_sandbox, sandboxed_kernel, wait_until

REPOSITORY_DIR = Path(__file__).resolve().parents[2]
SECRET_URL = "postgresql://grader:secret-password@db.example.org/paysages"


# A course directory as the pipeline lays it out, with the files a submission must not reach.
@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    (root / "source" / "ps1").mkdir(parents=True)
    (root / "source" / "ps1" / "00_prise_en_main.ipynb").write_text("{}", encoding="utf-8")
    (root / "release" / "ps1").mkdir(parents=True)
    (root / "submitted" / "bob" / "ps1").mkdir(parents=True)
    (root / "submitted" / "bob" / "ps1" / "00_prise_en_main.ipynb").write_text("{}", encoding="utf-8")
    (root / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (root / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    (root / "grading").mkdir()
    (root / "grading" / "journal.json").write_text("{}", encoding="utf-8")
    data = root / "grading" / "data"
    (data / "sample").mkdir(parents=True)
    (data / "sample" / "labels.csv").write_text("file,label\n", encoding="utf-8")
    run = root / "autograded" / "alice" / "ps1" / "_grading_run"
    run.mkdir(parents=True)
    return {"root": root, "data": data, "run": run}


@pytest.fixture
def workspace(course):
    created = sandbox.SandboxWorkspace.create(run_dir=course["run"], data_dir=course["data"])
    yield created
    created.remove()


# Kernel spec and policy (no kernel started) --------------------------------------------------
def test_kernel_argv_isolates_the_kernel(workspace):
    argv = sandbox.kernel_argv(workspace, bwrap="/usr/bin/bwrap")
    # The spec starts from an empty environment: not even bwrap carries the grader's variables.
    assert argv[:2] == ["/usr/bin/env", "-i"]
    bwrap_at = argv.index("/usr/bin/bwrap")
    options = argv[bwrap_at:]
    for required in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--disable-userns"):
        assert required in options
    assert "--share-net" not in options
    assert options[options.index("--proc") + 1] == "/proc"
    assert options[options.index("--dev") + 1] == "/dev"
    assert options[-4:] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    # Only the paysages package and the registry of the repository are bound, read-only.
    bound_sources = [options[index + 1] for index, option in enumerate(options)
                     if option in ("--bind", "--ro-bind", "--ro-bind-try")]
    # The virtual environment is bound whole (read-only), also when `make` created it inside the
    # repository as .venv/: it is the kernel's Python, not the repository's code.
    environment_prefix = Path(sys.prefix).resolve()
    from_repository = [source for source in bound_sources
                       if Path(source).is_relative_to(REPOSITORY_DIR)
                       and not Path(source).resolve().is_relative_to(environment_prefix)]
    assert sorted(from_repository) == sorted([str(REPOSITORY_DIR / "paysages"),
                                              str(REPOSITORY_DIR / "datasets" / "registry.json"),
                                              str(REPOSITORY_DIR / "autograde" / "sandbox_launcher.py")])
    writable = [(options[index + 1], options[index + 2]) for index, option in enumerate(options) if option == "--bind"]
    assert writable == [(str(workspace.grading_dir), "/grading"), (str(workspace.run_dir), "/grading/run"),
                        (str(workspace.export_dir), "/grading/export"),
                        (str(workspace.runtime_dir), str(workspace.runtime_dir))]
    # The verdict stage's probes are read-only for the kernel.
    read_only = [(options[index + 1], options[index + 2]) for index, option in enumerate(options)
                 if option == "--ro-bind"]
    assert (str(workspace.probes_dir), "/grading/probes") in read_only


def test_extra_packages_are_explicit_and_read_only(workspace):
    default = sandbox.kernel_argv(workspace, bwrap="/usr/bin/bwrap")
    assert str(REPOSITORY_DIR / "solutions") not in default
    argv = sandbox.kernel_argv(workspace, bwrap="/usr/bin/bwrap", extra_packages={"solutions": REPOSITORY_DIR / "solutions"})
    at = argv.index(str(REPOSITORY_DIR / "solutions"))
    assert argv[at - 1:at + 2] == ["--ro-bind", str(REPOSITORY_DIR / "solutions"), "/opt/paysages/lib/solutions"]
    assert sandbox.sandbox_package_dir("solutions") == "/opt/paysages/lib/solutions"
    with pytest.raises(ValueError, match="'paysages' cannot be bound as an extra package"):
        sandbox.kernel_argv(workspace, bwrap="/usr/bin/bwrap", extra_packages={"paysages": REPOSITORY_DIR / "solutions"})
    with pytest.raises(sandbox.SandboxError, match="not a Python package"):
        sandbox.kernel_argv(workspace, bwrap="/usr/bin/bwrap", extra_packages={"course": REPOSITORY_DIR / "course"})


def test_kernel_environment_drops_secrets_and_translates_paths(course):
    grading_environment = {
        "PAYSAGES_MODE": "fast", "PAYSAGES_GRADEBOOK_URL": SECRET_URL, "PAYSAGES_GRADING_TOKEN": "abc",
        "PAYSAGES_INTEGRITY_LOG": "/course/log", "PAYSAGES_DATA_ROOT": str(course["data"]),
        "PAYSAGES_RUN_DIR": str(course["run"]), "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "x",
    }
    assert sandbox.kernel_environment(grading_environment) == {
        "PAYSAGES_MODE": "fast", "PAYSAGES_DATA_ROOT": "/data", "PAYSAGES_RUN_DIR": "/grading/run",
        "PAYSAGES_PROBES_DIR": "/grading/probes", "PAYSAGES_EXPORT_DIR": "/grading/export"}


def test_kernel_argv_refuses_bad_variables(workspace):
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        sandbox.kernel_argv(workspace, bwrap="/usr/bin/bwrap", environment={"A=B": "1"})


def test_workspace_refuses_socket_paths_too_long(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with pytest.raises(sandbox.SandboxError, match="too deep"):
        sandbox.SandboxWorkspace.create(parent=deep)
    assert list(deep.iterdir()) == []


def test_configure_kernel_manager_only_when_sandboxed(workspace):
    from traitlets.config import Config

    unsandboxed = Config()
    assert sandbox.configure_kernel_manager(unsandboxed, environ={}) is False
    assert "KernelManager" not in unsandboxed
    config = Config()
    assert sandbox.configure_kernel_manager(config, environ=sandbox.grader_environment(workspace)) is True
    assert config.KernelManager.transport == "ipc"
    assert Path(config.KernelManager.connection_file).parent == workspace.runtime_dir


def test_missing_bwrap_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("PAYSAGES_BWRAP", str(tmp_path / "no-bwrap"))
    availability = sandbox.sandbox_available()
    assert not availability.available
    assert "bwrap was not found" in availability.reason


def test_refused_user_namespaces_are_reported(monkeypatch, tmp_path):
    # A bwrap that fails the way Debian's does where user namespaces are disabled.
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PAYSAGES_BWRAP", str(fake))
    availability = sandbox.sandbox_available()
    assert not availability.available
    assert "user namespace" in availability.reason


def test_sandbox_tests_skip_outside_ci_and_fail_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("PAYSAGES_BWRAP", str(tmp_path / "no-bwrap"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="bwrap was not found.*apt-get install bubblewrap"):
        require_sandbox()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="bwrap was not found"):
        require_sandbox()


def test_grading_refuses_without_sandbox_unless_unsandboxed():
    missing = sandbox.Availability(False, "bwrap was not found", None)
    with pytest.raises(sandbox.SandboxRefused, match="--unsandboxed"):
        sandbox.grading_decision(unsandboxed=False, availability=missing)
    decision = sandbox.grading_decision(unsandboxed=True, availability=missing)
    assert not decision.sandboxed
    first_line = decision.report_first_line
    assert first_line.startswith(sandbox.UNSANDBOXED_MARKER)
    assert "\n" not in first_line
    for protection in ("network isolation", "process isolation", "file-system isolation", "per-kernel limits",
                       "setsid"):
        assert protection in first_line
    available = sandbox.Availability(True, "", "/usr/bin/bwrap")
    assert sandbox.grading_decision(unsandboxed=False, availability=available).report_first_line is None
    # An explicit --unsandboxed is obeyed (and reported) even where the sandbox works.
    assert not sandbox.grading_decision(unsandboxed=True, availability=available).sandboxed


def test_demo_grades_unsandboxed_and_says_so():
    missing = sandbox.Availability(False, "bwrap was not found", None)
    decision, message = sandbox.demo_decision(missing)
    assert not decision.sandboxed
    assert "WITHOUT the sandbox because bwrap was not found" in message
    assert "apt-get install bubblewrap" in message
    decision, message = sandbox.demo_decision(sandbox.Availability(True, "", "/usr/bin/bwrap"))
    assert decision.sandboxed and message is None


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="cpu_seconds"):
        sandbox.SandboxLimits(cpu_seconds=0)


# Real kernels ------------------------------------------------------------------------------
ATTACKS = textwrap.dedent("""
    import json, os, site, socket, sys, sysconfig
    results = {}
    def attempt(label, action):
        try:
            value = action()
            results[label] = "ok: " + repr(value)[:200]
        except BaseException as error:
            results[label] = "refused: " + type(error).__name__
    targets = json.loads(TARGETS)
    for label, path in targets.items():
        attempt("list " + label, lambda path=path: os.listdir(path))
        attempt("open " + label, lambda path=path: open(path, "rb").read(16))
    attempt("import solutions", lambda: __import__("solutions"))
    attempt("grader environ", lambda: open("/proc/%d/environ" % GRADER_PID, "rb").read())
    attempt("grader status", lambda: open("/proc/%d/status" % GRADER_PID).read())
    def connect():
        connection = socket.create_connection(("127.0.0.1", PORT), timeout=3)
        connection.close()
    attempt("tcp", connect)
    base_purelib = sysconfig.get_path("purelib", vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    for index, folder in enumerate(sorted(set(site.getsitepackages() + [sysconfig.get_paths()["purelib"], base_purelib]))):
        attempt("pth %d" % index, lambda folder=folder: open(os.path.join(folder, MARKER + ".pth"), "w").write("import os"))
    attempt("write tmp", lambda: open("/tmp/" + MARKER, "w").write("x"))
    attempt("write home", lambda: open(os.path.expanduser("~/" + MARKER), "w").write("x"))
    attempt("write private", lambda: open("/grading/" + MARKER, "w").write("x"))
    attempt("write run", lambda: open("/grading/run/" + MARKER, "w").write("x"))
    attempt("write data", lambda: open("/data/" + MARKER, "w").write("x"))
    attempt("read data", lambda: open("/data/sample/labels.csv").read())
    attempt("write root", lambda: open("/" + MARKER, "w").write("x"))
    attempt("write dev", lambda: open("/dev/" + MARKER, "w").write("x"))
    attempt("write shm", lambda: open("/dev/shm/" + MARKER, "w").write("x"))
    attempt("shm size", lambda: os.statvfs("/dev/shm").f_blocks * os.statvfs("/dev/shm").f_frsize)
    attempt("tmp size", lambda: os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize)
    attempt("multiprocessing lock", lambda: __import__("multiprocessing").Lock() is not None)
    import paysages, paysages.registry
    results["paysages"] = paysages.__file__
    results["registry"] = str(paysages.registry.registry_path())
    results["pid"] = os.getpid()
    results["ppid"] = os.getppid()
    results["pids"] = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    results["pid1"] = open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode()
    results["pid1 environ"] = open("/proc/1/environ", "rb").read().decode(errors="replace")
    results["environ"] = dict(os.environ)
    results["interfaces"] = [name for _, name in socket.if_nameindex()]
    print(json.dumps(results))
""")


@pytest.mark.slow
def test_a_sandboxed_kernel_cannot_reach_what_it_must_not(course, workspace, monkeypatch):
    require_sandbox()
    # A secret in the grader's environment (nbgrader processes carry the gradebook URL).
    monkeypatch.setenv("PAYSAGES_GRADEBOOK_URL", SECRET_URL)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    marker = "paysages-sandbox-test-" + secrets.token_hex(6)
    root = course["root"]
    targets = {
        "gradebook": root / "gradebook.db", "source": root / "source", "release": root / "release",
        "other student": root / "submitted" / "bob", "journal": root / "grading" / "journal.json",
        "course config": root / "nbgrader_config.py", "course": root,
        "solutions": REPOSITORY_DIR / "solutions", "repository": REPOSITORY_DIR,
        "repository readme": REPOSITORY_DIR / "README.md",
    }
    prelude = (f"TARGETS = {json.dumps({label: str(path) for label, path in targets.items()})!r}\n"
               f"GRADER_PID = {os.getpid()}\nPORT = {port}\nMARKER = {marker!r}\n")
    environment = sandbox.kernel_environment({"PAYSAGES_MODE": "fast", "PAYSAGES_GRADEBOOK_URL": SECRET_URL})
    # Where a broken sandbox would let the attacks write: checked at the end, cleaned up whatever happens.
    base_purelib = sysconfig.get_path("purelib", vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    site_folders = {Path(folder) for folder in site.getsitepackages() + [sysconfig.get_paths()["purelib"], base_purelib]}
    escaped = [folder / f"{marker}.pth" for folder in site_folders]
    escaped += [folder / marker for folder in (Path("/tmp"), Path.home(), Path(tempfile.gettempdir()), course["data"])]
    # The course's own Jupyter folder holds an unsandboxed spec of the same name, as today's
    # pipeline writes it: the workspace's must win.
    course_jupyter = root / "grading" / "jupyter"
    (course_jupyter / "kernels" / sandbox.KERNEL_NAME).mkdir(parents=True)
    unsandboxed_spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                        "display_name": "unsandboxed", "language": "python"}
    (course_jupyter / "kernels" / sandbox.KERNEL_NAME / "kernel.json").write_text(json.dumps(unsandboxed_spec))
    try:
        with sandboxed_kernel(workspace, environment=environment, jupyter_path=[course_jupyter]) as kernel:
            # The grader reaches the kernel through Unix sockets in the private runtime folder.
            connection = json.loads(workspace.connection_file.read_text())
            assert connection["transport"] == "ipc"
            sockets = [path for path in workspace.runtime_dir.iterdir() if stat.S_ISSOCK(path.stat().st_mode)]
            assert len(sockets) == 5
            results = kernel.run_json(prelude + ATTACKS)
        with pytest.raises(TimeoutError, match="timed out"):
            listener.accept()
        left_behind = [str(path) for path in escaped if path.exists()]
    finally:
        listener.close()
        for path in escaped:
            path.unlink(missing_ok=True)
    assert left_behind == []

    for label in targets:
        assert results["list " + label].startswith("refused"), (label, results["list " + label])
        assert results["open " + label].startswith("refused"), (label, results["open " + label])
    assert results["import solutions"] == "refused: ModuleNotFoundError"
    assert results["grader environ"].startswith("refused")
    assert results["grader status"].startswith("refused")
    assert results["tcp"].startswith("refused"), results["tcp"]
    assert results["interfaces"] == ["lo"]
    pth_results = {label: value for label, value in results.items() if label.startswith("pth ")}
    assert pth_results and all(value == "refused: OSError" for value in pth_results.values()), pth_results
    # Only the sandbox's own processes: bwrap as PID 1, the kernel as its child.
    assert results["ppid"] == 1
    assert results["pid1"].endswith("bwrap")
    assert os.getpid() not in results["pids"]
    assert results["pids"] == sorted(set(results["pids"]) & {1, 2, 3, 4, 5, 6, 7, 8})
    # No secret reaches the kernel, not even through bwrap's environment (PID 1).
    assert "secret-password" not in results["pid1 environ"]
    assert "secret-password" not in json.dumps(results["environ"])
    assert results["environ"]["PAYSAGES_MODE"] == "fast"
    assert results["environ"]["PAYSAGES_RUN_DIR"] == "/grading/run"
    # paysages is importable (the package alone), its registry found.
    assert results["paysages"] == "/opt/paysages/lib/paysages/__init__.py"
    assert results["registry"] == "/opt/paysages/lib/datasets/registry.json"
    # Writes: the private folder and the run folder keep them; the data is read-only; /tmp and
    # HOME are the kernel's own and vanish with it; the sandbox's root is read-only.
    assert results["write private"].startswith("ok") and (workspace.grading_dir / marker).is_file()
    assert results["write run"].startswith("ok") and (course["run"] / marker).is_file()
    assert results["read data"].startswith("ok")
    assert results["write data"].startswith("refused")
    assert results["write root"].startswith("refused")
    assert results["write dev"].startswith("refused")
    # /dev/shm and /tmp are writable but capped (bwrap's default would be half the memory).
    assert results["write shm"].startswith("ok")
    assert results["shm size"] == f"ok: {sandbox.SandboxLimits().shared_memory_size_bytes}"
    assert results["tmp size"] == f"ok: {sandbox.SandboxLimits().tmp_size_bytes}"
    assert results["multiprocessing lock"] == "ok: True"
    # The kernel could write its /tmp and HOME, yet nothing of it exists outside (left_behind above).
    assert results["write tmp"].startswith("ok") and results["write home"].startswith("ok")


def _processes_with_argument(argument: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if argument in (process.info["cmdline"] or []):
            found.append(process)
    return found


def _detached_sleep_code() -> tuple[str, str]:
    """Code that starts a detached ``sleep``, and its length: no other process on the machine uses
    that length, which is how the host finds the process."""
    seconds = f"{1000 + secrets.randbelow(10 ** 6)}.{secrets.randbelow(1000)}"
    code = ("import subprocess\n"
            f"subprocess.Popen(['setsid', 'sleep', {seconds!r}], start_new_session=True,"
            " stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n")
    return code, seconds


@pytest.mark.slow
@pytest.mark.parametrize("immediate", [True, False], ids=["killed", "shut-down"])
def test_a_detached_process_ends_with_its_kernel(workspace, immediate):
    require_sandbox()
    code, seconds = _detached_sleep_code()
    try:
        with sandboxed_kernel(workspace) as kernel:
            output, reply = kernel.run(code)
            assert reply["status"] == "ok", reply
            assert wait_until(lambda: _processes_with_argument(seconds), timeout=10), "the detached sleep never started"
            # nbgrader's grading kills the kernel (shutdown_kernel = "immediate"); a polite shutdown
            # request must end everything too.
            kernel.manager.shutdown_kernel(now=immediate)
        assert wait_until(lambda: not _processes_with_argument(seconds), timeout=10), "the detached sleep survived"
    finally:
        for process in _processes_with_argument(seconds):
            with contextlib.suppress(psutil.Error):
                process.kill()


GRADER_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from autograde import sandbox
    from tests.helpers.sandbox import sandboxed_kernel
    workspace = sandbox.SandboxWorkspace(root=Path(sys.argv[1]), run_dir=Path(sys.argv[2]), data_dir=Path(sys.argv[3]))
    with sandboxed_kernel(workspace) as kernel:
        output, reply = kernel.run(sys.argv[4])
        print(reply["status"], flush=True)
        time.sleep(600)
""")


@pytest.mark.slow
def test_everything_ends_when_the_grader_is_killed(workspace):
    # The pipeline kills an nbgrader process past its time limit; the kernel it started, and
    # whatever that kernel started, must not outlive it (--die-with-parent).
    require_sandbox()
    code, seconds = _detached_sleep_code()
    arguments = [str(workspace.root), str(workspace.run_dir), str(workspace.data_dir), code]
    grader = subprocess.Popen([sys.executable, "-c", GRADER_SCRIPT, *arguments], cwd=REPOSITORY_DIR,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPOSITORY_DIR)})
    kernels = []
    try:
        first_line = grader.stdout.readline().strip()
        if first_line != "ok":
            grader.kill()
            raise AssertionError(f"the grader printed {first_line!r}: {grader.stderr.read()[-3000:]}")
        assert wait_until(lambda: _processes_with_argument(seconds), timeout=10), "the detached sleep never started"
        kernels = [process for process in psutil.Process(grader.pid).children(recursive=True)]
        assert kernels, "the grader started no kernel"
        grader.kill()
        grader.wait(timeout=10)
        assert wait_until(lambda: not _processes_with_argument(seconds), timeout=10), "the detached sleep survived"
        assert wait_until(lambda: not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE
                                          for process in kernels), timeout=10), "the kernel survived its grader"
    finally:
        # Whatever a broken sandbox let survive is ended here, not left on the machine.
        if grader.poll() is None:
            grader.kill()
            grader.wait()
        for process in _processes_with_argument(seconds) + kernels:
            with contextlib.suppress(psutil.Error):
                process.kill()


@pytest.mark.slow
def test_a_busy_loop_is_killed_by_its_own_cpu_limit(workspace):
    require_sandbox()
    limits = sandbox.SandboxLimits(cpu_seconds=3, file_size_bytes=1024 * 1024)
    with sandboxed_kernel(workspace, limits=limits) as kernel:
        values = kernel.run_json("import json, resource\n"
                                 "print(json.dumps([resource.getrlimit(resource.RLIMIT_CPU),"
                                 " resource.getrlimit(resource.RLIMIT_FSIZE)]))")
        assert values == [[3, 8], [1024 * 1024, 1024 * 1024]]
        # A file larger than the limit cannot be written.
        output, reply = kernel.run("open('/grading/big', 'wb').write(b'x' * (2 * 1024 * 1024))")
        assert reply["status"] == "error" and reply["ename"] == "OSError", reply
        started = time.monotonic()
        kernel.client.execute("while True:\n    pass\n")
        assert wait_until(lambda: not kernel.manager.is_alive(), timeout=60), "the busy loop was not stopped"
        # Killed on its own CPU time (about 3 s), well before the 60 s this test waits.
        assert time.monotonic() - started < 30
    # The next kernel starts with a fresh count.
    with sandboxed_kernel(workspace, limits=limits) as kernel:
        output, reply = kernel.run("print(sum(range(1000)))")
        assert reply["status"] == "ok" and output.strip() == "499500"


@pytest.mark.slow
def test_an_interrupt_reaches_the_sandboxed_kernel(workspace):
    # nbgrader interrupts a cell past its time limit; a signal to the process group would stop
    # at bwrap, so the kernel spec asks for interrupts as messages.
    require_sandbox()
    assert json.loads(sandbox.write_kernel_spec(workspace).read_text())["interrupt_mode"] == "message"
    with sandboxed_kernel(workspace) as kernel:
        timer = threading.Timer(1.5, kernel.manager.interrupt_kernel)
        timer.start()
        started = time.monotonic()
        output, reply = kernel.run("import time\ntime.sleep(60)", timeout=90)
        timer.join()
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
        assert time.monotonic() - started < 30
        output, reply = kernel.run("print('still alive')")
        assert output.strip() == "still alive"


@pytest.mark.slow
def test_libraries_count_the_cpu_cores_without_a_warning(workspace):
    """Does joblib find the physical cores in a sandboxed kernel, silently (stderr fails a test)?"""
    require_sandbox()
    with sandboxed_kernel(workspace) as kernel:
        values = kernel.run_json(
            "import json, warnings\n"
            "warnings.simplefilter('error')\n"
            "from joblib import cpu_count\n"
            "print(json.dumps([cpu_count(only_physical_cores=True), cpu_count()]))"
        )
        assert values[0] >= 1 and values[1] >= 1, values
