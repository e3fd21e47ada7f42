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

The cells of the models are judged from the models themselves, rebuilt here with ``safe_mode=True``:

* ``test_feature_extractor``: the kernel builds two small classifiers from the grader's drawn
  settings (a CNN, and a model whose convolutions sit in a nested base as in transfer learning;
  both end with a Dropout before the last Dense layer) and exports each model, the student's
  ``feature_extractor`` of it (a ``.keras`` archive) and ``extract_features`` on the grader's
  random pixels with the drawn batch size; likewise for the saved best model of the run on
  validation images the grader drew. The verdict checks that each probe model is the one the
  settings describe, then that the extractor (a Functional model with the model's input) gives
  the input of the last Dense layer, before its Dropout (in training mode too, on the probe models), and that the
  float32 features match, against :func:`paysages.probes.penultimate_features` of the rebuilt models.
* ``test_features_saved``: the kernel exports arrays/features.npz as read from the disk with the
  saved best model; the verdict decodes the validation images itself, checks that the indices are
  a stratified subset of the grader's size with their labels, recomputes the features from the
  model and requires the saved map to keep the neighbours as well as the reference's t-SNE
  (trustworthiness within 0.05).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from autograde.verdicts.cells import (NOTHING_EXPORTED, CellVerdict, Judgement, error_name, exported_list, failed,
                                      number_rows, passed, valid_indices)
from autograde.verdicts.models import load_saved_model
from autograde.verdicts.runs import rebuilt_best_model
from paysages.probes import fraction_positions, penultimate_features
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
# test_feature_extractor: the probe models' input side and kinds, the random images, the run's
# images, and how close features must be (relative to their largest value: a mixed-precision model
# on a GPU varies with the batch size).
PROBE_IMAGE_SIDE = 32
PROBE_MODEL_KINDS = ("cnn", "nested_base")
PROBE_IMAGES = 4
RUN_IMAGES = 8
FEATURE_TOLERANCE = 1e-3
# test_features_saved: how much less faithful to the neighbours the saved map may be than the reference's.
TRUSTWORTHINESS_MARGIN = 0.05


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
    embedding = number_rows(result.get("rows"), (len(groups), 2))
    if embedding is None:
        return failed(f"tsne_embedding must return a finite array of shape ({len(groups)}, 2)")
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


# test_feature_extractor ----------------------------------------------------------------------------
def extractor_probes(rng: np.random.Generator) -> dict:
    """Random pixels, a batch size, the settings of two probe models and the run's images (fractions)."""
    models = [{"kind": kind, "filters": int(rng.integers(4, 9)), "units": int(rng.integers(8, 17)),
               "dropout": round(float(rng.uniform(0.3, 0.6)), 3), "num_classes": int(rng.integers(3, 8)),
               "seed": int(rng.integers(0, 2**31 - 1))} for kind in PROBE_MODEL_KINDS]
    pixels = rng.integers(0, 256, size=(PROBE_IMAGES, PROBE_IMAGE_SIDE, PROBE_IMAGE_SIDE, 3))
    return {"images": pixels.tolist(), "batch_size": int(rng.integers(2, 6)), "models": models,
            "run_images": [float(fraction) for fraction in rng.random(RUN_IMAGES)]}


def _probe_model_problem(model, spec: dict) -> str | None:
    """Why the exported probe model is not the one the grader's settings describe, or None."""
    import keras
    from keras import layers

    if tuple(model.input_shape[1:]) != (PROBE_IMAGE_SIDE, PROBE_IMAGE_SIDE, 3):
        return "the probe model does not take the grader's images"
    last, before = model.layers[-1], model.layers[-2]
    if not isinstance(last, layers.Dense) or last.units != spec["num_classes"]:
        return "the probe model does not end with the drawn Dense classifier"
    if not isinstance(before, layers.Dropout) or abs(before.rate - spec["dropout"]) > 1e-9:
        return "the probe model has no Dropout of the drawn rate before its classifier"
    dense_units = [layer.units for layer in model.layers if isinstance(layer, layers.Dense)]
    if dense_units != [spec["units"], spec["num_classes"]]:
        return "the probe model's Dense layers are not the drawn ones"
    nested = any(isinstance(layer, keras.Model) for layer in model.layers)
    if nested != (spec["kind"] == "nested_base"):
        return "the probe model's convolutions are not where the settings put them"
    return None


def _close_features(got, expected: np.ndarray) -> bool:
    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1) if isinstance(got, np.ndarray) else None
    tolerance = FEATURE_TOLERANCE * max(1.0, float(np.abs(expected).max()))
    return (got is not None and got.shape == expected.shape
            and bool(np.allclose(got, expected, rtol=FEATURE_TOLERANCE, atol=tolerance)))


