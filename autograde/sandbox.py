"""Run a grading kernel inside a bubblewrap sandbox (issue 10, items 1 and 4).

The student's code runs in a Jupyter kernel; this module builds the kernel spec that starts that
kernel under ``bwrap`` (Debian package ``bubblewrap``), the private folder it may write, and the
policy for machines where bubblewrap cannot run. It does not run nbgrader itself: the pipeline
calls it (see "Plugging it into the pipeline" below and ``autograde/README.md``).

What the sandboxed kernel sees and may do:

* its own user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``, never
  ``--share-net``): no network at all, not even 127.0.0.1; only its own processes in ``/proc``,
  so neither the grader's PID nor its ``/proc/<pid>/environ``; no capabilities, no nested user
  namespaces (``--disable-userns``); a new terminal session (``--new-session``);
* it dies with the process that started it (``--die-with-parent``), and everything it started
  dies with it: once the kernel process exits, bwrap (PID 1 of the namespace) exits and the Linux
  kernel kills every process left in the PID namespace, detached (``setsid``) ones included;
* read-only: ``/usr`` and the ``/lib*``, ``/bin``, ``/sbin`` links or folders, the few ``/etc``
  files Python needs (not ``/etc`` as a whole: ``/etc/shadow`` would be readable by the mapped
  owner), the Python installation, the virtual environment (at ``/opt/paysages/venv``), the
  ``paysages`` package alone (at ``/opt/paysages/lib/paysages``, see below), the grading data
  (at ``/data``) and the limits launcher;
* writable (and nothing else: the sandbox's root and ``/dev`` are remounted read-only): ``/grading`` (the private folder: at most a copy of the notebook being graded) with
  the submission's run folder at ``/grading/run`` and the verdict stage's export folder at
  ``/grading/export`` (its probes, at ``/grading/probes``, are read-only); ``/tmp``, ``/home/student`` and ``/dev/shm`` as
  size-capped tmpfs that vanish with the kernel; the Jupyter runtime folder holding the kernel's connection
  file and IPC sockets (bound at its own host path: the connection file names the sockets by
  absolute path, and both sides must find them);
* nothing else: no course directory (gradebook, ``source/``, ``release/``, ``submitted/``, other
  students, journal, configuration), no repository (``solutions/`` is not importable), no HOME
  of the instructor, no ``/sys``;
* only the environment variables this module puts in the kernel spec: the spec starts with
  ``env -i``, so that not even bwrap (PID 1 in the sandbox, whose ``/proc/1/environ`` the kernel
  can read) carries the grader's variables (a gradebook URL).

The ``paysages`` package: in an editable install the virtual environment only holds a ``.pth``
file naming the repository, which would make the whole repository (``solutions/`` included)
importable. The sandbox binds the package folder the grader itself imports (and the repository's
``datasets/registry.json`` beside it, where ``paysages.registry`` looks first) read-only at
``/opt/paysages/lib`` and puts that folder on ``PYTHONPATH``; the venv is bound at another path,
so the ``.pth`` entry names a folder that does not exist in the sandbox. A regular (wheel)
install needs no extra bind: the package is in the venv's site-packages.

Resource limits are rlimits set by ``autograde/sandbox_launcher.py`` inside the sandbox just
before it execs the kernel, so they count the kernel's own CPU time and memory.

Plugging it into the pipeline (one nbgrader process per notebook, as today)::

    decision = sandbox.grading_decision(unsandboxed=options.unsandboxed)  # refuses, or says what is off
    with sandbox.SandboxWorkspace.create(data_dir=..., run_dir=..., notebook=...) as workspace:
        sandbox.write_kernel_spec(workspace, environment=sandbox.kernel_environment(grading_env))
        extra_env.update(sandbox.grader_environment(workspace, jupyter_path=[layout.jupyter_dir]))
        run_nbgrader(...)   # nbgrader_config.py calls sandbox.configure_kernel_manager(c)

The hidden tests import nothing of the instructor's: they call the student's functions on the
grader's probes and export plain data, which a trusted process outside the sandbox judges
(``autograde/verdicts/``). ``solutions`` is never bound in a sandbox.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import paysages
from paysages.errors import PaysagesError
from paysages.probes import EXPORT_VARIABLE, PROBES_VARIABLE

KERNEL_NAME = "paysages-grading"
# Fixed paths inside the sandbox.
SANDBOX_GRADING_DIR = "/grading"
SANDBOX_RUN_DIR = "/grading/run"
# The verdict stage's folders (autograde/verdicts/): the grader's probes, read-only, and the
# folder where the hidden tests export plain results for the trusted verdict process.
SANDBOX_PROBES_DIR = "/grading/probes"
SANDBOX_EXPORT_DIR = "/grading/export"
SANDBOX_DATA_DIR = "/data"
SANDBOX_HOME_DIR = "/home/student"
SANDBOX_TMP_DIR = "/tmp"
SANDBOX_VENV_DIR = "/opt/paysages/venv"
SANDBOX_LIBRARY_DIR = "/opt/paysages/lib"
SANDBOX_LAUNCHER_PATH = "/opt/paysages/launcher.py"
SANDBOX_USER = "student"
# The sandbox user: "nobody" inside the user namespace (mapped to the grader's own user outside).
SANDBOX_UID = 65534
SANDBOX_GID = 65534
LAUNCHER_SOURCE = Path(__file__).with_name("sandbox_launcher.py")
# The variable through which the pipeline tells nbgrader_config.py where the kernel's runtime
# folder is (connection file and IPC sockets).
RUNTIME_DIR_VARIABLE = "PAYSAGES_SANDBOX_RUNTIME_DIR"
CONNECTION_FILENAME = "kernel.json"
IPC_BASENAME = "kernel-ipc"
# A Unix socket path holds at most 107 bytes; jupyter_client appends "-<port>" to the IPC base.
MAX_SOCKET_PATH_LENGTH = 107
# The grader's PAYSAGES_* variables a kernel must never see.
SECRET_VARIABLES = ("PAYSAGES_GRADEBOOK_URL", "PAYSAGES_INTEGRITY_LOG", "PAYSAGES_KERNEL_HOME_ROOT",
                    "PAYSAGES_GRADING_TOKEN", RUNTIME_DIR_VARIABLE)
# The /etc files Python, Matplotlib and TensorFlow read; the rest of /etc stays out of view.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
             "hosts", "host.conf", "fonts", "mime.types", "timezone")
SYSTEM_LINK_OR_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ENVIRONMENT_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GIB = 1024 ** 3
MIB = 1024 ** 2

# What a sandboxed kernel is protected from; each line is reported as "off" when grading runs
# without the sandbox.
PROTECTIONS = (
    "network isolation (a kernel can open connections, to 127.0.0.1 included)",
    "process isolation (a kernel sees the grader's processes and can read /proc/<pid>/environ of its user)",
    "file-system isolation (a kernel can read and write the course directory: gradebook, source/, "
    "other students' submissions; and the repository: solutions/ is importable)",
    "per-kernel limits (CPU time, memory, processes, file size)",
    "end of every process a kernel started (a detached setsid process outlives its notebook)",
)
CPU_TOPOLOGY_DIR = "/sys/devices/system/cpu"
UNSANDBOXED_MARKER = "UNSANDBOXED GRADING"


class SandboxError(PaysagesError):
    """The sandbox could not be set up as asked (a missing folder, a path too long...)."""


class SandboxRefused(PaysagesError):
    """Grading refuses to start: bubblewrap cannot run here and --unsandboxed was not given."""


@dataclasses.dataclass(frozen=True)
class SandboxLimits:
    """Per-kernel limits (rlimits of the kernel process; see ``autograde/sandbox_launcher.py``).

    The CPU default is twice the default notebook time limit (900 s of wall-clock time, on two
    cores); the memory default leaves room for TensorFlow, whose address space is about 2.4 GiB
    on two cores and grows with the number of threads.
    """

    cpu_seconds: int = 1800
    address_space_bytes: int = 16 * GIB
    processes: int = 512
    file_size_bytes: int = 1 * GIB
    open_files: int = 4096
    tmp_size_bytes: int = 512 * MIB
    home_size_bytes: int = 256 * MIB
    shared_memory_size_bytes: int = 256 * MIB

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"SandboxLimits.{field.name} must be a positive integer, not {value!r}.")

    def launcher_arguments(self) -> list[str]:
        return [
            "--cpu-seconds", str(self.cpu_seconds),
            "--address-space-bytes", str(self.address_space_bytes),
            "--processes", str(self.processes),
            "--file-size-bytes", str(self.file_size_bytes),
            "--open-files", str(self.open_files),
        ]


# Availability -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Availability:
    """Whether bubblewrap can run here; ``reason`` says why not (empty when it can)."""

    available: bool
    reason: str
    bwrap: str | None


def find_bwrap() -> str | None:
    """The bwrap executable: ``$PAYSAGES_BWRAP`` when set (None if it names no executable), else ``bwrap`` on PATH."""
    override = os.environ.get("PAYSAGES_BWRAP")
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        return None
    return shutil.which("bwrap")


def namespace_arguments() -> list[str]:
    """The bwrap options that isolate the kernel (namespaces, capabilities, session, parent)."""
    return [
        "--unshare-all",
        "--unshare-user",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_GID),
        "--disable-userns",
        "--cap-drop", "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
    ]


def _explain_probe_failure(stderr: str, returncode: int) -> str:
    lowered = stderr.lower()
    if "setting up uid map" in lowered or "user namespace" in lowered or "no permissions to creat" in lowered:
        return ("bubblewrap cannot create a user namespace on this machine (unprivileged user namespaces are "
                "disabled, or a container forbids them): " + stderr.strip())
    if "operation not permitted" in lowered:
        return "bubblewrap is not permitted to create its namespaces here: " + stderr.strip()
    if not stderr.strip():
        return (f"bubblewrap's test sandbox failed (exit status {returncode}) without a message: it did not run "
                "in its own PID namespace")
    return f"bubblewrap failed to start a test sandbox (exit status {returncode}): " + stderr.strip()


def _probe(bwrap: str) -> Availability:
    command = [bwrap, *namespace_arguments(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
               "--", "/bin/sh", "-c", "test $$ -le 2"]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Availability(False, f"bubblewrap ({bwrap}) could not be run: {error}", bwrap)
    if completed.returncode != 0:
        return Availability(False, _explain_probe_failure(completed.stderr, completed.returncode), bwrap)
    return Availability(True, "", bwrap)


@functools.lru_cache(maxsize=8)
def _cached_probe(bwrap: str) -> Availability:
    return _probe(bwrap)


def sandbox_available(bwrap: str | None = None) -> Availability:
    """Whether grading kernels can run under bubblewrap here, with the reason when not.

    Starts one throw-away sandbox with the same namespace options as the kernels (cached per
    bwrap executable for the life of the process).
    """
    if sys.platform != "linux":
        return Availability(False, f"bubblewrap needs Linux (this is {sys.platform})", None)
    found = bwrap or find_bwrap()
    if not found:
        return Availability(False, "bwrap was not found (install the Debian/Ubuntu package bubblewrap: "
                                   "apt-get install bubblewrap)", None)
    return _cached_probe(found)


# Policy -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SandboxDecision:
    """Whether the kernels run sandboxed; when not, the line every report must start with."""

    sandboxed: bool
    reason: str
    availability: Availability

    @property
    def report_first_line(self) -> str | None:
        if self.sandboxed:
            return None
        return unsandboxed_report_line(self.reason)

    @property
    def protections_off(self) -> tuple[str, ...]:
        return () if self.sandboxed else PROTECTIONS

    def record(self) -> dict:
        """The decision as the journal keeps it, so that reports read it back instead of deciding again."""
        return {"sandboxed": self.sandboxed, "reason": self.reason, "report_first_line": self.report_first_line}


def unsandboxed_report_line(reason: str) -> str:
    """The first line of every report of a grading run made without the sandbox."""
    return (f"{UNSANDBOXED_MARKER} ({reason}). Protections OFF: " + "; ".join(PROTECTIONS) + ".")


def refusal_message(availability: Availability) -> str:
    """What grading prints when it refuses to start without the sandbox."""
    return (
        f"Grading refused: the student's code must run in a sandbox, and {availability.reason}.\n"
        "Install bubblewrap (apt-get install bubblewrap) on a Linux machine that allows user namespaces, "
        "or pass --unsandboxed to grade anyway: the student's code then runs with your rights over the whole "
        "course directory, and every report says so in its first line."
    )


def grading_decision(*, unsandboxed: bool, availability: Availability | None = None) -> SandboxDecision:
    """The instructor's grading policy: sandboxed, or unsandboxed only on explicit request.

    Raises :class:`SandboxRefused` when bubblewrap cannot run and ``unsandboxed`` is false.
    ``--unsandboxed`` on a machine where the sandbox works still grades unsandboxed (the
    instructor asked for it), and the reports say so.
    """
    if availability is None:
        availability = sandbox_available()
    if unsandboxed:
        reason = "the instructor passed --unsandboxed"
        if not availability.available:
            reason += f"; besides, {availability.reason}"
        return SandboxDecision(False, reason, availability)
    if not availability.available:
        raise SandboxRefused(refusal_message(availability))
    return SandboxDecision(True, "", availability)


def demo_unsandboxed_message(availability: Availability) -> str:
    """What ``make demo`` prints when it grades without the sandbox."""
    return (
        f"NOTE: the demo grades WITHOUT the sandbox because {availability.reason}. "
        "The grades are the same; on a real course, install bubblewrap (apt-get install bubblewrap) so that "
        "the student's code cannot read or change the course directory, reach the network or outlive its notebook."
    )


def demo_decision(availability: Availability | None = None) -> tuple[SandboxDecision, str | None]:
    """``make demo``'s policy: sandboxed when possible, else unsandboxed with a message (never refuses)."""
    if availability is None:
        availability = sandbox_available()
    if availability.available:
        return SandboxDecision(True, "", availability), None
    decision = SandboxDecision(False, f"demo on a machine where {availability.reason}", availability)
    return decision, demo_unsandboxed_message(availability)


