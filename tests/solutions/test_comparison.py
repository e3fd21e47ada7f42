"""Tests of solutions/comparison.py: the results table of notebook 05."""

from __future__ import annotations

import types

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from paysages.runs import RunFolder
from paysages import checks
from solutions import comparison
from solutions.comparison import choose_best, model_family, results_table, selection_key, sort_results
from solutions.grading import SELECTION_MEASURES

INPUT_SHAPE = (8, 8, 3)
NUM_CLASSES = 3


def tiny_classifier(seed):
    """An untrained (random) softmax classifier, small enough to build and save in a second."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=INPUT_SHAPE)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Flatten()(x)
    x = layers.Dense(4 + seed, activation="relu")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    return model


def numpy_scores(labels, probabilities):
    """Accuracy, macro-F1 and cross-entropy written out with NumPy only (an independent check)."""
    predictions = probabilities.argmax(axis=1)
    f1_scores = []
    for label in np.union1d(labels, predictions):
        true_positives = np.sum((predictions == label) & (labels == label))
        false_positives = np.sum((predictions == label) & (labels != label))
        false_negatives = np.sum((predictions != label) & (labels == label))
        denominator = 2 * true_positives + false_positives + false_negatives
        f1_scores.append(2 * true_positives / denominator if denominator else 0.0)
    chosen = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {
        "accuracy": float(np.mean(predictions == labels)),
        "macro_f1": float(np.mean(f1_scores)),
        "loss": float(-np.mean(np.log(chosen))),
    }


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A run folder with three saved untrained models and a validation set of 30 images."""
    run = RunFolder(tmp_path_factory.mktemp("run"))
    generator = np.random.default_rng(0)
    data = types.SimpleNamespace(
        x_validation=generator.integers(0, 256, size=(30, *INPUT_SHAPE)).astype("float32"),
        y_validation=np.arange(30) % NUM_CLASSES,
    )
    history = {"loss": [1.2, 1.0], "accuracy": [0.3, 0.4], "val_loss": [1.3, 1.1], "val_accuracy": [0.3, 0.35]}
    run.save_model(tiny_classifier(0), "cnn", history=history, training_seconds=12.5)
    run.save_model(tiny_classifier(1), "reg_dropout", history=history, training_seconds=20.0)
    run.save_model(tiny_classifier(2), "transfer_frozen")  # no history, no timing
    return run, data


def test_model_family_names_the_notebook():
    assert model_family("cnn") == "02 CNN"
    assert model_family("cnn_wide") == "02 CNN"
    assert model_family("reg_early_stopping") == "03 régularisation"
    assert model_family("transfer_finetuned") == "04 transfert"
    assert model_family("cnnx") == "autre"
    assert model_family("regular") == "autre"
    with pytest.raises(ValueError, match="A model name must be a string, got NoneType"):
        model_family(None)


def test_results_table_recomputes_scores_from_the_saved_models(saved_run):
    """Do the table's numbers equal a NumPy computation on the models loaded back from disk?"""
    run, data = saved_run
    table = results_table(run, run.model_names(), data, batch_size=8)
    assert list(table.columns) == [
        "model", "family", "accuracy", "macro_f1", "loss", "num_params", "training_seconds", "epochs",
    ]
    assert sorted(table["model"]) == ["cnn", "reg_dropout", "transfer_frozen"]
    for row in table.to_dict(orient="records"):
        model = run.load_model(row["model"])
        probabilities = np.asarray(model.predict(data.x_validation, verbose=0), dtype=np.float64)
        expected = numpy_scores(data.y_validation, probabilities)
        for key in ("accuracy", "macro_f1", "loss"):
            assert row[key] == pytest.approx(expected[key], abs=1e-6), (row["model"], key)
        assert row["num_params"] == model.count_params()
        assert row["family"] == model_family(row["model"])
    by_name = table.set_index("model")
    assert by_name.loc["cnn", "training_seconds"] == pytest.approx(12.5)
    assert by_name.loc["reg_dropout", "epochs"] == 2
    assert np.isnan(by_name.loc["transfer_frozen", "training_seconds"])
    assert np.isnan(by_name.loc["transfer_frozen", "epochs"])


def test_results_table_is_sorted_by_the_rule(saved_run):
    """Is the table ordered as sort_results orders it, with the chosen model first?"""
    run, data = saved_run
    table = results_table(run, ["transfer_frozen", "cnn", "reg_dropout"], data, batch_size=16)
    assert table.index.tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(table, sort_results(table.sample(frac=1.0, random_state=3)))
    assert choose_best(table) == table["model"].iloc[0]
    assert np.all(np.diff(table["macro_f1"].to_numpy()) <= 0)
    keys = [selection_key(table.iloc[position]) for position in range(len(table))]
    assert keys == sorted(keys)


def test_results_table_only_describes_the_requested_models(saved_run):
    run, data = saved_run
    table = results_table(run, ["reg_dropout"], data, batch_size=8)
    assert table["model"].tolist() == ["reg_dropout"]
    with pytest.raises(ValueError, match="model_names is empty"):
        results_table(run, [], data, batch_size=8)


