"""Reference solution of notebook 10: activation signatures of hidden layers.

Each hidden layer's activations are clustered with k-means, K chosen by the silhouette score; a
cluster's *signature* is its mean activation pattern. Comparing how well the clusters match the
classes, layer after layer, says whether a layer adds separation.
"""

import keras
import numpy as np
from keras import layers
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


def separation_by_layer(activations_by_layer, labels, seed=0, candidate_ks=range(2, 9)):
    """For each layer: chosen K, its silhouette, and how well clusters match labels (ARI).

    ``activations_by_layer`` maps a layer name to its (N, units) activations, in network order.
    Returns a list of dicts with the layer, K, silhouette, ari and whether the layer separates
    the classes better than the previous one (``adds_separation``).
    """
    rows = []
    previous_ari = None
    for name, activations in activations_by_layer.items():
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


def build_dense_network(num_inputs, hidden_units=(32, 16, 8), num_classes=2):
    """Build a small dense classifier whose hidden layers are named hidden_1, hidden_2, ...

    Each hidden layer is a ReLU ``Dense`` layer; the output is a softmax over ``num_classes``.
    """
    if not hidden_units:
        raise ValueError("hidden_units must name at least one hidden layer.")
    inputs = keras.Input(shape=(num_inputs,), name="pixels")
    x = inputs
    for index, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"hidden_{index}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="dense_network")


def layer_activations(model, inputs, layer_names, batch_size=256):
    """Return {layer name: (N, units) activations} of the named layers for ``inputs``."""
    outputs = [model.get_layer(name).output for name in layer_names]
    probe = keras.Model(model.inputs, outputs)
    values = probe.predict(inputs, batch_size=batch_size, verbose=0)
    if len(layer_names) == 1:
        values = [values]
    return {name: np.asarray(value, dtype="float64").reshape(len(inputs), -1) for name, value in zip(layer_names, values)}
