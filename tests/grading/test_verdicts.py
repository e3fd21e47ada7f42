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
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

from autograde.layout import COURSE_NOTEBOOK_DIR
from autograde.verdicts import nb00, nb01, nb06, nb07, nb08, registry, stage
from autograde.verdicts.cells import CellVerdict, Judgement, passed
from autograde.verdicts.exports import load_exports
from paysages.probes import EXPORT_VARIABLE, export_arrays, export_results, plain_integers
from solutions import errors, features, neighbours, separation
from tests.helpers.sandbox import patched_environ
from tests.helpers.verdicts import (best_model_report, export_like_the_kernel, neighbours_run_exports, probe_exchange,
                                   split_file_export)

NOTEBOOK = nb00.NOTEBOOK
NOTEBOOK_PATH = COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb"
GRADE_IDS = {"test_class_counts", "test_imbalance_ratio"}
NOTEBOOK_01 = nb01.NOTEBOOK
NOTEBOOK_01_PATH = COURSE_NOTEBOOK_DIR / f"{NOTEBOOK_01}.ipynb"
GRADE_IDS_01 = {"test_stratified_split", "test_split_table", "test_split_file", "test_leakage_report"}
# The cells of notebook 01 judged on probes; test_split_file reads the run's split.csv instead.
PROBED_IDS_01 = GRADE_IDS_01 - {"test_split_file"}


def _wrong_imbalance_ratio(counts):
    return 1.0


def _exchange(tmp_path: Path, seed: int, namespace: dict) -> Path:
    """Write the probes of ``seed``, run the hidden tests with ``namespace``; return the export folder."""
    probes, export = tmp_path / "probes", tmp_path / "export"
    registry.write_probes(NOTEBOOK, seed, probes)
    export.mkdir()
    export_like_the_kernel(NOTEBOOK_PATH, namespace, probes, export, GRADE_IDS)
    return export


