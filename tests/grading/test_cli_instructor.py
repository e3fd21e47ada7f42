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


def test_instructor_colab_notebook_structure():
    """Is the instructor notebook valid, output-free, guarded for local runs, and complete?"""
    import nbformat

    path = REPOSITORY_DIR / "autograde" / "instructor_colab.ipynb"
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    for step in ("pipeline.release(", "pipeline.collect(", "pipeline.autograde(", "pipeline.feedback(",
                 "report.export_csv(", "report.write_report(", "drive.mount(", "[instructor]",
                 "drive.flush_and_unmount()", "st_size"):
        assert step in code, step
    assert "LOCAL_TEST" in code and "IN_COLAB" in code
    # One student at a time, each saved to Drive at once (a recycled runtime loses one at most).
    grading = next(cell.source for cell in notebook.cells if "pipeline.autograde(" in cell.source)
    assert "for number, student in enumerate(students" in grading and "students=[student]" in grading
    loop = grading[grading.index("for number, student"):]
    assert loop.index("pipeline.autograde(") < loop.index("save_to_drive(") < loop.index("print(")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            compile(cell.source, "<instructor_colab>", "exec")
    assert json.loads(path.read_text(encoding="utf-8"))["metadata"]["accelerator"] == "GPU"
