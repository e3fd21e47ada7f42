"""Verdicts of notebook 06 (misclassified_examples, most_confused_pairs, per_class_report), with ``solutions.errors``.

Each probe set is drawn from the run's generator, with made-up class names, so that no answer can
be written in advance:

* ``test_misclassified_examples``: random labels and probabilities, some quantised so that two
  classes tie (the first wins) and two errors share a confidence (index order), one set without
  any error, and label and probability arrays of different lengths, which must raise ValueError;
  the rows must be the reference's, in its order.
* ``test_most_confused_pairs``: random confusion matrices with ties, a diagonal one, one with
  empty classes and a ``top`` larger than the number of confusions; the rows must be the
  reference's, in its order.
* ``test_per_class_report``: random labels and predictions, a class never predicted, a class
  recalled perfectly, and a perfect prediction; precision, recall, F1 and support must agree with
  the reference (``sklearn.metrics.precision_recall_fscore_support``) for every class.

``test_most_confused_pairs`` and ``test_per_class_report`` also checked, in the kernel, the
notebook's own ``matrix``, ``confusions`` and ``report`` against the saved best model. The trusted
process has neither the model nor the images: the kernel exports the validation labels, the saved
best model's predictions (both recomputed from the run folder and the data, not from notebook
variables) and those three results, and the verdict checks that they agree with the reference on
these predictions. It is a verdict of consistency, as for notebook 01's split.csv: the labels and
predictions are the kernel's report.

The cells of the saved models are judged from the models themselves: the kernel exports the run
folder's model (``paysages.probes.export_run``), and the trusted process rebuilds it with
``safe_mode=True``, decodes the validation images itself from the grading data and recomputes:

* ``test_errors_best_model``: the notebook's ``errors`` table must list exactly the images the
  model of best.json misclassifies, with their labels, class names and confidences, most
  confident first;
* ``test_saved_errors``: errors.json (as read from the disk) must name that model, list the same
  errors with each image's path, and hold its confusion matrix and per-class report;
* ``test_grad_cam`` (bonus): the student's ``grad_cam`` is called in the kernel on the saved model
  the notebook explains (``cam_name``), at validation positions the grader drew, for the predicted
  class and two classes drawn at random; each map must lie in [0, 1], have the image's size and
  correlate with the reference map (``solutions.gradcam``) computed here on the same model and images.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics

from autograde.verdicts.cells import (CellVerdict, Judgement, close_numbers, error_name, exported_list, failed,
                                      is_number, judge_each_probe, passed, random_class_names, table_problem,
                                      valid_indices)
from autograde.verdicts.runs import rebuilt_best_model, rebuilt_saved_model
from paysages.probes import fraction_positions
from solutions.errors import misclassified_examples, most_confused_pairs, per_class_report

NOTEBOOK = "06_erreurs"
TOLERANCE = 1e-9
REPORT_TOLERANCE = 1e-6
ERROR_COLUMNS = ["index", "true_label", "predicted_label", "true_class", "predicted_class", "confidence"]
PAIR_COLUMNS = ["true_class", "predicted_class", "count", "share"]
REPORT_COLUMNS = ["precision", "recall", "f1", "support"]
# The top of the saved best model's confusions, as the notebook computes them.
BEST_MODEL_TOP = 5
# How far a confidence or a score read from the notebook may be from the one recomputed here (the
# kernel may have run the model on a GPU, or by batches of another size).
SAVED_MODEL_TOLERANCE = 1e-4
# test_grad_cam: the validation images explained, the correlation a map must reach with the
# reference's, and the spread under which a reference map counts as uniform (nothing to compare).
GRAD_CAM_IMAGES = 3
GRAD_CAM_CORRELATION = 0.9
GRAD_CAM_UNIFORM = 1e-6


# The saved best model (kernel-reported labels and predictions) ------------------------------------
def _best_model_outcome(best):
    """(problem, class names, labels, predictions) from the kernel's report on the saved best model."""
    if not isinstance(best, dict) or "error" in best:
        return f"the saved best model could not be evaluated ({error_name(best)})", None, None, None
    class_names, labels, predictions = best.get("class_names"), best.get("labels"), best.get("predictions")
    if (not isinstance(class_names, list) or not class_names or not all(type(name) is str for name in class_names)
            or valid_indices(labels, len(class_names)) is None or valid_indices(predictions, len(class_names)) is None
            or not labels or len(labels) != len(predictions)):
        return "the export does not describe the saved best model's predictions", None, None, None
    return None, class_names, np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)


