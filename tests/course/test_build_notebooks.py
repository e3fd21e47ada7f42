"""The notebook builder: sources in course/src become nbgrader notebooks in course/."""

import json
import subprocess
import sys

import pytest

from autograde import build_notebooks as builder


@pytest.fixture()
def build_from_text(tmp_path, monkeypatch):
    """Build a notebook from source text placed in a temporary course/src."""
    source_dir = tmp_path / "course" / "src"
    source_dir.mkdir(parents=True)
    monkeypatch.setattr(builder, "REPOSITORY_DIR", tmp_path)
    monkeypatch.setattr(builder, "SOURCE_DIR", source_dir)

    def build(text):
        path = source_dir / "99_example.py"
        path.write_text(text, encoding="utf-8")
        return builder.build_notebook(path)

    return build


def test_solution_body_comes_from_the_solutions_package(build_from_text):
    """Is the function's body (not its signature or docstring) placed in the solution region?"""
    notebook = build_from_text("# %% [solution] id=build_cnn\n#| solution: solutions.cnn.build_cnn\n")
    source = notebook.cells[0].source
    signature, _, rest = source.partition("### BEGIN SOLUTION")
    assert signature.startswith("def build_cnn(input_shape, num_classes):")
    assert '"""Build your own CNN classifier' in signature
    # The reference design is a comment of the body: it stays in the solution region.
    assert "Reference design" not in signature and "Reference design" in rest
    assert "keras.Input" in rest and rest.rstrip().endswith("### END SOLUTION")
    assert notebook.cells[0].metadata.nbgrader["solution"] is True


def test_cell_kinds_get_the_right_nbgrader_metadata(build_from_text):
    """Do tests and answers carry points and locks, and instructions stay read-only?"""
    notebook = build_from_text(
        "# %% [markdown]\n# # Titre\n"
        "# %% [tests] id=test_one points=2\n\"\"\"Vérifie une chose.\"\"\"\nassert True\n"
        "# %% [answer] id=answer_one points=3\n# Réponse de référence.\n"
        "# %% [free]\nx = 1\n"
    )
    markdown, tests, answer, free = notebook.cells
    assert markdown.metadata.nbgrader["locked"] and not markdown.metadata.nbgrader["grade"]
    assert tests.metadata.nbgrader == {
        "grade": True, "grade_id": "test_one", "locked": True, "points": 2,
        "schema_version": 3, "solution": False, "task": False,
    }
    assert answer.cell_type == "markdown" and answer.metadata.nbgrader["solution"]
    assert answer.metadata.nbgrader["points"] == 3
    assert "nbgrader" not in free.metadata
    assert notebook.metadata["paysages"]["generated_from"] == "course/src/99_example.py"


@pytest.mark.parametrize(
    "text, message",
    [
        ("# %% [tests] id=t points=1\nassert True\n", "must open with a docstring"),
        ("# %% [tests] id=t\n\"\"\"Doc.\"\"\"\n", "needs points"),
        ("# %% [solution]\nx = 1\n", "needs id"),
        ("# %% [solution] id=s\nx = 1\n", "needs a solution region"),
        ("# %% [widget] id=w\n", "unknown cell kind"),
        ("# %% [markdown]\nnot a comment\n", "must start with '# '"),
        ("# %% [tests] id=t points=1\n\"\"\"D.\"\"\"\n# %% [tests] id=t points=1\n\"\"\"D.\"\"\"\n", "duplicate cell id"),
    ],
)
def test_malformed_sources_are_rejected_with_file_and_line(build_from_text, text, message):
    """Is every authoring mistake reported with the file and the line?"""
    with pytest.raises(builder.NotebookSourceError, match=message) as error:
        build_from_text(text)
    assert "99_example.py" in str(error.value)


def test_committed_notebooks_are_up_to_date():
    """Does every committed course notebook equal what its source and solutions build?"""
    result = subprocess.run(
        [sys.executable, "-m", "autograde.build_notebooks", "--check"],
        cwd=builder.REPOSITORY_DIR, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_committed_notebooks_have_no_outputs(repository_dir):
    """Are notebooks committed without outputs or execution counts?"""
    notebooks = sorted(repository_dir.glob("course/*.ipynb")) + sorted(repository_dir.glob("autograde/*.ipynb"))
    assert notebooks, "no notebook found"
    for path in notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name


def test_a_definition_directive_copies_the_constant_from_solutions(build_from_text):
    """Is `#| definition: module.NAME` replaced by that module's own assignment, unchanged?"""
    from solutions.regularisation import VARIANTS

    notebook = build_from_text("# %% [code] id=variants\n#| definition: solutions.regularisation.VARIANTS\n")
    source = notebook.cells[0].source
    assert source.startswith("VARIANTS = {") and "#|" not in source
    namespace = {}
    exec(source, namespace)
    assert namespace["VARIANTS"] == VARIANTS


def test_a_definition_directive_naming_no_assignment_is_refused(build_from_text):
    """Does a directive naming a function (not an assignment) stop the build with the target named?"""
    with pytest.raises(builder.NotebookSourceError, match=r"solutions\.cnn\.build_cnn: expected one top-level assignment, found 0"):
        build_from_text("# %% [code] id=wrong\n#| definition: solutions.cnn.build_cnn\n")
