"""Verdicts of notebook 09 (reduce_features, compare_reductions), recomputed with ``solutions.reductions``.

* ``test_reduce_features``: points the grader drew, whose columns have very different scales (only
  standardised features give the reference's PCA), a seed, and a made-up method name that must
  raise ValueError. The PCA map must be the reference's up to the sign of each axis; the t-SNE and
  PCA-then-t-SNE maps must be finite (N, 2) arrays.
* ``test_compare_reductions``: the kernel exports the notebook's table, its maps (``.npz``), the
  features and labels they were computed from (notebook 07's ``features.npz``, as the notebook
  read it: the kernel's word, as in 08) and the methods asked for. The verdict recomputes each
  row's trustworthiness (raw or standardised features) and k-NN accuracy from its map, with the
  grader's seed, and requires a measured time.
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import (NOTHING_EXPORTED, CellVerdict, Judgement, error_name, failed, is_number,
                                      number_rows, passed, table_problem)
from solutions.reductions import knn_accuracy_2d, reduce_features

NOTEBOOK = "09_espace_features"
MAP_METHODS = ("pca", "tsne", "pca_tsne")
PCA_TOLERANCE = 1e-6
MEASURE_TOLERANCE = 1e-6
TABLE_COLUMNS = ["method", "trustworthiness", "knn_accuracy", "seconds"]
NEIGHBOURS = 5


# test_reduce_features ------------------------------------------------------------------------------
def reduce_probes(rng: np.random.Generator) -> dict:
    """Points with columns of very different scales, a seed, and an unknown method."""
    num_points, num_columns = int(rng.integers(40, 80)), int(rng.integers(6, 14))
    scales = 10.0 ** rng.uniform(-2, 3, size=num_columns)
    points = rng.normal(size=(num_points, num_columns)) * scales + rng.normal(size=num_columns) * 5
    unknown = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=5))
    return {"points": points.tolist(), "seed": int(rng.integers(0, 1000)), "unknown_method": f"methode_{unknown}"}


def judge_reduce_features(probes: dict, export) -> Judgement:
    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    points = np.asarray(probes["points"], dtype=np.float64)
    maps = export.get("maps") if isinstance(export.get("maps"), dict) else {}
    for method in MAP_METHODS:
        result = maps.get(method)
        if not isinstance(result, dict) or "error" in result:
            return failed(f"reduce_features(..., {method!r}) raised {error_name(result)}")
        embedding = number_rows(result.get("rows"), (len(points), 2))
        if embedding is None:
            return failed(f"reduce_features(..., {method!r}) must return a finite array of shape ({len(points)}, 2)")
        if method == "pca":
            expected = reduce_features(points, "pca", probes["seed"])
            # The sign of each principal axis is arbitrary: compare up to a sign per column.
            if not np.allclose(np.abs(embedding), np.abs(expected), atol=PCA_TOLERANCE):
                return failed("the PCA map must be the PCA of the standardised features (StandardScaler)")
    refusal = export.get("refusal")
    if not isinstance(refusal, dict) or refusal.get("value_error") is not True:
        return failed(f"an unknown method ({probes['unknown_method']!r}) must raise ValueError")
    return passed()


# test_compare_reductions ------------------------------------------------------------------------------
def _run_arrays(arrays):
    """(features, labels) exported from the run, or None."""
    if not isinstance(arrays, dict):
        return None
    features, labels = arrays.get("features"), arrays.get("labels")
    if (not isinstance(features, np.ndarray) or features.ndim != 2 or features.dtype.kind != "f"
            or not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu" or labels.shape != (len(features),)
            or not np.all(np.isfinite(features))):
        return None
    return features.astype(np.float64), labels.astype(np.int64)


def judge_compare_reductions(probes: dict, export, arrays) -> Judgement:
    from sklearn.manifold import trustworthiness
    from sklearn.preprocessing import StandardScaler

    from paysages.settings import get_settings

    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    run = _run_arrays(arrays)
    if run is None:
        return failed(f"the run's features could not be exported ({error_name(export)}): re-run notebook 07")
    features, labels = run
    table = export.get("table")
    problem = table_problem(table, TABLE_COLUMNS, "compare_reductions' table")
    if problem:
        return failed(problem)
    values, methods = table["values"], export.get("methods")
    if not isinstance(methods, list) or not methods or values["method"] != methods:
        return failed("the table must have one row per method asked for, in that order")
    standardised = StandardScaler().fit_transform(features)
    seed = get_settings().seed
    for position, method in enumerate(methods):
        embedding = arrays.get(f"map_{position}")
        if (not isinstance(embedding, np.ndarray) or embedding.shape != (len(features), 2)
                or embedding.dtype.kind != "f" or not np.all(np.isfinite(embedding))):
            return failed(f"the map of {method} must be a finite array of shape ({len(features)}, 2)")
        embedding = embedding.astype(np.float64)
        reported = values["trustworthiness"][position]
        expected = [trustworthiness(data, embedding, n_neighbors=NEIGHBOURS) for data in (features, standardised)]
        if not is_number(reported) or min(abs(reported - value) for value in expected) > MEASURE_TOLERANCE:
            return failed(f"the trustworthiness of {method} does not match its map")
        reported = values["knn_accuracy"][position]
        if not is_number(reported) or abs(reported - knn_accuracy_2d(embedding, labels, NEIGHBOURS, seed)) > MEASURE_TOLERANCE:
            return failed(f"the k-NN accuracy of {method} does not match its map (5 neighbours, 5 folds)")
        seconds = values["seconds"][position]
        if not is_number(seconds) or not seconds > 0:
            return failed(f"the time of {method} must be measured (seconds > 0)")
    return passed(f"{len(methods)} reductions measured from their maps")


VERDICTS = (
    CellVerdict("test_reduce_features", reduce_probes, judge_reduce_features),
    CellVerdict("test_compare_reductions", lambda rng: {}, judge_compare_reductions, reads_arrays=True),
)
