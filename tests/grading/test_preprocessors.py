"""The nbgrader preprocessors of the pipeline, on a toy assignment released by the real nbgrader."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
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


@pytest.mark.slow  # Starts nbgrader or a kernel.
def test_stock_nbgrader_cannot_restore_a_test_cell_after_a_locked_cell(toy_course):
    """Does nbgrader 0.9.6 fail (KeyError) when the cell before a missing test cell is locked code?"""
    from nbgrader.preprocessors import OverwriteCells

    stock = OverwriteCells(add_missing_cells=True)
    with pytest.raises(KeyError, match="'prepare'"):
        stock.preprocess(_submission_without(toy_course, "test_double"), _resources(toy_course))


@pytest.mark.slow  # Starts nbgrader or a kernel.
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
    """Are hidden tests and tracebacks quoting them removed, one pass/fail line kept per test cell?"""
    failed = _cell("code", "assert f(1) == 1\n### BEGIN HIDDEN TESTS\n_secret = f(2)\n### END HIDDEN TESTS",
                   "test_f", grade=True, locked=True, points=1)
    failed.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="_secret vaut 4\n"),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="contexte\nf se trompe",
                               traceback=["Traceback", "----> 3 _secret = f(2)", "AssertionError: f se trompe"])]
    passed = _cell("code", "assert g(1) == 1", "test_g", grade=True, locked=True, points=1)
    passed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="g vaut _hidden_value\n")]
    notebook = nbformat.v4.new_notebook(cells=[failed, passed])
    notebook, _ = SanitizeFeedback().preprocess(notebook, {})
    assert "_secret" not in notebook.cells[0].source and "HIDDEN" not in notebook.cells[0].source
    assert [output["output_type"] for output in notebook.cells[0].outputs] == ["error"]
    assert notebook.cells[0].outputs[0]["traceback"] == ["Test échoué — AssertionError: f se trompe"]
    assert notebook.cells[1].outputs == [nbformat.v4.new_output("stream", name="stdout", text="Test réussi.\n")]


def test_feedback_of_a_judged_cell_follows_the_trusted_verdict(tmp_path):
    """Does a cell with a verdict say "failed" when its own outputs claim success, and the reverse?"""
    forged = _cell("code", "check(f)\n### BEGIN HIDDEN TESTS\nexport(f)\n### END HIDDEN TESTS",
                   "test_f", grade=True, locked=True, points=2)
    forged.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"})]
    honest = _cell("code", "check(g)", "test_g", grade=True, locked=True, points=1)
    honest.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue="g se trompe", traceback=[])]
    unjudged = _cell("code", "check(h)", "test_h", grade=True, locked=True, points=1)
    verdict_file = tmp_path / "logs" / "alice" / "toy.verdicts.json"
    verdict_file.parent.mkdir(parents=True)
    verdict_file.write_text(json.dumps({"notebook": "toy", "verdicts": {
        "test_f": {"fraction": 0.0, "reason": "probe 2: wrong ratio"},
        "test_g": {"fraction": 1.0, "reason": "every probe agrees with the reference"},
    }}), encoding="utf-8")
    resources = {"nbgrader": {"student": "alice", "assignment": "toy", "notebook": "toy"}}
    notebook = nbformat.v4.new_notebook(cells=[forged, honest, unjudged])
    notebook, _ = SanitizeFeedback(verdicts_directory=str(tmp_path / "logs")).preprocess(notebook, resources)
    assert notebook.cells[0].outputs[0]["traceback"] == [
        "Test échoué (résultat vérifié hors de votre noyau) — Verdict: probe 2: wrong ratio"]
    assert notebook.cells[1].outputs[0]["text"] == "Test réussi. (résultat vérifié hors de votre noyau)\n"
    assert notebook.cells[2].outputs[0]["text"] == "Test réussi.\n"
    # Without a verdict file (a notebook the verdict stage does not cover), the outputs decide.
    failing = _cell("code", "check(g)", "test_g", grade=True, locked=True, points=1)
    failing.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue="g se trompe", traceback=[])]
    notebook, _ = SanitizeFeedback(verdicts_directory=str(tmp_path / "nowhere")).preprocess(
        nbformat.v4.new_notebook(cells=[failing]), resources)
    assert notebook.cells[0].outputs[0]["traceback"] == ["Test échoué — CheckFailed: g se trompe"]


def test_feedback_shows_the_students_own_outputs_never_the_rerun(tmp_path):
    """Does a student cell show its submitted outputs, not what the grading re-run printed (a leak)?"""
    hidden = "assert _model.count_params() < 50_000, 'trop de paramètres'"
    leak = base64.b64encode(hidden.encode()).decode()
    own_output = nbformat.v4.new_output("stream", name="stdout", text="mon propre run\n")
    answer = _cell("code", "def f(x):\n    return x", "f", solution=True)
    answer.outputs = [own_output]
    plain = nbformat.v4.new_code_cell("print('hello')")
    plain.id = "plain-cell"
    submitted_dir = tmp_path / "submitted" / "alice" / "toy"
    submitted_dir.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[answer, plain]), str(submitted_dir / "toy.ipynb"))

    rerun_answer = _cell("code", "def f(x):\n    return x", "f", solution=True)
    rerun_answer.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"LEAK:{leak}\n")]
    rerun_plain = nbformat.v4.new_code_cell("print('hello')")
    rerun_plain.id = "plain-cell"
    rerun_plain.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"LEAK:{leak}\n")]
    unknown = nbformat.v4.new_code_cell("print('new cell')")
    unknown.id = "not-submitted"
    unknown.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"LEAK:{leak}\n")]
    notebook = nbformat.v4.new_notebook(cells=[rerun_answer, rerun_plain, unknown])
    resources = {"nbgrader": {"student": "alice", "assignment": "toy", "notebook": "toy"}}
    notebook, _ = SanitizeFeedback(submitted_directory=str(tmp_path / "submitted")).preprocess(notebook, resources)
    assert notebook.cells[0].outputs == [own_output]
    assert notebook.cells[1].outputs == []  # The submitted copy of this cell had no output.
    assert notebook.cells[2].outputs == []
    assert "LEAK:" not in nbformat.writes(notebook)


def test_grading_kernel_environment_keeps_secrets_out(monkeypatch, tmp_path):
    """Does the grading kernel get PAYSAGES_* settings but never the gradebook URL or other secrets?"""
    monkeypatch.setenv("PAYSAGES_GRADEBOOK_URL", "postgresql://grader:secret@db/paysages")
    monkeypatch.setenv("PAYSAGES_MODE", "fast")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("PAYSAGES_KERNEL_HOME_ROOT", str(tmp_path / "homes"))
    executor = GradingExecute(kernel_environment={"PYTHONPATH": "/repo", "HOME": "/root"})
    environment = executor.kernel_env()
    assert environment["PAYSAGES_MODE"] == "fast" and environment["PYTHONPATH"] == "/repo"
    assert "PAYSAGES_GRADEBOOK_URL" not in environment and "AWS_SECRET_ACCESS_KEY" not in environment
    assert "PAYSAGES_KERNEL_HOME_ROOT" not in environment
    assert environment["PYTHONSAFEPATH"] == "1" and environment["PYTHONNOUSERSITE"] == "1"
    home = Path(environment["HOME"])
    assert home.parent == (tmp_path / "homes").resolve() and home.is_dir()
    for name in ("IPYTHONDIR", "MPLCONFIGDIR", "KERAS_HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "TMPDIR"):
        assert Path(environment[name]).is_relative_to(home), name
    assert Path(executor.kernel_env()["HOME"]) != home  # Every kernel gets its own.
    executor.remove_kernel_homes()
    assert list((tmp_path / "homes").iterdir()) == []


KERNEL_PROBE = textwrap.dedent('''
    import json, os, pathlib, site
    home = pathlib.Path.home()
    startup = pathlib.Path(os.environ["IPYTHONDIR"]) / "profile_default" / "startup" / "00-planted.py"
    keras_config = pathlib.Path(os.environ["KERAS_HOME"]) / "keras.json"
    seen = {"startup": startup.exists(), "keras": keras_config.exists(), "planted": "PLANTED" in globals()}
    if str(home) != GRADER_HOME and home.is_relative_to(HOME_ROOT):  # Never write into a real HOME.
        startup.parent.mkdir(parents=True, exist_ok=True)
        startup.write_text("PLANTED = True\\n")
        keras_config.parent.mkdir(parents=True, exist_ok=True)
        keras_config.write_text(\'{"backend": "jax"}\')
    print(json.dumps({"home": str(home), "nousersite": os.environ.get("PYTHONNOUSERSITE"),
                      "user_site": site.ENABLE_USER_SITE, "seen": seen}))
''')


def _probe_kernel(tmp_path, home_root):
    source = (f"GRADER_HOME = {str(Path.home())!r}\nHOME_ROOT = __import__('pathlib').Path({str(home_root)!r})\n"
              + KERNEL_PROBE)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    executor = GradingExecute(guard_enabled=0, kernel_name="python3", kernel_home_root=str(home_root), timeout=120)
    notebook, _ = executor.preprocess(notebook, {"metadata": {"path": str(tmp_path)}, "nbgrader": {"notebook": "probe"}})
    texts = [output.get("text", "") for output in notebook.cells[0].outputs if output.get("output_type") == "stream"]
    assert texts, notebook.cells[0].outputs
    return json.loads(texts[-1].strip().splitlines()[-1])


@pytest.mark.slow  # Starts nbgrader or a kernel.
def test_each_grading_kernel_gets_a_fresh_private_home(tmp_path):
    """Does a kernel get its own HOME, no user site, and never see files an earlier kernel wrote there?"""
    home_root = (tmp_path / "homes").resolve()
    first = _probe_kernel(tmp_path, home_root)
    second = _probe_kernel(tmp_path, home_root)
    for probe in (first, second):
        assert probe["home"] != str(Path.home()) and Path(probe["home"]).is_relative_to(home_root)
        assert probe["nousersite"] == "1" and probe["user_site"] is False
    assert first["home"] != second["home"]
    # The first kernel planted an IPython start-up file and a Keras configuration in its HOME.
    assert second["seen"] == {"startup": False, "keras": False, "planted": False}
    assert list(home_root.iterdir()) == []  # Both homes were removed once their notebook ran.


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


@pytest.mark.slow  # Starts nbgrader or a kernel.
def test_stock_nbgrader_fails_on_a_duplicated_cell(toy_course):
    """Does nbgrader 0.9.6 crash (KeyError) on a duplicated grade cell once DeduplicateIds ran?"""
    from nbgrader.preprocessors import DeduplicateIds, OverwriteCells

    notebook, resources = DeduplicateIds().preprocess(_with_duplicated_test(toy_course), _resources(toy_course))
    with pytest.raises(KeyError, match="'grade_id'"):
        OverwriteCells(add_missing_cells=True).preprocess(notebook, resources)


@pytest.mark.slow  # Starts nbgrader or a kernel.
def test_duplicated_cell_is_disarmed_and_the_last_copy_graded(toy_course):
    """Is the earlier copy of a duplicated test cell left as plain code, the last one restored?"""
    from nbgrader.preprocessors import DeduplicateIds

    notebook, resources = DeduplicateIds().preprocess(_with_duplicated_test(toy_course), _resources(toy_course))
    restore = RestoreLockedCells(add_missing_cells=True, source_directory=str(toy_course / "source" / "toy"))
    notebook, _ = restore.preprocess(notebook, resources)
    graded = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_double"]
    assert len(graded) == 1 and "double(5) == 10" in graded[0].source
    assert any(cell.source == "print('ok')" and "nbgrader" not in cell.metadata for cell in notebook.cells)
