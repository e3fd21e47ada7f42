"""Verdicts of notebook 05's pure functions (classification_scores, model_family), with ``solutions``.

Each probe set is drawn from the run's generator, so that no answer can be written in advance:

* ``test_classification_scores``: random labels and probabilities where every class occurs,
  quantised probabilities where two classes tie (the first wins) and some true class has a zero
  probability (the loss clips it), a set where a class is never predicted, and a perfect
  classifier; accuracy, macro-F1 and loss must agree with the reference.
* ``test_model_family``: the course's model names, made-up names of each family and of none,
  near misses (``cnnx``, ``regular``, ``Transfer_x``...) and values that are not text, on which
  the reference raises ValueError.

The other cells of notebook 05 (the selection rule, the results table and the saved results)
are still checked inside the kernel; ``autograde/README.md`` says which notebooks are covered.
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import CellVerdict, error_name, export_error, is_number, judge_each_probe
from solutions.comparison import model_family
from solutions.evaluation import classification_scores
from solutions.grading import COURSE_MODEL_NAMES

NOTEBOOK = "05_comparaison"
SCORE_KEYS = ("accuracy", "loss", "macro_f1")
SCORE_TOLERANCE = 1e-6


# test_classification_scores ----------------------------------------------------------------------
def _scores_case(labels, probabilities) -> dict:
    return {"labels": [int(label) for label in labels],
            "probabilities": [[float(value) for value in row] for row in probabilities]}


def scores_probes(rng: np.random.Generator) -> dict:
    """Continuous, quantised (ties, zero probabilities), never-predicted and perfect cases."""
    cases = []
    # Every class occurs among the labels.
    num_classes = int(rng.integers(3, 8))
    size = int(rng.integers(40, 120))
    labels = np.concatenate([np.arange(num_classes), rng.integers(0, num_classes, size=size - num_classes)])
    cases.append(_scores_case(rng.permutation(labels), rng.dirichlet(np.ones(num_classes), size=size)))
    # Few distinct values: ties between classes, and zeros on some true classes.
    num_classes = int(rng.integers(3, 7))
    size = int(rng.integers(20, 60))
    weights = rng.integers(0, 3, size=(size, num_classes)).astype(np.float64)
    empty = weights.sum(axis=1) == 0
    weights[empty, rng.integers(0, num_classes, size=int(empty.sum()))] = 1.0
    cases.append(_scores_case(rng.integers(0, num_classes, size=size), weights / weights.sum(axis=1, keepdims=True)))
    # The last class is never predicted: its F1 is 0 (zero_division=0), not an error.
    num_classes = int(rng.integers(3, 6))
    size = int(rng.integers(15, 40))
    probabilities = rng.dirichlet(np.ones(num_classes), size=size)
    probabilities[:, -1] = 0.0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    cases.append(_scores_case(rng.integers(0, num_classes, size=size), probabilities))
    # A perfect classifier.
    num_classes = int(rng.integers(2, 6))
    labels = rng.integers(0, num_classes, size=int(rng.integers(5, 20)))
    confidence = float(rng.uniform(0.5, 0.95))
    probabilities = np.full((len(labels), num_classes), (1 - confidence) / (num_classes - 1))
    probabilities[np.arange(len(labels)), labels] = confidence
    cases.append(_scores_case(labels, probabilities))
    return {"cases": cases}


def _scores_problem(case: dict, result) -> str | None:
    if not isinstance(result, dict) or "error" in result:
        return f"classification_scores raised {error_name(result)}"
    if result.get("type") != "dict" or result.get("keys") != list(SCORE_KEYS):
        return "classification_scores must return a dict with the keys accuracy, macro_f1 and loss"
    expected = classification_scores(np.asarray(case["labels"], dtype=np.int64),
                                     np.asarray(case["probabilities"], dtype=np.float64))
    values = result.get("values")
    for key in SCORE_KEYS:
        value = values.get(key) if isinstance(values, dict) else None
        if not is_number(value):
            return f"{key} is not a number"
        if abs(float(value) - expected[key]) > SCORE_TOLERANCE:
            return f"wrong {key} (ties go to the first class, a class never predicted has F1 0, probabilities are clipped)"
    return None


def judge_scores(probes: dict, export):
    return judge_each_probe(export, probes["cases"], _scores_problem)


# test_model_family ------------------------------------------------------------------------------
def _made_up_suffix(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), size=int(rng.integers(2, 9))))


def family_probes(rng: np.random.Generator) -> dict:
    """Course names, made-up names of every family and of none, near misses, and values that are not text."""
    names = list(COURSE_MODEL_NAMES)
    for prefix in ("cnn_", "reg_", "transfer_", "modele_", "resnet_"):
        names += [prefix + _made_up_suffix(rng) for _ in range(2)]
    # Near misses: a prefix without its underscore, another case, the prefix inside the name.
    suffix = _made_up_suffix(rng)
    names += ["cnnx", "regular", "transferred", "CNN", f"Reg_{suffix}", f"Transfer_{suffix}", f"my_cnn_{suffix}",
              f"x_reg_{suffix}", "reg", "transfer", ""]
    names = [str(name) for name in rng.permutation(names)]
    not_text = [int(rng.integers(0, 100)), None, float(rng.uniform(0, 10)), ["cnn"], {"name": "reg_l2"}]
    return {"names": names, "not_text": not_text}


def _family_problem(name: str, result) -> str | None:
    if not isinstance(result, dict) or "error" in result:
        return f"model_family raised {error_name(result)} on a name"
    if result.get("value") != model_family(name):
        return f"wrong family for the name {name!r}"
    return None


def _refusal_problem(value, result) -> str | None:
    if not isinstance(result, dict) or result.get("value_error") is not True:
        return f"model_family must raise ValueError when the name is a {type(value).__name__}, not text"
    return None


def judge_family(probes: dict, export):
    failure = export_error(export, "model_family")
    if failure is not None:
        return failure
    names = judge_each_probe(export, probes["names"], _family_problem)
    if names.fraction < 1.0:
        return names
    refusals = {"results": export.get("refusals")}
    return judge_each_probe(refusals, probes["not_text"], _refusal_problem)


VERDICTS = (
    CellVerdict("test_classification_scores", scores_probes, judge_scores),
    CellVerdict("test_model_family", family_probes, judge_family),
)
