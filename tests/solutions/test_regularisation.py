"""Tests of solutions/regularisation.py: one generalisation technique at a time (notebook 03)."""

from __future__ import annotations

import ast
import types

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from paysages.runs import RunFolder
from paysages.settings import get_settings
from solutions.cnn import build_cnn
from solutions.evaluation import classification_scores, predict_probabilities
from solutions.grading import check_saved_variant
from solutions.regularisation import (
    IMPROVED,
    REQUIRED_VARIANTS,
    TECHNIQUES,
    VARIANTS,
    architecture_options,
    build_regularised_cnn,
    core_signature,
    evaluated_epoch,
    model_techniques,
    option_techniques,
    summarise_histories,
    train_variant,
    variant_callbacks,
)

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 4

# The technique each variant adds to the baseline (None: the baseline architecture).
EXPECTED_TECHNIQUE = {
    "baseline": None,
    "augmentation": "augmentation",
    "dropout": "dropout",
    "l2": "l2",
    "batch_norm": "batch_norm",
    "early_stopping": None,
}


def layer_configs(model) -> dict[str, tuple[str, dict]]:
    """Each layer's class and configuration (without its name), keyed by layer name."""
    configs = {}
    for entry in model.get_config()["layers"]:
        config = dict(entry["config"])
        config.pop("name", None)
        configs[entry["config"]["name"]] = (entry["class_name"], config)
    return configs


def config_difference(variant, baseline):
    """Layers added, layers removed, and {layer: changed config keys} between two models."""
    variant_configs, baseline_configs = layer_configs(variant), layer_configs(baseline)
    added = {name: variant_configs[name][0] for name in variant_configs.keys() - baseline_configs.keys()}
    removed = set(baseline_configs) - set(variant_configs)
    changed = {}
    for name in variant_configs.keys() & baseline_configs.keys():
        (variant_class, variant_config), (baseline_class, baseline_config) = variant_configs[name], baseline_configs[name]
        assert variant_class == baseline_class, f"layer {name} changed type"
        keys = {key for key in variant_config.keys() | baseline_config.keys()
                if variant_config.get(key) != baseline_config.get(key)}
        if keys:
            changed[name] = keys
    return added, removed, changed


def build_variant(name, input_shape=INPUT_SHAPE):
    return build_regularised_cnn(input_shape, NUM_CLASSES, **architecture_options(VARIANTS[name]))


# The baseline ----------------------------------------------------------------------------------


def test_defaults_build_exactly_the_cnn_of_notebook_02():
    """With every switch off, is the configuration that of build_cnn (model name aside)?"""
    regularised = build_regularised_cnn(INPUT_SHAPE, NUM_CLASSES).get_config()
    reference = build_cnn(INPUT_SHAPE, NUM_CLASSES).get_config()
    regularised.pop("name")
    reference.pop("name")
    assert regularised == reference


def test_variants_are_the_ones_the_brief_asks_for():
    """Are the six required variants there, each asking for its own technique only?"""
    assert list(VARIANTS) == list(REQUIRED_VARIANTS)
    assert VARIANTS["baseline"] == {} and list(VARIANTS["early_stopping"]) == ["patience"]
    assert sorted(TECHNIQUES) == sorted(technique for technique in EXPECTED_TECHNIQUE.values() if technique)
    for name, options in VARIANTS.items():
        expected = {EXPECTED_TECHNIQUE[name]} if EXPECTED_TECHNIQUE[name] else set()
        if name == "early_stopping":
            expected = {"early_stopping"}
        assert option_techniques(options) == expected, name


def test_improved_combines_techniques_first_tried_alone():
    """Does the reference improved model combine at least two techniques, each tried alone?"""
    combined = option_techniques(IMPROVED)
    tried_alone = set().union(*(option_techniques(options) for options in VARIANTS.values()))
    assert len(combined) >= 2
    assert combined <= tried_alone


def test_option_techniques_refuses_an_unknown_option():
    """Is a misspelt option named in the error, rather than silently ignored?"""
    with pytest.raises(ValueError, match="dropout"):
        option_techniques({"dropout": 0.3})
    assert option_techniques({"dropout_rate": 0.0, "l2_factor": 0, "patience": None}) == set()


