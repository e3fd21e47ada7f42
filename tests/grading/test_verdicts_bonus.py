"""The bonus notebooks 09, 10 and 11, judged outside a kernel.

The kernel's side is played by the hidden regions of each notebook's test cells, run in this
process (``tests/helpers/verdicts.py``) with the reference functions or broken ones, and the
notebook variables a cell reads (09's table and maps, 10's network, 11's run files).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

from autograde.verdicts import nb09, nb10, nb11, registry
from solutions import defence, reductions, signatures
from tests.helpers.tables import with_cell
from tests.helpers.verdicts import probe_exchange

# Every case builds Keras models or runs t-SNE on the kernel's side and again on the verdict's.
pytestmark = pytest.mark.slow


def _judged(notebook: str, seed: int, namespace: dict, tmp_path, run_files: dict | None = None) -> dict:
    """grade id -> (fraction, reason) of every registered cell, the run folder holding ``run_files`` (name -> JSON)."""
    run = tmp_path / "run"
    run.mkdir()
    for name, content in (run_files or {}).items():
        (run / f"{name}.json").write_text(json.dumps(content), encoding="utf-8")
    export = probe_exchange(notebook, seed, namespace, registry.registered_grade_ids(notebook), tmp_path)
    result = registry.judge_notebook(notebook, seed, export)
    assert result["ignored"] == []
    return {grade_id: (verdict["fraction"], verdict["reason"]) for grade_id, verdict in result["verdicts"].items()}


def _fractions(verdicts: dict) -> dict:
    return {grade_id: fraction for grade_id, (fraction, _reason) in verdicts.items()}


def test_the_probes_of_every_bonus_notebook_repeat_with_their_seed_and_change_with_another():
    """Are the probes of 09, 10 and 11 drawn per run: the same for one seed, others for another?"""
    for module in (nb09, nb10, nb11):
        assert registry.make_probes(module.NOTEBOOK, 5) == registry.make_probes(module.NOTEBOOK, 5)
        first, second = registry.make_probes(module.NOTEBOOK, 5), registry.make_probes(module.NOTEBOOK, 6)
        assert any(first[grade_id] != second[grade_id] for grade_id in first), module.NOTEBOOK


# Notebook 09 -----------------------------------------------------------------------------------------------
METHODS_09 = ("pca", "tsne")


def _namespace_09(compare=reductions.compare_reductions, edit_table=None, **functions) -> dict:
    """The notebook's variables after compare_09, on clustered made-up features (two fast methods)."""
    rng = np.random.default_rng(9)
    labels = np.repeat(np.arange(3), 30)
    features = rng.normal(size=(90, 10)) + labels[:, None] * 2.0
    table, embeddings = compare(features, labels, methods=METHODS_09, seed=0)
    if edit_table:
        table = edit_table(table)
    return {"reduce_features": reductions.reduce_features, "features": features, "labels": labels,
            "methods": METHODS_09, "table": table, "embeddings": embeddings, **functions}


def _pca_unscaled(features, method, seed=0):
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(np.asarray(features, dtype=np.float64))
    return reductions.reduce_features(features, method, seed)


def _accepting_any_method(features, method, seed=0):
    return reductions.reduce_features(features, method if method in ("pca", "tsne", "umap", "pca_tsne") else "pca",
                                      seed)


def test_the_reference_of_09_earns_both_cells(tmp_path):
    """Do the reference reduce_features and the notebook's table, maps and features earn both cells?"""
    assert _fractions(_judged(nb09.NOTEBOOK, 91, _namespace_09(), tmp_path)) == {
        "test_reduce_features": 1.0, "test_compare_reductions": 1.0}


@pytest.mark.parametrize(("namespace", "grade_id", "reason"), [
    (lambda: _namespace_09(reduce_features=_pca_unscaled), "test_reduce_features", "standardised features"),
    (lambda: _namespace_09(reduce_features=_accepting_any_method), "test_reduce_features", "must raise ValueError"),
    (lambda: _namespace_09(edit_table=with_cell("trustworthiness", 0, 0.999)), "test_compare_reductions",
     "the trustworthiness of pca"),
    (lambda: _namespace_09(edit_table=with_cell("knn_accuracy", 0, 0.5)), "test_compare_reductions", "the k-NN accuracy of pca"),
    (lambda: _namespace_09(edit_table=with_cell("seconds", 0, 0.0)), "test_compare_reductions", "must be measured"),
    (lambda: _namespace_09(edit_table=lambda table: table.iloc[::-1].reset_index(drop=True)), "test_compare_reductions",
     "one row per method"),
])
def test_a_wrong_function_or_table_of_09_loses_exactly_its_cell(tmp_path, namespace, grade_id, reason):
    """Does an unscaled PCA, an accepted unknown method, a typed measure or a reordered table lose its cell only?"""
    verdicts = _judged(nb09.NOTEBOOK, 92, namespace(), tmp_path)
    fraction, why = verdicts.pop(grade_id)
    assert fraction == 0.0 and reason in why, why
    assert set(_fractions(verdicts).values()) == {1.0}


