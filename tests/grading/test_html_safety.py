"""autograde/html_safety.py and the SanitizeStudentHtml preprocessor: no student HTML can run."""

from __future__ import annotations

import base64

import nbformat
import pytest

from autograde.html_safety import clean_html, clean_markdown, html_problems, is_harmless_html, render_markdown
from autograde.layout import course_notebooks
from autograde.preprocessors import SanitizeStudentHtml
from tests.helpers.hostile_html import BENIGN_HTML, HOSTILE_HTML, HOSTILE_MARKDOWN, MARKER, forbidden_markup


@pytest.mark.parametrize("payload", HOSTILE_HTML)
def test_no_hostile_payload_survives_cleaning(payload):
    """Is every script, handler, script URL, frame and style trick removed, and was the payload flagged?"""
    cleaned = clean_html(payload)
    assert forbidden_markup(cleaned) == [], cleaned
    assert is_harmless_html(cleaned), html_problems(cleaned)
    assert not is_harmless_html(payload)


@pytest.mark.parametrize("fragment, kept", BENIGN_HTML)
def test_benign_html_is_kept(fragment, kept):
    """Do a table, bold text, an inline PNG and a web link come through cleaning?"""
    assert kept in clean_html(fragment)
    assert is_harmless_html(fragment)


@pytest.mark.parametrize("source", HOSTILE_MARKDOWN)
def test_hostile_markdown_renders_harmless(source):
    """Does a markdown cell with raw HTML or a script link render to nothing that can run?"""
    cleaned = clean_markdown(source)
    assert cleaned != source
    rendered = render_markdown(cleaned)
    assert is_harmless_html(rendered), html_problems(rendered)
    assert forbidden_markup(rendered) == [], rendered


def test_the_course_markdown_is_left_as_written():
    """Is every markdown cell of the course notebooks (tables, code, math, `<classe>`) kept unchanged?"""
    sources = [cell.source for path in course_notebooks() for cell in nbformat.read(str(path), as_version=4).cells
               if cell.cell_type == "markdown"]
    assert len(sources) > 50
    assert [source for source in sources if clean_markdown(source) != source] == []


def _display(data, output_type="display_data", **metadata):
    if output_type == "execute_result":
        return nbformat.v4.new_output("execute_result", data=data, metadata=metadata, execution_count=1)
    return nbformat.v4.new_output("display_data", data=data, metadata=metadata)


def test_preprocessor_removes_scripts_and_keeps_plots_and_text():
    """Are JavaScript, widget views and hostile HTML/SVG/markdown outputs and cells made harmless, plots kept?"""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n fake plot").decode("ascii")
    svg = f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"alert('{MARKER}')\"><circle r='1'/></svg>"
    cell = nbformat.v4.new_code_cell("display(...)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="<b>texte</b> brut\n"),
        _display({"application/javascript": f"alert('{MARKER}')", "text/plain": "<Javascript object>"}),
        _display({"application/javascript": f"alert('{MARKER}')"}),
        _display({"text/html": f"<script>alert('{MARKER}')</script><b>tableau</b>", "text/plain": "t"}),
        _display({"text/html": f"<img src=x onerror=\"alert('{MARKER}')\">", "image/png": png},
                 output_type="execute_result"),
        _display({"image/svg+xml": svg}),
        _display({"image/png": f"{png}\" onerror=\"alert('{MARKER}')", "text/plain": "figure"}),
        _display({"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "widget"}),
        _display({"text/markdown": f"[clic](javascript:alert('{MARKER}'))"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue="<script>", traceback=["ValueError: <script>"]),
    ]
    markdown = nbformat.v4.new_markdown_cell(f"Réponse <img src=x onerror=\"alert('{MARKER}')\"> **gras**")
    notebook = nbformat.v4.new_notebook(cells=[cell, markdown])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    notebook, _ = SanitizeStudentHtml().preprocess(notebook, {})
    outputs = notebook.cells[0].outputs
    assert len(outputs) == 10
    assert outputs[0] == nbformat.v4.new_output("stream", name="stdout", text="<b>texte</b> brut\n")
    assert outputs[1]["data"] == {"text/plain": "<Javascript object>"}
    assert outputs[2]["data"] == {"text/plain": "[sortie retirée par la correction : type application/javascript "
                                                "non affiché]"}
    assert outputs[3]["data"] == {"text/html": "<b>tableau</b>", "text/plain": "t"}
    assert outputs[4]["data"] == {"text/html": "<img src=\"x\">", "image/png": png}
    assert list(outputs[5]["data"]) == ["text/html"]
    assert outputs[5]["data"]["text/html"].startswith("<img src=\"data:image/svg+xml;base64,")
    assert outputs[6]["data"] == {"text/plain": "figure"}
    assert outputs[7]["data"] == {"text/plain": "widget"}
    assert is_harmless_html(render_markdown(outputs[8]["data"]["text/markdown"]))
    assert outputs[9]["traceback"] == ["ValueError: <script>"]  # Text: every page escapes it.
    assert "widgets" not in notebook.metadata
    assert "onerror" not in notebook.cells[1].source and "<strong>gras</strong>" in notebook.cells[1].source
    text = nbformat.writes(notebook)
    assert "application/javascript" not in text.replace("type application/javascript non", "")
    assert f"alert('{MARKER}')" not in text.replace("alert(&#39;", "")
