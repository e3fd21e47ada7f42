"""Verdicts of notebook 10 (dense network, number of clusters, signatures), recomputed with ``solutions.signatures``.

* ``test_build_dense_network``: input sizes, hidden layers and numbers of classes drawn per run;
  the kernel exports each network as ``.keras`` and the verdict rebuilds it (``safe_mode=True``):
  one ReLU Dense layer per hidden size, named ``hidden_1``, ``hidden_2``..., then a softmax
  output of the drawn number of classes (its outputs on random inputs sum to 1).
* ``test_choose_num_clusters``: well separated blobs of a drawn number of groups and noise; K and
  every silhouette score must be the reference's (``KMeans(n_init=10, random_state=seed)``). The
  cell also checked ``layer_activations`` on the notebook's trained network: the kernel exports
  the network and the activations of drawn hidden layers on drawn inputs, and the verdict
  recomputes them from the rebuilt network.
* ``test_separation_by_layer``: clustered points for ``layer_signatures`` (signatures compared
  with the reference's up to the clusters' order) and layers of noise and of separated classes
  for ``separation_by_layer`` (K, ARI and ``adds_separation`` of each layer as the reference's).
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import (NOTHING_EXPORTED, CellVerdict, Judgement, error_name, exported_list, failed,
                                      is_number, number_rows, passed)
from autograde.verdicts.models import load_saved_model
from solutions.signatures import choose_num_clusters, layer_signatures, separation_by_layer

NOTEBOOK = "10_signatures"
NETWORK_PROBES = 2
SCORE_TOLERANCE = 1e-6
ACTIVATION_TOLERANCE = 1e-5
CANDIDATE_KS = (2, 9)
# The notebook's network: 64 pixels in, three hidden layers.
NETWORK_INPUTS = 64
NETWORK_HIDDEN = ("hidden_1", "hidden_2", "hidden_3")
ACTIVATION_INPUTS = 20


# test_build_dense_network --------------------------------------------------------------------------
def network_probes(rng: np.random.Generator) -> dict:
    """Input sizes, hidden layer sizes (one to four layers) and numbers of classes."""
    return {"cases": [{"num_inputs": int(rng.integers(5, 40)),
                       "hidden_units": [int(units) for units in rng.integers(2, 24, size=int(rng.integers(1, 5)))],
                       "num_classes": int(rng.integers(2, 8))} for _ in range(NETWORK_PROBES)]}


def _network_problem(model, case: dict) -> str | None:
    import keras
    from keras import layers

    if tuple(model.input_shape[1:]) != (case["num_inputs"],):
        return f"the network must take {case['num_inputs']} inputs"
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    expected_names = [f"hidden_{index}" for index in range(1, len(case["hidden_units"]) + 1)]
    if len(dense) != len(expected_names) + 1 or [layer.name for layer in dense[:-1]] != expected_names:
        return "one Dense layer per element of hidden_units (hidden_1, hidden_2...), then the output"
    if [int(layer.units) for layer in dense] != [*case["hidden_units"], case["num_classes"]]:
        return "the hidden layers must have hidden_units neurons, the output num_classes"
    if any(layer.activation is not keras.activations.relu for layer in dense[:-1]):
        return "the hidden layers must use ReLU"
    inputs = np.random.default_rng(0).normal(size=(3, case["num_inputs"])).astype("float32")
    probabilities = np.asarray(model(inputs, training=False), dtype=np.float64)
    if probabilities.shape != (3, case["num_classes"]) or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4):
        return "the output must be a probability distribution (softmax)"
    return None


def judge_build_dense_network(probes: dict, export, models: dict) -> Judgement:
    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    failures = export.get("failures") if isinstance(export.get("failures"), dict) else {}
    for number, case in enumerate(probes["cases"]):
        what = f"build_dense_network({case['num_inputs']}, {tuple(case['hidden_units'])}, {case['num_classes']})"
        if str(number) in failures:
            return failed(f"{what} raised {str(failures[str(number)])[:80]}")
        model = load_saved_model(models.get(f"n{number}"), what=what)
        if isinstance(model, Judgement):
            return model
        problem = _network_problem(model, case)
        if problem:
            return failed(f"{what}: {problem}")
    return passed()


# test_choose_num_clusters ---------------------------------------------------------------------------------
def clusters_probes(rng: np.random.Generator) -> dict:
    """Well separated blobs (drawn number of groups, dimension, seed), inputs and layers for layer_activations."""
    from sklearn.datasets import make_blobs

    cases = []
    for _ in range(2):
        points, _ = make_blobs(n_samples=int(rng.integers(150, 260)), centers=int(rng.integers(3, 7)),
                               n_features=int(rng.integers(3, 8)), cluster_std=0.6,
                               random_state=int(rng.integers(0, 10_000)))
        cases.append({"points": points.tolist(), "seed": int(rng.integers(0, 1000))})
    layer_count = int(rng.integers(1, len(NETWORK_HIDDEN) + 1))
    layer_names = sorted(str(name) for name in rng.choice(NETWORK_HIDDEN, size=layer_count, replace=False))
    return {"cases": cases, "candidate_ks": list(range(*CANDIDATE_KS)), "layer_names": layer_names,
            "inputs": rng.uniform(0, 1, size=(ACTIVATION_INPUTS, NETWORK_INPUTS)).tolist()}


def _clusters_problem(result, case: dict, candidate_ks) -> str | None:
    if not isinstance(result, dict) or "error" in result:
        return f"choose_num_clusters raised {error_name(result)}"
    best, scores = result.get("best"), result.get("scores")
    expected_best, expected_scores = choose_num_clusters(np.asarray(case["points"]), candidate_ks, case["seed"])
    if type(best) is not int:
        return "choose_num_clusters must return (best K, {K: score}) with an integer K"
    if best != expected_best:
        return f"K chosen {best} instead of {expected_best}"
    if not isinstance(scores, list) or len(scores) != len(expected_scores):
        return "the scores must hold one silhouette score per candidate K"
    score_of = {pair[0]: pair[1] for pair in scores if isinstance(pair, list) and len(pair) == 2}
    for k, expected in expected_scores.items():
        if not is_number(score_of.get(k)) or abs(score_of[k] - expected) > SCORE_TOLERANCE:
            return "the silhouette scores do not match KMeans(n_clusters=K, n_init=10, random_state=seed)"
    return None


def _activations_problem(probes: dict, export, models: dict) -> str | None:
    """Why the exported activations are not the rebuilt network's, or None."""
    import keras

    activations = export.get("activations")
    if not isinstance(activations, dict) or "error" in activations:
        return f"layer_activations raised {error_name(activations)}"
    network = load_saved_model(models.get("network"), what="the notebook's network")
    if isinstance(network, Judgement):
        return network.reason
    names = probes["layer_names"]
    if sorted(activations) != sorted(names):
        return "layer_activations must return one array per layer asked for"
    inputs = np.asarray(probes["inputs"], dtype=np.float32)
    for name in names:
        try:
            layer = network.get_layer(name)
        except ValueError:
            return f"the notebook's network has no layer {name}"
        expected = np.asarray(keras.Model(network.input, layer.output)(inputs, training=False), dtype=np.float64)
        got = number_rows(activations[name])
        if got is None or got.shape != expected.shape or not np.allclose(got, expected, atol=ACTIVATION_TOLERANCE):
            return f"the activations of {name} are not those of that layer, one row of neurons per input"
    return None


