"""Notebook 07's cells on models (feature_extractor, features.npz), judged from the rebuilt models.

The kernel's side is played by the hidden regions of notebook 07's test cells, run in this process
(``tests/helpers/verdicts.py``) on a fast-mode run folder with a small saved CNN whose last Dense
layer follows a Dropout; the verdict process rebuilds the models and decodes the validation images itself.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from autograde.verdicts import nb07, registry
from solutions import features
from tests.helpers.saved_runs import saved_run_folder

NOTEBOOK = nb07.NOTEBOOK
SEED = 73
GRADE_IDS = {"test_feature_extractor", "test_features_saved"}

pytestmark = pytest.mark.slow


def _small_cnn(input_shape, num_classes: int):
    """An untrained CNN with a Dense representation and a Dropout before its classifier."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(12, activation="relu", name="features")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A fast-mode run folder with one saved CNN named by best.json, its split and its data."""
    def save_models(run, settings, data):
        run.save_model(_small_cnn(settings.image_shape, len(data.class_names)), "cnn")
        run.save_json("best", {"name": "cnn", "rule": "F1-macro de validation le plus haut."})

    return saved_run_folder(tmp_path_factory.mktemp("nb07"), save_models)


def _saved_arrays(saved_run) -> dict:
    """arrays/features.npz as notebook 07 writes it, with the reference functions."""
    data, settings = saved_run["data"], saved_run["settings"]
    model = saved_run["run"].load_model("cnn", compile=False)
    count = min(settings.tsne_samples, len(data.y_validation))
    indices = features.stratified_subset(data.y_validation, count, settings.seed)
    values = features.extract_features(model, data.x_validation[indices], settings.batch_size)
    return {"features": values, "labels": data.y_validation[indices], "indices": indices,
            "embedding": features.tsne_embedding(values, settings.seed)}


def _judged(saved_run, tmp_path, *, edit_arrays=None, **functions) -> dict:
    """Write features.npz (edited), run the hidden regions of both cells the notebook's way, then judge them."""
    from autograde.execute import patched_environment
    from autograde.layout import COURSE_NOTEBOOK_DIR
    from tests.helpers.verdicts import export_like_the_kernel

    with patched_environment(saved_run["environment"]):
        arrays = _saved_arrays(saved_run)
        if edit_arrays:
            edit_arrays(arrays, saved_run["data"])
        saved_run["run"].save_arrays("features", **arrays)
        namespace = {"feature_extractor": features.feature_extractor, "extract_features": features.extract_features,
                     **functions}
        probes, export = tmp_path / "probes", tmp_path / "export"
        registry.write_probes(NOTEBOOK, SEED, probes)
        export.mkdir()
        export_like_the_kernel(COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb", namespace, probes, export, GRADE_IDS)
        result = registry.judge_notebook(NOTEBOOK, SEED, export)
    assert result["ignored"] == []
    return {grade_id: result["verdicts"][grade_id] for grade_id in GRADE_IDS}


def test_the_reference_extractor_and_saved_features_earn_both_cells(saved_run, tmp_path):
    """Do the reference functions and the notebook's features.npz, judged from the rebuilt models, earn both cells?"""
    verdicts = _judged(saved_run, tmp_path)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(GRADE_IDS, 1.0), \
        verdicts


def _through_the_dropout(model):
    """The Dropout's output: right at inference, random in training mode."""
    dropout = [layer for layer in model.layers if isinstance(layer, layers.Dropout)][-1]
    return keras.Model(model.input, dropout.output)


def _probabilities(model):
    return keras.Model(model.input, model.output)


def _float64_features(model, images, batch_size=64):
    return features.extract_features(model, images, batch_size).astype(np.float64)


def _pooled_features(model, images, batch_size=64):
    """The pooled convolutions, one layer too early: not the input of the last Dense layer."""
    pooled = [layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D)][-1]
    return np.asarray(keras.Model(model.input, pooled.output).predict(images, verbose=0), dtype=np.float32)