# Workspace ----------------------------------------------------------------------------------
@dataclasses.dataclass
class SandboxWorkspace:
    """The host folders of one sandboxed kernel (one notebook of one submission).

    ``root`` (a fresh ``mkdtemp`` folder, short enough for Unix socket paths) holds:

    * ``grading/``: bound read-write at ``/grading``, the kernel's working folder; holds the
      copy of the notebook being graded, if any, and the mount point of the run folder;
    * ``runtime/``: the Jupyter runtime folder of the nbgrader process (connection file and
      IPC sockets), bound read-write at its own path;
    * ``kernels/``: the kernel spec (on ``JUPYTER_PATH`` of the nbgrader process), never
      visible to the kernel;
    * ``probes/``: the verdict stage's probe inputs, bound read-only at ``/grading/probes``;
    * ``export/``: bound read-write at ``/grading/export``, where the hidden tests export plain
      results; the trusted verdict process reads it (without following links) before the
      workspace is removed.

    ``run_dir`` (the submission's run folder, shared by its notebooks) is bound read-write at
    ``/grading/run``; ``data_dir`` (the grading data) read-only at ``/data``.

    Everything under ``grading/``, ``runtime/`` and the run folder was writable by the kernel:
    the pipeline must never read a notebook, a verdict or a configuration back from there.
    """

    root: Path
    run_dir: Path
    data_dir: Path | None = None

    @property
    def grading_dir(self) -> Path:
        return self.root / "grading"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def kernels_dir(self) -> Path:
        return self.root / "kernels"

    @property
    def jupyter_path_entry(self) -> Path:
        """The folder to put first on the nbgrader process's ``JUPYTER_PATH`` (it holds ``kernels/``)."""
        return self.root

    @property
    def probes_dir(self) -> Path:
        return self.root / "probes"

    @property
    def export_dir(self) -> Path:
        return self.root / "export"

    @property
    def connection_file(self) -> Path:
        return self.runtime_dir / CONNECTION_FILENAME

    @property
    def ipc_base(self) -> Path:
        return self.runtime_dir / IPC_BASENAME

    @classmethod
    def create(cls, *, run_dir: Path | None = None, data_dir: Path | None = None, notebook: Path | None = None,
               parent: Path | None = None) -> "SandboxWorkspace":
        """Make a fresh workspace under ``parent`` (default: the system's temporary folder).

        ``run_dir`` must exist (default: a new empty ``run/`` in the workspace); ``data_dir``
        must exist when given; ``notebook`` is copied into ``grading/``.
        """
        if data_dir is not None and not Path(data_dir).is_dir():
            raise SandboxError(f"The grading data folder {data_dir} does not exist.")
        if run_dir is not None and not Path(run_dir).is_dir():
            raise SandboxError(f"The run folder {run_dir} does not exist (create it before the workspace).")
        parent_dir = Path(parent) if parent is not None else Path(tempfile.gettempdir())
        parent_dir.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="paysages-sandbox-", dir=parent_dir)).resolve()
        longest_socket = f"{root / 'runtime' / IPC_BASENAME}-65535"
        if len(longest_socket.encode()) > MAX_SOCKET_PATH_LENGTH:
            shutil.rmtree(root, ignore_errors=True)
            raise SandboxError(
                f"The sandbox folder {root} is too deep: its IPC socket paths would exceed the {MAX_SOCKET_PATH_LENGTH} "
                "bytes a Unix socket path may have. Use a shorter parent folder (the default is the system's "
                "temporary folder).")
        (root / "grading").mkdir()
        (root / "runtime").mkdir(mode=0o700)
        (root / "kernels").mkdir()
        (root / "probes").mkdir()
        (root / "export").mkdir()
        if run_dir is None:
            run_dir = root / "run"
            run_dir.mkdir()
        # The mount point of the run folder, inside the private folder.
        (root / "grading" / "run").mkdir()
        (root / "grading" / "probes").mkdir()
        (root / "grading" / "export").mkdir()
        if notebook is not None:
            shutil.copyfile(notebook, root / "grading" / Path(notebook).name)
        return cls(root=root, run_dir=Path(run_dir).resolve(),
                   data_dir=Path(data_dir).resolve() if data_dir is not None else None)

    def remove(self) -> None:
        """Delete the workspace (the run folder stays when it lives outside the workspace)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "SandboxWorkspace":
        return self

    def __exit__(self, *exception) -> None:
        self.remove()


# Kernel spec --------------------------------------------------------------------------------
def python_locations() -> tuple[Path, Path | None]:
    """(the Python installation, the virtual environment or None) of the grader's interpreter."""
    base = Path(os.path.realpath(sys.base_prefix))
    prefix = Path(os.path.realpath(sys.prefix))
    return base, (prefix if prefix != base else None)


