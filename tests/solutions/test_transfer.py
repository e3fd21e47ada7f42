"""Tests of solutions/transfer.py: a frozen MobileNetV2 base, then fine-tuning (notebook 04)."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from keras import layers

from paysages.data.painters import render_scene
from solutions.cnn import compile_classifier
from solutions.transfer import (
    base_call_training_argument,
    batch_norm_statistics,
    build_transfer_model,
    find_base,
    fine_tuning_boundaries,
    first_convolution,
    preprocessing_output,
    same_architecture,
    trainable_base_layers,
    unfreeze_top_layers,
)

INPUT_SHAPE = (48, 48, 3)
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def real_images() -> np.ndarray:
    """Rendered sample landscapes: real pixel values, one image per class, 48 pixels."""
    names = ("city", "field", "forest", "lake", "mountain", "ocean", "road")
    images = [np.asarray(render_scene(name, np.random.default_rng(index), 48).convert("RGB"))
              for index, name in enumerate(names)]
    return np.stack(images).astype("float32")


def new_model(**arguments):
    keras.utils.set_random_seed(0)
    return build_transfer_model(INPUT_SHAPE, NUM_CLASSES, weights=None, **arguments)


def to_numpy(variable) -> np.ndarray:
    return np.array(keras.ops.convert_to_numpy(variable), copy=True)


def one_training_step(model, images, seed=0):
    labels = np.random.default_rng(seed).integers(0, NUM_CLASSES, size=len(images))
    model.train_on_batch(images, labels)


# The model -------------------------------------------------------------------------------------


def test_preprocessing_equals_mobilenet_v2_preprocess_input(real_images):
    """Does the model's own preprocessing compute preprocess_input, on real and extreme pixels?"""
    model = new_model()
    every_value = np.broadcast_to(np.arange(256, dtype="float32")[:, None, None], (256, 48, 3))
    probe = np.concatenate([real_images, every_value[None, :48], every_value[None, 208:]])
    expected = keras.applications.mobilenet_v2.preprocess_input(probe.copy())
    np.testing.assert_allclose(preprocessing_output(model, probe), expected, atol=1e-6)
    # The ends of the pixel range land on the ends of [-1, 1].
    ends = preprocessing_output(model, np.stack([np.zeros(INPUT_SHAPE), np.full(INPUT_SHAPE, 255.0)]))
    assert ends[0].max() == pytest.approx(-1.0) and ends[1].min() == pytest.approx(1.0)


@pytest.mark.parametrize("architecture", ["MobileNetV2", "EfficientNetB0", "ResNet50V2"])
def test_each_base_a_student_may_choose_gets_its_own_preprocessing(architecture, real_images):
    """For each base of the choice, is the base that network, frozen, and fed what its preprocess_input gives?"""
    from paysages.pretrained import preprocess_input_of

    model = build_transfer_model(INPUT_SHAPE, NUM_CLASSES, architecture=architecture, weights=None)
    base = find_base(model)
    assert same_architecture(base, architecture, INPUT_SHAPE)
    assert not same_architecture(base, "MobileNetV2" if architecture != "MobileNetV2" else "ResNet50V2", INPUT_SHAPE)
    assert base.trainable_weights == [] and base_call_training_argument(model) is False
    expected = np.asarray(preprocess_input_of(architecture)(real_images.copy()))
    np.testing.assert_allclose(preprocessing_output(model, real_images), expected, atol=1e-5)


@pytest.mark.parametrize("architecture", ["MobileNetV2", "EfficientNetB0", "ResNet50V2"])
def test_fine_tuning_boundaries_catch_an_off_by_one(architecture):
    """At the counts the hidden test uses, does unfreezing one layer more or fewer change the trainable layers?"""
    model = compile_classifier(build_transfer_model(INPUT_SHAPE, NUM_CLASSES, architecture=architecture, weights=None), 1e-3)
    base = find_base(model)
    for count in fine_tuning_boundaries(base):
        layer_lists = []
        for shifted in (count - 1, count, count + 1):
            unfreeze_top_layers(model, shifted, 1e-4)
            layer_lists.append(trainable_base_layers(model))
        assert layer_lists[0] != layer_lists[1] or layer_lists[1] != layer_lists[2], (architecture, count)
    assert first_convolution(base).name in [layer.name for layer in base.layers[:5]]


