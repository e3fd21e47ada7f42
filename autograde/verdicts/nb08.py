"""Verdicts of notebook 08 (nearest_neighbours, neighbours.json, neighbour_class_agreement), recomputed with NumPy.

Each probe set is drawn from the run's generator, so that no answer can be written in advance:

* ``test_nearest_neighbours``: random points of a few to a few dozen dimensions (one set of
  sparse, non-negative float32 values, like a ReLU layer's features), random queries and numbers
  of neighbours, and a set where the query has two exact duplicates, one before it and one after
  it. The verdict recomputes every distance with NumPy: the query excluded by its index, as many
  distinct valid indices as asked, sorted by increasing distance, the distances of the nearest
  points (an exact duplicate is a neighbour at distance 0), as the former hidden test did.
* ``test_neighbour_class_agreement``: random points with an exact duplicate, random classes and
  numbers of neighbours; the fractions must be the reference's (``solutions.neighbours``).

The former hidden tests also ran the student's functions on the run's features and checked
neighbours.json against the saved best model. The trusted process has neither the model nor the
images: the kernel exports the features (notebook 07's saved ones and the ones it recomputes from
the saved best model, as ``<grade id>.npz``), the data set's description and what the notebook
wrote or returned, and the verdicts recompute the neighbours from these features with NumPy. It is
a verdict of consistency, as for notebook 06's saved best model: the features are the kernel's
report. The queries on the run's features are drawn by the grader too (as fractions of the
number of images, unknown in advance).
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import (NOTHING_EXPORTED, CellVerdict, Judgement, error_name, exported_list, failed,
                                      is_number, passed, valid_indices)
from paysages.probes import fraction_positions
from solutions.neighbours import neighbour_class_agreement

NOTEBOOK = "08_voisins"
# Distances of the student's function against NumPy's (as the former hidden test compared them).
DISTANCE_RTOL, DISTANCE_ATOL = 1e-6, 1e-5
# Distances may decrease by this much between two neighbours and still count as sorted.
SORT_TOLERANCE = 1e-9
AGREEMENT_TOLERANCE = 1e-9
# neighbours.json against the saved best model's features: float32 features recomputed by another
# run of the model (relative 1e-3, absolute 1e-3 of the largest feature).
RECORD_RTOL, RECORD_SCALE = 1e-3, 1e-3
RECORD_NEIGHBOURS = 3
RUN_QUERIES, RUN_NEIGHBOURS = 4, 3
RUN_FEATURES = ("saved_features", "model_features")
SPLITS = ("train", "validation")


def _rows(array) -> list[list[float]]:
    return [[float(value) for value in row] for row in array]


def _feature_array(arrays, key: str):
    """``arrays[key]`` as a finite float64 (N, D) array of at least two rows, or None."""
    array = arrays.get(key) if isinstance(arrays, dict) else None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf" or array.ndim != 2 or len(array) < 2:
        return None
    array = array.astype(np.float64)
    return array if np.all(np.isfinite(array)) else None


def _distances_from(points: np.ndarray, query: int) -> np.ndarray:
    """Every Euclidean distance to the query, computed from the differences; the query itself at infinity."""
    distances = np.sqrt(((points - points[query]) ** 2).sum(axis=1))
    distances[query] = np.inf
    return distances


# test_nearest_neighbours -------------------------------------------------------------------------
def nearest_neighbours_probes(rng: np.random.Generator) -> dict:
    """Random points, sparse float32 ones, a query with two exact duplicates, and queries on the run's features."""
    cases = []
    for sparse in (False, False, True):
        num_points, dimensions = int(rng.integers(20, 60)), int(rng.integers(2, 32))
        points = rng.normal(size=(num_points, dimensions)) * rng.uniform(0.5, 20.0)
        if sparse:
            points = np.maximum(points, 0.0).astype(np.float32).astype(np.float64)
        queries = [0, num_points - 1, int(rng.integers(1, num_points - 1))]
        cases.append({"points": _rows(points), "calls": [{"query": query, "count": int(rng.integers(1, 6))}
                                                          for query in queries]})
    num_points, dimensions = int(rng.integers(30, 50)), int(rng.integers(8, 17))
    points = rng.normal(size=(num_points, dimensions))
    twins = sorted(int(position) for position in rng.choice(num_points, size=3, replace=False))
    points[twins[0]] = points[twins[1]]
    points[twins[2]] = points[twins[1]]
    calls = [{"query": query, "count": count} for count in (3, 2) for query in twins]
    cases.append({"points": _rows(points), "calls": calls, "twins": twins})
    return {"cases": cases, "run_queries": [float(fraction) for fraction in rng.random(RUN_QUERIES)]}