def test_notebook_holds_the_same_variants(repository_dir):
    """Do the VARIANTS and IMPROVED cells of the built notebook 03 equal the reference choices?"""
    import nbformat

    notebook = nbformat.read(str(repository_dir / "course" / "03_regularisation.ipynb"), as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    tree = ast.parse(source)
    assignments = [
        node for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "VARIANTS" for target in node.targets)
    ]
    assert len(assignments) == 1, "notebook 03 must define VARIANTS exactly once"
    assert ast.literal_eval(assignments[0].value) == VARIANTS
    improved = [
        node for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "IMPROVED" for target in node.targets)
    ]
    assert len(improved) == 1 and ast.literal_eval(improved[0].value) == IMPROVED


# One technique at a time -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_adds_exactly_its_technique(name):
    """Does each variant hold its own technique, no other, on the baseline's architecture?"""
    variant, baseline = build_variant(name), build_variant("baseline")
    technique = EXPECTED_TECHNIQUE[name]
    assert model_techniques(baseline) == set()
    assert model_techniques(variant) == ({technique} if technique else set())
    assert core_signature(variant) == core_signature(baseline)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_differs_from_the_baseline_config_only_by_its_technique(name):
    """On the saved configurations: which layers were added or changed, and how?"""
    added, removed, changed = config_difference(build_variant(name), build_variant("baseline"))
    assert removed == set()
    technique = EXPECTED_TECHNIQUE[name]
    if technique is None:
        assert (added, changed) == ({}, {})
    elif technique == "augmentation":
        assert sorted(added.values()) == sorted(
            ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast"]
        )
        assert changed == {}
    elif technique == "dropout":
        assert set(added.values()) == {"Dropout"} and len(added) == 2
        assert changed == {}
    elif technique == "l2":
        assert added == {}
        assert set(changed) == {"conv1", "conv2", "conv3", "features", "predictions"}
        assert all(keys == {"kernel_regularizer"} for keys in changed.values())
    elif technique == "batch_norm":
        assert sorted(added.values()) == ["Activation"] * 3 + ["BatchNormalization"] * 3
        assert set(changed) == {"conv1", "conv2", "conv3"}
        assert all(keys == {"use_bias", "activation"} for keys in changed.values())


def test_augmentation_comes_first_and_acts_only_in_training():
    """Is augmentation right after the input, the identity at inference and random in training?"""
    augmented, baseline = build_variant("augmentation"), build_variant("baseline")
    first_layers = [type(layer).__name__ for layer in augmented.layers[1:6]]
    assert all(name.startswith("Random") for name in first_layers)
    # Same weights: at inference the augmented model must compute exactly the baseline.
    for layer in baseline.layers:
        if layer.weights:
            augmented.get_layer(layer.name).set_weights(layer.get_weights())
    images = np.random.default_rng(0).integers(0, 256, size=(4, *INPUT_SHAPE)).astype("float32")
    inference = np.asarray(augmented(images, training=False))
    np.testing.assert_allclose(inference, np.asarray(augmented(images, training=False)), atol=1e-6)
    np.testing.assert_allclose(inference, np.asarray(baseline(images, training=False)), atol=1e-6)
    training = np.asarray(augmented(images, training=True))
    assert np.abs(training - inference).max() > 1e-4


def test_dropout_rate_and_l2_factor_are_the_requested_ones():
    """Are the Dropout rates and the L2 factors exactly those passed as arguments?"""
    dropout = build_regularised_cnn(INPUT_SHAPE, NUM_CLASSES, dropout_rate=0.45)
    rates = [layer.rate for layer in dropout.layers if isinstance(layer, layers.Dropout)]
    assert rates == [pytest.approx(0.45)] * 2
    penalised = build_regularised_cnn(INPUT_SHAPE, NUM_CLASSES, l2_factor=3e-3)
    factors = [layer.kernel_regularizer.get_config()["l2"] for layer in penalised.layers
               if isinstance(layer, (layers.Conv2D, layers.Dense))]
    assert factors == [pytest.approx(3e-3)] * 5
    penalised(np.zeros((1, *INPUT_SHAPE), dtype="float32"))
    assert len(penalised.losses) == 5 and all(float(loss) > 0 for loss in penalised.losses)


