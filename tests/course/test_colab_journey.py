"""A student's Colab journey, 00 to 11, each notebook on its own simulated runtime.

Colab gives each notebook its own runtime, whose /content starts empty; only Google Drive is
shared. The session's course run (``validated_course``, tests/course/conftest.py) validates every
source notebook that way, with the notebooks' default settings: these tests read what it left on
the fake Drive and on each runtime. Declining Drive is tried on a runtime of its own.
"""

from __future__ import annotations

import nbformat
import pytest

from autograde.execute import execute_notebook, fast_environment
from autograde.layout import course_notebooks
from tests.helpers.colab import KIT_VARIABLES, SimulatedColab

pytestmark = pytest.mark.slow


def test_notebooks_chain_across_runtimes_through_drive(validated_course):
    """Does each notebook, on a fresh runtime, find the earlier ones' results on Drive and flush its own?"""
    names = [path.stem for path in course_notebooks()]
    failed = [name for name, result in validated_course["results"].items() if not result["ok"]]
    assert not failed, f"notebooks that failed on their own runtime: {failed}"
    simulated = validated_course["colab"]
    # One mount by the set-up cell and one flush by the last cell, on every runtime.
    assert [call["call"] for call in simulated.calls()] == ["mount", "flush_and_unmount"] * len(names)
    assert all(not call["already"] for call in simulated.calls("mount"))
    run_dir = simulated.kit_folder / "run"
    for produced in ("dataset.json", "split.csv", "models/cnn.keras", "results.json", "best.json",
                     "soutenance/soutenance.slides.html"):
        assert (run_dir / produced).is_file(), f"{produced} is not on Drive"
    # Images are decoded on each runtime's local disk, never on Drive.
    assert not (simulated.kit_folder / "datasets").exists()
    for name in ("00_prise_en_main", "01_separation", "02_cnn"):
        assert "datasets/sample/sample_info.json" in validated_course["local_files"][name], name
    # Nothing went to a local run folder, which the next runtime would not see.
    for name in names:
        stray = [path for path in validated_course["local_files"][name] if path.startswith("paysages_run/")]
        assert not stray, f"{name} wrote to the runtime's local run folder: {stray[:3]}"


def _declined(source_path, folder):
    """A copy of a source notebook whose settings cell says USE_DRIVE = False."""
    notebook = nbformat.read(source_path, as_version=4)
    settings_cells = [cell for cell in notebook.cells if "USE_DRIVE = True" in cell.source]
    assert len(settings_cells) == 1, f"{source_path.name} must have one settings cell with USE_DRIVE"
    settings_cells[0].source = settings_cells[0].source.replace("USE_DRIVE = True", "USE_DRIVE = False")
    copy = folder / source_path.name
    nbformat.write(notebook, copy)
    return copy


def _text_outputs(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))


def test_declining_drive_stops_the_next_notebook_with_a_french_message(tmp_path, monkeypatch):
    """With USE_DRIVE = False on a new runtime, does 02 warn in French and stop, naming 01 and Drive?"""
    simulated = SimulatedColab(tmp_path)
    content = simulated.new_runtime()
    sources = {path.stem: path for path in course_notebooks()}
    copy = _declined(sources["02_cnn"], content)
    for name in KIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    environment = {**fast_environment(None, None), **simulated.environment()}
    result = execute_notebook(copy, copy, environment, timeout=600)
    assert result.error is not None, "02 ran to the end without 01's split"
    assert "01_separation.ipynb" in result.error and "USE_DRIVE = True" in result.error
    outputs = _text_outputs(copy)
    assert "ATTENTION : Google Drive n'est pas utilisé (USE_DRIVE = False)" in outputs
    assert simulated.calls("mount") == []
    # The run folder the warning names is the runtime's own, the one a recycle wipes.
    assert (content / "paysages_run").is_dir()