def _neighbours_problem(result, points: np.ndarray, query: int, count: int) -> str | None:
    """Why one exported call of nearest_neighbours is wrong, or None."""
    if not isinstance(result, dict) or "error" in result:
        return f"nearest_neighbours raised {error_name(result)}"
    indices, distances = valid_indices(result.get("indices"), len(points)), result.get("distances")
    if (indices is None or len(indices) != count or not isinstance(distances, list) or len(distances) != count
            or not all(is_number(distance) for distance in distances)):
        return (f"nearest_neighbours must return {count} valid integer indices and {count} distances (Python ints "
                f"and floats)")
    if query in indices.tolist():
        return "the query itself is among its neighbours (remove it by its index, not by its distance)"
    if len(np.unique(indices)) != count:
        return "the same neighbour is returned twice"
    distances = np.asarray(distances, dtype=np.float64)
    if np.any(np.diff(distances) < -SORT_TOLERANCE):
        return "the neighbours are not sorted by increasing distance"
    every_distance = _distances_from(points, query)
    expected = np.sort(every_distance)[:count]
    if (not np.allclose(distances, expected, rtol=DISTANCE_RTOL, atol=DISTANCE_ATOL)
            or not np.allclose(every_distance[indices], distances, rtol=DISTANCE_RTOL, atol=DISTANCE_ATOL)):
        return "the neighbours or their distances differ from a direct computation with NumPy"
    return None


def judge_nearest_neighbours_probes(probes: dict, export) -> Judgement:
    """The probes only (the run's features apart)."""
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    for number, (case, calls) in enumerate(zip(probes["cases"], results), start=1):
        if not isinstance(calls, list) or len(calls) != len(case["calls"]):
            return failed(f"probe {number}: the export does not hold one result per query")
        points, twins = np.asarray(case["points"], dtype=np.float64), case.get("twins")
        for call, result in zip(case["calls"], calls):
            query, count = call["query"], call["count"]
            if twins and count >= len(twins) - 1 and isinstance(result, dict):
                found = valid_indices(result.get("indices"), len(points))
                if found is not None and not set(twins) - {query} <= set(found.tolist()):
                    return failed(f"probe {number} (query {query}): an exact duplicate of the query must be returned, "
                                  f"at distance 0")
            problem = _neighbours_problem(result, points, query, count)
            if problem:
                return failed(f"probe {number} (query {query}, {count} neighbours): {problem}")
    return passed()


def judge_nearest_neighbours_run(probes: dict, run, arrays) -> Judgement:
    """The student's function on the run's features (notebook 07's, and the saved best model's)."""
    if not isinstance(run, dict) or "error" in run:
        return failed(f"the run's features could not be read ({error_name(run)})")
    for key in RUN_FEATURES:
        points = _feature_array(arrays, key)
        if points is None:
            return failed(f"the export does not hold the run's features ({key})")
        results = run.get(key)
        if not isinstance(results, list) or len(results) != len(probes["run_queries"]):
            return failed(f"the export does not hold one result per query on the run's features ({key})")
        for query, result in zip(fraction_positions(probes["run_queries"], len(points)), results):
            problem = _neighbours_problem(result, points, query, RUN_NEIGHBOURS)
            if problem:
                what = "notebook 07's features" if key == "saved_features" else "the saved best model's features"
                return failed(f"on {what} (query {query}): {problem}")
    return passed()