# test_misclassified_examples ---------------------------------------------------------------------
def _error_case(labels, probabilities, class_names) -> dict:
    return {"labels": [int(label) for label in labels],
            "probabilities": [[float(value) for value in row] for row in probabilities], "class_names": class_names}


def misclassified_probes(rng: np.random.Generator) -> dict:
    """Quantised and continuous probabilities, a set without errors, and lengths that disagree."""
    cases = []
    for _ in range(2):
        # Few distinct values: ties between classes and between confidences.
        num_classes, size = int(rng.integers(3, 8)), int(rng.integers(20, 80))
        weights = rng.integers(0, 4, size=(size, num_classes)).astype(np.float64)
        empty = weights.sum(axis=1) == 0
        weights[empty, rng.integers(0, num_classes, size=int(empty.sum()))] = 1.0
        cases.append(_error_case(rng.integers(0, num_classes, size=size), weights / weights.sum(axis=1, keepdims=True),
                                 random_class_names(rng, num_classes)))
    num_classes, size = int(rng.integers(3, 8)), int(rng.integers(30, 90))
    cases.append(_error_case(rng.integers(0, num_classes, size=size), rng.dirichlet(np.ones(num_classes), size=size),
                             random_class_names(rng, num_classes)))
    num_classes, size = int(rng.integers(2, 6)), int(rng.integers(3, 15))
    labels = rng.integers(0, num_classes, size=size)
    cases.append(_error_case(labels, np.eye(num_classes)[labels], random_class_names(rng, num_classes)))
    bad_cases = []
    for difference in (-int(rng.integers(1, 3)), int(rng.integers(1, 4))):
        num_classes, size = int(rng.integers(2, 6)), int(rng.integers(3, 12))
        probabilities = rng.dirichlet(np.ones(num_classes), size=size + difference)
        bad_cases.append(_error_case(rng.integers(0, num_classes, size=size), probabilities,
                                     random_class_names(rng, num_classes)))
    return {"cases": cases, "bad_cases": bad_cases}


def _reference_errors(case: dict):
    return misclassified_examples(np.asarray(case["labels"], dtype=np.int64),
                                  np.asarray(case["probabilities"], dtype=np.float64), list(case["class_names"]))


def judge_misclassified(probes: dict, export) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    refusals = exported_list(export, "refusals", len(probes["bad_cases"]), "refused shape")
    if isinstance(refusals, Judgement):
        return refusals
    for number, (case, result) in enumerate(zip(probes["cases"], results), start=1):
        problem = table_problem(result, ERROR_COLUMNS, "misclassified_examples")
        if problem:
            return failed(f"probe {number}: {problem}")
        expected, values = _reference_errors(case), result["values"]
        if values["index"] != expected["index"].tolist():
            return failed(f"probe {number}: wrong misclassified images or wrong order (most confident first; a tie "
                          f"between classes goes to the first one, equal confidences keep the index order)")
        for column in ERROR_COLUMNS[1:5]:
            if values[column] != expected[column].tolist():
                return failed(f"probe {number}: the column {column} is wrong")
        if not close_numbers(values["confidence"], expected["confidence"].to_numpy(), TOLERANCE):
            return failed(f"probe {number}: the column confidence is wrong (the probability of the predicted class)")
    for number, (case, result) in enumerate(zip(probes["bad_cases"], refusals), start=1):
        try:
            _reference_errors(case)
        except ValueError:
            if not isinstance(result, dict) or result.get("value_error") is not True:
                return failed(f"refused shape {number}: labels and probabilities of different lengths must raise "
                              f"ValueError")
        else:
            raise ValueError(f"The reference accepts the refused shapes {number}: the probes are wrong.")
    return passed()