def _extractor_problem(extractor, model, images: np.ndarray, expected: np.ndarray, *, in_training: bool) -> str | None:
    """Why the student's extractor (rebuilt) does not give ``expected``, the penultimate representation, or None.

    ``in_training``: also call it with ``training=True``, which must change nothing (it stops before
    the Dropout). Only for the probe models: in a trained model, batch normalisation and
    augmentation layers rightly behave differently in training mode.
    """
    if type(extractor).__name__ != "Functional":
        return f"feature_extractor must return a Functional model (keras.Model(model.input, ...)), not a " \
               f"{type(extractor).__name__}"
    if tuple(extractor.input_shape[1:]) != tuple(model.input_shape[1:]):
        return "the extractor must take the model's input (keras.Model(model.input, ...))"
    batch = images.astype("float32")
    if not _close_features(np.asarray(extractor(batch, training=False)), expected):
        return "the extractor's output is not the input of the last Dense layer (the penultimate representation)"
    if in_training and not _close_features(np.asarray(extractor(batch, training=True)), expected):
        return "the extractor must stop before the Dropout that feeds the last Dense layer"
    return None


def _features_problem(features, expected: np.ndarray) -> str | None:
    if not isinstance(features, np.ndarray) or features.dtype != np.float32:
        return "extract_features must return a float32 NumPy array (np.asarray(..., dtype=np.float32))"
    if not _close_features(features, expected):
        return "extract_features does not return the penultimate representation of each image"
    return None


def judge_feature_extractor(probes: dict, export, arrays, models: dict) -> Judgement:
    if not isinstance(export, dict) or not isinstance(arrays, dict):
        return failed(NOTHING_EXPORTED if export is None else "the export does not hold the features")
    failures = export.get("failures") if isinstance(export.get("failures"), dict) else {}
    images = np.asarray(probes["images"], dtype=np.float32)
    for number, spec in enumerate(probes["models"]):
        what = f"probe model {number + 1} ({spec['kind']})"
        if str(number) in failures:
            return failed(f"{what}: feature_extractor or extract_features raised {str(failures[str(number)])[:80]}")
        model = load_saved_model(models.get(f"p{number}"), what=what)
        if isinstance(model, Judgement):
            return model
        problem = _probe_model_problem(model, spec)
        if problem:
            return failed(f"{what}: {problem}")
        expected = penultimate_features(model, images).astype(np.float64)
        extractor = load_saved_model(models.get(f"e{number}"), what=f"{what}: feature_extractor's model")
        if isinstance(extractor, Judgement):
            return extractor
        problem = _extractor_problem(extractor, model, images, expected, in_training=True) or _features_problem(
            arrays.get(f"f{number}"), expected)
        if problem:
            return failed(f"{what}: {problem}")
    rebuilt = rebuilt_best_model(export, models)
    if isinstance(rebuilt, Judgement):
        return rebuilt
    model, data, _settings = rebuilt
    if "b" in failures:
        return failed(f"the saved best model: feature_extractor or extract_features raised {str(failures['b'])[:80]}")
    run_images = data.x_validation[fraction_positions(probes["run_images"], len(data.y_validation))]
    expected = penultimate_features(model, run_images).astype(np.float64)
    extractor = load_saved_model(models.get("eb"), what="the saved best model: feature_extractor's model")
    if isinstance(extractor, Judgement):
        return extractor
    problem = _extractor_problem(extractor, model, run_images, expected, in_training=False) or _features_problem(
        arrays.get("fb"), expected)
    if problem:
        return failed(f"the saved best model: {problem}")
    return passed("the extractors give the penultimate representation of the probe models and of the best model")


