"""The verdict stage without a kernel: probes, the export loader, the judgements, the trusted process.

The kernel's side is played by running the hidden regions of notebook 00's test cells in this
process (``tests/helpers/verdicts.py``); the grading through nbgrader and the sandbox is in
``test_verdict_grading.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from autograde.layout import COURSE_NOTEBOOK_DIR
from autograde.verdicts import nb00, registry, stage
from autograde.verdicts.cells import Judgement
from autograde.verdicts.exports import load_exports
from solutions import separation
from tests.helpers.verdicts import export_like_the_kernel

NOTEBOOK = nb00.NOTEBOOK
NOTEBOOK_PATH = COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb"
GRADE_IDS = {"test_class_counts", "test_imbalance_ratio"}


def _wrong_imbalance_ratio(counts):
    return 1.0


def _exchange(tmp_path: Path, seed: int, namespace: dict) -> Path:
    """Write the probes of ``seed``, run the hidden tests with ``namespace``; return the export folder."""
    probes, export = tmp_path / "probes", tmp_path / "export"
    registry.write_probes(NOTEBOOK, seed, probes)
    export.mkdir()
    export_like_the_kernel(NOTEBOOK_PATH, namespace, probes, export, GRADE_IDS)
    return export


def _fractions(result: dict) -> dict[str, float]:
    return {grade_id: verdict["fraction"] for grade_id, verdict in result["verdicts"].items()}


REFERENCE = {"class_counts": separation.class_counts, "imbalance_ratio": separation.imbalance_ratio}


# Probes --------------------------------------------------------------------------------------------
def test_probes_repeat_with_their_seed_and_change_with_another():
    """Does a seed always give the same probes, and another seed other probes (with other class names)?"""
    assert registry.make_probes(NOTEBOOK, 7) == registry.make_probes(NOTEBOOK, 7)
    assert registry.make_probes(NOTEBOOK, 7) != registry.make_probes(NOTEBOOK, 8)
    assert stage.new_seed() != stage.new_seed()


def test_every_autograded_cell_of_notebook_00_is_covered():
    """Is notebook 00 judged entirely outside the kernel, and notebook 01 not yet?"""
    assert registry.covers(NOTEBOOK, GRADE_IDS)
    assert not registry.covers("01_separation", {"test_stratified_split"})


# Judgements ----------------------------------------------------------------------------------------
def test_the_reference_earns_every_verdict(tmp_path):
    """Do the reference functions, exported the kernel's way, earn both cells in full?"""
    export = _exchange(tmp_path, 11, dict(REFERENCE))
    result = registry.judge_notebook(NOTEBOOK, 11, export)
    assert _fractions(result) == {"test_class_counts": 1.0, "test_imbalance_ratio": 1.0}
    assert result["ignored"] == []


def test_a_wrong_function_loses_exactly_its_cell(tmp_path):
    """Does a wrong imbalance_ratio lose its cell and only its cell?"""
    export = _exchange(tmp_path, 12, {**REFERENCE, "imbalance_ratio": _wrong_imbalance_ratio})
    result = registry.judge_notebook(NOTEBOOK, 12, export)
    assert _fractions(result) == {"test_class_counts": 1.0, "test_imbalance_ratio": 0.0}
    assert "wrong ratio" in result["verdicts"]["test_imbalance_ratio"]["reason"]


def test_answers_exported_for_other_probes_earn_nothing(tmp_path):
    """Are the right answers of another run's probes (a replayed export) worth nothing?"""
    export = _exchange(tmp_path, 13, dict(REFERENCE))
    assert _fractions(registry.judge_notebook(NOTEBOOK, 14, export)) == {
        "test_class_counts": 0.0, "test_imbalance_ratio": 0.0}


def test_a_missing_export_and_a_malformed_one_earn_nothing(tmp_path):
    """Does a cell that exported nothing, or a list where a dict belongs, score 0 without crashing the judge?"""
    export = tmp_path / "export"
    export.mkdir()
    (export / "test_class_counts.json").write_text(json.dumps({"results": [[1, 2]] * 4}), encoding="utf-8")
    result = registry.judge_notebook(NOTEBOOK, 15, export)
    assert _fractions(result) == {"test_class_counts": 0.0, "test_imbalance_ratio": 0.0}
    assert "exported nothing" in result["verdicts"]["test_imbalance_ratio"]["reason"]


def test_a_forged_verdict_file_in_the_export_folder_changes_nothing(tmp_path):
    """Is a verdict file written by the kernel reported as unused and worth nothing?"""
    export = _exchange(tmp_path, 16, {**REFERENCE, "imbalance_ratio": _wrong_imbalance_ratio})
    (export / "verdicts.json").write_text(json.dumps({"verdicts": {"test_imbalance_ratio": {"fraction": 1.0}}}),
                                          encoding="utf-8")
    result = registry.judge_notebook(NOTEBOOK, 16, export)
    assert _fractions(result)["test_imbalance_ratio"] == 0.0
    assert result["ignored"] == ["verdicts.json: read, but no verdict uses it"]