def judge_choose_num_clusters(probes: dict, export, models: dict) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    for number, (case, result) in enumerate(zip(probes["cases"], results), start=1):
        problem = _clusters_problem(result, case, probes["candidate_ks"])
        if problem:
            return failed(f"probe {number}: {problem}")
    problem = _activations_problem(probes, export, models)
    return failed(problem) if problem else passed()


# test_separation_by_layer ----------------------------------------------------------------------------------
def separation_probes(rng: np.random.Generator) -> dict:
    """Clustered points for layer_signatures; a noise layer and a separating layer for separation_by_layer."""
    num_clusters, dimension, per_cluster = int(rng.integers(2, 5)), int(rng.integers(4, 8)), int(rng.integers(20, 40))
    centres = np.eye(dimension)[:num_clusters] * 4
    points = rng.normal(size=(num_clusters * per_cluster, dimension)) + np.repeat(centres, per_cluster, axis=0)
    per_class = int(rng.integers(40, 70))
    labels = np.repeat([0, 1], per_class)
    width = int(rng.integers(4, 8))
    layers_by_name = {
        f"bruit_{int(rng.integers(100, 1000))}": rng.normal(size=(2 * per_class, width)).tolist(),
        f"separe_{int(rng.integers(100, 1000))}": (rng.normal(size=(2 * per_class, width)) * 0.3
                                                    + labels[:, None] * 3.0).tolist(),
    }
    return {"points": points.tolist(), "num_clusters": num_clusters, "seed": int(rng.integers(0, 1000)),
            "layers": layers_by_name, "labels": labels.tolist(), "candidate_ks": list(range(2, 6))}


def _signatures_problem(result, probes: dict) -> str | None:
    if not isinstance(result, dict) or "error" in result:
        return f"layer_signatures raised {error_name(result)}"
    _assignment, expected = layer_signatures(np.asarray(probes["points"]), probes["num_clusters"], probes["seed"])
    signatures = number_rows(result.get("signatures"))
    if signatures is None:
        return "the signatures must be an array of numbers"
    if signatures.shape != expected.shape:
        return f"the signatures must have the shape (K, neurons) = {expected.shape}"
    if not np.allclose(np.sort(signatures, axis=0), np.sort(expected, axis=0), atol=SCORE_TOLERANCE):
        return "a signature is the mean activation of the points of its cluster"
    return None


def _rows_problem(result, probes: dict) -> str | None:
    if not isinstance(result, dict) or "error" in result:
        return f"separation_by_layer raised {error_name(result)}"
    rows = result.get("rows")
    layers_by_name = {name: np.asarray(values) for name, values in probes["layers"].items()}
    expected = separation_by_layer(layers_by_name, np.asarray(probes["labels"]), probes["seed"], probes["candidate_ks"])
    if not isinstance(rows, list) or len(rows) != len(expected) or not all(isinstance(row, dict) for row in rows):
        return "separation_by_layer must return a list of one dict per layer"
    for row, reference in zip(rows, expected):
        if row.get("layer") != reference["layer"] or row.get("k") != reference["k"]:
            return f"the layer or K of {reference['layer']} does not match the reference (K by the silhouette)"
        if not is_number(row.get("ari")) or abs(row["ari"] - reference["ari"]) > SCORE_TOLERANCE:
            return f"the ARI of {reference['layer']} does not match the reference"
        if row.get("adds_separation") is not reference["adds_separation"]:
            return f"adds_separation of {reference['layer']} must be {reference['adds_separation']}"
    return None


def judge_separation_by_layer(probes: dict, export) -> Judgement:
    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    problem = _signatures_problem(export.get("signatures"), probes) or _rows_problem(export.get("separation"), probes)
    return failed(problem) if problem else passed()


VERDICTS = (
    CellVerdict("test_build_dense_network", network_probes, judge_build_dense_network, reads_models=True),
    CellVerdict("test_choose_num_clusters", clusters_probes, judge_choose_num_clusters, reads_models=True),
    CellVerdict("test_separation_by_layer", separation_probes, judge_separation_by_layer),
)
