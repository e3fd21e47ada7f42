"""Verdicts of notebook 07 (stratified_subset, tsne_embedding), with ``solutions.features``.

Each probe set is drawn from the run's generator, so that no answer can be written in advance:

* ``test_stratified_subset``: random unbalanced label arrays (classes in no order), one with a
  very rare class, one where every image is kept, random sizes and seeds, and sizes larger than
  the number of labels, which must raise ValueError. The verdict checks properties, not equality
  with the reference (a student may draw differently): as many distinct, valid, sorted indices as
  asked, every class present, each class within one image of its exact share (two when a class's
  share is below one image, as for the very rare class), the same subset for the same seed,
  another subset for another seed.
* ``test_tsne_embedding``: random clusters in six dimensions hidden behind two dimensions of huge
  noise (only standardised features let t-SNE find them), and perplexities that are not smaller
  than the number of points, which must raise ValueError. The verdict reads the exported map: a
  finite, non-degenerate (N, 2) array whose nearest neighbours mostly belong to the same cluster
  (at least 80 %, as the former hidden test asked; the reference reaches about 95 % or more).

The cells that need the saved best model or the run's data (``test_feature_extractor``,
``test_features_saved``) keep nbgrader's scoring.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from autograde.verdicts.cells import (NOTHING_EXPORTED, CellVerdict, Judgement, error_name, exported_list, failed,
                                      is_number, passed, valid_indices)
from solutions.features import stratified_subset, tsne_embedding

NOTEBOOK = "07_tsne"
# A class may be one image away from its exact share (two for a class too rare to round to one).
SHARE_TOLERANCE = 1.0
RARE_SHARE_TOLERANCE = 2.0
SUBSET_CALLS = ("first", "again", "other_seed")
# The map's nearest neighbours (5, the point itself apart) must mostly share the point's cluster.
NEIGHBOURS = 5
MINIMUM_AGREEMENT = 0.8
CLUSTER_DIMENSIONS, NOISE_DIMENSIONS, NOISE_SCALE = 6, 2, 1000.0
# Cluster centres at least this far apart (the within-cluster noise has unit variance per dimension).
MINIMUM_CENTRE_DISTANCE = 6.0


# test_stratified_subset --------------------------------------------------------------------------
def _reference_subset(labels, num_samples: int, seed: int) -> np.ndarray:
    return stratified_subset(np.asarray(labels, dtype=np.int64), num_samples, seed)


def _subset_case(rng: np.random.Generator, labels: np.ndarray, num_samples: int) -> dict:
    # A class whose share is below one image takes it from another class: both may then be two images off.
    rare = bool(np.min(np.bincount(labels)) * num_samples / len(labels) < 1.0)
    seed, other_seed = int(rng.integers(0, 2**31)), int(rng.integers(0, 2**31))
    # Another seed must give another subset: draw it until the reference's differs (unless every image is kept).
    while num_samples < len(labels) and (other_seed == seed or np.array_equal(
            _reference_subset(labels, num_samples, seed), _reference_subset(labels, num_samples, other_seed))):
        other_seed = int(rng.integers(0, 2**31))
    return {"labels": [int(label) for label in labels], "num_samples": int(num_samples), "seed": seed,
            "other_seed": other_seed, "rare": rare}


def stratified_subset_probes(rng: np.random.Generator) -> dict:
    """Unbalanced labels, a very rare class, every image kept, and sizes larger than the labels."""
    cases = []
    for _ in range(2):
        num_classes = int(rng.integers(3, 8))
        labels = rng.permutation(np.repeat(np.arange(num_classes), rng.integers(20, 350, size=num_classes)))
        cases.append(_subset_case(rng, labels, int(rng.integers(num_classes + 10, len(labels) // 3))))
    # A class of 1 to 3 images among hundreds: its share rounds to zero, and it must still appear.
    sizes = [int(rng.integers(300, 700)), int(rng.integers(1, 4)), int(rng.integers(300, 700))]
    labels = rng.permutation(np.repeat(rng.permutation(3), sizes))
    cases.append(_subset_case(rng, labels, int(rng.integers(20, 60))))
    num_classes = int(rng.integers(3, 8))
    labels = rng.permutation(np.repeat(np.arange(num_classes), int(rng.integers(5, 25))))
    cases.append(_subset_case(rng, labels, len(labels)))
    labels = rng.permutation(np.repeat(np.arange(3), rng.integers(10, 40, size=3)))
    too_many = [len(labels) + 1, len(labels) + int(rng.integers(2, 50))]
    return {"cases": cases, "labels": [int(label) for label in labels], "too_many": too_many,
            "seed": int(rng.integers(0, 2**31))}


def _subset_problem(result, labels: np.ndarray, num_samples: int, rare: bool):
    """Why an exported subset is wrong, or None with the subset when it is right."""
    if not isinstance(result, dict) or "error" in result:
        return f"stratified_subset raised {error_name(result)}", None
    subset = valid_indices(result.get("indices"), len(labels))
    if subset is None or len(subset) != num_samples or len(np.unique(subset)) != num_samples:
        return (f"stratified_subset must return {num_samples} distinct, valid indices of labels (a 1-D integer "
                f"array)"), None
    if np.any(np.diff(subset) <= 0):
        return "the indices are not sorted (np.sort)", None
    counts = np.bincount(labels[subset], minlength=labels.max() + 1)
    if np.any(counts == 0):
        return "a class is missing from the subset (every class must appear at least once)", None
    shares = np.bincount(labels) * num_samples / len(labels)
    tolerance = (RARE_SHARE_TOLERANCE if rare else SHARE_TOLERANCE) + 1e-9
    if np.any(np.abs(counts - shares) >= tolerance):
        return "the class proportions are not kept (each class within one image of its exact share)", None
    return None, subset


def judge_stratified_subset(probes: dict, export) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    refusals = exported_list(export, "refusals", len(probes["too_many"]), "refused size")
    if isinstance(refusals, Judgement):
        return refusals
    for number, (case, calls) in enumerate(zip(probes["cases"], results), start=1):
        if not isinstance(calls, dict):
            return failed(f"probe {number}: no result")
        labels = np.asarray(case["labels"], dtype=np.int64)
        subsets = {}
        for call in SUBSET_CALLS:
            problem, subsets[call] = _subset_problem(calls.get(call), labels, case["num_samples"], case["rare"])
            if problem:
                return failed(f"probe {number} ({call.replace('_', ' ')}): {problem}")
        if not np.array_equal(subsets["first"], subsets["again"]):
            return failed(f"probe {number}: the same seed gave two different subsets (np.random.default_rng(seed))")
        if case["num_samples"] < len(labels) and np.array_equal(subsets["first"], subsets["other_seed"]):
            return failed(f"probe {number}: another seed gave the same subset (the draw must be random: rng.choice)")
    for num_samples, result in zip(probes["too_many"], refusals):
        try:
            _reference_subset(probes["labels"], num_samples, probes["seed"])
        except ValueError:
            if not isinstance(result, dict) or result.get("value_error") is not True:
                return failed(f"num_samples={num_samples} for {len(probes['labels'])} labels: stratified_subset "
                              f"must raise ValueError")
        else:
            raise ValueError(f"The reference accepts num_samples={num_samples}: the probes are wrong.")
    return passed()


# test_tsne_embedding -----------------------------------------------------------------------------
def _rows(array) -> list[list[float]]:
    return [[float(value) for value in row] for row in array]


def tsne_embedding_probes(rng: np.random.Generator) -> dict:
    """Clusters behind dimensions of huge noise, and perplexities too large for a few points."""
    num_clusters = int(rng.integers(3, 5))
    centres = rng.normal(size=(num_clusters, CLUSTER_DIMENSIONS)) * 4
    while min(np.linalg.norm(centres[i] - centres[j]) for i in range(num_clusters)
              for j in range(i + 1, num_clusters)) < MINIMUM_CENTRE_DISTANCE:
        centres = rng.normal(size=(num_clusters, CLUSTER_DIMENSIONS)) * 4
    groups = rng.permutation(np.repeat(np.arange(num_clusters), rng.integers(18, 25, size=num_clusters)))
    points = np.hstack([centres[groups] + rng.normal(size=(len(groups), CLUSTER_DIMENSIONS)),
                        rng.normal(size=(len(groups), NOISE_DIMENSIONS)) * NOISE_SCALE])
    few = int(rng.integers(8, 16))
    bad_cases = [{"points": _rows(rng.normal(size=(few, 4))), "perplexity": perplexity}
                 for perplexity in (float(few), float(few + int(rng.integers(1, 10))))]
    return {"points": _rows(points), "groups": [int(group) for group in groups], "seed": int(rng.integers(0, 2**31)),
            "bad_cases": bad_cases}


def neighbour_agreement(embedding: np.ndarray, groups: np.ndarray) -> float:
    """The fraction of each point's nearest neighbours on the map that belong to its group."""
    _, neighbours = NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(embedding).kneighbors(embedding)
    return float(np.mean(groups[neighbours[:, 1:]] == groups[:, None]))