def _graded_cell_ids(notebook: str) -> set[str]:
    """The grade ids of a course notebook's autograded test cells."""
    import nbformat

    cells = nbformat.read(str(COURSE_NOTEBOOK_DIR / f"{notebook}.ipynb"), as_version=4).cells
    return {cell.metadata["nbgrader"]["grade_id"] for cell in cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"}


def _fractions(result: dict) -> dict[str, float]:
    return {grade_id: verdict["fraction"] for grade_id, verdict in result["verdicts"].items()}


REFERENCE = {"class_counts": separation.class_counts, "imbalance_ratio": separation.imbalance_ratio}


# Probes --------------------------------------------------------------------------------------------
def test_probes_repeat_with_their_seed_and_change_with_another():
    """Does a seed always give the same probes, and another seed other probes (with other class names)?"""
    assert registry.make_probes(NOTEBOOK, 7) == registry.make_probes(NOTEBOOK, 7)
    assert registry.make_probes(NOTEBOOK, 7) != registry.make_probes(NOTEBOOK, 8)
    assert stage.new_seed() != stage.new_seed()


def test_every_autograded_cell_of_every_course_notebook_is_covered():
    """Is every course notebook, the bonus ones included, judged entirely outside the kernel?"""
    from autograde.layout import course_notebooks

    notebooks = [path.stem for path in course_notebooks()]
    assert len(notebooks) == 12
    for notebook in notebooks:
        graded = _graded_cell_ids(notebook)
        assert graded, notebook
        assert registry.covers(notebook, graded), (notebook, graded - registry.registered_grade_ids(notebook))
        # Every verdict judges a graded cell of its notebook: none is left over from a removed cell.
        assert registry.registered_grade_ids(notebook) == graded, notebook


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


# Notebook 01 ---------------------------------------------------------------------------------------
REFERENCE_01 = {"stratified_split": separation.stratified_split, "split_table": separation.split_table,
                "leakage_report": separation.leakage_report}


def _leaking_split(labels, validation_fraction, seed):
    """Every image in train, and a stratified fifth of them in validation as well."""
    _, validation = separation.stratified_split(labels, validation_fraction, seed)
    return np.arange(len(labels), dtype=np.int64), validation


def _unstratified_split(labels, validation_fraction, seed):
    """One draw over all the images, whatever their classes."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("validation_fraction must lie in (0, 1).")
    order = np.random.default_rng(seed).permutation(len(labels))
    num_validation = round(len(labels) * validation_fraction)
    return np.sort(order[num_validation:]), np.sort(order[:num_validation])


def _wrong_ratio_split(labels, validation_fraction, seed):
    """Stratified, but with the complement of the fraction: 80 % of each class in validation."""
    return separation.stratified_split(labels, 1.0 - validation_fraction, seed)


def _accepting_split(labels, validation_fraction, seed):
    """The reference, with a fraction outside (0, 1) clamped instead of refused."""
    return separation.stratified_split(labels, min(max(validation_fraction, 0.05), 0.95), seed)


def _global_state_split(labels, validation_fraction, seed):
    """The reference with the seed shifted by NumPy's global state: the same twice in a row, not after np.random.seed."""
    return separation.stratified_split(labels, validation_fraction, seed + int(np.random.get_state()[1][0]))


def _global_generator_split(labels, validation_fraction, seed):
    """Stratified with NumPy's global generator: the seed argument is ignored."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("validation_fraction must lie in (0, 1).")
    labels = np.asarray(labels)
    validation = []
    for label in np.unique(labels):
        members = np.random.permutation(np.flatnonzero(labels == label))
        validation.extend(members[:round(len(members) * validation_fraction)].tolist())
    validation = np.sort(np.asarray(validation, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), validation), validation


def _fixed_seed_split(labels, validation_fraction, seed):
    """The reference with seed 0, whatever the seed asked for."""
    return separation.stratified_split(labels, validation_fraction, 0)


def _unsorted_split(labels, validation_fraction, seed):
    """The reference's subsets in decreasing order."""
    train, validation = separation.stratified_split(labels, validation_fraction, seed)
    return train[::-1], validation[::-1]


def _list_split(labels, validation_fraction, seed):
    """The reference's split as a list, not a tuple."""
    return list(separation.stratified_split(labels, validation_fraction, seed))


def _unchecked_split_table(relative_paths, class_names_of_files, train_indices, validation_indices):
    """A table without the partition checks: a missing image gets the subset "train"."""
    subsets = ["train"] * len(relative_paths)
    for index in validation_indices:
        subsets[index] = "validation"
    return pd.DataFrame({"path": list(relative_paths), "class": list(class_names_of_files), "subset": subsets})


def _reordered_split_table(relative_paths, class_names_of_files, train_indices, validation_indices):
    """The reference's table with its columns in another order."""
    table = separation.split_table(relative_paths, class_names_of_files, train_indices, validation_indices)
    return table[["subset", "path", "class"]]


def _swapped_subsets_split_table(relative_paths, class_names_of_files, train_indices, validation_indices):
    """The reference's table with train and validation swapped."""
    return separation.split_table(relative_paths, class_names_of_files, validation_indices, train_indices)


def _one_pair_per_image(frame, dataset_dir):
    """Only the first train copy and the first validation copy of each image."""
    pairs, seen = [], set()
    for train_path, validation_path in separation.leakage_report(frame, dataset_dir):
        first_of_train = all(pair[0] != train_path for pair in pairs)
        if validation_path not in seen and first_of_train:
            pairs.append((train_path, validation_path))
            seen.add(validation_path)
    return pairs


def _unsorted_leakage_report(frame, dataset_dir):
    return separation.leakage_report(frame, dataset_dir)[::-1]


def _tuple_leakage_report(frame, dataset_dir):
    return tuple(separation.leakage_report(frame, dataset_dir))


def _listed_pairs_leakage_report(frame, dataset_dir):
    """Pairs in the wrong order: validation path first."""
    return sorted((validation, train) for train, validation in separation.leakage_report(frame, dataset_dir))


def _exchange_01(tmp_path: Path, seed: int, namespace: dict) -> Path:
    """Write notebook 01's probes of ``seed``, run its probed hidden tests; return the export folder."""
    probes, export = tmp_path / "probes", tmp_path / "export"
    registry.write_probes(NOTEBOOK_01, seed, probes)
    export.mkdir()
    export_like_the_kernel(NOTEBOOK_01_PATH, {**REFERENCE_01, **namespace}, probes, export, PROBED_IDS_01)
    return export


def _probed_verdicts_01(tmp_path: Path, seed: int, namespace: dict) -> dict:
    result = registry.judge_notebook(NOTEBOOK_01, seed, _exchange_01(tmp_path, seed, namespace))
    assert result["ignored"] == []
    return {grade_id: result["verdicts"][grade_id] for grade_id in PROBED_IDS_01}


def _random_listing(seed: int) -> tuple[list[str], list[int], list[str]]:
    """Paths, labels and class names of a small made-up data set (a stand-in for the kit's listing)."""
    rng = np.random.default_rng(seed)
    class_names = ["city", "field", "forest", "lake"]
    labels = rng.permutation(np.repeat(np.arange(4), [7, 30, 25, 41]))
    paths = [f"{class_names[label]}/{index:04d}.jpg" for index, label in enumerate(labels)]
    return paths, [int(label) for label in labels], class_names


def _split_file_verdict(export) -> dict:
    judgement = nb01.judge_split_file({}, export)
    return {"fraction": judgement.fraction, "reason": judgement.reason}


def test_plain_integers_keeps_only_one_dimensional_integer_data():
    """Does the kernel's converter give built-in ints for integer arrays and lists, and None otherwise?"""
    assert plain_integers(np.array([3, 1], dtype=np.int32)) == [3, 1]
    assert all(type(item) is int for item in plain_integers(np.arange(3, dtype=np.uint8)))
    assert plain_integers([]) == [] and plain_integers((2, 5)) == [2, 5]
    for value in (np.array([1.0, 2.0]), np.zeros((2, 2), dtype=int), "12", {1, 2}, [1, "a"], 7, None):
        assert plain_integers(value) is None, value


def test_notebook_01_probes_change_with_the_seed():
    """Do notebook 01's probes repeat with their seed, and hold other labels and file names with another?"""
    assert registry.make_probes(NOTEBOOK_01, 5) == registry.make_probes(NOTEBOOK_01, 5)
    first, second = registry.make_probes(NOTEBOOK_01, 5), registry.make_probes(NOTEBOOK_01, 6)
    for grade_id in PROBED_IDS_01:
        assert first[grade_id] != second[grade_id], grade_id
    assert first["test_split_file"] == second["test_split_file"] == {}


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_the_reference_of_notebook_01_earns_every_probed_verdict(tmp_path, seed):
    """Do the reference functions, exported the kernel's way, earn every probed cell of 01 on fresh probes?"""
    verdicts = _probed_verdicts_01(tmp_path, seed, {})
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(PROBED_IDS_01, 1.0)


@pytest.mark.parametrize(("grade_id", "namespace", "reason"), [
    ("test_stratified_split", {"stratified_split": _leaking_split}, "both in train and in validation (leakage)"),
    ("test_stratified_split", {"stratified_split": _unstratified_split}, "not stratified"),
    ("test_stratified_split", {"stratified_split": _wrong_ratio_split}, "wrong ratio"),
    ("test_stratified_split", {"stratified_split": _accepting_split}, "must raise ValueError"),
    ("test_stratified_split", {"stratified_split": _global_state_split}, "global random state"),
    ("test_stratified_split", {"stratified_split": _global_generator_split}, "(not deterministic)"),
    ("test_stratified_split", {"stratified_split": _fixed_seed_split}, "another seed gave the same split"),
    ("test_stratified_split", {"stratified_split": _unsorted_split}, "not sorted"),
    ("test_stratified_split", {"stratified_split": _list_split}, "not a tuple"),
    ("test_split_table", {"split_table": _unchecked_split_table}, "must raise ValueError"),
    ("test_split_table", {"split_table": _reordered_split_table}, "columns are not path, class, subset"),
    ("test_split_table", {"split_table": _swapped_subsets_split_table}, "wrong rows"),
    ("test_leakage_report", {"leakage_report": _one_pair_per_image}, "expected"),
    ("test_leakage_report", {"leakage_report": _unsorted_leakage_report}, "not sorted"),
    ("test_leakage_report", {"leakage_report": _tuple_leakage_report}, "not a list"),
    ("test_leakage_report", {"leakage_report": _listed_pairs_leakage_report}, "expected"),
])
def test_a_wrong_function_of_notebook_01_loses_exactly_its_cell(tmp_path, grade_id, namespace, reason):
    """Does each wrong function lose its own cell, with a reason that says why, and only that cell?"""
    verdicts = _probed_verdicts_01(tmp_path, 31, namespace)
    assert verdicts[grade_id]["fraction"] == 0.0
    assert reason in verdicts[grade_id]["reason"]
    assert all(verdicts[other]["fraction"] == 1.0 for other in PROBED_IDS_01 - {grade_id}), verdicts


def test_a_function_raising_on_one_probe_of_01_loses_its_cell(tmp_path):
    """Is a release stub (NotImplementedError) reported by name?"""
    def stub(*arguments):
        raise NotImplementedError()

    verdicts = _probed_verdicts_01(tmp_path, 32, {"leakage_report": stub, "split_table": stub})
    assert verdicts["test_leakage_report"]["reason"] == "probe 1: leakage_report raised NotImplementedError"
    assert verdicts["test_split_table"]["reason"] == "probe 1: split_table raised NotImplementedError"


def test_answers_exported_for_other_probes_of_01_earn_nothing(tmp_path):
    """Are the reference's answers to another run's probes (a replayed export) worth nothing in 01?"""
    export = _exchange_01(tmp_path, 33, {})
    verdicts = registry.judge_notebook(NOTEBOOK_01, 34, export)["verdicts"]
    assert {grade_id: verdicts[grade_id]["fraction"] for grade_id in PROBED_IDS_01} == dict.fromkeys(PROBED_IDS_01, 0.0)


def test_malformed_exports_of_01_earn_nothing(tmp_path):
    """Do exports of the wrong shape, with huge or non-integer indices, score 0 without crashing the judge?"""
    export = tmp_path / "export"
    export.mkdir()
    probes = registry.make_probes(NOTEBOOK_01, 35)
    huge = {"type": "tuple", "train": [10**30], "validation": [0.5]}
    malformed = {
        "test_stratified_split": {"results": [dict.fromkeys(nb01.SPLIT_CALLS, huge)] * 3,
                                  "bad_fractions": [{"value_error": True}] * 5},
        "test_split_table": {"results": [{"dataframe": True, "columns": ["path", "class", "subset"], "rows": "all"}] * 3,
                             "refusals": [{"value_error": True}] * 3},
        "test_split_file": {"paths": 5, "labels": "many"},
        "test_leakage_report": {"results": [{"type": "list", "pairs": [[1, 2]]}] * 3},
    }
    for grade_id, content in malformed.items():
        (export / f"{grade_id}.json").write_text(json.dumps(content), encoding="utf-8")
    result = registry.judge_notebook(NOTEBOOK_01, 35, export)
    assert _fractions(result) == dict.fromkeys(GRADE_IDS_01, 0.0)
    assert result["verdicts"]["test_split_file"]["reason"] == "the export does not describe the images of the data set"
    assert len(probes["test_stratified_split"]["cases"]) == 3


def test_the_honest_split_file_export_passes():
    """Does split.csv holding the reference's split of the listed images, reproduced by split_table, pass?"""
    paths, labels, class_names = _random_listing(41)
    export = split_file_export(paths, labels, class_names, validation_fraction=0.2, seed=42,
                               stratified_split=separation.stratified_split, split_table=separation.split_table)
    assert _split_file_verdict(export) == {"fraction": 1.0, "reason": "every probe agrees with the reference"}


def _edited_file(edit) -> dict:
    paths, labels, class_names = _random_listing(42)
    export = split_file_export(paths, labels, class_names, validation_fraction=0.2, seed=42,
                               stratified_split=separation.stratified_split, split_table=separation.split_table)
    edit(export)
    return export


def _older_split(export):
    """split.csv holds the reference's split of another seed (an older file kept)."""
    classes = [export["class_names"][label] for label in export["labels"]]
    train, validation = separation.stratified_split(np.asarray(export["labels"]), 0.2, 7)
    table = separation.split_table(export["paths"], classes, train, validation)
    export["file"]["subset"] = table["subset"].tolist()


def _missing_image(export):
    for column in ("path", "class", "subset"):
        export["file"][column] = export["file"][column][:-1]


def _wrong_class(export):
    export["file"]["class"] = export["file"]["class"][1:] + export["file"]["class"][:1]


def _unreadable_file(export):
    export["file"] = {"error": "SplitError"}


def _stub_split_table(export):
    export["table"] = {"error": "NotImplementedError"}


def _split_table_disagrees(export):
    export["table"]["subset"] = ["train"] * len(export["table"]["subset"])


def _unstratified_file(export):
    """The unstratified split, written to split.csv and reproduced by split_table: consistent, but wrong."""
    paths, labels, class_names = export["paths"], export["labels"], export["class_names"]
    export.update(split_file_export(paths, labels, class_names, validation_fraction=0.2, seed=3,
                                    stratified_split=_unstratified_split, split_table=separation.split_table))


@pytest.mark.parametrize(("edit", "reason"), [
    (_older_split, "does not hold the split that stratified_split computes"),
    (_missing_image, "does not list every usable image exactly once"),
    (_wrong_class, "another class"),
    (_unreadable_file, "split.csv could not be read (SplitError)"),
    (_stub_split_table, "split_table raised NotImplementedError"),
    (_split_table_disagrees, "split_table does not reproduce split.csv"),
    (_unstratified_file, "not stratified"),
])
def test_a_wrong_split_file_earns_nothing(edit, reason):
    """Does each way split.csv or the student's functions disagree lose the point, with its reason?"""
    verdict = _split_file_verdict(_edited_file(edit))
    assert verdict["fraction"] == 0.0
    assert reason in verdict["reason"]


@pytest.mark.slow
def test_the_hidden_part_of_test_split_file_exports_the_run_split(tmp_path):
    """On the sample data set, does the real hidden region export split.csv so that the reference passes,
    and an older split kept in split.csv fails?"""
    from autograde.execute import fast_environment, patched_environment
    from paysages.data import scan_and_decode
    from paysages.settings import get_settings
    from paysages.split import write_split

    with patched_environment(fast_environment(tmp_path / "data", tmp_path / "run")):
        settings = get_settings()
        dataset_dir, scan, loaded = scan_and_decode(settings)
        labels = np.asarray(loaded.labels, dtype=np.int64)
        paths = [Path(path).relative_to(dataset_dir).as_posix() for path in loaded.paths]
        classes = [scan.class_names[label] for label in labels]
        verdicts = {}
        for name, seed in (("reference", settings.seed), ("older", settings.seed + 1)):
            train, validation = separation.stratified_split(labels, settings.validation_fraction, seed)
            write_split(separation.split_table(paths, classes, train, validation), settings.split_path, overwrite=True)
            folder = tmp_path / name
            registry.write_probes(NOTEBOOK_01, 51, folder / "probes")
            (folder / "export").mkdir()
            export_like_the_kernel(NOTEBOOK_01_PATH, dict(REFERENCE_01), folder / "probes", folder / "export",
                                   {"test_split_file"})
            verdicts[name] = registry.judge_notebook(NOTEBOOK_01, 51, folder / "export")["verdicts"]["test_split_file"]
    assert verdicts["reference"]["fraction"] == 1.0, verdicts
    assert verdicts["older"]["fraction"] == 0.0
    assert "an older split kept" in verdicts["older"]["reason"]


# Notebook 06 ---------------------------------------------------------------------------------------
NOTEBOOK_06 = nb06.NOTEBOOK
GRADE_IDS_06 = {"test_misclassified_examples", "test_most_confused_pairs", "test_per_class_report"}
REFERENCE_06 = {"misclassified_examples": errors.misclassified_examples,
                "most_confused_pairs": errors.most_confused_pairs, "per_class_report": errors.per_class_report}
# The probes alone: the saved best model's part is judged on made-up reports (best_model_report).
PROBE_JUDGES_06 = {"test_misclassified_examples": nb06.judge_misclassified,
                   "test_most_confused_pairs": nb06.judge_confused_pairs_probes,
                   "test_per_class_report": nb06.judge_per_class_report_probes}


def _probed_verdicts_06(tmp_path: Path, seed: int, namespace: dict) -> dict[str, Judgement]:
    export = probe_exchange(NOTEBOOK_06, seed, {**REFERENCE_06, **namespace}, GRADE_IDS_06, tmp_path)
    probes, exports = registry.make_probes(NOTEBOOK_06, seed), load_exports(export)
    assert exports.ignored == []
    return {grade_id: judge(probes[grade_id], exports.values.get(f"{grade_id}.json"))
            for grade_id, judge in PROBE_JUDGES_06.items()}


def _last_class_wins(labels, probabilities, class_names):
    """A tie between classes goes to the last one (argmax of the reversed columns)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    flipped = probabilities[:, ::-1].argmax(axis=1)
    table = errors.misclassified_examples(labels, probabilities, class_names)
    wins = probabilities.shape[1] - 1 - flipped
    return table.assign(predicted_label=wins[table["index"].to_numpy()]) if len(table) else table


def _ties_by_decreasing_index(labels, probabilities, class_names):
    table = errors.misclassified_examples(labels, probabilities, class_names)
    return table.sort_values(["confidence", "index"], ascending=[False, False]).reset_index(drop=True)


def _true_class_confidence(labels, probabilities, class_names):
    table = errors.misclassified_examples(labels, probabilities, class_names)
    rows = table["index"].to_numpy()
    return table.assign(confidence=np.asarray(probabilities)[rows, np.asarray(labels)[rows]])


def _accepting_lengths(labels, probabilities, class_names):
    size = min(len(labels), len(probabilities))
    return errors.misclassified_examples(np.asarray(labels)[:size], np.asarray(probabilities)[:size], class_names)


def _with_diagonal(matrix, class_names, top=5):
    """The diagonal counted as a confusion."""
    matrix = np.asarray(matrix)
    pairs = sorted(((int(matrix[i, j]), i, j) for i in range(len(matrix)) for j in range(len(matrix)) if matrix[i, j]),
                   key=lambda pair: (-pair[0], pair[1], pair[2]))[:top]
    return pd.DataFrame({"true_class": [class_names[i] for _, i, _ in pairs],
                         "predicted_class": [class_names[j] for _, _, j in pairs],
                         "count": [count for count, _, _ in pairs],
                         "share": [count / matrix[i].sum() for count, i, _ in pairs]},
                        columns=["true_class", "predicted_class", "count", "share"])


def _share_of_predicted_class(matrix, class_names, top=5):
    table = errors.most_confused_pairs(matrix, class_names, top=top)
    totals = np.asarray(matrix).sum(axis=0)
    return table.assign(share=[count / totals[list(class_names).index(name)]
                               for count, name in zip(table["count"], table["predicted_class"])])


def _top_ignored(matrix, class_names, top=5):
    return errors.most_confused_pairs(matrix, class_names, top=10**6)


def _precision_of_one_when_never_predicted(labels, predictions, class_names):
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        labels, predictions, labels=list(range(len(class_names))), zero_division=1)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support},
                        index=pd.Index(list(class_names), name="class"))


def _report_without_class_names(labels, predictions, class_names):
    return errors.per_class_report(labels, predictions, class_names).reset_index(drop=True)


def _list_report(labels, predictions, class_names):
    return errors.per_class_report(labels, predictions, class_names).to_dict(orient="list")


def test_notebook_06_probes_change_with_the_seed():
    """Do notebook 06's probes repeat with their seed and change with another, with ties to break?"""
    assert registry.make_probes(NOTEBOOK_06, 5) == registry.make_probes(NOTEBOOK_06, 5)
    first, second = registry.make_probes(NOTEBOOK_06, 5), registry.make_probes(NOTEBOOK_06, 6)
    for grade_id in GRADE_IDS_06:
        assert first[grade_id] != second[grade_id], grade_id
    # The quantised probabilities hold ties between classes: the reference breaks them to the first class.
    case = first["test_misclassified_examples"]["cases"][0]
    probabilities = np.asarray(case["probabilities"])
    assert np.any(np.sum(probabilities == probabilities.max(axis=1, keepdims=True), axis=1) > 1)


@pytest.mark.parametrize("seed", [61, 62, 63])
def test_the_reference_of_notebook_06_earns_every_probed_verdict(tmp_path, seed):
    """Do the reference functions, exported the kernel's way, agree with every probe of 06?"""
    verdicts = _probed_verdicts_06(tmp_path, seed, {})
    assert {grade_id: verdict.fraction for grade_id, verdict in verdicts.items()} == dict.fromkeys(GRADE_IDS_06, 1.0)


@pytest.mark.parametrize(("grade_id", "namespace", "reason"), [
    ("test_misclassified_examples", {"misclassified_examples": _last_class_wins}, "column predicted_label is wrong"),
    ("test_misclassified_examples", {"misclassified_examples": _ties_by_decreasing_index}, "wrong order"),
    ("test_misclassified_examples", {"misclassified_examples": _true_class_confidence}, "column confidence"),
    ("test_misclassified_examples", {"misclassified_examples": _accepting_lengths}, "must raise ValueError"),
    ("test_most_confused_pairs", {"most_confused_pairs": _with_diagonal}, "diagonal left out"),
    ("test_most_confused_pairs", {"most_confused_pairs": _share_of_predicted_class}, "column share"),
    ("test_most_confused_pairs", {"most_confused_pairs": _top_ignored}, "at most top rows"),
    ("test_per_class_report", {"per_class_report": _precision_of_one_when_never_predicted}, "column precision"),
    ("test_per_class_report", {"per_class_report": _report_without_class_names}, "indexed by their names"),
    ("test_per_class_report", {"per_class_report": _list_report}, "not a pandas.DataFrame"),
])
def test_a_wrong_function_of_notebook_06_loses_exactly_its_cell(tmp_path, grade_id, namespace, reason):
    """Does each wrong function of 06 lose its own cell, with a reason that says why, and only that cell?"""
    verdicts = _probed_verdicts_06(tmp_path, 64, namespace)
    assert verdicts[grade_id].fraction == 0.0
    assert reason in verdicts[grade_id].reason
    assert all(verdicts[other].fraction == 1.0 for other in GRADE_IDS_06 - {grade_id}), verdicts


def test_a_stub_of_06_is_reported_by_name(tmp_path):
    """Is a release stub (NotImplementedError) of 06 reported by name, the refusals included?"""
    def stub(*arguments, **keywords):
        raise NotImplementedError()

    verdicts = _probed_verdicts_06(tmp_path, 65, dict.fromkeys(REFERENCE_06, stub))
    assert verdicts["test_misclassified_examples"].reason == (
        "probe 1: misclassified_examples raised NotImplementedError")
    assert verdicts["test_per_class_report"].reason == "probe 1: per_class_report raised NotImplementedError"


def test_without_a_saved_best_model_the_cells_of_06_that_read_it_earn_nothing(tmp_path):
    """With an empty run folder, do the cells that also judge the saved best model score 0, saying why?"""
    result = registry.judge_notebook(NOTEBOOK_06, 66, probe_exchange(NOTEBOOK_06, 66, dict(REFERENCE_06),
                                                                     GRADE_IDS_06, tmp_path))
    assert _fractions(result) == {"test_misclassified_examples": 1.0, "test_most_confused_pairs": 0.0,
                                  "test_per_class_report": 0.0, "test_errors_best_model": 0.0,
                                  "test_saved_errors": 0.0, "test_grad_cam": 0.0}
    assert result["verdicts"]["test_per_class_report"]["reason"] == (
        "the saved best model could not be evaluated (PrerequisiteError)")
    # The hidden regions of the saved-model cells did not run: nothing was exported for them.
    assert result["verdicts"]["test_saved_errors"]["reason"] == "the test cell exported nothing (it failed or did not run)"


def test_the_reference_on_the_saved_best_model_passes():
    """Do matrix, confusions and report computed the notebook's way on the model's predictions pass?"""
    best = best_model_report(67)
    assert nb06.judge_confused_pairs_best_model(best).fraction == 1.0
    assert nb06.judge_per_class_report_best_model(best).fraction == 1.0


def _shuffled(function):
    """``function`` applied to predictions that are not the saved best model's (an older model)."""
    def wrong(labels, predictions, class_names):
        return function(labels, np.roll(predictions, 1), class_names)
    return wrong


@pytest.mark.parametrize(("best", "judge", "reason"), [
    (best_model_report(68, matrix=_shuffled(lambda labels, predictions, names: metrics.confusion_matrix(
        labels, predictions, labels=np.arange(len(names))))),
     nb06.judge_confused_pairs_best_model, "matrix does not match"),
    (best_model_report(68, confusions=lambda labels, predictions, names: errors.most_confused_pairs(
        metrics.confusion_matrix(labels, predictions, labels=np.arange(len(names))), names, top=3)),
     nb06.judge_confused_pairs_best_model, "confusions (the saved best model)"),
    (best_model_report(68, report=_shuffled(errors.per_class_report)),
     nb06.judge_per_class_report_best_model, "report (the saved best model)"),
    ({"error": "PrerequisiteError"}, nb06.judge_per_class_report_best_model, "could not be evaluated"),
    ({"class_names": ["a"], "labels": [0, 3], "predictions": [0, 0]}, nb06.judge_confused_pairs_best_model,
     "does not describe"),
])
def test_results_that_disagree_with_the_saved_best_model_earn_nothing(best, judge, reason):
    """Do a matrix, confusions or report of other predictions, or no report at all, fail with their reason?"""
    judgement = judge(best)
    assert judgement.fraction == 0.0
    assert reason in judgement.reason


def test_malformed_exports_of_06_earn_nothing(tmp_path):
    """Do exports of the wrong shape score 0 without crashing the judge?"""
    export = tmp_path / "export"
    export.mkdir()
    probes = registry.make_probes(NOTEBOOK_06, 69)
    table = {"dataframe": True, "columns": nb06.ERROR_COLUMNS, "values": {"index": "all"}}
    malformed = {
        "test_misclassified_examples": {"results": [table] * len(probes["test_misclassified_examples"]["cases"]),
                                        "refusals": [{"value_error": True}] * 2},
        "test_most_confused_pairs": {"results": [{"dataframe": True, "columns": nb06.PAIR_COLUMNS,
                                                  "values": dict.fromkeys(nb06.PAIR_COLUMNS, [None])}] * 4,
                                     "best": [1, 2]},
        "test_per_class_report": {"results": 3, "best": {"labels": [[0]]}},
    }
    for grade_id, content in malformed.items():
        (export / f"{grade_id}.json").write_text(json.dumps(content), encoding="utf-8")
    result = registry.judge_notebook(NOTEBOOK_06, 69, export)
    assert _fractions(result) == dict.fromkeys(registry.registered_grade_ids(NOTEBOOK_06), 0.0)
    assert "does not hold one result per probe" in result["verdicts"]["test_per_class_report"]["reason"]
    best = {"matrix": "x", "confusions": None, **best_model_report(70)}
    for matrix in ([[None] * 7] * 7, [["1"] * 7] * 7, [[True] * 7] * 7):
        best["matrix"] = matrix
        assert nb06.judge_confused_pairs_best_model(best).reason == (
            "matrix does not match the saved best model's predictions")


# Notebook 07 ---------------------------------------------------------------------------------------
NOTEBOOK_07 = nb07.NOTEBOOK
GRADE_IDS_07 = {"test_stratified_subset", "test_tsne_embedding"}
REFERENCE_07 = {"stratified_subset": features.stratified_subset, "tsne_embedding": features.tsne_embedding}


def _verdicts_07(tmp_path: Path, seed: int, namespace: dict) -> dict:
    export = probe_exchange(NOTEBOOK_07, seed, {**REFERENCE_07, **namespace}, GRADE_IDS_07, tmp_path)
    result = registry.judge_notebook(NOTEBOOK_07, seed, export)
    assert result["ignored"] == []
    return {grade_id: result["verdicts"][grade_id] for grade_id in GRADE_IDS_07}


def _unstratified_subset(labels, num_samples, seed):
    """A plain random draw among all images: the proportions drift, a rare class disappears."""
    return np.sort(np.random.default_rng(seed).choice(len(labels), size=num_samples, replace=False))


def _unsorted_subset(labels, num_samples, seed):
    return np.random.default_rng(seed).permutation(features.stratified_subset(labels, num_samples, seed))


def _global_state_subset(labels, num_samples, seed):
    """Drawn from NumPy's global generator: another subset at each call."""
    return features.stratified_subset(labels, num_samples, int(np.random.randint(0, 2**31)))


def _fixed_seed_subset(labels, num_samples, seed):
    return features.stratified_subset(labels, num_samples, 0)


def _without_rare_classes(labels, num_samples, seed):
    """Largest remainders only: a class whose share rounds to zero is left out."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * num_samples / len(labels)
    sizes = np.floor(quotas).astype(int)
    for position in np.argsort(-(quotas - sizes), kind="stable")[: num_samples - sizes.sum()]:
        sizes[position] += 1
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == label), size=size, replace=False)
                                   for label, size in zip(classes, sizes)]))


def _accepting_subset(labels, num_samples, seed):
    return features.stratified_subset(labels, min(num_samples, len(labels)), seed)


def _raw_tsne(points, seed, perplexity=30.0):
    """No standardisation: the two dimensions of huge noise decide the distances."""
    if not 0 < perplexity < len(points):
        raise ValueError("perplexity too large")
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def _lowering_perplexity_tsne(points, seed, perplexity=30.0):
    return features.tsne_embedding(points, seed, perplexity=min(perplexity, len(points) - 1))


def _degenerate_tsne(points, seed, perplexity=30.0):
    return np.zeros((len(points), 2))


def test_notebook_07_probes_change_with_the_seed():
    """Do notebook 07's probes repeat with their seed and change with another, a rare class included?"""
    assert registry.make_probes(NOTEBOOK_07, 5) == registry.make_probes(NOTEBOOK_07, 5)
    first, second = registry.make_probes(NOTEBOOK_07, 5), registry.make_probes(NOTEBOOK_07, 6)
    for grade_id in GRADE_IDS_07:
        assert first[grade_id] != second[grade_id], grade_id
    rare = first["test_stratified_subset"]["cases"][2]
    assert rare["rare"]
    counts = np.bincount(rare["labels"])
    assert counts.min() * rare["num_samples"] / counts.sum() < 0.5


@pytest.mark.parametrize("seed", [71, 72])
def test_the_reference_of_notebook_07_earns_every_verdict(tmp_path, seed):
    """Do the reference functions, exported the kernel's way, earn both registered cells of 07?"""
    verdicts = _verdicts_07(tmp_path, seed, {})
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(GRADE_IDS_07, 1.0)


def test_the_reference_map_finds_the_clusters_of_every_run():
    """Are the probes' clusters far enough apart that the reference's map always finds them, well above 80 %?"""
    for seed in range(6):
        probes = registry.make_probes(NOTEBOOK_07, 100 + seed)["test_tsne_embedding"]
        embedding = features.tsne_embedding(np.asarray(probes["points"]), probes["seed"])
        assert nb07.neighbour_agreement(embedding, np.asarray(probes["groups"])) >= 0.9, seed


@pytest.mark.parametrize(("grade_id", "namespace", "reason"), [
    ("test_stratified_subset", {"stratified_subset": _unstratified_subset}, "proportions are not kept"),
    ("test_stratified_subset", {"stratified_subset": _unsorted_subset}, "not sorted"),
    ("test_stratified_subset", {"stratified_subset": _global_state_subset}, "two different subsets"),
    ("test_stratified_subset", {"stratified_subset": _fixed_seed_subset}, "another seed gave the same subset"),
    ("test_stratified_subset", {"stratified_subset": _without_rare_classes}, "probe 3 (first): a class is missing"),
    ("test_stratified_subset", {"stratified_subset": _accepting_subset}, "must raise ValueError"),
    ("test_tsne_embedding", {"tsne_embedding": _raw_tsne}, "standardise the features"),
    ("test_tsne_embedding", {"tsne_embedding": _lowering_perplexity_tsne}, "must raise ValueError"),
    ("test_tsne_embedding", {"tsne_embedding": _degenerate_tsne}, "degenerate"),
])
def test_a_wrong_function_of_notebook_07_loses_exactly_its_cell(tmp_path, grade_id, namespace, reason):
    """Does each wrong function of 07 lose its own cell, with a reason that says why, and only that cell?"""
    verdicts = _verdicts_07(tmp_path, 73, namespace)
    assert verdicts[grade_id]["fraction"] == 0.0
    assert reason in verdicts[grade_id]["reason"], verdicts[grade_id]
    assert all(verdicts[other]["fraction"] == 1.0 for other in GRADE_IDS_07 - {grade_id}), verdicts


def test_malformed_exports_of_07_earn_nothing(tmp_path):
    """Do exports of the wrong shape, with huge or non-integer indices, score 0 without crashing the judge?"""
    export = tmp_path / "export"
    export.mkdir()
    huge = {"indices": [10**30, 0.5]}
    malformed = {
        "test_stratified_subset": {"results": [dict.fromkeys(nb07.SUBSET_CALLS, huge)] * 4,
                                   "refusals": [{"value_error": True}] * 2},
        "test_tsne_embedding": {"map": {"rows": [[1.0, None]] * 3}, "refusals": [{"value_error": True}] * 2},
    }
    for grade_id, content in malformed.items():
        (export / f"{grade_id}.json").write_text(json.dumps(content), encoding="utf-8")
    result = registry.judge_notebook(NOTEBOOK_07, 74, export)
    assert _fractions(result) == dict.fromkeys(registry.registered_grade_ids(NOTEBOOK_07), 0.0)
    assert "finite array of shape" in result["verdicts"]["test_tsne_embedding"]["reason"]
    assert nb07.judge_tsne_embedding({}, ["a list"]).reason == "the export does not hold a map"
    probes = registry.make_probes(NOTEBOOK_07, 74)["test_tsne_embedding"]
    texts = {"map": {"rows": [["1.0", 2.0]] * len(probes["groups"])}, "refusals": [{"value_error": True}] * 2}
    assert "finite array of shape" in nb07.judge_tsne_embedding(probes, texts).reason


# Notebook 08 ---------------------------------------------------------------------------------------
NOTEBOOK_08 = nb08.NOTEBOOK
GRADE_IDS_08 = {"test_nearest_neighbours", "test_neighbours_json", "test_neighbour_class_agreement"}
REFERENCE_08 = {"nearest_neighbours": neighbours.nearest_neighbours,
                "neighbour_class_agreement": neighbours.neighbour_class_agreement}
# The probes alone: the run's part is judged on made-up features (neighbours_run_exports).
PROBE_JUDGES_08 = {"test_nearest_neighbours": nb08.judge_nearest_neighbours_probes,
                   "test_neighbour_class_agreement": nb08.judge_class_agreement_probes}


def _probed_verdicts_08(tmp_path: Path, seed: int, namespace: dict) -> dict[str, Judgement]:
    export = probe_exchange(NOTEBOOK_08, seed, {**REFERENCE_08, **namespace}, set(PROBE_JUDGES_08), tmp_path)
    probes, exports = registry.make_probes(NOTEBOOK_08, seed), load_exports(export)
    assert exports.ignored == []
    return {grade_id: judge(probes[grade_id], exports.values.get(f"{grade_id}.json"))
            for grade_id, judge in PROBE_JUDGES_08.items()}


def _numpy_neighbours(features, query_index, num_neighbours=3):
    """Another correct implementation: every distance with NumPy, the query excluded by its index."""
    distances = np.sqrt(((np.asarray(features) - np.asarray(features)[query_index]) ** 2).sum(axis=1))
    distances[query_index] = np.inf
    order = np.argsort(distances, kind="stable")[:num_neighbours]
    return [int(index) for index in order], [float(distances[index]) for index in order]


def _searched_neighbours(features, query_index, num_neighbours):
    """The reference's search with one neighbour more: (distances, indices) of the query, itself included."""
    search = NearestNeighbors(n_neighbors=num_neighbours + 1, algorithm="ball_tree").fit(features)
    distances, indices = search.kneighbors(np.asarray(features)[[query_index]])
    return distances[0], indices[0]


def _dropping_zero_distances(features, query_index, num_neighbours=3):
    """Removes "the point at distance 0": an exact duplicate of the query goes too."""
    distances, indices = _searched_neighbours(features, query_index, num_neighbours + 2)
    kept = [(int(index), float(distance)) for distance, index in zip(distances, indices) if distance > 0]
    return [index for index, _ in kept[:num_neighbours]], [distance for _, distance in kept[:num_neighbours]]


def _dropping_the_first_result(features, query_index, num_neighbours=3):
    """Removes the first result: a duplicate returned before the query leaves the query among its neighbours."""
    distances, indices = _searched_neighbours(features, query_index, num_neighbours)
    return [int(index) for index in indices[1:]], [float(distance) for distance in distances[1:]]


def _farthest_first(features, query_index, num_neighbours=3):
    indices, distances = neighbours.nearest_neighbours(features, query_index, num_neighbours)
    return indices[::-1], distances[::-1]


def _float_indices(features, query_index, num_neighbours=3):
    indices, distances = neighbours.nearest_neighbours(features, query_index, num_neighbours)
    return [float(index) for index in indices], distances


def _squared_distances(features, query_index, num_neighbours=3):
    indices, distances = neighbours.nearest_neighbours(features, query_index, num_neighbours)
    return indices, [distance**2 for distance in distances]


def _agreement_dropping_the_first_result(features, labels, num_neighbours=3):
    """Removes the first neighbour of each image, whichever it is: wrong around the exact duplicate."""
    labels = np.asarray(labels)
    search = NearestNeighbors(n_neighbors=num_neighbours + 1, algorithm="ball_tree").fit(features)
    _, indices = search.kneighbors(features)
    return np.mean(labels[indices[:, 1:]] == labels[:, None], axis=1)


def _agreement_counting_the_query(features, labels, num_neighbours=3):
    labels = np.asarray(labels)
    _, indices = NearestNeighbors(n_neighbors=num_neighbours, algorithm="ball_tree").fit(features).kneighbors(features)
    return np.mean(labels[indices] == labels[:, None], axis=1)


def test_notebook_08_probes_change_with_the_seed():
    """Do notebook 08's probes repeat with their seed and change with another, with a query's exact duplicates?"""
    assert registry.make_probes(NOTEBOOK_08, 5) == registry.make_probes(NOTEBOOK_08, 5)
    first, second = registry.make_probes(NOTEBOOK_08, 5), registry.make_probes(NOTEBOOK_08, 6)
    for grade_id in PROBE_JUDGES_08:
        assert first[grade_id] != second[grade_id], grade_id
    twins_case = [case for case in first["test_nearest_neighbours"]["cases"] if "twins" in case][0]
    points = np.asarray(twins_case["points"])
    assert all(np.array_equal(points[twin], points[twins_case["twins"][1]]) for twin in twins_case["twins"])
    assert registry.covers(NOTEBOOK_08, GRADE_IDS_08)


@pytest.mark.parametrize("seed", [81, 82, 83])
def test_the_reference_of_notebook_08_earns_every_probed_verdict(tmp_path, seed):
    """Do the reference functions, exported the kernel's way, agree with every probe of 08?"""
    verdicts = _probed_verdicts_08(tmp_path, seed, {})
    assert {grade_id: verdict.fraction for grade_id, verdict in verdicts.items()} == dict.fromkeys(PROBE_JUDGES_08, 1.0)


def test_another_correct_nearest_neighbours_of_08_passes(tmp_path):
    """Is a correct function that is not the reference's (NumPy, stable ties) judged right too?"""
    verdicts = _probed_verdicts_08(tmp_path, 84, {"nearest_neighbours": _numpy_neighbours})
    assert verdicts["test_nearest_neighbours"].fraction == 1.0, verdicts


@pytest.mark.parametrize(("grade_id", "namespace", "reason"), [
    ("test_nearest_neighbours", {"nearest_neighbours": _dropping_zero_distances}, "an exact duplicate of the query"),
    ("test_nearest_neighbours", {"nearest_neighbours": _dropping_the_first_result}, "probe 4 (query"),
    ("test_nearest_neighbours", {"nearest_neighbours": _farthest_first}, "not sorted by increasing distance"),
    ("test_nearest_neighbours", {"nearest_neighbours": _float_indices}, "valid integer indices"),
    ("test_nearest_neighbours", {"nearest_neighbours": _squared_distances}, "direct computation with NumPy"),
    ("test_neighbour_class_agreement", {"neighbour_class_agreement": _agreement_dropping_the_first_result},
     "differ from the reference"),
    ("test_neighbour_class_agreement", {"neighbour_class_agreement": _agreement_counting_the_query},
     "differ from the reference"),
])
def test_a_wrong_function_of_notebook_08_loses_exactly_its_cell(tmp_path, grade_id, namespace, reason):
    """Does each wrong function of 08 lose its own cell, with a reason that says why, and only that cell?"""
    verdicts = _probed_verdicts_08(tmp_path, 85, namespace)
    assert verdicts[grade_id].fraction == 0.0
    assert reason in verdicts[grade_id].reason, verdicts[grade_id]
    assert all(verdicts[other].fraction == 1.0 for other in set(PROBE_JUDGES_08) - {grade_id}), verdicts


def test_without_the_run_every_cell_of_08_earns_nothing(tmp_path):
    """With an empty run folder, does every cell of 08 score 0, saying which of the run's results is missing?"""
    result = registry.judge_notebook(NOTEBOOK_08, 86, probe_exchange(NOTEBOOK_08, 86, dict(REFERENCE_08),
                                                                     GRADE_IDS_08, tmp_path))
    assert _fractions(result) == dict.fromkeys(GRADE_IDS_08, 0.0)
    assert result["verdicts"]["test_nearest_neighbours"]["reason"] == (
        "the run's features could not be read (PrerequisiteError)")
    assert result["verdicts"]["test_neighbours_json"]["reason"].startswith("the data set could not be described")


def test_the_reference_with_the_run_earns_every_verdict_of_08(tmp_path):
    """With the run's features exported as .npz beside the JSON, do the reference's results earn all three cells?"""
    seed = 87
    export = probe_exchange(NOTEBOOK_08, seed, dict(REFERENCE_08), set(PROBE_JUDGES_08), tmp_path)
    runs = neighbours_run_exports(seed, registry.make_probes(NOTEBOOK_08, seed))
    with patched_environ({EXPORT_VARIABLE: str(export)}):
        for grade_id, (part, arrays) in runs.items():
            path = export / f"{grade_id}.json"
            content = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            export_results(grade_id, {**content, **part})
            assert export_arrays(grade_id, **arrays) == export / f"{grade_id}.npz"
    result = registry.judge_notebook(NOTEBOOK_08, seed, export)
    assert _fractions(result) == dict.fromkeys(GRADE_IDS_08, 1.0), result
    assert result["ignored"] == []


def _moved_neighbour(record):
    """The second neighbour replaced by the farthest image listed: not among the nearest."""
    record["neighbours"][1] = {**record["query"], "position": record["query"]["position"] ^ 1, "distance": 0.5}
    return record


def _edited(item_key: str, field: str, value):
    def edit(record):
        item = record["query"] if item_key == "query" else record["neighbours"][0]
        item[field] = value(item[field])
        return record
    return edit


@pytest.mark.parametrize(("edit", "reason"), [
    (_moved_neighbour, "not the nearest ones"),
    (_edited("neighbour", "distance", lambda distance: distance * 1.5 + 0.1), "distances do not match"),
    (_edited("neighbour", "class", lambda name: "city" if name != "city" else "lake"), "its class is wrong"),
    (_edited("query", "path", lambda path: path + ".bak"), "its path does not match"),
    (_edited("query", "index", lambda index: index + 1), "split or its index"),
    (_edited("query", "position", lambda position: 10**6), "outside the data set"),
    (lambda record: {**record, "neighbours": record["neighbours"][:2]}, "its 3 neighbours"),
])
def test_a_wrong_neighbours_json_earns_nothing(edit, reason):
    """Does a neighbours.json that disagrees with the saved best model's features or the data set fail, saying why?"""
    probes = registry.make_probes(NOTEBOOK_08, 88)
    assert nb08.judge_neighbours_json({}, *neighbours_run_exports(88, probes)["test_neighbours_json"]).reason == (
        "neighbours.json agrees with the saved best model's features and the data set")
    export, arrays = neighbours_run_exports(88, probes, record=edit)["test_neighbours_json"]
    judgement = nb08.judge_neighbours_json({}, export, arrays)
    assert judgement.fraction == 0.0
    assert reason in judgement.reason, judgement


def _run_part(exports: dict, grade_id: str):
    """The ``"run"`` part of one cell's made-up export, and its arrays."""
    export, arrays = exports[grade_id]
    return export["run"], arrays


def test_wrong_functions_on_the_run_features_of_08_earn_nothing():
    """Do functions that fail on the run's features (its exact duplicate) lose the run's part, saying where?"""
    probes = registry.make_probes(NOTEBOOK_08, 89)
    honest = neighbours_run_exports(89, probes)
    assert nb08.judge_nearest_neighbours_run(probes["test_nearest_neighbours"],
                                             *_run_part(honest, "test_nearest_neighbours")).fraction == 1.0
    assert nb08.judge_class_agreement_run(*_run_part(honest, "test_neighbour_class_agreement")).fraction == 1.0
    wrong = neighbours_run_exports(89, probes, nearest_neighbours=_squared_distances,
                                   neighbour_class_agreement=_agreement_counting_the_query)
    judgement = nb08.judge_nearest_neighbours_run(probes["test_nearest_neighbours"],
                                                  *_run_part(wrong, "test_nearest_neighbours"))
    assert judgement.fraction == 0.0
    assert judgement.reason.startswith("on notebook 07's features (query ")
    judgement = nb08.judge_class_agreement_run(*_run_part(wrong, "test_neighbour_class_agreement"))
    assert judgement.reason == ("on the features of the whole data set (notebook 07): the fractions differ from the "
                                "reference (is the query removed by its index?)")


def test_malformed_exports_of_08_earn_nothing(tmp_path):
    """Do exports of the wrong shape, pickled or missing arrays, and huge indices score 0 without crashing the judge?"""
    export = tmp_path / "export"
    export.mkdir()
    probes = registry.make_probes(NOTEBOOK_08, 90)
    calls = [[{"indices": [10**30, 0.5], "distances": [None]}] * len(case["calls"])
             for case in probes["test_nearest_neighbours"]["cases"]]
    malformed = {
        "test_nearest_neighbours": {"results": calls},
        "test_neighbours_json": {"record": [], "dataset": {"class_names": "abc"}},
        "test_neighbour_class_agreement": {"results": [{"values": "0.5"}] * 3},
    }
    for grade_id, content in malformed.items():
        (export / f"{grade_id}.json").write_text(json.dumps(content), encoding="utf-8")
    np.savez(export / "test_neighbours_json.npz", features=np.array([[1.0, np.nan], [0.0, 0.0]]))
    result = registry.judge_notebook(NOTEBOOK_08, 90, export)
    assert _fractions(result) == dict.fromkeys(GRADE_IDS_08, 0.0)
    assert "valid integer indices" in result["verdicts"]["test_nearest_neighbours"]["reason"]
    assert result["verdicts"]["test_neighbours_json"]["reason"].startswith(
        "the saved best model's features could not be computed")
    honest = neighbours_run_exports(90, probes)
    run, _ = _run_part(honest, "test_nearest_neighbours")
    assert nb08.judge_nearest_neighbours_run(probes["test_nearest_neighbours"], run, None).reason == (
        "the export does not hold the run's features (saved_features)")
    run, _ = _run_part(honest, "test_neighbour_class_agreement")
    assert nb08.judge_class_agreement_run(run, {"features": np.ones((5, 2))}).reason == (
        "the export does not hold the features and labels of the whole data set")
    export_json, arrays = honest["test_neighbours_json"]
    assert nb08.judge_neighbours_json({}, {**export_json, "dataset": {**export_json["dataset"], "num_train": -1}},
                                      arrays).reason.startswith("the export does not describe the data set")


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
        "notes.txt: not a .json, .npz or .keras export",
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
def test_a_verdict_that_reads_arrays_receives_its_npz(tmp_path, monkeypatch):
    """Does a verdict with reads_arrays get the .npz its cell wrote with export_arrays, counted as read?"""
    seen = {}

    def judge(probes, export, arrays):
        seen.update(export=export, arrays=arrays)
        return passed()

    verdicts = (CellVerdict("test_essai", lambda rng: {}, judge, reads_arrays=True),)
    monkeypatch.setattr(registry, "cell_verdicts", lambda notebook: verdicts if notebook == "99_essai" else ())
    export = tmp_path / "export"
    export.mkdir()
    with patched_environ({EXPORT_VARIABLE: str(export)}):
        export_results("test_essai", {"count": 3})
        assert export_arrays("test_essai", values=np.arange(3)) == export / "test_essai.npz"
    result = registry.judge_notebook("99_essai", 1, export)
    assert result["ignored"] == []
    assert seen["export"] == {"count": 3}
    assert seen["arrays"]["values"].tolist() == [0, 1, 2]
    monkeypatch.delenv(EXPORT_VARIABLE, raising=False)
    assert export_arrays("test_essai", values=np.arange(3)) is None


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


def test_the_background_verdicts_return_the_verdicts_or_the_failure_without_raising(tmp_path):
    """Does the background verdict stage give the trusted process's verdicts, and a failure as its message?"""
    export = _exchange(tmp_path, 23, {**REFERENCE, "imbalance_ratio": _wrong_imbalance_ratio})
    judged = stage.PendingVerdicts(NOTEBOOK, 23, export, tmp_path / "out" / "verdicts.json",
                                   log_path=tmp_path / "out" / "verdicts.log")
    failing = stage.PendingVerdicts("99_unknown", 1, tmp_path, tmp_path / "unknown" / "verdicts.json",
                                    log_path=tmp_path / "unknown" / "verdicts.log")
    verdicts, error = judged.wait()
    assert error is None
    assert _fractions(verdicts) == {"test_class_counts": 1.0, "test_imbalance_ratio": 0.0}
    verdicts, error = failing.wait()
    assert verdicts is None
    assert "the verdict process of 99_unknown failed" in error and "no verdict is registered" in error


def test_the_verdict_process_gets_the_settings_but_neither_the_gradebook_nor_the_run_token():
    """Does the trusted process get the grading settings, without the gradebook's address or the token
    that marks the processes an nbgrader run kills when it ends (a verdict may outlive that run)?"""
    environment = stage.verdict_environment({
        "PAYSAGES_IMAGE_SIZE": "64", "PAYSAGES_GRADEBOOK_URL": "postgresql://grader:secret@db/course",
        "PAYSAGES_GRADING_TOKEN": "0123abcd", "OTHER": "x"})
    assert environment["PAYSAGES_IMAGE_SIZE"] == "64"
    assert not {"PAYSAGES_GRADEBOOK_URL", "PAYSAGES_GRADING_TOKEN", "OTHER"} & set(environment)


def test_each_verdict_module_is_found_from_its_notebook_and_only_from_it():
    """Is every autograde/verdicts/nbNN.py the registry of a course notebook NN_..., and no other name found?"""
    import importlib

    from autograde.layout import course_notebooks

    names = [path.stem for path in course_notebooks()]
    modules = sorted(path.stem for path in Path(registry.__file__).parent.glob("nb[0-9][0-9].py"))
    assert modules, "no verdict module found"
    for module_name in modules:
        module = importlib.import_module(f"autograde.verdicts.{module_name}")
        assert module.NOTEBOOK in names and module.NOTEBOOK.startswith(module_name[2:] + "_")
        assert registry.cell_verdicts(module.NOTEBOOK) == module.VERDICTS
    # Another name with a course notebook's number, a name without a number, a number without a notebook.
    for other in ("00_autre", "00prise_en_main", "prise_en_main", "", "../00_prise_en_main", "12_suite"):
        assert registry.cell_verdicts(other) == (), other


def test_judging_a_notebook_imports_only_its_own_verdicts(tmp_path):
    """Does the trusted process of notebook 00 judge without importing the verdicts of 03 and 07, nor TensorFlow?"""
    import subprocess
    import sys

    export = _exchange(tmp_path, 18, dict(REFERENCE))
    code = ("import json, sys\nfrom pathlib import Path\nfrom autograde.verdicts import registry\n"
            f"result = registry.judge_notebook({NOTEBOOK!r}, 18, Path({str(export)!r}))\n"
            "loaded = sorted(name for name in ('tensorflow', 'keras', 'autograde.verdicts.nb03', "
            "'autograde.verdicts.nb07') if name in sys.modules)\n"
            "print(json.dumps({'fractions': [v['fraction'] for v in result['verdicts'].values()], 'loaded': loaded}))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                               cwd=Path(registry.__file__).parents[2])
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"fractions": [1.0, 1.0], "loaded": []}