def sandbox_python() -> str:
    """The kernel's interpreter as the sandbox sees it."""
    base, venv = python_locations()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if venv is not None:
        return f"{SANDBOX_VENV_DIR}/bin/{version}" if (venv / "bin" / version).exists() else f"{SANDBOX_VENV_DIR}/bin/python"
    return sys.executable


def paysages_package_dir() -> Path:
    return Path(paysages.__file__).resolve().parent


def _package_needs_bind(package_dir: Path) -> bool:
    """True when ``paysages`` is not inside the Python installation or venv the sandbox binds."""
    base, venv = python_locations()
    return not any(package_dir.is_relative_to(folder) for folder in (base, venv) if folder is not None)


def _system_arguments() -> list[str]:
    arguments = ["--ro-bind", "/usr", "/usr"]
    for path in SYSTEM_LINK_OR_DIRS:
        if os.path.islink(path):
            arguments += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            arguments += ["--ro-bind", path, path]
    for name in ETC_FILES:
        arguments += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # The CPU topology, read-only: without it lscpu finds no CPU, and joblib (t-SNE, k-means)
    # warns on stderr, which nbgrader scores as a failed test.
    arguments += ["--ro-bind-try", CPU_TOPOLOGY_DIR, CPU_TOPOLOGY_DIR]
    return arguments


