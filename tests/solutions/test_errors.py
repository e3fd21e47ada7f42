"""Tests of solutions/errors.py: the errors of the best network (notebook 06)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from solutions.errors import misclassified_examples, most_confused_pairs, per_class_report

CLASS_NAMES = ["city", "field", "lake", "road"]
ERROR_COLUMNS = ["index", "true_label", "predicted_label", "true_class", "predicted_class", "confidence"]

# Image 1 is a tie between field and city (argmax: the first class, city, wins, so it is an
# error); images 1 and 3 are both wrong with confidence 0.4 (ties keep the index order); every
# road image (class 3) is right; images 0 and 4 are right.
LABELS = np.array([0, 1, 2, 2, 1, 0, 3, 3])
PROBABILITIES = np.array(
    [
        [0.7, 0.1, 0.1, 0.1],
        [0.4, 0.4, 0.2, 0.0],
        [0.05, 0.9, 0.05, 0.0],
        [0.4, 0.3, 0.2, 0.1],
        [0.1, 0.6, 0.2, 0.1],
        [0.2, 0.2, 0.6, 0.0],
        [0.0, 0.0, 0.1, 0.9],
        [0.1, 0.2, 0.3, 0.4],
    ]
)


def test_misclassified_examples_lists_errors_most_confident_first():
    """Are exactly the wrong images listed, most confident first, ties by index, with names?"""
    errors = misclassified_examples(LABELS, PROBABILITIES, CLASS_NAMES)
    assert list(errors.columns) == ERROR_COLUMNS
    assert errors["index"].tolist() == [2, 5, 1, 3]
    assert errors["true_label"].tolist() == [2, 0, 1, 2]
    assert errors["predicted_label"].tolist() == [1, 2, 0, 0]
    assert errors["true_class"].tolist() == ["lake", "city", "field", "lake"]
    assert errors["predicted_class"].tolist() == ["field", "lake", "city", "city"]
    np.testing.assert_allclose(errors["confidence"].to_numpy(), [0.9, 0.6, 0.4, 0.4])
    assert errors.index.tolist() == [0, 1, 2, 3]
    assert errors["index"].dtype.kind == "i"
    assert "road" not in set(errors["true_class"])


def test_misclassified_examples_agrees_with_a_plain_loop():
    """Does it agree with a straightforward loop on random predictions?"""
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 5, size=200)
    probabilities = generator.dirichlet(np.ones(5), size=200)
    names = [f"class{index}" for index in range(5)]
    expected = []
    for index, (label, row) in enumerate(zip(labels, probabilities)):
        predicted = int(np.argmax(row))
        if predicted != label:
            expected.append((-row[predicted], index, int(label), predicted))
    expected.sort()
    errors = misclassified_examples(labels, probabilities, names)
    assert errors["index"].tolist() == [index for _, index, _, _ in expected]
    assert errors["true_label"].tolist() == [label for _, _, label, _ in expected]
    assert errors["predicted_label"].tolist() == [predicted for _, _, _, predicted in expected]
    np.testing.assert_allclose(errors["confidence"].to_numpy(), [-confidence for confidence, _, _, _ in expected])
    assert np.all(np.diff(errors["confidence"].to_numpy()) <= 0)


def test_misclassified_examples_of_a_perfect_model_is_empty():
    """Does a perfect classifier give an empty table that still has every column?"""
    errors = misclassified_examples(np.array([0, 1, 1]), np.eye(2)[[0, 1, 1]], ["lake", "ocean"])
    assert len(errors) == 0
    assert list(errors.columns) == ERROR_COLUMNS


@pytest.mark.parametrize(
    "labels, probabilities, names, message",
    [
        # one label short
        (np.array([0, 1]), np.full((3, 2), 0.5), ["a", "b"], r"got \(2,\) and \(3, 2\)"),
        # three columns, two names
        (np.array([0, 1]), np.full((2, 3), 1 / 3), ["a", "b"], "probabilities has 3 columns but there are 2 class names"),
        # labels not 1-D
        (np.array([[0, 1]]), np.full((2, 2), 0.5), ["a", "b"], r"got \(1, 2\) and \(2, 2\)"),
    ],
)
def test_misclassified_examples_rejects_inconsistent_shapes(labels, probabilities, names, message):
    """Is a shape mismatch a ValueError rather than a silently wrong table?"""
    with pytest.raises(ValueError, match=message):
        misclassified_examples(labels, probabilities, names)


def test_per_class_report_equals_sklearn_classification_report():
    """Are precision, recall, F1 and support those of sklearn's classification_report?"""
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3])
    # Class 2 is perfectly recognised; class 3 is never predicted (precision 0 by convention).
    predictions = np.array([0, 1, 0, 1, 0, 2, 2, 2, 2, 1, 0])
    report = per_class_report(labels, predictions, CLASS_NAMES)
    expected = metrics.classification_report(
        labels, predictions, labels=[0, 1, 2, 3], target_names=CLASS_NAMES, output_dict=True, zero_division=0
    )
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    assert list(report.index) == CLASS_NAMES
    for name in CLASS_NAMES:
        assert report.loc[name, "precision"] == pytest.approx(expected[name]["precision"])
        assert report.loc[name, "recall"] == pytest.approx(expected[name]["recall"])
        assert report.loc[name, "f1"] == pytest.approx(expected[name]["f1-score"])
        assert report.loc[name, "support"] == expected[name]["support"]
    assert report.loc["lake"].tolist()[:3] == [1.0, 1.0, 1.0]
    assert report.loc["road", "precision"] == 0.0
    assert report.loc["city", "precision"] == pytest.approx(2 / 4)
    assert report.loc["city", "recall"] == pytest.approx(2 / 3)


