"""Reference implementations of the bonus notebooks: Grad-CAM, signatures, reductions."""

import keras
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from solutions.cnn import build_cnn, compile_classifier
from paysages.plots import overlay_heatmap
from solutions.gradcam import grad_cam, last_spatial_layer_index
from solutions.reductions import compare_reductions, reduce_features
from solutions.signatures import choose_num_clusters, separation_by_layer


@pytest.mark.parametrize("true_k", [3, 4, 6])
def test_silhouette_recovers_the_number_of_blobs(true_k):
    """Does silhouette-based selection find the true K of a well separated blob mixture?"""
    points, _ = make_blobs(n_samples=300, centers=true_k, n_features=5, cluster_std=0.6, random_state=true_k)
    best_k, scores = choose_num_clusters(points, range(2, 9), seed=0)
    assert best_k == true_k
    assert scores[true_k] == max(scores.values())


def test_a_layer_that_separates_classes_is_recognised():
    """Is a layer whose activations follow the classes judged to add separation over noise?"""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)
    noise_layer = rng.normal(size=(200, 8))
    separating_layer = rng.normal(size=(200, 8)) * 0.3 + labels[:, None] * 3.0
    rows = separation_by_layer({"dense_1": noise_layer, "dense_2": separating_layer}, labels)
    assert rows[0]["adds_separation"] is None
    assert rows[1]["adds_separation"] is True
    assert rows[1]["k"] == 2 and rows[1]["ari"] > 0.9 > rows[0]["ari"]


def _square_images(num_images, size, seed):
    """Noisy grey images with one coloured square: red (class 0) or blue (class 1)."""
    rng = np.random.default_rng(seed)
    images = rng.normal(110, 20, size=(num_images, size, size, 3)).clip(0, 255)
    labels = rng.integers(0, 2, size=num_images)
    boxes = []
    for index in range(num_images):
        top, left = rng.integers(0, size - 10, size=2)
        colour = [220, 30, 30] if labels[index] == 0 else [30, 30, 220]
        images[index, top:top + 10, left:left + 10] = colour
        boxes.append((top, left))
    return images.astype("float32"), labels, boxes


@pytest.mark.slow
def test_grad_cam_highlights_the_object_not_a_uniform_map():
    """Does Grad-CAM of a trained reference CNN have the image's size and light up the square?"""
    keras.utils.set_random_seed(0)
    images, labels, boxes = _square_images(240, 32, seed=0)
    model = compile_classifier(build_cnn((32, 32, 3), 2), 1e-3)
    model.fit(images[:200], labels[:200], validation_data=(images[200:], labels[200:]), epochs=6, verbose=0)
    inside_means, outside_means = [], []
    for index in range(200, 220):
        heatmap = grad_cam(model, images[index])
        assert heatmap.shape == (32, 32)
        assert 0.0 <= heatmap.min() and heatmap.max() <= 1.0 and heatmap.std() > 0.05
        top, left = boxes[index]
        mask = np.zeros((32, 32), dtype=bool)
        mask[max(0, top - 2):top + 12, max(0, left - 2):left + 12] = True
        inside_means.append(heatmap[mask].mean())
        outside_means.append(heatmap[~mask].mean())
    assert np.mean(inside_means) > 1.5 * np.mean(outside_means)
    overlay = overlay_heatmap(images[200], grad_cam(model, images[200]))
    assert overlay.shape == (32, 32, 3) and overlay.dtype == np.uint8


def test_grad_cam_refuses_a_model_without_feature_maps():
    """Is a dense-only model refused with a clear error?"""
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    with pytest.raises(ValueError, match="no convolutional feature map"):
        last_spatial_layer_index(model)


def test_reductions_are_measured_and_separate_blobs():
    """Does each reduction give a 2-D map whose quality and time are measured?"""
    features, labels = make_blobs(n_samples=150, centers=3, n_features=20, cluster_std=1.0, random_state=1)
    table, embeddings = compare_reductions(features, labels, methods=("pca", "tsne", "pca_tsne"), seed=0)
    assert list(table["method"]) == ["pca", "tsne", "pca_tsne"]
    for method, embedding in embeddings.items():
        assert embedding.shape == (150, 2)
    assert table["trustworthiness"].between(0.5, 1.0).all()
    assert (table["knn_accuracy"] > 0.9).all()
    assert (table["seconds"] > 0).all()
    with pytest.raises(ValueError, match="Unknown reduction"):
        reduce_features(features, "lda")


@pytest.mark.slow  # UMAP's first call compiles its numba code: about 13 s.
def test_umap_reduction_runs():
    """Does the UMAP reduction return a deterministic 2-D map?"""
    features, _ = make_blobs(n_samples=80, centers=3, n_features=10, random_state=2)
    first = reduce_features(features, "umap", seed=0)
    second = reduce_features(features, "umap", seed=0)
    assert first.shape == (80, 2)
    np.testing.assert_allclose(first, second)


def test_key_messages_compute_gains_and_leave_class_weighting_out():
    """Are the defence's gains macro-F1 differences, class weighting excluded, None when a term is missing?"""
    from solutions.defence import key_messages

    records = [
        {"model": "cnn", "macro_f1": 0.40}, {"model": "reg_baseline", "macro_f1": 0.45},
        {"model": "reg_dropout", "macro_f1": 0.51}, {"model": "reg_class_weights", "macro_f1": 0.70},
        {"model": "transfer_frozen", "macro_f1": 0.62}, {"model": "transfer_finetuned", "macro_f1": 0.66},
    ]
    messages = key_messages(records, "transfer_finetuned")
    assert messages["best_model"] == "transfer_finetuned" and messages["num_models"] == 6
    assert messages["best_macro_f1"] == pytest.approx(0.66)
    assert messages["regularisation_gain"] == pytest.approx(0.51 - 0.45)
    assert messages["transfer_gain"] == pytest.approx(0.66 - 0.40)
    only_cnn = key_messages([{"model": "cnn", "macro_f1": 0.4}], "cnn")
    assert only_cnn["regularisation_gain"] is None and only_cnn["transfer_gain"] is None
    with pytest.raises(ValueError, match="not in the results table"):
        key_messages(records, "missing_model")