def _python_arguments() -> list[str]:
    base, venv = python_locations()
    arguments = []
    if not base.is_relative_to("/usr"):
        arguments += ["--ro-bind", str(base), str(base)]
    if venv is not None:
        arguments += ["--ro-bind", str(venv), SANDBOX_VENV_DIR]
    package_dir = paysages_package_dir()
    if _package_needs_bind(package_dir):
        arguments += ["--ro-bind", str(package_dir), f"{SANDBOX_LIBRARY_DIR}/paysages"]
        registry = package_dir.parent / "datasets" / "registry.json"
        if registry.is_file():
            arguments += ["--ro-bind", str(registry), f"{SANDBOX_LIBRARY_DIR}/datasets/registry.json"]
    arguments += ["--ro-bind", str(LAUNCHER_SOURCE), SANDBOX_LAUNCHER_PATH]
    return arguments


def base_kernel_environment() -> dict[str, str]:
    """The variables every sandboxed kernel gets (paths as the sandbox sees them)."""
    _, venv = python_locations()
    path = ["/usr/local/bin", "/usr/bin", "/bin"]
    if venv is not None:
        path.insert(0, f"{SANDBOX_VENV_DIR}/bin")
    environment = {
        "PATH": ":".join(path),
        "HOME": SANDBOX_HOME_DIR,
        "USER": SANDBOX_USER,
        "LOGNAME": SANDBOX_USER,
        "LANG": "C.UTF-8",
        "TMPDIR": SANDBOX_TMP_DIR,
        "PYTHONNOUSERSITE": "1",
        "PYTHONSAFEPATH": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if venv is not None:
        environment["VIRTUAL_ENV"] = SANDBOX_VENV_DIR
    # The library folder holds the paysages package (editable installs) and any extra package.
    environment["PYTHONPATH"] = SANDBOX_LIBRARY_DIR
    return environment


def kernel_environment(grading_environment: Mapping[str, str], *, data: bool = True) -> dict[str, str]:
    """The grader's ``PAYSAGES_*`` variables for a sandboxed kernel, paths translated.

    Secrets (gradebook URL, integrity log, grading token...) are dropped; the data root and the
    run folder become ``/data`` and ``/grading/run``; the verdict stage's probe and export
    folders are ``/grading/probes`` and ``/grading/export``. Other variables are not passed.
    """
    environment = {}
    for name, value in grading_environment.items():
        if name.startswith("PAYSAGES_") and name not in SECRET_VARIABLES:
            environment[name] = str(value)
    if data:
        environment["PAYSAGES_DATA_ROOT"] = SANDBOX_DATA_DIR
    else:
        environment.pop("PAYSAGES_DATA_ROOT", None)
    environment["PAYSAGES_RUN_DIR"] = SANDBOX_RUN_DIR
    environment[PROBES_VARIABLE] = SANDBOX_PROBES_DIR
    environment[EXPORT_VARIABLE] = SANDBOX_EXPORT_DIR
    return environment


def _check_environment(environment: Mapping[str, str]) -> None:
    for name, value in environment.items():
        if not ENVIRONMENT_NAME_PATTERN.match(name):
            raise ValueError(f"{name!r} is not a valid environment variable name.")
        if "\0" in str(value):
            raise ValueError(f"The value of {name} contains a NUL character.")


def _package_arguments(packages: Mapping[str, Path | str], where) -> list[str]:
    """Read-only binds of package folders, each at ``where(name)`` inside the sandbox."""
    arguments = []
    for name, folder in packages.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) or name == "paysages":
            raise ValueError(f"{name!r} cannot be bound as an extra package.")
        if not (Path(folder) / "__init__.py").is_file():
            raise SandboxError(f"{folder} is not a Python package folder (no __init__.py).")
        arguments += ["--ro-bind", str(Path(folder).resolve()), where(name)]
    return arguments