# test_most_confused_pairs ------------------------------------------------------------------------
def confused_pairs_probes(rng: np.random.Generator) -> dict:
    """Random matrices with ties, a diagonal one, and one with empty classes and a large top."""
    cases = []
    for top in (5, None):
        num_classes = int(rng.integers(4, 9))
        matrix = rng.integers(0, 5, size=(num_classes, num_classes))
        top = top or int(rng.integers(1, num_classes * (num_classes - 1) + 1))
        cases.append({"matrix": matrix.tolist(), "class_names": random_class_names(rng, num_classes), "top": top})
    num_classes = int(rng.integers(3, 8))
    cases.append({"matrix": np.diag(rng.integers(1, 20, size=num_classes)).tolist(),
                  "class_names": random_class_names(rng, num_classes), "top": int(rng.integers(1, 6))})
    num_classes = int(rng.integers(4, 8))
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    rows = rng.choice(num_classes, size=2, replace=False)
    for row in rows:
        matrix[row] = rng.integers(1, 3, size=num_classes)
    cases.append({"matrix": matrix.tolist(), "class_names": random_class_names(rng, num_classes),
                  "top": num_classes * num_classes})
    return {"cases": cases}


def _pairs_problem(result, expected) -> str | None:
    problem = table_problem(result, PAIR_COLUMNS, "most_confused_pairs")
    if problem:
        return problem
    values = result["values"]
    if (values["true_class"] != expected["true_class"].tolist()
            or values["predicted_class"] != expected["predicted_class"].tolist()
            or values["count"] != expected["count"].tolist()):
        return ("wrong confusions or wrong order (diagonal left out, most frequent first, ties by true then predicted "
                "class, at most top rows)")
    if not close_numbers(values["share"], expected["share"].to_numpy(dtype=np.float64), TOLERANCE):
        return "the column share is wrong (the fraction of the true class's images)"
    return None


def _confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    return metrics.confusion_matrix(labels, predictions, labels=np.arange(num_classes))


def judge_confused_pairs_probes(probes: dict, export) -> Judgement:
    """The probes only (the saved best model apart)."""
    def problem_of(case, result):
        expected = most_confused_pairs(np.asarray(case["matrix"], dtype=np.int64), list(case["class_names"]),
                                       top=case["top"])
        return _pairs_problem(result, expected)

    return judge_each_probe(export, probes["cases"], problem_of)


def judge_confused_pairs_best_model(best) -> Judgement:
    """The notebook's ``matrix`` and ``confusions`` against the saved best model's predictions."""
    problem, class_names, labels, predictions = _best_model_outcome(best)
    if problem:
        return failed(problem)
    expected_matrix = _confusion_matrix(labels, predictions, len(class_names))
    matrix = best.get("matrix")
    if (not isinstance(matrix, list) or len(matrix) != len(expected_matrix)
            or not all(isinstance(row, list) and close_numbers(row, expected, 0.0)
                       for row, expected in zip(matrix, expected_matrix))):
        return failed("matrix does not match the saved best model's predictions")
    problem = _pairs_problem(best.get("confusions"),
                             most_confused_pairs(expected_matrix, class_names, top=BEST_MODEL_TOP))
    if problem:
        return failed(f"confusions (the saved best model): {problem}")
    return passed()


def judge_confused_pairs(probes: dict, export) -> Judgement:
    judgement = judge_confused_pairs_probes(probes, export)
    if judgement.fraction < 1.0:
        return judgement
    return judge_confused_pairs_best_model(export.get("best"))


