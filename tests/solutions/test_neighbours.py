"""Tests of solutions/neighbours.py: nearest neighbours in feature space (notebook 08)."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.neighbours import nearest_neighbours, neighbour_class_agreement


def brute_force(features, query_index, num_neighbours):
    """The nearest rows by a plain NumPy computation, the query excluded by its index."""
    distances = np.sqrt(((features - features[query_index]) ** 2).sum(axis=1))
    distances[query_index] = np.inf
    order = np.argsort(distances, kind="stable")[:num_neighbours]
    return order, distances[order]


@pytest.mark.parametrize("num_neighbours", [1, 3, 6])
@pytest.mark.parametrize("query_index", [0, 17, 49])
def test_neighbours_agree_with_brute_force(query_index, num_neighbours):
    """On random data, are the indices and distances those of a direct NumPy computation?"""
    features = np.random.default_rng(0).normal(size=(50, 24)).astype("float32")
    indices, distances = nearest_neighbours(features, query_index, num_neighbours)
    expected_indices, expected_distances = brute_force(
        features.astype(np.float64), query_index, num_neighbours
    )
    assert indices == expected_indices.tolist()
    np.testing.assert_allclose(distances, expected_distances, rtol=1e-6, atol=1e-5)


def test_neighbours_are_plain_python_values_sorted_by_distance():
    features = np.random.default_rng(1).normal(size=(30, 5))
    indices, distances = nearest_neighbours(features, 4, 5)
    assert all(type(index) is int for index in indices)
    assert all(type(distance) is float for distance in distances)
    assert distances == sorted(distances)


@pytest.mark.parametrize("query_index", [3, 12, 30])
def test_exact_duplicates_are_neighbours_and_the_query_never_is(query_index):
    """Rows 3, 12 and 30 are identical: each one's two nearest neighbours are the other two, at 0."""
    features = np.random.default_rng(2).normal(size=(40, 16))
    features[3] = features[12]
    features[30] = features[12]
    indices, distances = nearest_neighbours(features, query_index, 3)
    assert query_index not in indices
    assert sorted(indices[:2]) == sorted({3, 12, 30} - {query_index})
    assert distances[:2] == [0.0, 0.0]
    expected_indices, expected_distances = brute_force(features, query_index, 3)
    assert indices[2] == expected_indices[2]
    np.testing.assert_allclose(distances, expected_distances, atol=1e-9)


def test_many_duplicates_of_the_query_still_exclude_it():
    """When more copies than neighbours sit at distance 0, the query itself is still never returned."""
    features = np.vstack([np.zeros((6, 4)), np.ones((4, 4))])
    for query_index in range(6):
        indices, distances = nearest_neighbours(features, query_index, 3)
        assert query_index not in indices
        assert all(index < 6 for index in indices)
        assert distances == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("query_index", "num_neighbours", "message"),
    [
        (-1, 3, r"query_index must lie in 0\.\.9, got -1\b"),
        (10, 3, r"query_index must lie in 0\.\.9, got 10\b"),
        (1.0, 3, r"query_index must be an integer, got 1\.0\b"),
        (True, 3, r"query_index must be an integer, got True\b"),
        (0, 0, r"num_neighbours must lie in 1\.\.9, got 0\b"),
        (0, 10, r"num_neighbours must lie in 1\.\.9, got 10\b"),
    ],
)
def test_bad_arguments_are_value_errors(query_index, num_neighbours, message):
    features = np.random.default_rng(3).normal(size=(10, 3))
    with pytest.raises(ValueError, match=message):
        nearest_neighbours(features, query_index, num_neighbours)


def test_class_agreement_matches_a_hand_computed_example():
    points = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.3]])
    classes = np.array([0, 0, 1, 1, 1, 0])
    np.testing.assert_allclose(neighbour_class_agreement(points, classes, 2), [0.5, 0.5, 0.0, 0.5, 0.5, 0.0])


@pytest.mark.parametrize("num_neighbours", [1, 3, 5])
def test_class_agreement_matches_brute_force_with_a_duplicate(num_neighbours):
    """Is the per-image agreement the one computed from brute-force neighbours, query excluded?"""
    generator = np.random.default_rng(4)
    features = generator.normal(size=(60, 8))
    features[5] = features[40]
    labels = generator.integers(0, 4, size=60)
    expected = [
        np.mean(labels[brute_force(features, index, num_neighbours)[0]] == labels[index])
        for index in range(60)
    ]
    np.testing.assert_allclose(neighbour_class_agreement(features, labels, num_neighbours), expected)


def test_class_agreement_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="labels must hold one label per row"):
        neighbour_class_agreement(np.zeros((5, 2)), np.zeros(4, dtype=int))
