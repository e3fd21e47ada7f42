"""Notebook 05's verdicts of its pure functions (classification_scores, model_family), judged outside a kernel.

The kernel's side is played by the hidden regions of notebook 05's test cells, run in this process
(``tests/helpers/verdicts.py``) with the reference functions or broken ones.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics

from autograde.verdicts import nb05, registry
from solutions import comparison, evaluation
from tests.helpers.verdicts import probe_exchange

NOTEBOOK = nb05.NOTEBOOK
GRADE_IDS = {"test_classification_scores", "test_model_family"}
REFERENCE = {"classification_scores": evaluation.classification_scores, "model_family": comparison.model_family}


def _verdicts(tmp_path, seed: int, **changes) -> dict:
    export = probe_exchange(NOTEBOOK, seed, {**REFERENCE, **changes}, GRADE_IDS, tmp_path)
    result = registry.judge_notebook(NOTEBOOK, seed, export)
    assert result["ignored"] == []
    return result["verdicts"]


# Broken functions ---------------------------------------------------------------------------------------
def _last_class_wins(labels, probabilities):
    """Ties go to the last class (argmax of the reversed columns)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.shape[1] - 1 - probabilities[:, ::-1].argmax(axis=1)
    scores = evaluation.classification_scores(labels, probabilities)
    scores["accuracy"] = float(np.mean(predictions == np.asarray(labels)))
    return scores


def _weighted_f1(labels, probabilities):
    scores = evaluation.classification_scores(labels, probabilities)
    predictions = np.asarray(probabilities).argmax(axis=1)
    scores["macro_f1"] = float(metrics.f1_score(labels, predictions, average="weighted", zero_division=0))
    return scores


def _unclipped_loss(labels, probabilities):
    scores = evaluation.classification_scores(labels, probabilities)
    chosen = np.asarray(probabilities, dtype=np.float64)[np.arange(len(labels)), labels]
    with np.errstate(divide="ignore"):
        scores["loss"] = float(-np.mean(np.log(chosen)))
    return scores


def _numpy_scores(labels, probabilities):
    """The right numbers in an array, not a dict."""
    scores = evaluation.classification_scores(labels, probabilities)
    return np.array([scores["accuracy"], scores["macro_f1"], scores["loss"]])


def _prefix_without_underscore(name):
    if not isinstance(name, str):
        raise ValueError("not a name")
    for prefix, family in (("cnn", "02 CNN"), ("reg", "03 régularisation"), ("transfer", "04 transfert")):
        if name.startswith(prefix):
            return family
    return "autre"


def _case_insensitive(name):
    if not isinstance(name, str):
        raise ValueError("not a name")
    return comparison.model_family(name.lower())


def _accepting_anything(name):
    return comparison.model_family(str(name))


def _course_names_only(name):
    """Written from the course's own names: made-up names of a family fall into autre."""
    if not isinstance(name, str):
        raise ValueError("not a name")
    return comparison.model_family(name) if name in nb05.COURSE_MODEL_NAMES else "autre"


# Tests -----------------------------------------------------------------------------------------------------
def test_probes_of_05_repeat_with_their_seed_and_hold_the_hard_cases():
    """Do 05's probes repeat with their seed, change with another, and hold ties, zeros and made-up names?"""
    first, second = registry.make_probes(NOTEBOOK, 51), registry.make_probes(NOTEBOOK, 52)
    assert first == registry.make_probes(NOTEBOOK, 51)
    for grade_id in GRADE_IDS:
        assert first[grade_id] != second[grade_id], grade_id
    json.dumps(first)  # Plain JSON, as the kernel reads them.
    quantised = np.asarray(first["test_classification_scores"]["cases"][1]["probabilities"])
    assert np.any(np.sum(quantised == quantised.max(axis=1, keepdims=True), axis=1) > 1), "no tie between classes"
    labels = first["test_classification_scores"]["cases"][1]["labels"]
    assert np.any(quantised[np.arange(len(labels)), labels] == 0.0), "no zero probability on a true class"
    names = first["test_model_family"]["names"]
    assert set(nb05.COURSE_MODEL_NAMES) <= set(names)
    made_up = [name for name in names if name.startswith("reg_") and name not in nb05.COURSE_MODEL_NAMES]
    assert made_up and set(made_up).isdisjoint(second["test_model_family"]["names"])
    assert not registry.covers(NOTEBOOK, GRADE_IDS | {"test_selection_rule"})