# test_per_class_report ---------------------------------------------------------------------------
def per_class_report_probes(rng: np.random.Generator) -> dict:
    """Random predictions with a class never predicted and a class recalled perfectly, and a perfect one."""
    cases = []
    for _ in range(2):
        num_classes, size = int(rng.integers(4, 9)), int(rng.integers(40, 150))
        labels = rng.permutation(np.concatenate([np.arange(num_classes),
                                                 rng.integers(0, num_classes, size=size - num_classes)]))
        predictions = np.where(rng.random(size) < rng.uniform(0.4, 0.8), labels,
                               rng.integers(0, num_classes - 1, size=size))
        never, perfect = rng.choice(num_classes, size=2, replace=False)
        predictions[predictions == never] = perfect
        predictions[labels == perfect] = perfect
        cases.append({"labels": labels.tolist(), "predictions": predictions.tolist(),
                      "class_names": random_class_names(rng, num_classes)})
    num_classes = int(rng.integers(3, 8))
    labels = rng.permutation(np.repeat(np.arange(num_classes), int(rng.integers(1, 4))))
    cases.append({"labels": labels.tolist(), "predictions": labels.tolist(),
                  "class_names": random_class_names(rng, num_classes)})
    return {"cases": cases}


def _report_problem(result, expected) -> str | None:
    problem = table_problem(result, REPORT_COLUMNS, "per_class_report")
    if problem:
        return problem
    if result.get("index") != [str(name) for name in expected.index]:
        return "the rows are not the classes, indexed by their names in the order of class_names"
    for column in REPORT_COLUMNS:
        if not close_numbers(result["values"][column], expected[column].to_numpy(dtype=np.float64), REPORT_TOLERANCE):
            return f"the column {column} does not match scikit-learn (precision_recall_fscore_support, zero_division=0)"
    return None


def judge_per_class_report_probes(probes: dict, export) -> Judgement:
    """The probes only (the saved best model apart)."""
    def problem_of(case, result):
        expected = per_class_report(np.asarray(case["labels"], dtype=np.int64),
                                    np.asarray(case["predictions"], dtype=np.int64), list(case["class_names"]))
        return _report_problem(result, expected)

    return judge_each_probe(export, probes["cases"], problem_of)


def judge_per_class_report_best_model(best) -> Judgement:
    """The notebook's ``report`` against the saved best model's predictions."""
    problem, class_names, labels, predictions = _best_model_outcome(best)
    if problem:
        return failed(problem)
    problem = _report_problem(best.get("report"), per_class_report(labels, predictions, class_names))
    if problem:
        return failed(f"report (the saved best model): {problem}")
    return passed()


def judge_per_class_report(probes: dict, export) -> Judgement:
    judgement = judge_per_class_report_probes(probes, export)
    if judgement.fraction < 1.0:
        return judgement
    return judge_per_class_report_best_model(export.get("best"))


# The run's saved models, rebuilt here -----------------------------------------------------------------
def _best_model_errors(export, models: dict):
    """``(data, probabilities, expected errors)`` of the model best.json names, recomputed here; or the failing judgement."""
    from solutions.evaluation import predict_probabilities

    rebuilt = rebuilt_best_model(export, models)
    if isinstance(rebuilt, Judgement):
        return rebuilt
    model, data, _settings = rebuilt
    probabilities = predict_probabilities(model, data.x_validation)
    return data, probabilities, misclassified_examples(data.y_validation, probabilities, list(data.class_names))