def judge_nearest_neighbours(probes: dict, export, arrays) -> Judgement:
    judgement = judge_nearest_neighbours_probes(probes, export)
    if judgement.fraction < 1.0:
        return judgement
    return judge_nearest_neighbours_run(probes, export.get("run"), arrays)


# test_neighbours_json ----------------------------------------------------------------------------
def neighbours_json_probes(rng: np.random.Generator) -> dict:
    """No probe: neighbours.json is the student's file of the run (see the module's docstring)."""
    return {}


def _whole(value):
    """``value`` as an int when it is a whole number read from JSON (not a bool), else None."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _dataset_problem(dataset, num_images: int):
    """Why the exported data set is unusable, or None with (class names, labels, paths, num_train)."""
    if not isinstance(dataset, dict) or "error" in dataset:
        return f"the data set could not be described ({error_name(dataset)})", None
    class_names, labels, num_train = dataset.get("class_names"), dataset.get("labels"), dataset.get("num_train")
    paths = {split: dataset.get(f"{split}_paths") for split in SPLITS}
    if (not isinstance(class_names, list) or not class_names or not all(type(name) is str for name in class_names)
            or valid_indices(labels, len(class_names)) is None or len(labels) != num_images
            or type(num_train) is not int or not 0 <= num_train <= num_images
            or not all(isinstance(items, list) and all(type(item) is str for item in items) for items in paths.values())
            or len(paths["train"]) != num_train or len(paths["validation"]) != num_images - num_train):
        return "the export does not describe the data set and the saved best model's features", None
    return None, (class_names, labels, paths, num_train)


def judge_neighbours_json(probes: dict, export, arrays) -> Judgement:
    """neighbours.json against the saved best model's features of the whole data set."""
    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    dataset = export.get("dataset")
    if not isinstance(dataset, dict) or "error" in dataset:
        return failed(f"the data set could not be described ({error_name(dataset)})")
    features = _feature_array(arrays, "features")
    if features is None:
        return failed(f"the saved best model's features could not be computed "
                      f"({error_name(export.get('features'))})")
    problem, dataset = _dataset_problem(export.get("dataset"), len(features))
    if problem:
        return failed(problem)
    class_names, labels, paths, num_train = dataset
    record = export.get("record")
    if not isinstance(record, dict) or "error" in record:
        return failed(f"neighbours.json could not be read ({error_name(record)})")
    query, neighbours = record.get("query"), record.get("neighbours")
    if (not isinstance(query, dict) or not isinstance(neighbours, list) or len(neighbours) != RECORD_NEIGHBOURS
            or not all(isinstance(item, dict) for item in neighbours)):
        return failed(f"neighbours.json must hold the query and its {RECORD_NEIGHBOURS} neighbours")
    query_position = _whole(query.get("position"))
    if query_position is None or not 0 <= query_position < len(features):
        return failed("the query's position is outside the data set")
    positions = valid_indices([_whole(item.get("position")) for item in neighbours], len(features))
    distances = [item.get("distance") for item in neighbours]
    if positions is None or not all(is_number(distance) for distance in distances):
        return failed("each neighbour of neighbours.json must give its position in the data set and its distance")
    every_distance = _distances_from(features, query_position)
    scale = RECORD_SCALE * max(1.0, float(np.abs(features).max()))
    if query_position in positions.tolist() or not np.allclose(
            every_distance[positions], np.sort(every_distance)[:RECORD_NEIGHBOURS], rtol=RECORD_RTOL, atol=scale):
        return failed("the recorded neighbours are not the nearest ones in the saved best model's feature space")
    if not np.allclose(distances, every_distance[positions], rtol=RECORD_RTOL, atol=scale):
        return failed("the recorded distances do not match the saved best model's features")
    for item in [query, *neighbours]:
        position = _whole(item.get("position"))
        split, index = ("train", position) if position < num_train else ("validation", position - num_train)
        if item.get("split") != split or _whole(item.get("index")) != index:
            return failed(f"image {position}: its split or its index there does not match its position")
        if item.get("path") != paths[split][index]:
            return failed(f"image {position}: its path does not match its position")
        if item.get("class") != class_names[labels[position]]:
            return failed(f"image {position}: its class is wrong")
    return passed("neighbours.json agrees with the saved best model's features and the data set")