def judge_tsne_embedding(probes: dict, export) -> Judgement:
    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED if export is None else "the export does not hold a map")
    refusals = exported_list(export, "refusals", len(probes["bad_cases"]), "refused perplexity")
    if isinstance(refusals, Judgement):
        return refusals
    result, groups = export.get("map"), np.asarray(probes["groups"], dtype=np.int64)
    if not isinstance(result, dict) or "error" in result:
        return failed(f"tsne_embedding raised {error_name(result)}")
    rows = result.get("rows")
    if (not isinstance(rows, list) or len(rows) != len(groups)
            or not all(isinstance(row, list) and len(row) == 2 and all(map(is_number, row)) for row in rows)):
        return failed(f"tsne_embedding must return a finite array of shape ({len(groups)}, 2)")
    embedding = np.asarray(rows, dtype=np.float64)
    if np.std(embedding) < 1e-6:
        return failed("the map is degenerate (every point at the same place)")
    agreement = neighbour_agreement(embedding, groups)
    if agreement < MINIMUM_AGREEMENT:
        return failed(f"on features of very different scales the map does not find the groups ({agreement:.0%} of "
                      f"neighbours in the same group): standardise the features (StandardScaler)")
    for case, refusal in zip(probes["bad_cases"], refusals):
        try:
            tsne_embedding(np.asarray(case["points"], dtype=np.float64), 0, perplexity=case["perplexity"])
        except ValueError:
            if not isinstance(refusal, dict) or refusal.get("value_error") is not True:
                return failed(f"perplexity={case['perplexity']:g} for {len(case['points'])} points: tsne_embedding "
                              f"must raise ValueError (the perplexity must be smaller than the number of points)")
        else:
            raise ValueError(f"The reference accepts the perplexity {case['perplexity']!r}: the probes are wrong.")
    return passed()


VERDICTS = (
    CellVerdict("test_stratified_subset", stratified_subset_probes, judge_stratified_subset),
    CellVerdict("test_tsne_embedding", tsne_embedding_probes, judge_tsne_embedding),
)