def test_batch_norm_follows_each_convolution():
    """Is there one BatchNormalization per convolution, before the ReLU, and no conv bias?"""
    model = build_variant("batch_norm")
    names = [layer.name for layer in model.layers]
    for block in (1, 2, 3):
        position = names.index(f"conv{block}")
        assert isinstance(model.layers[position + 1], layers.BatchNormalization)
        assert model.get_layer(f"conv{block}").use_bias is False


@pytest.mark.parametrize(
    "arguments, message",
    [({"dropout_rate": -0.1}, "dropout_rate must lie in"), ({"dropout_rate": 1.0}, "dropout_rate must lie in"),
     ({"l2_factor": -1e-4}, "l2_factor must be non-negative")],
)
def test_bad_arguments_raise_value_error(arguments, message):
    """Is an impossible dropout rate or a negative L2 factor refused?"""
    with pytest.raises(ValueError, match=message):
        build_regularised_cnn(INPUT_SHAPE, NUM_CLASSES, **arguments)


# Early stopping --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_early_stopping_callback(mode, tmp_path):
    """Does early stopping watch val_loss with the variant's patience, restore the best weights?"""
    settings = get_settings(mode, environ={}, run_dir=tmp_path, data_root=tmp_path)
    callbacks = variant_callbacks("early_stopping", settings)
    assert len(callbacks) == 1
    early_stopping = callbacks[0]
    assert isinstance(early_stopping, keras.callbacks.EarlyStopping)
    assert early_stopping.monitor == "val_loss"
    assert early_stopping.restore_best_weights is True
    assert early_stopping.patience == VARIANTS["early_stopping"]["patience"] < settings.num_epochs
    for name in VARIANTS:
        if name != "early_stopping":
            assert variant_callbacks(name, settings) == []
    with pytest.raises(ValueError, match="mixup"):
        variant_callbacks("mixup", settings)


@pytest.mark.parametrize("patience", [0, -1, 2.5, True, "3"])
def test_a_patience_that_is_not_a_positive_integer_is_refused(patience, tmp_path, monkeypatch):
    """Is a patience below 1, or not an integer, refused?"""
    settings = get_settings("fast", environ={}, run_dir=tmp_path, data_root=tmp_path)
    monkeypatch.setitem(VARIANTS, "patient", {"patience": patience})
    with pytest.raises(ValueError, match="patience of 'patient' must be a positive integer"):
        variant_callbacks("patient", settings)


def test_a_patience_as_long_as_the_training_is_allowed(tmp_path, monkeypatch):
    """Grading trains fewer epochs than a student's run: does a long patience still give its callback?"""
    settings = get_settings("fast", environ={}, num_epochs=3, run_dir=tmp_path, data_root=tmp_path)
    monkeypatch.setitem(VARIANTS, "patient", {"patience": 3})
    (callback,) = variant_callbacks("patient", settings)
    assert callback.patience == 3


# The summary table -----------------------------------------------------------------------------


def test_summarise_histories_keeps_best_values_and_best_loss_epoch():
    """Are the best accuracy, the best loss and its epoch (from 1) read from each history?"""
    histories = {
        "baseline": {"val_accuracy": [0.2, 0.6, 0.5], "val_loss": [1.5, 1.1, 1.2], "loss": [2.0, 1.0, 0.5]},
        # Best accuracy and lowest loss at different epochs, and a tie on the loss.
        "dropout": {"val_accuracy": [0.3, 0.4, 0.7, 0.6], "val_loss": [1.4, 0.9, 1.0, 0.9]},
    }
    table = summarise_histories(histories)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["baseline", "dropout"]
    assert table.loc["baseline"].to_dict() == {"best_val_accuracy": 0.6, "best_val_loss": 1.1, "best_epoch": 2, "epochs": 3}
    assert table.loc["dropout"].to_dict() == {"best_val_accuracy": 0.7, "best_val_loss": 0.9, "best_epoch": 2, "epochs": 4}