def test_per_class_report_keeps_a_class_absent_from_the_validation_set():
    """Does a class with no image still get its row (support 0) instead of vanishing?"""
    report = per_class_report(np.array([0, 1, 1]), np.array([0, 1, 0]), ["city", "field", "lake"])
    assert list(report.index) == ["city", "field", "lake"]
    assert report.loc["lake", "support"] == 0


def test_per_class_report_rejects_different_lengths():
    with pytest.raises(ValueError, match=r"same length, got \(3,\) and \(2,\)"):
        per_class_report(np.array([0, 1, 1]), np.array([0, 1]), ["a", "b"])


def test_most_confused_pairs_ranks_off_diagonal_cells():
    """Are the largest off-diagonal counts listed first, ties by true then predicted class?"""
    matrix = np.array(
        [
            [9, 2, 2, 0],
            [1, 7, 0, 3],
            [0, 2, 8, 0],
            [0, 0, 0, 20],  # perfectly classified: never a true class of a confusion
        ]
    )
    pairs = most_confused_pairs(matrix, CLASS_NAMES, top=4)
    assert list(pairs.columns) == ["true_class", "predicted_class", "count", "share"]
    assert list(zip(pairs["true_class"], pairs["predicted_class"])) == [
        ("field", "road"),
        ("city", "field"),
        ("city", "lake"),
        ("lake", "field"),
    ]
    assert pairs["count"].tolist() == [3, 2, 2, 2]
    np.testing.assert_allclose(pairs["share"].to_numpy(), [3 / 11, 2 / 13, 2 / 13, 2 / 10])
    assert len(most_confused_pairs(matrix, CLASS_NAMES, top=10)) == 5
    assert len(most_confused_pairs(np.diag([1, 2, 3, 4]), CLASS_NAMES)) == 0


def test_most_confused_pairs_agrees_with_sklearn_confusion_matrix():
    """Does a pair's count match the errors of that kind in the labels?"""
    generator = np.random.default_rng(1)
    labels = generator.integers(0, 4, size=300)
    predictions = np.where(generator.random(300) < 0.5, labels, generator.integers(0, 4, size=300))
    matrix = metrics.confusion_matrix(labels, predictions, labels=range(4))
    top = most_confused_pairs(matrix, CLASS_NAMES, top=1).iloc[0]
    true, predicted = CLASS_NAMES.index(top["true_class"]), CLASS_NAMES.index(top["predicted_class"])
    assert top["count"] == np.sum((labels == true) & (predictions == predicted))
    off_diagonal = matrix - np.diag(np.diag(matrix))
    assert top["count"] == off_diagonal.max()


@pytest.mark.parametrize(
    "matrix, top, message",
    [
        (np.zeros((3, 3), dtype=int), 5, r"confusion matrix must be 4x4, got \(3, 3\)"),
        (np.zeros((4, 4), dtype=int), 0, "top must be at least 1, got 0"),
    ],
)
def test_most_confused_pairs_rejects_bad_arguments(matrix, top, message):
    with pytest.raises(ValueError, match=message):
        most_confused_pairs(matrix, CLASS_NAMES, top=top)


def test_error_tables_are_dataframes():
    """Do the three functions return DataFrames, as the notebook's display cells expect?"""
    assert isinstance(misclassified_examples(LABELS, PROBABILITIES, CLASS_NAMES), pd.DataFrame)
    assert isinstance(per_class_report(LABELS, PROBABILITIES.argmax(axis=1), CLASS_NAMES), pd.DataFrame)
    assert isinstance(most_confused_pairs(np.eye(4, dtype=int), CLASS_NAMES), pd.DataFrame)
