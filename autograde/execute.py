"""Execute course notebooks in order, in fast mode, with one data root and one run folder.

Used by ``make demo`` (executed copies with outputs go to a build folder outside git) and by the
tests. Each notebook runs in a fresh kernel whose environment carries the PAYSAGES_* settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograde.layout import course_notebooks

# Where execute_course puts, under its output folder, the executed copies and each kernel's log.
EXECUTED_FOLDER = "notebooks"
KERNEL_LOG_FOLDER = "logs"


def fast_environment(data_root: Path | None, run_dir: Path | None, **extra) -> dict[str, str]:
    """The environment variables that put the notebooks in fast, offline, sample-data mode.

    Without ``data_root`` and ``run_dir`` the notebooks keep their own defaults for both, as a
    student's do (in Colab: the run folder on Drive, the images on the runtime's disk).
    """
    environment = {
        "PAYSAGES_MODE": "fast",
        "PAYSAGES_DATASET": "sample",
        "PAYSAGES_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "Agg",
    }
    if data_root is not None:
        environment["PAYSAGES_DATA_ROOT"] = str(Path(data_root).resolve())
    if run_dir is not None:
        environment["PAYSAGES_RUN_DIR"] = str(Path(run_dir).resolve())
    environment.update({key: str(value) for key, value in extra.items()})
    return environment


@contextlib.contextmanager
def patched_environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclasses.dataclass
class ExecutionResult:
    notebook: Path
    output: Path
    seconds: float
    error: str | None
    kernel_log: Path | None = None


def execute_notebook(path: Path, output: Path, environment: dict[str, str], *, timeout: int = 900,
                     kernel_name: str = "python3", kernel_log: Path | None = None) -> ExecutionResult:
    """Run one notebook top to bottom in a ``kernel_name`` kernel; write the executed copy to ``output``.

    What the kernel process itself writes to its standard output and error (TensorFlow's start-up
    lines, ipykernel's warnings; not the cells' outputs, which go into the executed copy) goes to
    ``kernel_log`` when one is given, instead of the caller's terminal.
    """
    notebook = nbformat.read(path, as_version=4)
    output.parent.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(output.parent)}},
    )
    started = time.perf_counter()
    error = None
    # The kernel gets the settings in its own environment; this process's os.environ is left
    # alone (make demo grades in another thread meanwhile).
    kernel_environment = {**os.environ, **environment}
    if kernel_log is not None:
        kernel_log.parent.mkdir(parents=True, exist_ok=True)
    log_context = open(kernel_log, "w", encoding="utf-8") if kernel_log is not None else contextlib.nullcontext()
    with log_context as log_file:
        streams = {} if log_file is None else {"stdout": log_file, "stderr": log_file}
        try:
            client.execute(env=kernel_environment, **streams)
        except CellExecutionError as exception:
            error = str(exception)
    nbformat.write(notebook, output)
    return ExecutionResult(path, output, time.perf_counter() - started, error, kernel_log)


def execute_course(out_dir: Path, notebooks: list[Path] | None = None, *, data_root=None, run_dir=None,
                   stop_on_error: bool = True, timeout: int = 900) -> list[ExecutionResult]:
    """Execute the course notebooks in order; executed copies go to ``out_dir/notebooks``.

    Each kernel's own messages go to ``out_dir/logs/<notebook>.log`` (:data:`EXECUTED_FOLDER`,
    :data:`KERNEL_LOG_FOLDER`).
    """
    out_dir = Path(out_dir).resolve()
    environment = fast_environment(data_root or out_dir / "datasets", run_dir or out_dir / "run")
    results = []
    for path in notebooks if notebooks is not None else course_notebooks():
        result = execute_notebook(path, out_dir / EXECUTED_FOLDER / path.name, environment, timeout=timeout,
                                  kernel_log=out_dir / KERNEL_LOG_FOLDER / f"{path.stem}.log")
        results.append(result)
        status = "ok" if result.error is None else "FAILED"
        print(f"{path.name:<28} {result.seconds:6.1f} s  {status}", flush=True)
        if result.error is not None and stop_on_error:
            break
    return results
