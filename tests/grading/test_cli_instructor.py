"""The instructor command-line front end and the instructor Colab notebook's structure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from autograde.cli import add_instructor_commands
from autograde.layout import DEFAULT_COURSE_DIR, REPOSITORY_DIR
from paysages.cli import build_parser, main

COMMANDS = ("release", "collect", "autograde", "feedback", "export", "report", "demo")


def test_commands_register_on_any_parser():
    """Does the entry point's function add every instructor command (and no student one)?"""
    parser = argparse.ArgumentParser(prog="paysages")
    commands = parser.add_subparsers(dest="command", required=True)
    add_instructor_commands(commands)
    assert sorted(commands.choices) == sorted(COMMANDS)


def test_the_paysages_command_finds_the_instructor_commands_through_its_entry_point():
    """Does the installed `paysages.commands` entry point bring every instructor command to `paysages`?"""
    from importlib.metadata import entry_points

    from paysages.cli import COMMANDS_ENTRY_POINT_GROUP

    found = {entry_point.value for entry_point in entry_points(group=COMMANDS_ENTRY_POINT_GROUP)}
    assert found == {"autograde.cli:add_instructor_commands"}
    choices = build_parser()._subparsers._group_actions[0].choices
    for command in (*COMMANDS, "data", "env", "explore", "submit"):
        assert command in choices


@pytest.mark.parametrize("argv, expected", [
    (["release"], {"course_dir": DEFAULT_COURSE_DIR, "db_url": None, "no_bundle": False}),
    (["collect", "inbox", "--course-dir", "c"], {"directory": Path("inbox"), "course_dir": Path("c")}),
    (["autograde", "--student", "a", "--student", "b", "--force", "--cell-timeout", "60"],
     {"student": ["a", "b"], "force": True, "cell_timeout": 60.0}),
    (["export", "--csv", "grades.csv", "--db-url", "postgresql://grader@db/paysages"],
     {"csv": Path("grades.csv"), "db_url": "postgresql://grader@db/paysages"}),
    (["report", "--out", "r.html"], {"out": Path("r.html")}),
    (["submit", "--student-id", "22001234", "--out", "x.zip"], {"student_id": "22001234", "out": Path("x.zip")}),
])
def test_options_parse(argv, expected):
    """Does each command take its documented options, --course-dir defaulting to build/course?"""
    arguments = build_parser().parse_args(argv)
    for key, value in expected.items():
        assert getattr(arguments, key) == value


def test_autograde_refuses_a_course_dir_never_released(tmp_path, capsys):
    """Is grading an unreleased course directory an error that says what to run first?"""
    assert main(["autograde", "--course-dir", str(tmp_path / "nothing")]) == 2
    assert "paysages release" in capsys.readouterr().err


INSTRUCTOR_NOTEBOOK = REPOSITORY_DIR / "autograde" / "instructor_colab.ipynb"


def _instructor_notebook():
    import nbformat

    return nbformat.read(str(INSTRUCTOR_NOTEBOOK), as_version=4)


def test_instructor_colab_notebook_structure():
    """Is the instructor notebook valid, output-free, guarded for local runs, and complete?"""
    import nbformat

    notebook = _instructor_notebook()
    nbformat.validate(notebook)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    for step in ("drive.mount(", "[instructor]", "keras>=3.14", "--system-site-packages", "drive.flush_and_unmount()",
                 "st_size", "UNSANDBOXED = False"):
        assert step in code, step
    assert "LOCAL_TEST" in code and "IN_COLAB" in code
    # The grading runs in its own environment's processes, never inside Colab's kernel.
    assert "from autograde" not in code and "import autograde" not in code and "pipeline." not in code
    # One student at a time, each saved to Drive at once (a recycled runtime loses one at most).
    grading = next(cell.source for cell in notebook.cells if '"autograde"' in cell.source)
    assert "for number, student in enumerate(students" in grading and '"--student", student' in grading
    loop = grading[grading.index("for number, student"):]
    assert loop.index("run_paysages(") < loop.index("save_to_drive(") < loop.index("print(")
    # --unsandboxed only as the instructor's explicit choice, explained in the notebook's prose.
    assert '["--unsandboxed"] if UNSANDBOXED else []' in grading
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "bubblewrap" in prose and "UNSANDBOXED = True" in prose
    for cell in notebook.cells:
        if cell.cell_type == "code":
            compile(cell.source, "<instructor_colab>", "exec")
    assert json.loads(INSTRUCTOR_NOTEBOOK.read_text(encoding="utf-8"))["metadata"]["accelerator"] == "GPU"


class _Placeholders(dict):
    """Values for the names of an option list: the notebook's switches on, any other value a word."""

    def __missing__(self, name):
        return True if name.isupper() else "value"


def _paysages_command_lines(notebook) -> list[list[str]]:
    """Every ``run_paysages(...)`` call of the notebook's code as an argument list.

    A constant stays itself; any other expression stands for one value; ``*name`` is every list
    the cell assigns or adds to ``name``, with the settings in capitals (FORCE, UNSANDBOXED) on.
    """
    import ast

    lines = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        assigned: dict[str, list] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigned.setdefault(node.targets[0].id, []).append(node.value)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                assigned.setdefault(node.target.id, []).append(node.value)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "run_paysages"):
                continue
            arguments = []
            for argument in node.args:
                if isinstance(argument, ast.Constant):
                    arguments.append(str(argument.value))
                elif isinstance(argument, ast.Starred) and isinstance(argument.value, ast.Name):
                    for value in assigned[argument.value.id]:
                        expression = ast.Expression(body=value)
                        arguments += list(eval(compile(expression, "<instructor_colab>", "eval"), {}, _Placeholders()))
                else:
                    arguments.append("value")
            lines.append(arguments)
    return lines


def test_instructor_colab_notebook_calls_only_existing_commands_and_options():
    """Does every `paysages` command line of the instructor notebook parse with today's CLI?"""
    lines = _paysages_command_lines(_instructor_notebook())
    assert {line[0] for line in lines} == {"env", "release", "collect", "autograde", "feedback", "export", "report"}
    parser = build_parser()
    for line in lines:
        try:
            parser.parse_args(line)
        except SystemExit as error:
            pytest.fail(f"the instructor notebook runs `paysages {' '.join(line)}`, which the CLI refuses ({error})")
    autograde = next(line for line in lines if line[0] == "autograde")
    assert "--unsandboxed" in autograde and "--force" in autograde and "--student" in autograde