# test_neighbour_class_agreement ------------------------------------------------------------------
def class_agreement_probes(rng: np.random.Generator) -> dict:
    """Random points with an exact duplicate, random classes and numbers of neighbours."""
    num_points, dimensions = int(rng.integers(40, 80)), int(rng.integers(4, 13))
    points = rng.normal(size=(num_points, dimensions))
    original, duplicate = (int(position) for position in rng.choice(num_points, size=2, replace=False))
    points[duplicate] = points[original]
    counts = [1, int(rng.integers(2, 5)), int(rng.integers(5, 8))]
    return {"points": _rows(points), "classes": [int(label) for label in rng.integers(0, int(rng.integers(2, 6)),
                                                                                        size=num_points)],
            "counts": counts}


def _agreement_problem(result, points: np.ndarray, labels: np.ndarray, count: int) -> str | None:
    """Why one exported call of neighbour_class_agreement is wrong, or None."""
    if not isinstance(result, dict) or "error" in result:
        return f"neighbour_class_agreement raised {error_name(result)}"
    values = result.get("values")
    if not isinstance(values, list) or len(values) != len(points) or not all(is_number(value) for value in values):
        return f"neighbour_class_agreement must return {len(points)} numbers (one per image)"
    expected = neighbour_class_agreement(points, labels, count)
    if not np.allclose(np.asarray(values, dtype=np.float64), expected, rtol=0.0, atol=AGREEMENT_TOLERANCE):
        return "the fractions differ from the reference (is the query removed by its index?)"
    return None


def judge_class_agreement_probes(probes: dict, export) -> Judgement:
    """The probes only (the run's features apart)."""
    results = exported_list(export, "results", len(probes["counts"]), "number of neighbours")
    if isinstance(results, Judgement):
        return results
    points, labels = np.asarray(probes["points"], dtype=np.float64), np.asarray(probes["classes"], dtype=np.int64)
    for count, result in zip(probes["counts"], results):
        problem = _agreement_problem(result, points, labels, count)
        if problem:
            return failed(f"{count} neighbours: {problem}")
    return passed()


def judge_class_agreement_run(run, arrays) -> Judgement:
    """The student's function on the features of the whole data set (notebook 07's features_all)."""
    if not isinstance(run, dict) or "error" in run:
        return failed(f"the run's features could not be read ({error_name(run)})")
    points = _feature_array(arrays, "features")
    labels = arrays.get("labels") if isinstance(arrays, dict) else None
    if (points is None or not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu" or labels.ndim != 1
            or len(labels) != len(points) or len(points) <= RUN_NEIGHBOURS):
        return failed("the export does not hold the features and labels of the whole data set")
    problem = _agreement_problem(run.get("agreement"), points, labels.astype(np.int64), RUN_NEIGHBOURS)
    if problem:
        return failed(f"on the features of the whole data set (notebook 07): {problem}")
    return passed()


def judge_class_agreement(probes: dict, export, arrays) -> Judgement:
    judgement = judge_class_agreement_probes(probes, export)
    if judgement.fraction < 1.0:
        return judgement
    return judge_class_agreement_run(export.get("run"), arrays)


VERDICTS = (
    CellVerdict("test_nearest_neighbours", nearest_neighbours_probes, judge_nearest_neighbours, reads_arrays=True),
    CellVerdict("test_neighbours_json", neighbours_json_probes, judge_neighbours_json, reads_arrays=True),
    CellVerdict("test_neighbour_class_agreement", class_agreement_probes, judge_class_agreement, reads_arrays=True),
)
