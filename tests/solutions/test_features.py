"""Tests of solutions/features.py: stratified subset, feature extractor and t-SNE map (notebook 07)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers
from sklearn.neighbors import NearestNeighbors

from solutions.cnn import build_cnn
from solutions.features import extract_features, feature_extractor, stratified_subset, tsne_embedding

IMAGE_SHAPE = (32, 32, 3)


def random_images(count, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, *IMAGE_SHAPE)).astype("float32")


def class_counts(labels, subset):
    return np.bincount(labels[subset], minlength=labels.max() + 1)


# Stratified subset -------------------------------------------------------------------------------
def test_subset_keeps_each_class_proportion_within_one_image():
    """Does every class get its exact share of the subset, rounded to the nearest image or so?"""
    labels = np.random.default_rng(1).permutation(np.repeat(np.arange(7), [62, 92, 122, 106, 124, 85, 110]))
    subset = stratified_subset(labels, 300, seed=42)
    quotas = np.bincount(labels) * 300 / len(labels)
    counts = class_counts(labels, subset)
    assert len(subset) == 300
    assert np.all(np.abs(counts - quotas) < 1.0)
    assert counts.sum() == 300


def test_subset_is_sorted_unique_int_indices():
    """Are the indices sorted, distinct, integer and inside the label array?"""
    labels = np.random.default_rng(2).integers(0, 5, size=400)
    subset = stratified_subset(labels, 120, seed=0)
    assert subset.dtype.kind == "i"
    assert np.array_equal(subset, np.sort(subset))
    assert len(np.unique(subset)) == 120
    assert subset.min() >= 0 and subset.max() < 400


def test_subset_is_deterministic_and_depends_on_the_seed():
    """Does the same seed give the same subset, and another seed another subset?"""
    labels = np.random.default_rng(3).integers(0, 4, size=500)
    first = stratified_subset(labels, 100, seed=7)
    assert np.array_equal(first, stratified_subset(labels.copy(), 100, seed=7))
    assert not np.array_equal(first, stratified_subset(labels, 100, seed=8))


def test_subset_keeps_a_very_rare_class():
    """Does a class whose exact share rounds to zero still appear once?"""
    labels = np.concatenate([np.full(600, 0), np.full(397, 2), np.full(3, 1)])
    subset = stratified_subset(labels, 40, seed=0)
    counts = class_counts(labels, subset)
    assert len(subset) == 40
    assert counts[1] == 1
    assert np.all(counts > 0)


def test_subset_of_every_image_is_the_whole_range():
    """Asking for as many images as there are gives back every index."""
    labels = np.array([2, 0, 1, 1, 0, 2, 2])
    assert stratified_subset(labels, 7, seed=0).tolist() == list(range(7))


@pytest.mark.parametrize("num_samples", [2, 101, 0])
def test_subset_rejects_impossible_sizes(num_samples):
    """Is a size below the number of classes or above the number of labels a ValueError?"""
    labels = np.repeat(np.arange(4), 25)
    with pytest.raises(ValueError, match=rf"num_samples must lie between .* \(100\), got {num_samples}\b"):
        stratified_subset(labels, num_samples, seed=0)


def test_subset_rejects_non_integer_labels():
    with pytest.raises(ValueError, match="labels must be a one-dimensional array of integer"):
        stratified_subset(np.array([0.5, 1.5, 2.5]), 2, seed=0)


# Feature extractor -------------------------------------------------------------------------------
def test_extractor_of_the_course_cnn_is_its_features_layer(tmp_path):
    """On the notebook 02 CNN, saved and reloaded safely, is the output the Dense "features" layer?"""
    keras.utils.set_random_seed(0)
    model = build_cnn(IMAGE_SHAPE, 7)
    path = tmp_path / "cnn.keras"
    model.save(path)
    model = keras.saving.load_model(path, safe_mode=True)
    images = random_images(6)

    extractor = feature_extractor(model)
    expected = keras.Model(model.input, model.get_layer("features").output).predict(images, verbose=0)
    assert type(extractor).__name__ == "Functional"
    assert extractor.output_shape == (None, 128)
    np.testing.assert_allclose(extractor.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)

    features = extract_features(model, images, batch_size=4)
    assert features.dtype == np.float32 and features.shape == (6, 128)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    # The final Dense layer applied to the features gives back the model's probabilities.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("predictions")(features)),
        model.predict(images, verbose=0),
        rtol=1e-4,
        atol=1e-6,
    )


def test_extractor_shares_the_model_weights():
    """Changing the model's weights changes the extractor's output: nothing was copied."""
    model = build_cnn(IMAGE_SHAPE, 3)
    extractor = feature_extractor(model)
    dense = model.get_layer("features")
    dense.set_weights([np.zeros_like(weight) for weight in dense.get_weights()])
    assert np.all(extractor.predict(random_images(2), verbose=0) == 0.0)


def test_extractor_stops_before_the_dropout_feeding_the_classifier():
    """With training=True, features taken after a Dropout would be zeroed at random."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input(IMAGE_SHAPE)
    x = layers.Conv2D(8, 3, activation="relu")(layers.Rescaling(1.0 / 255)(inputs))
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(16, activation="relu", name="penultimate")(x)
    x = layers.Dropout(0.5)(x)
    model = keras.Model(inputs, layers.Dense(4, activation="softmax")(x))
    images = random_images(8, seed=3)

    extractor = feature_extractor(model)
    expected = keras.Model(model.input, model.get_layer("penultimate").output).predict(images, verbose=0)
    training_output = keras.ops.convert_to_numpy(extractor(images, training=True))
    np.testing.assert_allclose(training_output, expected, rtol=1e-5, atol=1e-6)


