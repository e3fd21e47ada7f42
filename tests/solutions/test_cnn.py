"""Tests of solutions/cnn.py and solutions/evaluation.py: the CNN of notebook 02 and the scores."""

from __future__ import annotations

import types

import keras
import numpy as np
import pytest
from keras import layers

from solutions.cnn import build_cnn, compile_classifier, train_classifier
from solutions.evaluation import classification_scores, predict_probabilities


def test_build_cnn_is_a_functional_cnn_with_the_documented_layers():
    """Does build_cnn follow its docstring: rescaling, three conv blocks, pooling, dense, softmax?"""
    model = build_cnn((40, 40, 3), 5)
    assert type(model).__name__ == "Functional"
    assert tuple(model.input_shape[1:]) == (40, 40, 3) and tuple(model.output_shape[1:]) == (5,)
    convolutions = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert [layer.filters for layer in convolutions] == [32, 64, 128]
    assert all(tuple(layer.kernel_size) == (3, 3) for layer in convolutions)
    assert sum(isinstance(layer, layers.MaxPooling2D) for layer in model.layers) == 3
    rescaling = next(layer for layer in model.layers if isinstance(layer, layers.Rescaling))
    assert float(rescaling.scale) == pytest.approx(1 / 255)
    assert model.get_layer("features").units == 128
    probabilities = np.asarray(model(np.full((2, 40, 40, 3), 255.0, dtype="float32")))
    assert probabilities.shape == (2, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_compile_classifier_uses_adam_the_given_rate_and_sparse_cross_entropy():
    """Is the model compiled with Adam at the given learning rate, for integer labels, with accuracy?"""
    model = compile_classifier(build_cnn((32, 32, 3), 3), 3e-4)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(3e-4)
    assert model.loss == "sparse_categorical_crossentropy"


def test_train_classifier_validates_every_epoch_on_the_validation_set():
    """Does train_classifier report validation metrics each epoch, computed on x/y_validation?"""
    keras.utils.set_random_seed(0)
    generator = np.random.default_rng(0)
    # Bright images are class 1, dark ones class 0: learnable in a couple of epochs.
    labels = generator.integers(0, 2, size=96)
    images = (labels[:, None, None, None] * 180 + generator.integers(0, 60, size=(96, 32, 32, 3))).astype("float32")
    data = types.SimpleNamespace(
        x_train=images[:64], y_train=labels[:64], x_validation=images[64:], y_validation=labels[64:]
    )
    model = compile_classifier(build_cnn((32, 32, 3), 2), 1e-3)
    history = train_classifier(model, data, num_epochs=3, batch_size=16)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.history)
    assert len(history.history["val_accuracy"]) == 3
    recomputed = classification_scores(data.y_validation, predict_probabilities(model, data.x_validation))
    assert history.history["val_accuracy"][-1] == pytest.approx(recomputed["accuracy"], abs=1e-6)
    assert history.history["val_loss"][-1] == pytest.approx(recomputed["loss"], rel=1e-3)


def test_classification_scores_match_a_hand_computed_example():
    """Are accuracy, macro-F1 and clipped cross-entropy those computed by hand on a small case?"""
    labels = np.array([0, 0, 1, 2])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.0, 1.0, 0.0]])
    scores = classification_scores(labels, probabilities)
    # Predictions 0, 1, 1, 1: two right out of four.
    assert scores["accuracy"] == pytest.approx(0.5)
    # Per-class F1: class 0 = 2/3 (precision 1, recall 1/2), class 1 = 1/2, class 2 = 0.
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # The zero probability of the last image is clipped to 1e-7 instead of giving an infinite loss.
    expected_loss = -(np.log(0.7) + np.log(0.2) + np.log(0.8) + np.log(1e-7)) / 4
    assert scores["loss"] == pytest.approx(expected_loss)
    assert all(type(value) is float for value in scores.values())


def test_predict_probabilities_calls_the_model_and_ignores_a_patched_predict(monkeypatch):
    """Does the grader's prediction bypass keras.Model.predict, which a student could patch?"""
    model = build_cnn((32, 32, 3), 4)
    images = np.random.default_rng(1).integers(0, 256, size=(70, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(images, training=False), dtype=np.float64)
    monkeypatch.setattr(keras.Model, "predict", lambda self, *args, **kwargs: np.zeros((len(args[0]), 4)))
    got = predict_probabilities(model, images, batch_size=32)
    assert got.dtype == np.float64 and got.shape == (70, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