# Notebook 10 -----------------------------------------------------------------------------------------------
def _namespace_10(**functions) -> dict:
    namespace = {"build_dense_network": signatures.build_dense_network,
                 "choose_num_clusters": signatures.choose_num_clusters,
                 "layer_activations": signatures.layer_activations, "layer_signatures": signatures.layer_signatures,
                 "separation_by_layer": signatures.separation_by_layer}
    namespace.update(functions)
    # The notebook's network is built by its own cell: the reference one, whatever function is broken.
    namespace["network"] = signatures.build_dense_network(nb10.NETWORK_INPUTS, (32, 16, 8), 2)
    return namespace


def _unnamed_network(num_inputs, hidden_units=(32, 16, 8), num_classes=2):
    import keras
    from keras import layers

    inputs = keras.Input(shape=(num_inputs,))
    hidden = inputs
    for units in hidden_units:
        hidden = layers.Dense(units, activation="relu")(hidden)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(hidden))


def _smallest_k(activations, candidate_ks=range(2, 9), seed=0):
    _best, scores = signatures.choose_num_clusters(activations, candidate_ks, seed)
    return min(scores), scores


def _first_layer_always(model, inputs, layer_names, batch_size=256):
    first = signatures.layer_activations(model, inputs, ["hidden_1"], batch_size)["hidden_1"]
    return {name: first for name in layer_names}


def _median_signatures(activations, num_clusters, seed=0):
    assignment, _ = signatures.layer_signatures(activations, num_clusters, seed)
    activations = np.asarray(activations, dtype=np.float64)
    return assignment, np.stack([np.median(activations[assignment == cluster], axis=0)
                                 for cluster in range(num_clusters)])


def _always_adds(activations_by_layer, labels, seed=0, candidate_ks=range(2, 9)):
    rows = signatures.separation_by_layer(activations_by_layer, labels, seed, candidate_ks)
    return [dict(row, adds_separation=True) for row in rows]


def test_the_reference_of_10_earns_every_cell(tmp_path):
    """Do the reference functions and the notebook's network, exported the kernel's way, earn all three cells?"""
    assert set(_fractions(_judged(nb10.NOTEBOOK, 101, _namespace_10(), tmp_path)).values()) == {1.0}


@pytest.mark.parametrize(("functions", "grade_id", "reason"), [
    ({"build_dense_network": _unnamed_network}, "test_build_dense_network", "hidden_1, hidden_2"),
    ({"choose_num_clusters": _smallest_k}, "test_choose_num_clusters", "K chosen"),
    ({"layer_activations": _first_layer_always}, "test_choose_num_clusters", "the activations of hidden_"),
    ({"layer_signatures": _median_signatures}, "test_separation_by_layer", "mean activation"),
    ({"separation_by_layer": _always_adds}, "test_separation_by_layer", "adds_separation of"),
])
def test_a_wrong_function_of_10_loses_exactly_its_cell(tmp_path, functions, grade_id, reason):
    """Does an unnamed network, the smallest K, another layer's activations, medians or a constant verdict lose its cell?"""
    verdicts = _judged(nb10.NOTEBOOK, 102, _namespace_10(**functions), tmp_path)
    fraction, why = verdicts.pop(grade_id)
    assert fraction == 0.0 and reason in why, why
    assert set(_fractions(verdicts).values()) == {1.0}


# Notebook 11 -----------------------------------------------------------------------------------------------
RUN_FILES_11 = {
    "results": [{"model": "cnn", "macro_f1": 0.41}, {"model": "reg_baseline", "macro_f1": 0.45},
                {"model": "reg_dropout", "macro_f1": 0.5}, {"model": "transfer_frozen", "macro_f1": 0.66}],
    "best": {"name": "transfer_frozen", "rule": "F1-macro de validation le plus haut."},
}


def _with_class_weights(records, best_name):
    """Counts reg_class_weights as a regularisation variant."""
    messages = defence.key_messages(records, best_name)
    scores = {record["model"]: record["macro_f1"] for record in records}
    variants = [score for name, score in scores.items() if name.startswith("reg_") and name != "reg_baseline"]
    if variants and "reg_baseline" in scores:
        messages["regularisation_gain"] = max(variants) - scores["reg_baseline"]
    return messages


def _run_table_typed(records, best_name):
    """Right on the grader's tables, a number typed for the run's own (it has four rows)."""
    messages = defence.key_messages(records, best_name)
    if len(records) == 4:
        messages["transfer_gain"] = 0.3
    return messages


def test_the_reference_of_11_earns_its_cell(tmp_path):
    """Does the reference key_messages, on the made-up tables and the run's own, earn the cell?"""
    assert _fractions(_judged(nb11.NOTEBOOK, 111, {"key_messages": defence.key_messages}, tmp_path,
                              RUN_FILES_11)) == {"test_key_messages": 1.0}


@pytest.mark.parametrize(("key_messages", "run_files", "reason"), [
    (_with_class_weights, RUN_FILES_11, "reg_class_weights stays out"),
    (_run_table_typed, RUN_FILES_11, "the run's results table: transfer_gain"),
    (defence.key_messages, {}, "results.json and best.json could not be read"),
])
def test_a_wrong_key_messages_or_a_missing_run_table_loses_the_cell(tmp_path, key_messages, run_files, reason):
    """Does counting class weighting, a number typed for the run or a run without results.json lose the cell?"""
    fraction, why = _judged(nb11.NOTEBOOK, 112, {"key_messages": key_messages}, tmp_path, run_files)["test_key_messages"]
    assert fraction == 0.0 and reason in why, why
