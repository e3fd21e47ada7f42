"""Reference solution of notebook 08: nearest neighbours in the feature space.

The notebooks receive these functions' bodies as their solution regions (see
autograde/build_notebooks.py): edit them here, then run ``make notebooks``. The bodies may only
use the names notebook 08's set-up cell imports: ``np`` and ``NearestNeighbors``.
"""

import numpy as np
from sklearn.neighbors import NearestNeighbors


def nearest_neighbours(features, query_index, num_neighbours=3):
    """Return the ``num_neighbours`` images closest to image ``query_index`` in feature space.

    Distances are Euclidean, computed by ``sklearn.neighbors.NearestNeighbors`` on the rows of
    ``features`` (N, D). The query image itself is excluded by its index, not by a zero
    distance: an exact duplicate of the query is a genuine neighbour at distance 0 and must be
    kept. Returns ``(indices, distances)``: a list of ``num_neighbours`` Python ints and a list
    of as many Python floats, sorted by increasing distance. Raises ValueError for a query
    index outside ``range(N)`` or a number of neighbours outside ``1..N-1``.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array (N, D), got shape {features.shape}.")
    num_images = len(features)
    if isinstance(query_index, bool) or not isinstance(query_index, (int, np.integer)):
        raise ValueError(f"query_index must be an integer, got {query_index!r}.")
    if not 0 <= query_index < num_images:
        raise ValueError(f"query_index must lie in 0..{num_images - 1}, got {query_index}.")
    if isinstance(num_neighbours, bool) or not isinstance(num_neighbours, (int, np.integer)):
        raise ValueError(f"num_neighbours must be an integer, got {num_neighbours!r}.")
    if not 1 <= num_neighbours < num_images:
        raise ValueError(f"num_neighbours must lie in 1..{num_images - 1}, got {num_neighbours}.")
    # A ball tree computes each distance from the coordinate differences, so an exact
    # duplicate is at distance 0.0 exactly (the "brute" algorithm's dot-product formula is
    # faster on large data but can leave a tiny non-zero distance).
    search = NearestNeighbors(
        n_neighbors=num_neighbours + 1, metric="euclidean", algorithm="ball_tree"
    ).fit(features)
    # Ask for one neighbour more than needed: the query itself is usually among them.
    distances, indices = search.kneighbors(features[[query_index]])
    kept = [
        (float(distance), int(index))
        for distance, index in zip(distances[0], indices[0])
        if index != query_index
    ][:num_neighbours]
    # Equal distances keep a stable order: smaller index first.
    kept.sort()
    return [index for _, index in kept], [distance for distance, _ in kept]


def neighbour_class_agreement(features, labels, num_neighbours=3):
    """Return, for every image, the fraction of its nearest neighbours that share its class.

    For each row ``i`` of ``features`` (N, D), the ``num_neighbours`` nearest other images are
    found by Euclidean distance (row ``i`` itself excluded by its index, as in
    :func:`nearest_neighbours`). Returns a float64 array (N,) holding, for each image, the
    fraction of those neighbours whose label equals ``labels[i]``; its mean is the "precision
    at k" of retrieval by similarity in this feature space.
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or labels.ndim != 1 or len(labels) != len(features):
        raise ValueError("features must be (N, D) and labels must hold one label per row.")
    if not 1 <= num_neighbours < len(labels):
        raise ValueError(f"num_neighbours must lie in 1..{len(labels) - 1}, got {num_neighbours}.")
    # One search for every image at once is much faster than one search per image.
    search = NearestNeighbors(
        n_neighbors=num_neighbours + 1, metric="euclidean", algorithm="ball_tree"
    ).fit(features)
    _, indices = search.kneighbors(features)
    agreement = np.empty(len(labels), dtype=np.float64)
    for query_index, row in enumerate(indices):
        neighbours = [index for index in row if index != query_index][:num_neighbours]
        agreement[query_index] = np.mean(labels[neighbours] == labels[query_index])
    return agreement