def sandbox_package_dir(name: str) -> str:
    """Where an ``extra_packages`` entry is seen inside the sandbox (importable by any code)."""
    return f"{SANDBOX_LIBRARY_DIR}/{name}"


def kernel_argv(workspace: SandboxWorkspace, *, limits: SandboxLimits | None = None,
                environment: Mapping[str, str] | None = None, bwrap: str | None = None,
                extra_packages: Mapping[str, Path | str] | None = None) -> list[str]:
    """The kernel spec ``argv`` that starts ``python -m ipykernel_launcher`` in the sandbox.

    ``environment``: extra variables for the kernel (for instance :func:`kernel_environment`);
    they are added to :func:`base_kernel_environment`. The argv keeps jupyter_client's
    ``{connection_file}`` placeholder.

    ``extra_packages`` (name to folder) binds more packages read-only beside ``paysages``, on
    the import path of every cell: whatever is bound there, the student's code can import. The
    pipeline binds nothing there (``solutions`` never enters a sandbox).
    """
    limits = limits or SandboxLimits()
    bwrap = bwrap or find_bwrap()
    if not bwrap:
        raise SandboxError("bwrap was not found: the sandboxed kernel spec cannot be written.")
    kernel_variables = base_kernel_environment()
    kernel_variables.update({str(name): str(value) for name, value in (environment or {}).items()})
    _check_environment(kernel_variables)
    runtime = str(workspace.runtime_dir)
    argv = ["/usr/bin/env", "-i"]
    argv += [f"{name}={value}" for name, value in sorted(kernel_variables.items())]
    argv += [bwrap, *namespace_arguments()]
    # A minimal /dev, read-only once /dev/shm (multiprocessing's semaphores) is mounted with a
    # size cap: bwrap's /dev is otherwise a writable tmpfs as large as half the memory.
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(limits.shared_memory_size_bytes), "--tmpfs", "/dev/shm"]
    argv += _system_arguments()
    argv += _python_arguments()
    argv += _package_arguments(extra_packages or {}, sandbox_package_dir)
    if workspace.data_dir is not None:
        argv += ["--ro-bind", str(workspace.data_dir), SANDBOX_DATA_DIR]
    argv += ["--size", str(limits.tmp_size_bytes), "--tmpfs", SANDBOX_TMP_DIR]
    argv += ["--size", str(limits.home_size_bytes), "--tmpfs", SANDBOX_HOME_DIR]
    argv += ["--bind", str(workspace.grading_dir), SANDBOX_GRADING_DIR]
    argv += ["--bind", str(workspace.run_dir), SANDBOX_RUN_DIR]
    argv += ["--ro-bind", str(workspace.probes_dir), SANDBOX_PROBES_DIR]
    argv += ["--bind", str(workspace.export_dir), SANDBOX_EXPORT_DIR]
    argv += ["--bind", runtime, runtime]
    argv += ["--chdir", SANDBOX_GRADING_DIR]
    # The sandbox's root (a tmpfs made by bwrap) becomes read-only once every mount point exists.
    argv += ["--remount-ro", "/dev", "--remount-ro", "/"]
    python = sandbox_python()
    argv += ["--", python, "-I", "-S", SANDBOX_LAUNCHER_PATH, *limits.launcher_arguments(), "--",
             python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return argv


def kernel_spec(workspace: SandboxWorkspace, **options) -> dict:
    """The kernel spec (``kernel.json`` content) of a sandboxed grading kernel."""
    return {
        "argv": kernel_argv(workspace, **options),
        "display_name": "paysages grading (sandboxed)",
        "language": "python",
        # A signal to the process group would reach bwrap, not the kernel (which runs in its own
        # session): interrupts (nbgrader's cell time-out) travel as a control-channel message.
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }


def write_kernel_spec(workspace: SandboxWorkspace, *, kernel_name: str = KERNEL_NAME, **options) -> Path:
    """Write ``kernels/<kernel_name>/kernel.json`` in the workspace; return its path.

    The options are those of :func:`kernel_argv` (``limits``, ``environment``, ``bwrap``).
    """
    if not re.match(r"^[A-Za-z0-9._-]+$", kernel_name):
        raise ValueError(f"{kernel_name!r} is not a valid kernel name.")
    path = workspace.kernels_dir / kernel_name / "kernel.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kernel_spec(workspace, **options), indent=2) + "\n", encoding="utf-8")
    return path


# The grader's side --------------------------------------------------------------------------
def kernel_manager_options(workspace: SandboxWorkspace) -> dict[str, str]:
    """The jupyter_client KernelManager settings that reach a sandboxed kernel (IPC sockets)."""
    return {"transport": "ipc", "connection_file": str(workspace.connection_file), "ip": str(workspace.ipc_base)}


def grader_environment(workspace: SandboxWorkspace, *, jupyter_path: Iterable[Path | str] = ()) -> dict[str, str]:
    """Variables for the nbgrader process that grades with this workspace.

    ``JUPYTER_PATH`` starts with the workspace (its kernel spec shadows any other of the same
    name), then ``jupyter_path``; the runtime folder holds the connection file and sockets.
    """
    entries = [str(workspace.jupyter_path_entry)] + [str(entry) for entry in jupyter_path]
    return {
        "JUPYTER_PATH": os.pathsep.join(entries),
        "JUPYTER_RUNTIME_DIR": str(workspace.runtime_dir),
        RUNTIME_DIR_VARIABLE: str(workspace.runtime_dir),
    }


def configure_kernel_manager(config, environ: Mapping[str, str] | None = None) -> bool:
    """For ``nbgrader_config.py``: IPC transport and the connection file in the sandbox's runtime folder.

    Does nothing (returns False) when ``$PAYSAGES_SANDBOX_RUNTIME_DIR`` is not set (unsandboxed).
    """
    environ = os.environ if environ is None else environ
    runtime = environ.get(RUNTIME_DIR_VARIABLE)
    if not runtime:
        return False
    config.KernelManager.transport = "ipc"
    config.KernelManager.connection_file = str(Path(runtime) / CONNECTION_FILENAME)
    config.KernelManager.ip = str(Path(runtime) / IPC_BASENAME)
    return True