def test_an_architecture_outside_the_choice_is_refused():
    """Is a base the notebook does not offer refused with a ValueError naming it?"""
    with pytest.raises(ValueError, match="got 'VGG16'"):
        build_transfer_model(INPUT_SHAPE, NUM_CLASSES, architecture="VGG16", weights=None)


def test_preprocess_input_changes_its_argument_in_place():
    """Why the test above passes a copy: preprocess_input overwrites a float NumPy array."""
    pixels = np.full((1, 2, 2, 3), 255.0, dtype="float32")
    keras.applications.mobilenet_v2.preprocess_input(pixels)
    assert pixels.max() == pytest.approx(1.0)


def test_model_shape_head_and_frozen_mobilenet_base():
    """Right inputs and outputs, a MobileNetV2 base named 'base' with no trainable weight?"""
    model = new_model()
    assert tuple(model.input_shape[1:]) == INPUT_SHAPE and tuple(model.output_shape[1:]) == (NUM_CLASSES,)
    base = model.get_layer("base")
    assert base is find_base(model)
    assert isinstance(base, keras.Model) and len(base.layers) == 154
    assert base.trainable is False and base.trainable_weights == [] and trainable_base_layers(model) == []
    # Only the head learns: the Dense kernel and bias.
    assert sorted(weight.path for weight in model.trainable_weights) == ["predictions/bias", "predictions/kernel"]
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Rescaling", "Functional", "GlobalAveragePooling2D", "Dropout", "Dense"
    ]
    assert model.get_layer("dropout").rate == pytest.approx(0.2)
    probabilities = np.asarray(model(np.zeros((2, *INPUT_SHAPE), "float32")))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_base_is_called_with_training_false():
    """Was the base called with training=False when the model was built?"""
    assert base_call_training_argument(new_model()) is False


def test_frozen_model_keeps_base_weights_and_batch_norm_statistics(real_images):
    """After a training step of the frozen model: base untouched (statistics too), head changed?"""
    model = compile_classifier(new_model(), 1e-2)
    statistics = batch_norm_statistics(model)
    base_weights = find_base(model).get_weights()
    head_bias = to_numpy(model.get_layer("predictions").bias)
    one_training_step(model, real_images)
    for before, after in zip(statistics, batch_norm_statistics(model)):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(base_weights, find_base(model).get_weights()):
        np.testing.assert_array_equal(before, after)
    # A random base (weights=None) gives almost-zero features, but the bias always learns.
    assert not np.array_equal(head_bias, to_numpy(model.get_layer("predictions").bias))


@pytest.mark.parametrize("dropout_rate", [-0.1, 1.0])
def test_bad_dropout_rate_raises_value_error(dropout_rate):
    with pytest.raises(ValueError, match=r"dropout_rate must lie in \[0, 1\), got " + re.escape(f"{dropout_rate}.")):
        build_transfer_model(INPUT_SHAPE, NUM_CLASSES, weights=None, dropout_rate=dropout_rate)


# Fine-tuning -----------------------------------------------------------------------------------


def test_unfreeze_top_layers_unfreezes_only_the_top_and_keeps_batch_norm_frozen():
    """Are exactly the last layers trainable, BatchNormalization excepted, and the model recompiled?"""
    model = compile_classifier(new_model(), 1e-3)
    base = find_base(model)
    returned = unfreeze_top_layers(model, 29, 1e-5)
    assert returned is model
    expected = [layer.name for layer in base.layers[-29:]
                if layer.weights and not isinstance(layer, layers.BatchNormalization)]
    assert trainable_base_layers(model) == expected
    assert expected[0] == "block_14_expand" and expected[-1] == "Conv_1"
    assert all(not layer.trainable for layer in base.layers if isinstance(layer, layers.BatchNormalization))
    assert 0 < len(expected) < len([layer for layer in base.layers if layer.weights])
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-5)


