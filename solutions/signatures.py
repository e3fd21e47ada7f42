"""Reference solution of notebook 10: activation signatures of hidden layers.

Each hidden layer's activations are clustered with k-means, K chosen by the silhouette score; a
cluster's *signature* is its mean activation pattern. Comparing how well the clusters match the
classes, layer after layer, says whether a layer adds separation.
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score


def choose_num_clusters(activations, candidate_ks=range(2, 9), seed=0):
    """Return (best K, {K: silhouette score}) for k-means on ``activations``.

    The silhouette score of a clustering is the mean, over points, of (b - a) / max(a, b), where
    a is the mean distance to the point's own cluster and b the mean distance to the nearest
    other cluster; it is highest for compact, well separated clusters.
    """
    activations = np.asarray(activations, dtype="float64")
    candidate_ks = [int(k) for k in candidate_ks if 2 <= int(k) < len(activations)]
    if not candidate_ks:
        raise ValueError("Need at least one candidate K between 2 and the number of points - 1.")
    scores = {}
    for num_clusters in candidate_ks:
        clustering = KMeans(n_clusters=num_clusters, n_init=10, random_state=seed)
        assignment = clustering.fit_predict(activations)
        if len(np.unique(assignment)) < 2:
            scores[num_clusters] = -1.0
            continue
        scores[num_clusters] = float(silhouette_score(activations, assignment))
    best = max(scores, key=lambda k: (scores[k], -k))
    return best, scores


def layer_signatures(activations, num_clusters, seed=0):
    """Cluster one layer's activations; return (assignment, signatures (K, units))."""
    activations = np.asarray(activations, dtype="float64")
    clustering = KMeans(n_clusters=num_clusters, n_init=10, random_state=seed)
    assignment = clustering.fit_predict(activations)
    signatures = np.stack([activations[assignment == cluster].mean(axis=0) for cluster in range(num_clusters)])
    return assignment, signatures


def separation_by_layer(layer_activations, labels, seed=0, candidate_ks=range(2, 9)):
    """For each layer: chosen K, its silhouette, and how well clusters match labels (ARI).

    ``layer_activations`` maps a layer name to its (N, units) activations, in network order.
    Returns a list of dicts with the layer, K, silhouette, ari and whether the layer separates
    the classes better than the previous one (``adds_separation``).
    """
    rows = []
    previous_ari = None
    for name, activations in layer_activations.items():
        best_k, scores = choose_num_clusters(activations, candidate_ks, seed)
        assignment, _ = layer_signatures(activations, best_k, seed)
        ari = float(adjusted_rand_score(labels, assignment))
        rows.append(
            {
                "layer": name,
                "k": best_k,
                "silhouette": scores[best_k],
                "ari": ari,
                "adds_separation": None if previous_ari is None else bool(ari > previous_ari + 0.02),
            }
        )
        previous_ari = ari
    return rows