def results(rows):
    return pd.DataFrame(rows, columns=["model", "accuracy", "macro_f1", "loss", "num_params"])


def test_choose_best_prefers_macro_f1_over_accuracy():
    table = results([("accurate", 0.95, 0.60, 0.2, 10), ("balanced", 0.85, 0.80, 0.5, 10)])
    assert choose_best(table) == "balanced"


def test_choose_best_breaks_a_macro_f1_tie_by_the_lower_loss():
    table = results([("a", 0.9, 0.6, 0.1, 10), ("b", 0.8, 0.8, 0.5, 10), ("c", 0.7, 0.8, 0.4, 10)])
    assert choose_best(table) == "c"


def test_choose_best_breaks_a_macro_f1_and_loss_tie_by_fewer_parameters():
    table = results([("big", 0.8, 0.7, 0.3, 5000), ("small", 0.8, 0.7, 0.3, 300), ("worse", 0.9, 0.65, 0.2, 10)])
    assert choose_best(table) == "small"


def test_choose_best_breaks_a_complete_tie_by_name_whatever_the_row_order():
    rows = [("m2", 0.5, 0.5, 0.7, 4), ("m1", 0.5, 0.5, 0.7, 4), ("m3", 0.5, 0.5, 0.7, 4)]
    assert choose_best(results(rows)) == "m1"
    assert choose_best(results(rows[::-1])) == "m1"


def test_choose_best_does_not_trust_the_row_order_or_index():
    table = results([("x", 0.5, 0.5, 1.0, 1), ("y", 0.6, 0.6, 0.9, 2), ("z", 0.7, 0.7, 0.8, 3)])
    table.index = [7, 3, 5]
    assert choose_best(table) == "z"
    assert type(choose_best(table)) is str
    assert sort_results(table)["model"].tolist() == ["z", "y", "x"]


def test_choose_best_and_sort_results_reject_bad_tables():
    with pytest.raises(ValueError, match="empty"):
        choose_best(results([]))
    with pytest.raises(ValueError, match="lacks the column model"):
        sort_results(pd.DataFrame({"name": ["a"], "accuracy": [0.5]}))


def test_sort_results_leaves_the_table_unchanged():
    table = results([("x", 0.5, 0.5, 1.0, 1), ("y", 0.6, 0.6, 0.9, 2)])
    before = table.copy()
    sort_results(table)
    pd.testing.assert_frame_equal(table, before)


# ---------------------------------------------------------------------------------------------
# The sort keys of notebook 05 (the verdicts of the student's own rule: tests/grading/test_verdicts_nb05.py).


def measures(**values):
    base = {"accuracy": 0.8, "macro_f1": 0.7, "loss": 0.5, "num_params": 1000, "training_seconds": 60.0, "epochs": 10}
    return {**base, **values}


def selection_row(model, values):
    """One row as notebook 05 hands it to selection_key: the name and the validation measures only."""
    return pd.Series({"model": model, **{key: values[key] for key in SELECTION_MEASURES}}, dtype=object)


def test_keys_are_made_plain_with_french_hints():
    row = selection_row("cnn", measures(training_seconds=float("nan")))
    assert checks.sort_key_of(selection_key, row) == (-0.7, 0.5, 1000.0, "cnn")
    assert checks.plain_key(np.float32(0.5), "clé") == (0.5,)
    assert checks.plain_key([True, 2, "a"], "clé") == (1.0, 2.0, "a")
    with pytest.raises(checks.CheckFailed, match="NaN"):
        checks.sort_key_of(lambda row: (row["training_seconds"],), row)
    with pytest.raises(checks.CheckFailed, match="tuple vide"):
        checks.plain_key((), "clé")
    with pytest.raises(checks.CheckFailed, match="nombre réel"):
        checks.plain_key((object(),), "clé")
    with pytest.raises(checks.CheckFailed, match="train_accuracy"):
        checks.sort_key_of(lambda row: (-row.train_accuracy,), row)
    with pytest.raises(checks.CheckFailed, match="un seul argument"):
        checks.sort_key_of(lambda row, table: (0,), row)


def test_the_reference_rule_is_the_course_rule():
    """The reference student keeps the kit's former rule: macro-F1, then loss, then parameters, then name."""
    keys = [selection_key(selection_row(name, measures(**values))) for name, values in (
        ("b", {"macro_f1": 0.8, "loss": 0.4, "num_params": 10}),
        ("a", {"macro_f1": 0.8, "loss": 0.4, "num_params": 10}),
        ("c", {"macro_f1": 0.8, "loss": 0.3, "num_params": 99}),
        ("d", {"macro_f1": 0.9, "loss": 0.9, "num_params": 999, "accuracy": 0.1}),
    )]
    assert sorted(range(4), key=keys.__getitem__) == [3, 2, 1, 0]
    assert comparison.selection_key is selection_key
