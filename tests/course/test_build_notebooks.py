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


# The dataset archive's fingerprint: course.json -> datasets/registry.json -------------------------

SHA256 = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"sha256": "not a digest", "size": 10}, "64 hexadecimal digits"),
        ({"sha256": SHA256[:-1], "size": 10}, "64 hexadecimal digits"),
        ({"sha256": SHA256, "size": 0}, "positive number of bytes"),
        ({"sha256": SHA256, "size": True}, "positive number of bytes"),
        ({"sha256": SHA256, "size": "10"}, "positive number of bytes"),
        ({"sha256": SHA256, "size": None}, "only one of sha256 and size"),
        ({"sha256": None, "size": 10}, "only one of sha256 and size"),
        ([SHA256, 10], "must be an object"),
    ],
)
def test_a_malformed_archive_fingerprint_in_course_json_is_refused(entry, message):
    """Is a fingerprint that cannot be the one `paysages data download` prints refused, naming the key?"""
    with pytest.raises(builder.CourseSettingsError, match=message) as raised:
        builder.dataset_archive_fingerprint({"dataset_archive": entry})
    assert "dataset_archive" in str(raised.value)


@pytest.mark.parametrize("config", [{}, {"dataset_archive": None}, {"dataset_archive": {"sha256": None, "size": None}},
                                    {"dataset_archive": {"sha256": "", "size": None}}])
def test_an_unrecorded_archive_fingerprint_is_none(config):
    """Absent, null or empty: is the fingerprint "not recorded" (downloads then say they are not verified)?"""
    assert builder.dataset_archive_fingerprint(config) == (None, None)


def test_the_archive_fingerprint_is_written_into_the_registry_the_student_package_reads(tmp_path):
    """Does the builder copy course.json's fingerprint into the registry (check mode only reports it), and nothing else?"""
    from paysages.registry import load_registry

    registry = tmp_path / "registry.json"
    committed = builder.REGISTRY_PATH.read_text(encoding="utf-8")
    registry.write_text(committed, encoding="utf-8")
    config = {"dataset_archive": {"sha256": SHA256.upper(), "size": 123456}}

    assert builder.sync_registry(check=True, registry_path=registry, config=config) == [registry]
    assert registry.read_text(encoding="utf-8") == committed  # --check writes nothing.
    assert builder.sync_registry(registry_path=registry, config=config) == [registry]
    assert builder.sync_registry(check=True, registry_path=registry, config=config) == []

    spec = load_registry(registry)["landscapes"]
    assert (spec.archive_sha256, spec.archive_size) == (SHA256, 123456)
    written, before = json.loads(registry.read_text(encoding="utf-8")), json.loads(committed)
    for entry in (written, before):
        entry["landscapes"]["archive"].update(sha256=None, size=None)
    assert written == before

    # Recorded no more: back to null, and the registry is the committed one again.
    builder.sync_registry(registry_path=registry, config={"dataset_archive": {"sha256": None, "size": None}})
    assert registry.read_text(encoding="utf-8") == committed


def test_the_committed_registry_carries_the_fingerprint_of_course_json():
    """Does the student package's registry hold exactly the fingerprint recorded in autograde/course.json?"""
    from autograde.layout import course_config
    from paysages.registry import get_dataset_spec

    spec = get_dataset_spec("landscapes")
    assert (spec.archive_sha256, spec.archive_size) == builder.dataset_archive_fingerprint(course_config())
    assert builder.sync_registry(check=True) == []


def test_the_builder_stops_on_a_malformed_fingerprint_with_one_line(monkeypatch, capsys):
    """Does `make notebooks` refuse a half-recorded fingerprint with one error line, writing nothing?"""
    written = []
    monkeypatch.setattr(builder, "course_config", lambda: {"dataset_archive": {"sha256": SHA256}})
    monkeypatch.setattr(builder, "write_text_atomic", lambda *arguments, **options: written.append(arguments))

    assert builder.main([]) == 2

    error = capsys.readouterr().err
    assert error.startswith("error: dataset_archive in autograde/course.json records only one of sha256 and size")
    assert len(error.splitlines()) == 1 and written == []