# test_features_saved ------------------------------------------------------------------------------
def _saved_array(arrays, key: str, kinds: str):
    value = arrays.get(key) if isinstance(arrays, dict) else None
    return value if isinstance(value, np.ndarray) and value.dtype.kind in kinds else None


def _saved_subset_problem(indices, labels, data, count: int) -> str | None:
    """Why the saved indices and labels are not a stratified subset of ``count`` validation images, or None."""
    if indices is None or indices.shape != (count,):
        return f"indices must hold {count} integers (settings.tsne_samples validation images)"
    if len(np.unique(indices)) != count or indices.min() < 0 or indices.max() >= len(data.y_validation):
        return "the saved indices repeat or fall outside the validation set"
    num_classes = len(data.class_names)
    counts = np.bincount(data.y_validation[indices], minlength=num_classes)
    quotas = np.bincount(data.y_validation, minlength=num_classes) * count / len(data.y_validation)
    if np.any(counts == 0) or np.any(np.abs(counts - quotas) >= SHARE_TOLERANCE + 1e-9):
        return "the saved subset is not stratified"
    if labels is None or not np.array_equal(labels, data.y_validation[indices]):
        return "the saved labels must be data.y_validation[indices]"
    return None


def judge_features_saved(probes: dict, export, arrays, models: dict) -> Judgement:
    from sklearn.manifold import trustworthiness
    from sklearn.preprocessing import StandardScaler

    rebuilt = rebuilt_best_model(export, models)
    if isinstance(rebuilt, Judgement):
        return rebuilt
    model, data, settings = rebuilt
    if "error_of_file" in export:
        return failed(f"arrays/features.npz could not be read ({str(export['error_of_file'])[:80]}): run the cell "
                      f"that saves it")
    indices = _saved_array(arrays, "indices", "iu")
    count = min(settings.tsne_samples, len(data.y_validation))
    problem = _saved_subset_problem(indices, _saved_array(arrays, "labels", "iu"), data, count)
    if problem:
        return failed(f"arrays/features.npz: {problem}")
    expected = penultimate_features(model, data.x_validation[indices]).astype(np.float64)
    if not _close_features(_saved_array(arrays, "features", "f"), expected):
        return failed("arrays/features.npz: the features differ from those recomputed with the saved best model")
    embedding = _saved_array(arrays, "embedding", "f")
    if embedding is None or embedding.shape != (len(indices), 2) or not np.all(np.isfinite(embedding)):
        return failed(f"arrays/features.npz: embedding must be a finite array of shape ({len(indices)}, 2)")
    standardised = StandardScaler().fit_transform(expected)
    saved_trust = trustworthiness(standardised, embedding, n_neighbors=NEIGHBOURS)
    reference_trust = trustworthiness(standardised, tsne_embedding(expected, settings.seed), n_neighbors=NEIGHBOURS)
    if saved_trust < reference_trust - TRUSTWORTHINESS_MARGIN:
        return failed(f"arrays/features.npz: the saved map keeps the neighbours less well ({saved_trust:.2f}) than "
                      f"the reference's t-SNE of these features ({reference_trust:.2f})")
    return passed("features.npz holds the saved best model's features of a stratified subset and a faithful map")


VERDICTS = (
    CellVerdict("test_stratified_subset", stratified_subset_probes, judge_stratified_subset),
    CellVerdict("test_feature_extractor", extractor_probes, judge_feature_extractor, reads_arrays=True,
                reads_models=True),
    CellVerdict("test_tsne_embedding", tsne_embedding_probes, judge_tsne_embedding),
    CellVerdict("test_features_saved", lambda rng: {}, judge_features_saved, reads_arrays=True, reads_models=True),
)