def _error_rows_problem(rows: list, expected, what: str) -> str | None:
    """Why ``rows`` (dicts with an index, class names, a confidence, maybe labels) are not the expected errors, or None."""
    if not all(isinstance(row, dict) for row in rows):
        return f"{what}: every error must be a row of values"
    indices = [row.get("index") for row in rows]
    if not all(type(index) is int for index in indices):
        return f"{what}: every index must be an integer"
    if len(set(indices)) != len(indices) or sorted(indices) != sorted(expected["index"].tolist()):
        return (f"{what} does not list exactly the images the saved best model misclassifies "
                f"({len(expected)} images, each once)")
    expected_of = {int(row["index"]): row for row in expected.to_dict(orient="records")}
    for row in rows:
        reference = expected_of[row["index"]]
        for column in ("true_label", "predicted_label", "true_class", "predicted_class"):
            if column in row and row[column] != reference[column]:
                return f"{what}: the {column} of image {row['index']} does not match the saved best model"
        confidence = row.get("confidence")
        if not is_number(confidence) or abs(confidence - reference["confidence"]) > SAVED_MODEL_TOLERANCE:
            return f"{what}: the confidence of image {row['index']} does not match the saved best model"
    return None


# test_errors_best_model -------------------------------------------------------------------------
def judge_errors_best_model(probes: dict, export, models: dict) -> Judgement:
    outcome = _best_model_errors(export, models)
    if isinstance(outcome, Judgement):
        return outcome
    _data, _probabilities, expected = outcome
    table = export.get("errors")
    problem = table_problem(table, ERROR_COLUMNS, "errors")
    if problem:
        return failed(problem)
    values = table["values"]
    rows = [dict(zip(ERROR_COLUMNS, items)) for items in zip(*(values[column] for column in ERROR_COLUMNS))]
    problem = _error_rows_problem(rows, expected, "errors")
    if problem:
        return failed(problem)
    confidences = np.asarray(values["confidence"], dtype=np.float64)
    if np.any(np.diff(confidences) > 1e-6):
        return failed("errors must be sorted by decreasing confidence")
    return passed(f"errors lists the {len(expected)} images the saved best model misclassifies")


# test_saved_errors ------------------------------------------------------------------------------
def _saved_report_problem(per_class, labels, predictions, class_names) -> str | None:
    """Why errors.json's per_class does not hold the saved best model's report, or None."""
    if not isinstance(per_class, dict):
        return "per_class must map each class to its measures"
    expected = per_class_report(labels, predictions, class_names)
    for name in class_names:
        entry = per_class.get(name)
        if not isinstance(entry, dict):
            return f"the class {name} is missing from per_class"
        for column in REPORT_COLUMNS:
            value = entry.get(column)
            if not is_number(value) or abs(value - float(expected.loc[name, column])) > REPORT_TOLERANCE:
                return f"the {column} of {name} in per_class does not match the saved best model"
    return None


def judge_saved_errors(probes: dict, export, models: dict) -> Judgement:
    outcome = _best_model_errors(export, models)
    if isinstance(outcome, Judgement):
        return outcome
    data, probabilities, expected = outcome
    saved = export.get("file")
    if not isinstance(saved, dict) or saved.get("model") != export["best"]:
        return failed("errors.json must describe the model named by best.json")
    entries = saved.get("errors")
    if not isinstance(entries, list):
        return failed("errors.json: errors must be a list of objects")
    problem = _error_rows_problem(entries, expected, "errors.json")
    if problem:
        return failed(problem)
    paths = export["split"]["validation"]
    if any(entry.get("path") != paths[entry["index"]] for entry in entries):
        return failed("errors.json: the path of an error is not its validation image's (data.validation_paths)")
    class_names = list(data.class_names)
    predictions = probabilities.argmax(axis=1)
    matrix = _confusion_matrix(data.y_validation, predictions, len(class_names))
    saved_matrix = saved.get("confusion_matrix")
    if (not isinstance(saved_matrix, list) or len(saved_matrix) != len(class_names)
            or not all(close_numbers(row, expected_row, 0.0) for row, expected_row in zip(saved_matrix, matrix))):
        return failed("errors.json: the confusion matrix does not match the saved best model")
    problem = _saved_report_problem(saved.get("per_class"), data.y_validation, predictions, class_names)
    if problem:
        return failed(f"errors.json: {problem}")
    return passed("errors.json describes the saved best model's errors, confusions and per-class report")


