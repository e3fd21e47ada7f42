"""A student's Colab journey: notebooks 00, 01, 02, each on its own simulated runtime.

Colab gives each notebook its own runtime, whose /content starts empty; only Google Drive is
shared. Each source notebook (with solutions, fast mode, the sample dataset) runs here in its own
kernel, with the stand-in google.colab of tests/helpers/colab.py and a content folder wiped
before it. Notebook 02 can only pass if it finds notebook 01's split through the fake Drive.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from autograde.execute import execute_notebook
from autograde.layout import course_notebooks
from tests.helpers.colab import KIT_VARIABLES, SimulatedColab

pytestmark = pytest.mark.slow

JOURNEY = ("00_prise_en_main", "01_separation", "02_cnn")


def _outputs(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )


def test_notebooks_chain_across_runtimes_through_drive(tmp_path, monkeypatch):
    """Does 02 find 01's split on Drive, each notebook on a fresh runtime, with Drive flushed at the end?"""
    for name in KIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    simulated = SimulatedColab(tmp_path)
    environment = {
        **simulated.environment(),
        "PAYSAGES_MODE": "fast",
        "PAYSAGES_DATASET": "sample",
        "PAYSAGES_OFFLINE": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    sources = {path.stem: path for path in course_notebooks()}
    outputs = {}
    for name in JOURNEY:
        content = simulated.new_runtime()
        copy = content / f"{name}.ipynb"
        shutil.copyfile(sources[name], copy)
        result = execute_notebook(copy, copy, environment, timeout=600)
        assert result.error is None, f"{name} failed on its own runtime:\n{result.error[-3000:]}"
        outputs[name] = _outputs(copy)
        # The images were decoded on this runtime's local disk, never on Drive.
        assert (content / "datasets" / "sample" / "sample_info.json").is_file()
        print(f"\n[colab journey] {name}: {result.seconds:.0f} s")

    run_dir = simulated.kit_folder / "run"
    assert (run_dir / "dataset.json").is_file()
    assert (run_dir / "split.csv").is_file()
    assert (run_dir / "models" / "cnn.keras").is_file()
    assert not (simulated.kit_folder / "datasets").exists()
    # One mount by the set-up cell and one flush by the last cell, on every runtime.
    assert [call["call"] for call in simulated.calls()] == ["mount", "flush_and_unmount"] * len(JOURNEY)
    assert all(not call["already"] for call in simulated.calls("mount"))
    for name in JOURNEY:
        assert "Tout est enregistré sur Google Drive" in outputs[name], name
    # 02's runtime had no dataset: it was regenerated locally, the split came from Drive.
    assert "est absent ou incomplet" in outputs["02_cnn"]
    assert "introuvable" not in outputs["02_cnn"]