def test_fine_tuning_step_changes_only_the_unfrozen_layers(real_images):
    """After a fine-tuning step: top convolution changed, bottom one and statistics unchanged?"""
    model = unfreeze_top_layers(compile_classifier(new_model(), 1e-3), 29, 1e-2)
    base = find_base(model)
    bottom, top = base.get_layer("Conv1"), base.get_layer("Conv_1")
    trainable = {id(weight) for weight in model.trainable_weights}
    assert id(top.kernel) in trainable and id(bottom.kernel) not in trainable
    bottom_kernel, top_kernel = to_numpy(bottom.kernel), to_numpy(top.kernel)
    statistics = batch_norm_statistics(model)
    one_training_step(model, real_images)
    np.testing.assert_array_equal(bottom_kernel, to_numpy(bottom.kernel))
    # Random weights make the gradients tiny, but an unfrozen kernel must still move.
    assert not np.array_equal(top_kernel, to_numpy(top.kernel))
    for before, after in zip(statistics, batch_norm_statistics(model)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("num_layers", [0, -3, 155])
def test_unfreeze_top_layers_rejects_impossible_counts(num_layers):
    with pytest.raises(ValueError, match=rf"num_layers must lie between 1 and \d+, got {num_layers}\b"):
        unfreeze_top_layers(new_model(), num_layers, 1e-5)


def test_model_saves_and_loads_in_safe_mode(tmp_path, real_images):
    """Does the model survive a .keras round trip with safe_mode=True (no Lambda layer)?"""
    model = unfreeze_top_layers(compile_classifier(new_model(), 1e-3), 29, 1e-5)
    assert not any(isinstance(layer, layers.Lambda) for layer in model.layers)
    # Build the optimizer's slots (as a first training step would) so that they are saved too.
    model.optimizer.build(model.trainable_variables)
    path = tmp_path / "transfer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded.predict(real_images, verbose=0)),
                               np.asarray(model.predict(real_images, verbose=0)), atol=1e-5)
    assert trainable_base_layers(loaded) == trainable_base_layers(model)
    np.testing.assert_allclose(preprocessing_output(loaded, real_images), real_images / 127.5 - 1, atol=1e-6)


@pytest.mark.slow
def test_two_phase_training_smoke(real_images):
    """Do feature extraction then fine-tuning run with validation data at 48 pixels?"""
    images = np.concatenate([real_images] * 4)
    labels = np.arange(len(images)) % NUM_CLASSES
    model = compile_classifier(new_model(), 1e-3)
    history = model.fit(images, labels, validation_data=(images[:7], labels[:7]), epochs=1, batch_size=8, verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    statistics = batch_norm_statistics(model)
    model = unfreeze_top_layers(model, 29, 1e-4)
    history = model.fit(images, labels, validation_data=(images[:7], labels[:7]), epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["val_loss"]).all()
    for before, after in zip(statistics, batch_norm_statistics(model)):
        np.testing.assert_array_equal(before, after)


def test_concatenated_model_gives_each_base_its_own_preprocessing():
    """Does the concatenation bonus feed MobileNetV2 [-1, 1] pixels and EfficientNet raw 0-255 ones?"""
    from solutions.transfer import build_concatenated_model

    model = build_concatenated_model((32, 32, 3), 3, weights=None)
    probe = np.random.default_rng(2).integers(0, 256, size=(2, 32, 32, 3)).astype("float32")
    mobilenet, efficientnet = model.get_layer("base_mobilenet"), model.get_layer("base_efficientnet")
    assert not mobilenet.trainable and not efficientnet.trainable
    expected_mobilenet = np.asarray(
        mobilenet(keras.applications.mobilenet_v2.preprocess_input(probe.copy()), training=False)
    ).mean(axis=(1, 2))
    expected_efficientnet = np.asarray(efficientnet(probe.copy(), training=False)).mean(axis=(1, 2))
    concatenated = model.get_layer("concatenated_features").output
    produced = np.asarray(keras.Model(model.input, concatenated)(probe, training=False))
    width = expected_mobilenet.shape[1]
    # Random-weight features are tiny and of different scales: compare each branch to its own.
    for part, expected in ((produced[:, :width], expected_mobilenet), (produced[:, width:], expected_efficientnet)):
        np.testing.assert_allclose(part, expected, rtol=0, atol=1e-3 * np.abs(expected).max())
    unprocessed = np.asarray(mobilenet(probe.copy(), training=False)).mean(axis=(1, 2))
    assert np.abs(unprocessed - expected_mobilenet).max() > 0.1 * np.abs(expected_mobilenet).max()
    assert model.output_shape == (None, 3)