@pytest.mark.parametrize("seed", [53, 54])
def test_the_reference_of_notebook_05_earns_both_verdicts(tmp_path, seed):
    """Do the reference functions, exported the kernel's way, agree with every probe of 05?"""
    verdicts = _verdicts(tmp_path, seed)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(GRADE_IDS, 1.0)


@pytest.mark.parametrize(("grade_id", "namespace", "reason"), [
    ("test_classification_scores", {"classification_scores": _last_class_wins}, "wrong accuracy"),
    ("test_classification_scores", {"classification_scores": _weighted_f1}, "wrong macro_f1"),
    ("test_classification_scores", {"classification_scores": _unclipped_loss}, "loss is not a number"),
    ("test_classification_scores", {"classification_scores": _numpy_scores}, "must return a dict"),
    ("test_model_family", {"model_family": _prefix_without_underscore}, "wrong family"),
    ("test_model_family", {"model_family": _case_insensitive}, "wrong family"),
    ("test_model_family", {"model_family": _course_names_only}, "wrong family"),
    ("test_model_family", {"model_family": _accepting_anything}, "must raise ValueError"),
])
def test_a_wrong_function_of_notebook_05_loses_exactly_its_cell(tmp_path, grade_id, namespace, reason):
    """Does each wrong function of 05 lose its own cell, with a reason that says why, and only that cell?"""
    verdicts = _verdicts(tmp_path, 55, **namespace)
    assert verdicts[grade_id]["fraction"] == 0.0
    assert reason in verdicts[grade_id]["reason"], verdicts[grade_id]
    assert all(verdicts[other]["fraction"] == 1.0 for other in GRADE_IDS - {grade_id}), verdicts


def test_a_stub_of_05_is_reported_by_name(tmp_path):
    """Is a release stub (NotImplementedError) of 05 reported by name?"""
    def stub(*arguments, **keywords):
        raise NotImplementedError()

    verdicts = _verdicts(tmp_path, 56, classification_scores=stub, model_family=stub)
    assert verdicts["test_classification_scores"]["reason"] == "probe 1: classification_scores raised NotImplementedError"
    assert verdicts["test_model_family"]["reason"] == "probe 1: model_family raised NotImplementedError on a name"


def test_answers_for_another_run_and_malformed_exports_of_05_earn_nothing(tmp_path):
    """Are another run's right answers, and exports of the wrong shape, worth nothing without crashing the judge?"""
    export = probe_exchange(NOTEBOOK, 57, dict(REFERENCE), GRADE_IDS, tmp_path)
    replayed = registry.judge_notebook(NOTEBOOK, 58, export)["verdicts"]
    assert {grade_id: verdict["fraction"] for grade_id, verdict in replayed.items()} == dict.fromkeys(GRADE_IDS, 0.0)
    probes = registry.make_probes(NOTEBOOK, 59)
    for malformed in (None, [], {"results": "OK"}, {"results": [{"value": "02 CNN"}]},
                      {"results": [{"type": "dict", "keys": list(nb05.SCORE_KEYS), "values": {"accuracy": True}}] * 4}):
        judgement = nb05.judge_scores(probes["test_classification_scores"], malformed)
        assert judgement.fraction == 0.0, malformed
    names = probes["test_model_family"]["names"]
    right = [{"value": comparison.model_family(name)} for name in names]
    judgement = nb05.judge_family(probes["test_model_family"], {"results": right, "refusals": "all of them"})
    assert judgement.fraction == 0.0 and "the export does not hold one result per probe" in judgement.reason