def _refusing(model):
    raise ValueError("no Dense layer")


@pytest.mark.parametrize(("functions", "reason"), [
    ({"feature_extractor": _through_the_dropout}, "must stop before the Dropout"),
    ({"feature_extractor": _probabilities}, "not the input of the last Dense layer"),
    ({"extract_features": _float64_features}, "must return a float32 NumPy array"),
    ({"extract_features": _pooled_features}, "does not return the penultimate representation"),
    ({"feature_extractor": _refusing}, "feature_extractor or extract_features raised ValueError"),
])
def test_a_wrong_extractor_loses_test_feature_extractor(saved_run, tmp_path, functions, reason):
    """Does an extractor through the Dropout, of the probabilities, float64 or pooled features, or a refusal lose the cell?"""
    verdict = _judged(saved_run, tmp_path, **functions)["test_feature_extractor"]
    assert verdict["fraction"] == 0.0 and reason in verdict["reason"], verdict


def test_a_probe_model_that_is_not_the_grader_s_is_refused():
    """Is a probe model exported without its drawn Dropout, Dense sizes or nested base caught before any comparison?"""
    spec = registry.make_probes(NOTEBOOK, SEED)["test_feature_extractor"]["models"][0]
    inputs = keras.Input((nb07.PROBE_IMAGE_SIDE, nb07.PROBE_IMAGE_SIDE, 3))
    hidden = layers.GlobalAveragePooling2D()(layers.Conv2D(spec["filters"], 3)(inputs))
    hidden = layers.Dense(spec["units"])(hidden)
    without_dropout = keras.Model(inputs, layers.Dense(spec["num_classes"], activation="softmax")(hidden))
    assert "no Dropout of the drawn rate" in nb07._probe_model_problem(without_dropout, spec)
    hidden = layers.Dropout(spec["dropout"])(hidden)
    with_dropout = keras.Model(inputs, layers.Dense(spec["num_classes"], activation="softmax")(hidden))
    assert nb07._probe_model_problem(with_dropout, spec) is None
    assert "not where the settings put them" in nb07._probe_model_problem(with_dropout, {**spec, "kind": "nested_base"})
    assert "Dense layers are not the drawn ones" in nb07._probe_model_problem(with_dropout,
                                                                                {**spec, "units": spec["units"] + 1})


def _noise_features(arrays, data):
    arrays["features"] = np.random.default_rng(0).normal(size=arrays["features"].shape).astype(np.float32)


def _repeated_index(arrays, data):
    arrays["indices"] = arrays["indices"].copy()
    arrays["indices"][1] = arrays["indices"][0]
    arrays["labels"] = data.y_validation[arrays["indices"]]


def _shifted_labels(arrays, data):
    arrays["labels"] = (arrays["labels"] + 1) % len(data.class_names)


def _random_map(arrays, data):
    arrays["embedding"] = np.random.default_rng(1).normal(size=arrays["embedding"].shape)


def _missing_indices(arrays, data):
    del arrays["indices"]


@pytest.mark.parametrize(("edit_arrays", "reason"), [
    (_noise_features, "differ from those recomputed with the saved best model"),
    (_repeated_index, "repeat or fall outside"),
    (_shifted_labels, "labels must be data.y_validation[indices]"),
    (_random_map, "keeps the neighbours less well"),
    (_missing_indices, "indices must hold"),
])
def test_a_features_file_that_does_not_match_the_saved_model_loses_test_features_saved(saved_run, tmp_path,
                                                                                       edit_arrays, reason):
    """Do forged features, a repeated index, wrong labels, a random map or a missing array lose the cell?"""
    verdicts = _judged(saved_run, tmp_path, edit_arrays=edit_arrays)
    assert verdicts["test_feature_extractor"]["fraction"] == 1.0
    verdict = verdicts["test_features_saved"]
    assert verdict["fraction"] == 0.0 and reason in verdict["reason"], verdict