def test_evaluated_epoch_is_best_for_early_stopping_and_last_otherwise():
    """Which epoch's weights does a saved variant hold?"""
    history = {"val_loss": [1.0, 0.7, 0.8, 0.7, 0.9]}
    assert evaluated_epoch(history, restores_best_weights=True) == 1
    assert evaluated_epoch(history, restores_best_weights=False) == 4


# Training (slow) -------------------------------------------------------------------------------


@pytest.mark.slow
def test_train_variant_is_fair_saved_and_recomputable(tmp_path, monkeypatch):
    """Do two variants start alike (same seed), and does each saved model match its history?"""
    settings = get_settings(
        "fast", environ={}, image_size=32, num_epochs=2, batch_size=16,
        run_dir=tmp_path / "run", data_root=tmp_path / "data",
    )
    rng = np.random.default_rng(1)
    # Two easy classes: dark and bright images, so that the network has something to learn.
    labels = np.repeat([0, 1, 0, 1], 12)
    images = rng.integers(0, 120, size=(48, 32, 32, 3)).astype("uint8") + (labels * 120)[:, None, None, None].astype("uint8")
    data = types.SimpleNamespace(
        x_train=images[:36], y_train=labels[:36], x_validation=images[36:], y_validation=labels[36:],
        class_names=("dark", "bright"),
    )
    run = RunFolder(settings.run_dir)
    baseline_signature = core_signature(build_regularised_cnn((32, 32, 3), 2))
    # Two epochs only: early stopping needs a patience below that.
    monkeypatch.setitem(VARIANTS, "early_stopping", {"patience": 1})
    for name in ("baseline", "early_stopping", "dropout"):
        model, history = train_variant(name, data, settings, run)
        assert isinstance(model, keras.Model)
        saved_history = run.load_history(f"reg_{name}")
        assert set(saved_history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert run.model_meta(f"reg_{name}")["training_seconds"] > 0
        saved = run.load_model(f"reg_{name}")
        accuracy = classification_scores(data.y_validation, predict_probabilities(saved, data.x_validation))["accuracy"]
        restores_best = name == "early_stopping"
        assert accuracy == pytest.approx(saved_history["val_accuracy"][evaluated_epoch(saved_history, restores_best)], abs=1e-6)
        assert model_techniques(saved) == ({EXPECTED_TECHNIQUE[name]} if EXPECTED_TECHNIQUE[name] else set())
        # The hidden tests' check of a saved variant accepts each one with its own options...
        check_saved_variant(run, data, settings, name, VARIANTS[name], baseline_signature)
    # ... and refuses a model that is not what its options say.
    with pytest.raises(AssertionError, match="reg_dropout contient"):
        check_saved_variant(run, data, settings, "dropout", {"l2_factor": 1e-3}, baseline_signature)
    baseline, early = run.load_history("reg_baseline"), run.load_history("reg_early_stopping")
    # Same seed, same architecture, same data: the first epoch must be the same.
    assert early["loss"][0] == pytest.approx(baseline["loss"][0], abs=1e-5)
    assert early["val_loss"][0] == pytest.approx(baseline["val_loss"][0], abs=1e-5)
    assert len(run.load_history("reg_dropout")["loss"]) == settings.num_epochs


def test_balanced_class_weights_match_scikit_learn():
    """Do the class weights equal scikit-learn's 'balanced' weights, 0 for an absent class?"""
    from sklearn.utils.class_weight import compute_class_weight

    from solutions.regularisation import balanced_class_weights

    labels = np.array([0] * 30 + [1] * 10 + [2] * 5)
    weights = balanced_class_weights(labels, 3)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert [weights[index] for index in range(3)] == pytest.approx(list(expected))
    assert weights[2] > weights[1] > weights[0]
    with_absent_class = balanced_class_weights(labels, 4)
    assert with_absent_class[3] == 0.0
    assert with_absent_class[0] == pytest.approx(45 / (4 * 30))
    with pytest.raises(ValueError, match=r"Labels must lie in \[0, 3\)"):
        balanced_class_weights(np.array([0, 5]), 3)
    with pytest.raises(ValueError, match="labels is empty"):
        balanced_class_weights(np.array([], dtype=int), 3)