def test_extractor_of_a_transfer_like_model_is_the_pooled_base_output():
    """On MobileNetV2 (random weights) + pooling + dropout + softmax, are the features the pooled 1280 values?"""
    keras.utils.set_random_seed(2)
    inputs = keras.Input(IMAGE_SHAPE)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    base = keras.applications.MobileNetV2(
        input_shape=IMAGE_SHAPE, include_top=False, weights=None, name="base"
    )
    base.trainable = False
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dropout(0.2)(x)
    model = keras.Model(inputs, layers.Dense(7, activation="softmax", dtype="float32")(x))
    images = random_images(4, seed=4)

    extractor = feature_extractor(model)
    expected = keras.Model(model.input, model.get_layer("global_pool").output).predict(images, verbose=0)
    assert extractor.output_shape == (None, 1280)
    np.testing.assert_allclose(extract_features(model, images, batch_size=2), expected, rtol=1e-4, atol=1e-5)


def test_extractor_needs_a_dense_classifier():
    inputs = keras.Input(IMAGE_SHAPE)
    model = keras.Model(inputs, layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(ValueError, match="no Dense classification layer"):
        feature_extractor(model)


# t-SNE ---------------------------------------------------------------------------------------------
def clustered_points():
    """Three clusters in six dimensions, next to two dimensions of huge noise (60 points)."""
    generator = np.random.default_rng(0)
    groups = np.repeat(np.arange(3), 20)
    centres = generator.normal(size=(3, 6)) * 4
    clusters = centres[groups] + generator.normal(size=(60, 6))
    points = np.hstack([clusters, generator.normal(size=(60, 2)) * 1000.0])
    return points, groups


def neighbour_agreement(embedding, groups):
    _, neighbours = NearestNeighbors(n_neighbors=6).fit(embedding).kneighbors(embedding)
    return float(np.mean(groups[neighbours[:, 1:]] == groups[:, None]))


def test_tsne_gives_a_deterministic_two_dimensional_map():
    """Is the map (60, 2), finite, and the same for the same seed?"""
    points = np.random.default_rng(5).normal(size=(60, 10)).astype("float32")
    first = tsne_embedding(points, seed=0)
    assert first.shape == (60, 2)
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, tsne_embedding(points.copy(), seed=0))


def test_tsne_standardises_features_so_small_scale_structure_shows():
    """Without standardisation the huge noise dimensions hide the clusters; with it, they separate."""
    points, groups = clustered_points()
    assert neighbour_agreement(tsne_embedding(points, seed=0), groups) > 0.9


@pytest.mark.parametrize("perplexity", [60.0, 75.0, 0.0])
def test_tsne_rejects_a_perplexity_not_below_the_number_of_points(perplexity):
    points, _ = clustered_points()
    with pytest.raises(ValueError, match="perplexity"):
        tsne_embedding(points, seed=0, perplexity=perplexity)


def test_tsne_rejects_non_matrix_features():
    with pytest.raises(ValueError, match=r"features must be a 2-D array \(N, D\), got shape \(40,\)"):
        tsne_embedding(np.zeros(40), seed=0)