# test_grad_cam ------------------------------------------------------------------------------------
def grad_cam_probes(rng: np.random.Generator) -> dict:
    """Validation images, each explained for its predicted class and two classes drawn at random.

    Images and classes are fractions of their numbers (``paysages.probes.fraction_positions``):
    the grader draws them before it knows the run.
    """
    calls = []
    for image in rng.random(GRAD_CAM_IMAGES):
        calls += [{"image": float(image), "class": None}]
        calls += [{"image": float(image), "class": float(fraction)} for fraction in rng.random(2)]
    return {"calls": calls}


def grad_cam_calls(probes: dict, num_images: int, num_classes: int) -> list[tuple[int, int | None]]:
    """The ``(position, class index or None)`` of each call of ``grad_cam``, as the kernel makes them."""
    calls = []
    for call in probes["calls"]:
        position = fraction_positions([call["image"]], num_images)[0]
        class_index = None if call["class"] is None else fraction_positions([call["class"]], num_classes)[0]
        calls.append((position, class_index))
    return calls


def _grad_cam_problem(student_map, reference_map) -> str | None:
    if student_map.shape != reference_map.shape:
        return f"the map has the shape {student_map.shape}, not the image's {reference_map.shape}"
    if not np.all(np.isfinite(student_map)) or student_map.min() < 0 or student_map.max() > 1 + 1e-6:
        return "the map must be normalised between 0 and 1 (ReLU, then division by the maximum)"
    if reference_map.std() < GRAD_CAM_UNIFORM:
        return None
    if student_map.std() < GRAD_CAM_UNIFORM:
        return "the map is uniform: check the layer explained and the weighting of its maps"
    correlation = float(np.corrcoef(student_map.ravel(), reference_map.ravel())[0, 1])
    if not correlation > GRAD_CAM_CORRELATION:
        return f"the map differs from the reference's (correlation {correlation:.2f})"
    return None


def judge_grad_cam(probes: dict, export, arrays, models: dict) -> Judgement:
    from solutions.gradcam import grad_cam

    if isinstance(export, dict) and "maps_error" in export:
        return failed(f"the maps of grad_cam could not be computed on the saved model cam_name names "
                      f"({str(export['maps_error'])[:80]})")
    rebuilt = rebuilt_saved_model(export, models, export.get("cam_name") if isinstance(export, dict) else None,
                                  "cam_name")
    if isinstance(rebuilt, Judgement):
        return rebuilt
    model, data, _settings = rebuilt
    calls = grad_cam_calls(probes, len(data.y_validation), len(data.class_names))
    maps = arrays.get("maps") if isinstance(arrays, dict) else None
    if not isinstance(maps, np.ndarray) or maps.dtype.kind != "f" or len(maps) != len(calls):
        return failed("the export does not hold one map per call of grad_cam")
    for student_map, (position, class_index) in zip(maps.astype(np.float64), calls):
        image = data.x_validation[position]
        problem = _grad_cam_problem(student_map, np.asarray(grad_cam(model, image, class_index), dtype=np.float64))
        if problem:
            what = "the predicted class" if class_index is None else f"class {class_index}"
            return failed(f"image {position}, {what}: {problem}")
    return passed(f"{len(calls)} Grad-CAM maps agree with the reference")


VERDICTS = (
    CellVerdict("test_misclassified_examples", misclassified_probes, judge_misclassified),
    CellVerdict("test_most_confused_pairs", confused_pairs_probes, judge_confused_pairs),
    CellVerdict("test_per_class_report", per_class_report_probes, judge_per_class_report),
    CellVerdict("test_errors_best_model", lambda rng: {}, judge_errors_best_model, reads_models=True),
    CellVerdict("test_saved_errors", lambda rng: {}, judge_saved_errors, reads_models=True),
    CellVerdict("test_grad_cam", grad_cam_probes, judge_grad_cam, reads_arrays=True, reads_models=True),
)
