"""Student HTML through the real pipeline: collect, autograde, feedback and report on a copy of the released course.

A submission of notebook 00 (the reference answers) adds a cell that displays a script through
``IPython.display.HTML`` and ``IPython.display.Javascript``, and a markdown answer with an
``onerror`` image; two of its file names are HTML. Neither the feedback page, nor the autograded
notebook formgrader shows, nor the instructor report may carry anything of them that can run.
"""

from __future__ import annotations

import html
import shutil

import nbformat
import pytest
from nbconvert import HTMLExporter

from autograde.html_safety import is_harmless_html, render_markdown
from autograde.layout import CourseLayout
from tests.helpers import corpus
from tests.helpers.archives import write_zip
from tests.helpers.grading import run_cli
from tests.helpers.hostile_html import MARKER, runnable_marker

STUDENT = "htmlattack"
HOSTILE_SOURCE = (
    "from IPython.display import HTML, Javascript, display\n"
    f"display(HTML(\"<script>alert('{MARKER}')</script><b>tableau</b>\"))\n"
    f"display(Javascript(\"alert('{MARKER}')\"))"
)
HOSTILE_MARKDOWN = f"Ma réponse : <img src=x onerror=\"alert('{MARKER}')\"> **fin**"
HOSTILE_FILE_NAME = f"<img src=x onerror=alert('{MARKER}')>"


def _hostile_notebook(released_course) -> nbformat.NotebookNode:
    """Notebook 00 with the reference answers, a hostile cell as the student ran it, a hostile answer."""
    case = corpus.Case(STUDENT, "reference answers plus hostile HTML and JavaScript outputs", ("00",))
    layout = released_course.layout
    notebooks = corpus.build_notebooks(case, layout.release_dir, layout.source_dir, released_course.notebook_names)
    notebook = next(iter(notebooks.values()))
    cell = nbformat.v4.new_code_cell(HOSTILE_SOURCE)
    cell.id = "hostile-html"
    cell.outputs = [  # What IPython displayed in the student's own run.
        nbformat.v4.new_output("display_data", data={
            "text/html": f"<script>alert('{MARKER}')</script><b>tableau</b>",
            "text/plain": "<IPython.core.display.HTML object>"}),
        nbformat.v4.new_output("display_data", data={
            "application/javascript": f"alert('{MARKER}')",
            "text/plain": "<IPython.core.display.Javascript object>"}),
    ]
    answer = nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN)
    answer.id = "hostile-markdown"
    notebook.cells += [cell, answer]
    return notebook


@pytest.fixture(scope="module")
def attacked_course(released_course, tmp_path_factory):
    """A copy of the released course in which the hostile submission was collected, graded and fed back."""
    root = tmp_path_factory.mktemp("html_attack") / "course"
    shutil.copytree(released_course.layout.root, root)
    layout = CourseLayout.open(root, db_url=f"sqlite:///{root / 'gradebook.db'}")
    inbox = root.parent / "inbox"
    inbox.mkdir()
    notebook = _hostile_notebook(released_course)
    name = released_course.notebook_names[0]
    nbformat.write(notebook, str(inbox / f"{STUDENT}_{name}.ipynb"))
    # File names reach the instructor report through collect's list of refused files.
    (inbox / f"{STUDENT}_{HOSTILE_FILE_NAME}.zip").write_bytes(b"not a zip")
    write_zip(inbox / f"{STUDENT}_rendu.zip", {f"run/{HOSTILE_FILE_NAME}.py": b"x = 1"})
    commands = {
        "collect": run_cli(layout, "collect", str(inbox)),
        "autograde": run_cli(layout, "autograde", "--student", STUDENT),
        "feedback": run_cli(layout, "feedback", "--student", STUDENT),
        "report": run_cli(layout, "report"),
    }
    return layout, name, notebook, commands


@pytest.mark.slow  # Starts nbgrader and a grading kernel.
def test_student_scripts_never_reach_the_feedback_page(attacked_course):
    """Is the feedback page free of the student's script, JavaScript output and onerror, the rest kept?"""
    layout, name, notebook, commands = attacked_course
    for step, command in commands.items():
        assert command.code == 0, f"{step}: {command.output}"
    page = (layout.feedback_dir(STUDENT) / f"{name}.html").read_text(encoding="utf-8")
    # The same notebook rendered as nbconvert renders it, unsanitised: the check finds the scripts.
    unsafe_page, _ = HTMLExporter().from_notebook_node(notebook)
    assert len(runnable_marker(unsafe_page)) >= 3
    assert runnable_marker(page) == []
    assert 'data-mime-type="application/javascript"' not in page
    assert "<b>tableau</b>" in page and "<strong>fin</strong>" in page  # Benign HTML stays.
    assert MARKER in page  # The cell's source is still shown, as text.


@pytest.mark.slow  # Starts nbgrader and a grading kernel.
def test_the_autograded_notebook_formgrader_shows_holds_no_script(attacked_course):
    """Does the autograded notebook (the grading re-run, shown by formgrader) carry no JavaScript nor unsafe HTML?"""
    layout, name, _, commands = attacked_course
    assert commands["autograde"].code == 0, commands["autograde"].output
    graded = nbformat.read(str(layout.autograded_dir(STUDENT) / f"{name}.ipynb"), as_version=4)
    cell = next(cell for cell in graded.cells if cell.get("id") == "hostile-html")
    kinds = [kind for output in cell.outputs for kind in output.get("data", {})]
    assert "text/html" in kinds and "application/javascript" not in kinds  # The re-run displayed both.
    for other in graded.cells:
        for output in other.get("outputs", []):
            assert "application/javascript" not in output.get("data", {})
            assert is_harmless_html(output.get("data", {}).get("text/html", ""))
        if other.cell_type == "markdown":
            assert is_harmless_html(render_markdown(other.source)), other.source
    rendered, _ = HTMLExporter().from_notebook_node(graded)
    assert runnable_marker(rendered) == []


@pytest.mark.slow  # Starts nbgrader and a grading kernel.
def test_student_file_names_are_escaped_in_the_report(attacked_course):
    """Does the instructor report show the hostile file names as text, never as markup?"""
    layout, _, _, commands = attacked_course
    assert commands["report"].code == 0, commands["report"].output
    report = (layout.reports_dir / "report.html").read_text(encoding="utf-8")
    assert runnable_marker(report) == []
    escaped = html.escape(HOSTILE_FILE_NAME)
    assert f"{STUDENT}_{escaped}.zip" in report and f"{STUDENT}_rendu.zip:run/{escaped}.py" in report
