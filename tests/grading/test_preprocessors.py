"""The nbgrader preprocessors of the pipeline, on a toy assignment released by the real nbgrader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograde.preprocessors import GradingExecute, RestoreLockedCells, SanitizeFeedback


def _cell(kind, source, grade_id, *, grade=False, solution=False, locked=False, points=None):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    metadata = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id,
                "schema_version": 3, "task": False}
    if points is not None:
        metadata["points"] = points
    cell.metadata["nbgrader"] = metadata
    cell.id = grade_id
    return cell


@pytest.fixture(scope="module")
def toy_course(tmp_path_factory):
    """A one-notebook course released by nbgrader: solution, locked set-up cell, test cell."""
    root = tmp_path_factory.mktemp("toy_course")
    source = root / "source" / "toy"
    source.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[
        _cell("markdown", "# Toy", "intro", locked=True),
        _cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double",
              solution=True),
        _cell("code", "values = [1, 2, 3]", "prepare", locked=True),
        _cell("code", '"""Check double."""\nassert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(5) == 10\n'
                      "### END HIDDEN TESTS", "test_double", grade=True, locked=True, points=1),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(source / "toy.ipynb"))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root / 'gradebook.db'}'\n", encoding="utf-8")
    environment = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                       JUPYTER_CONFIG_DIR=str(root / "jupyter_config"))
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "toy"], cwd=root,
                            env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _resources(root):
    return {"nbgrader": {"notebook": "toy", "assignment": "toy", "db_url": f"sqlite:///{root / 'gradebook.db'}"}}


def _submission_without(root, *grade_ids):
    notebook = nbformat.read(str(root / "release" / "toy" / "toy.ipynb"), as_version=4)
    notebook.cells = [cell for cell in notebook.cells if cell.metadata["nbgrader"]["grade_id"] not in grade_ids]
    return notebook


def test_stock_nbgrader_cannot_restore_a_test_cell_after_a_locked_cell(toy_course):
    """Does nbgrader 0.9.6 fail (KeyError) when the cell before a missing test cell is locked code?"""
    from nbgrader.preprocessors import OverwriteCells

    stock = OverwriteCells(add_missing_cells=True)
    with pytest.raises(KeyError):
        stock.preprocess(_submission_without(toy_course, "test_double"), _resources(toy_course))


def test_missing_locked_and_test_cells_are_restored_in_place(toy_course):
    """Are a deleted locked set-up cell and a deleted test cell put back, in the source order?"""
    restore = RestoreLockedCells(add_missing_cells=True,
                                 source_directory=str(toy_course / "source" / "toy"))
    notebook, _ = restore.preprocess(_submission_without(toy_course, "prepare", "test_double"), _resources(toy_course))
    order = [cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells]
    assert order == ["intro", "double", "prepare", "test_double"]
    test_cell = notebook.cells[-1]
    assert "double(5) == 10" in test_cell.source and test_cell.cell_type == "code"
    assert test_cell.source.startswith("# This cell (id:test_double) was missing")


def test_feedback_sanitizer_removes_hidden_tests_and_their_tracebacks():
    """Are hidden tests and tracebacks quoting them removed from test cells, messages kept?"""
    cell = _cell("code", "assert f(1) == 1\n### BEGIN HIDDEN TESTS\n_secret = f(2)\n### END HIDDEN TESTS",
                 "test_f", grade=True, locked=True, points=1)
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="f se trompe",
                                           traceback=["Traceback", "----> 3 _secret = f(2)", "AssertionError: f se trompe"])]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook, _ = SanitizeFeedback().preprocess(notebook, {})
    assert "_secret" not in notebook.cells[0].source and "HIDDEN" not in notebook.cells[0].source
    assert notebook.cells[0].outputs[0]["traceback"] == ["AssertionError: f se trompe"]


def test_grading_kernel_environment_keeps_secrets_out(monkeypatch):
    """Does the grading kernel get PAYSAGES_* settings but never the gradebook URL or other secrets?"""
    monkeypatch.setenv("PAYSAGES_GRADEBOOK_URL", "postgresql://grader:secret@db/paysages")
    monkeypatch.setenv("PAYSAGES_MODE", "fast")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    environment = GradingExecute(kernel_environment={"PYTHONPATH": "/repo"}).kernel_env()
    assert environment["PAYSAGES_MODE"] == "fast" and environment["PYTHONPATH"] == "/repo"
    assert "PAYSAGES_GRADEBOOK_URL" not in environment and "AWS_SECRET_ACCESS_KEY" not in environment
    assert environment["PYTHONSAFEPATH"] == "1"


def test_gradebook_url_precedence(tmp_path, monkeypatch):
    """Does --db-url win over PAYSAGES_GRADEBOOK_URL, which wins over SQLite in the course directory?"""
    from autograde.layout import CourseLayout

    monkeypatch.delenv("PAYSAGES_GRADEBOOK_URL", raising=False)
    assert CourseLayout.create(tmp_path).db_url == f"sqlite:///{tmp_path / 'gradebook.db'}"
    monkeypatch.setenv("PAYSAGES_GRADEBOOK_URL", "postgresql://grader@db/paysages")
    assert CourseLayout.create(tmp_path).db_url == "postgresql://grader@db/paysages"
    assert CourseLayout.create(tmp_path, db_url="sqlite:///x.db").db_url == "sqlite:///x.db"


def _with_duplicated_test(root):
    import copy

    notebook = _submission_without(root)
    test_cell = next(cell for cell in notebook.cells if cell.metadata["nbgrader"]["grade_id"] == "test_double")
    twin = copy.deepcopy(test_cell)
    twin.source = "print('ok')"
    notebook.cells.insert(notebook.cells.index(test_cell), twin)
    return notebook


def test_stock_nbgrader_fails_on_a_duplicated_cell(toy_course):
    """Does nbgrader 0.9.6 crash (KeyError) on a duplicated grade cell once DeduplicateIds ran?"""
    from nbgrader.preprocessors import DeduplicateIds, OverwriteCells

    notebook, resources = DeduplicateIds().preprocess(_with_duplicated_test(toy_course), _resources(toy_course))
    with pytest.raises(KeyError):
        OverwriteCells(add_missing_cells=True).preprocess(notebook, resources)


def test_duplicated_cell_is_disarmed_and_the_last_copy_graded(toy_course):
    """Is the earlier copy of a duplicated test cell left as plain code, the last one restored?"""
    from nbgrader.preprocessors import DeduplicateIds

    notebook, resources = DeduplicateIds().preprocess(_with_duplicated_test(toy_course), _resources(toy_course))
    restore = RestoreLockedCells(add_missing_cells=True, source_directory=str(toy_course / "source" / "toy"))
    notebook, _ = restore.preprocess(notebook, resources)
    graded = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_double"]
    assert len(graded) == 1 and "double(5) == 10" in graded[0].source
    assert any(cell.source == "print('ok')" and "nbgrader" not in cell.metadata for cell in notebook.cells)