def test_a_judgement_is_a_fraction():
    """Does a verdict outside [0, 1] fail loudly?"""
    with pytest.raises(ValueError, match="fraction between 0 and 1"):
        Judgement(1.5, "too generous")


# The export loader -----------------------------------------------------------------------------------
class _RunsWhenUnpickled:
    """An object whose unpickling creates the file named by ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


def test_the_loader_reads_plain_json_and_plain_arrays(tmp_path):
    """Are a JSON export and an .npz of plain arrays read as data?"""
    (tmp_path / "cell.json").write_text('{"results": [1, 2.5, "x"]}', encoding="utf-8")
    np.savez(tmp_path / "arrays.npz", values=np.arange(4), names=np.array(["a", "b"]))
    exports = load_exports(tmp_path)
    assert exports.ignored == []
    assert exports.values["cell.json"] == {"results": [1, 2.5, "x"]}
    assert exports.values["arrays.npz"]["values"].tolist() == [0, 1, 2, 3]


def test_the_loader_never_unpickles(tmp_path):
    """Is an .npz holding a pickled object refused, its payload never run?"""
    marker = tmp_path / "unpickled"
    export = tmp_path / "export"
    export.mkdir()
    np.savez(export / "test_imbalance_ratio.npz", results=np.array([_RunsWhenUnpickled(str(marker))], dtype=object))
    exports = load_exports(export)
    assert exports.values == {}
    assert exports.ignored == ["test_imbalance_ratio.npz: holds pickled objects (refused: allow_pickle=False)"]
    assert not marker.exists()


def test_the_loader_refuses_oversize_files_and_nan(tmp_path):
    """Are a file over the size cap and a JSON NaN refused, with the reason?"""
    (tmp_path / "big.json").write_text(json.dumps({"results": [0] * 1000}), encoding="utf-8")
    (tmp_path / "nan.json").write_text('{"value": NaN}', encoding="utf-8")
    exports = load_exports(tmp_path, max_file_bytes=1000)
    assert exports.values == {}
    assert exports.ignored == ["big.json: larger than 1000 bytes", "nan.json: JSON holds NaN"]


def test_the_loader_follows_no_link_out_of_the_folder(tmp_path):
    """Are a symbolic link to a file outside, a hard link, a FIFO and a folder left unread?"""
    outside = tmp_path / "outside.json"
    outside.write_text('{"results": "secret of the host"}', encoding="utf-8")
    export = tmp_path / "export"
    export.mkdir()
    (export / "test_class_counts.json").symlink_to(outside)
    os.link(outside, export / "hard.json")
    os.mkfifo(export / "pipe.json")
    (export / "folder.json").mkdir()
    (export / "notes.txt").write_text("not data", encoding="utf-8")
    exports = load_exports(export)
    assert exports.values == {}
    assert exports.ignored == [
        "folder.json: not a regular file",
        "hard.json: a file with several hard links",
        "notes.txt: not a .json or .npz export",
        "pipe.json: not a regular file",
        "test_class_counts.json: a symbolic link, not followed",
    ]


def test_an_export_folder_replaced_by_a_link_is_not_followed(tmp_path):
    """Is an export folder that is itself a link to another folder read as nothing?"""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "test_class_counts.json").write_text('{"results": []}', encoding="utf-8")
    (tmp_path / "export").symlink_to(elsewhere, target_is_directory=True)
    exports = load_exports(tmp_path / "export")
    assert exports.values == {}
    assert exports.ignored == ["the export folder itself: not opened (a symbolic link, not followed)"]


# The trusted process ----------------------------------------------------------------------------------
def test_the_trusted_process_writes_the_verdict_file_and_replaces_a_stale_one(tmp_path):
    """Does `python -m autograde.verdicts judge`, a fresh interpreter, write the verdicts over a planted file?"""
    export = _exchange(tmp_path, 17, {**REFERENCE, "imbalance_ratio": _wrong_imbalance_ratio})
    output = tmp_path / "verdicts" / "00.verdicts.json"
    output.parent.mkdir()
    output.write_text(json.dumps({"verdicts": {"test_imbalance_ratio": {"fraction": 1.0, "reason": "forged"}}}),
                      encoding="utf-8")
    result = stage.run_verdict_process(NOTEBOOK, 17, export, output, log_path=tmp_path / "verdicts.log")
    assert _fractions(result) == {"test_class_counts": 1.0, "test_imbalance_ratio": 0.0}
    assert json.loads(output.read_text(encoding="utf-8")) == result


def test_the_trusted_process_refuses_a_notebook_without_verdicts(tmp_path):
    """Does the verdict stage fail loudly for a notebook that has no registered verdict?"""
    with pytest.raises(stage.VerdictStageError, match="no verdict is registered"):
        stage.run_verdict_process("99_unknown", 1, tmp_path, tmp_path / "out.json", log_path=tmp_path / "log")
