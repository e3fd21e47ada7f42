"""execute_notebook, which `make demo` and the Colab tests use: where the kernel's own messages go.

A kernel process writes to its standard error besides the cells' outputs (TensorFlow's start-up
lines, ipykernel's warnings). `make demo` sends them to a log file per notebook, so that its
terminal shows the steps; the cells' outputs still go into the executed copy.
"""

from __future__ import annotations

import nbformat
import pytest

from autograde.execute import execute_notebook, fast_environment

pytestmark = pytest.mark.slow

KERNEL_MESSAGE = "message from the kernel process itself"
CELL_OUTPUT = "output of the cell"


def write_notebook(path, *, failing: bool = False):
    # os.write(2, ...) writes to the kernel process's standard error, which ipykernel does not capture.
    cells = [nbformat.v4.new_code_cell(f"import os\nos.write(2, b'{KERNEL_MESSAGE}\\n')\nprint('{CELL_OUTPUT}')")]
    if failing:
        cells.append(nbformat.v4.new_code_cell("raise ValueError('the second cell fails')"))
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def execute_tiny(tmp_path, *, failing: bool = False, kernel_log=None):
    source = write_notebook(tmp_path / "tiny.ipynb", failing=failing)
    return execute_notebook(source, tmp_path / "out" / "tiny.ipynb", fast_environment(None, None), timeout=120,
                            kernel_log=kernel_log)


def cell_texts(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))


def test_kernel_messages_go_to_the_log_and_cell_outputs_to_the_copy(tmp_path, capfd):
    """With kernel_log, is the kernel's own stderr in the log only, and the cell's output in the executed copy?"""
    log = tmp_path / "logs" / "tiny.log"
    result = execute_tiny(tmp_path, kernel_log=log)
    assert result.error is None
    assert result.kernel_log == log
    logged = log.read_text(encoding="utf-8")
    assert KERNEL_MESSAGE in logged
    assert KERNEL_MESSAGE not in capfd.readouterr().err
    assert CELL_OUTPUT in cell_texts(result.output)
    assert CELL_OUTPUT not in logged


def test_without_a_log_the_kernel_messages_reach_the_caller(tmp_path, capfd):
    """Without kernel_log, does the kernel's own stderr still reach the caller's, as before?"""
    result = execute_tiny(tmp_path)
    assert result.error is None
    assert result.kernel_log is None
    assert KERNEL_MESSAGE in capfd.readouterr().err


def test_a_failing_notebook_keeps_its_log_and_its_error(tmp_path):
    """When a cell fails, are the error, the executed copy up to it and the kernel's log all kept?"""
    log = tmp_path / "logs" / "tiny.log"
    result = execute_tiny(tmp_path, failing=True, kernel_log=log)
    assert result.error is not None and "the second cell fails" in result.error
    assert KERNEL_MESSAGE in log.read_text(encoding="utf-8")
    assert CELL_OUTPUT in cell_texts(result.output)
