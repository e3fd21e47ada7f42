"""Verdicts of notebook 05's pure functions (classification_scores, model_family), with ``solutions``.

Each probe set is drawn from the run's generator, so that no answer can be written in advance:

* ``test_classification_scores``: random labels and probabilities where every class occurs,
  quantised probabilities where two classes tie (the first wins) and some true class has a zero
  probability (the loss clips it), a set where a class is never predicted, and a perfect
  classifier; accuracy, macro-F1 and loss must agree with the reference.
* ``test_model_family``: the course's model names, made-up names of each family and of none,
  near misses (``cnnx``, ``regular``, ``Transfer_x``...) and values that are not text, on which
  the reference raises ValueError.
* ``test_selection_rule``: the student chooses the rule; only its consistency is judged. The kernel
  exports the keys of ``selection_key`` on rows the grader made up, each under the course's
  model names and the run's own: at equal cost, a row better on every validation measure must
  get the smaller key whatever the two names; a name moved from row to row may only break ties;
  the same row gives the same key twice. ``rule`` must be a sentence.
* ``test_choose_best``: tables of made-up measures under course and made-up names, each in four
  row orders, with a table of complete ties and a table of one row; the kernel exports the keys
  of their rows, ``choose_best``'s name and ``sort_results``' order for each order. The name must
  be a row with the smallest key, the same for every order, and the sorted rows the same rows by
  increasing keys.

The results table and the saved results (``test_results_table``, ``test_saved_results``) are
still checked inside the kernel; ``autograde/README.md`` says which notebooks are covered.
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import (CellVerdict, Judgement, error_name, export_error, exported_list, failed,
                                      is_number, judge_each_probe, passed)
from solutions.comparison import model_family
from solutions.evaluation import classification_scores
from solutions.grading import COURSE_MODEL_NAMES, SELECTION_MEASURES, random_measures

NOTEBOOK = "05_comparaison"
SCORE_KEYS = ("accuracy", "loss", "macro_f1")
SCORE_TOLERANCE = 1e-6
# The rows of one name test in test_selection_rule, and the names the kernel may add to the course's.
ROWS_PER_NAME = 6
EXTRA_NAME_SLOTS = 24
# The shortest sentence accepted as ``rule``.
RULE_MINIMUM_LENGTH = 20


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


# test_selection_rule and test_choose_best ------------------------------------------------------------
def _made_up_names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct names that no rule can know in advance."""
    numbers = rng.choice(np.arange(100, 10_000), size=count, replace=False)
    return [f"essai_{int(number)}" for number in numbers]


def _row(name: str, measures: dict) -> dict:
    """One row as selection_key receives it: the name, then the validation measures only."""
    return {"model": name, **{key: measures[key] for key in SELECTION_MEASURES}}


def _measures(rng: np.random.Generator, **costs) -> dict:
    """Random validation measures as plain numbers (the costs given are kept)."""
    return {key: (int(value) if key in ("num_params", "epochs") else float(value))
            for key, value in random_measures(rng, **costs).items()}


def rule_probes(rng: np.random.Generator) -> dict:
    """One template per name slot: a better and a worse row at equal cost, random rows and made-up names.

    The kernel fills the slots with the course's names, then the run's own, in this order.
    """
    templates = []
    for _ in range(len(COURSE_MODEL_NAMES) + EXTRA_NAME_SLOTS):
        better = _measures(rng)
        worse = dict(better, accuracy=better["accuracy"] - 0.2, macro_f1=better["macro_f1"] - 0.15,
                     loss=better["loss"] + 0.5)
        templates.append({"better": better, "worse": worse, "rows": [_measures(rng) for _ in range(ROWS_PER_NAME)],
                          "names": _made_up_names(rng, ROWS_PER_NAME + 1)})
    return {"course_names": list(COURSE_MODEL_NAMES), "common_name": "modele", "templates": templates}


def _plain_key(value):
    """An exported key as a tuple of floats and strs, or None when it is not one."""
    if not isinstance(value, list) or not value or not all(type(item) in (float, str) for item in value):
        return None
    return tuple(value)


def _order(left: tuple, right: tuple):
    """-1, 0 or 1 as ``left`` sorts before, with or after ``right``; None when they do not compare."""
    try:
        return (left > right) - (left < right)
    except TypeError:
        return None


SHAPE_PROBLEM = "the keys do not compare with each other: return a tuple of the same shape for every row"


def _keys(values, count: int):
    """The exported keys of ``count`` rows as tuples, or the problem (a str)."""
    if not isinstance(values, list) or len(values) != count:
        return "the export does not hold one key per row"
    keys = []
    for value in values:
        if isinstance(value, dict) and "error" in value:
            return f"selection_key raised {error_name(value)} on a row (it may read only the row's validation measures)"
        key = _plain_key(value)
        if key is None:
            return "a key is not a tuple of numbers and text"
        keys.append(key)
    return keys


def _template_problem(template: dict, result) -> str | None:
    if not isinstance(result, dict):
        return "no keys"
    pair = _keys(result.get("pair"), 5)
    if isinstance(pair, str):
        return pair
    better_other, worse_name, better_name, worse_other, better_again = pair
    if better_again != better_other:
        return "selection_key gives the same row two different keys: it must depend on the row only"
    for better, worse in ((better_other, worse_name), (better_name, worse_other)):
        order = _order(better, worse)
        if order is None:
            return SHAPE_PROBLEM
        if order >= 0:
            return ("at equal cost, the model better on every validation measure must get the smaller key (check "
                    "the direction of each criterion, and that no model name is written in the rule)")
    common = _keys(result.get("common"), ROWS_PER_NAME)
    placed = result.get("placed")
    if isinstance(common, str):
        return common
    if not isinstance(placed, list) or len(placed) != ROWS_PER_NAME:
        return "the export does not hold the keys of every placement"
    for keys in placed:
        keys = _keys(keys, ROWS_PER_NAME)
        if isinstance(keys, str):
            return keys
        for first in range(ROWS_PER_NAME):
            for second in range(first + 1, ROWS_PER_NAME):
                expected, got = _order(common[first], common[second]), _order(keys[first], keys[second])
                if expected is None or got is None:
                    return SHAPE_PROBLEM
                if expected != 0 and got != expected:
                    return ("changing only a row's name changes how two rows are ordered: the rule must depend on "
                            "the measures (the name may only break ties, last)")
    return None


def judge_rule(probes: dict, export) -> Judgement:
    failure = export_error(export, "selection_key or the run's listing")
    if failure is not None:
        return failure
    rule = export.get("rule")
    if not isinstance(rule, str) or len(rule.strip()) < RULE_MINIMUM_LENGTH:
        return failed("rule must be a sentence (a str) that states the selection rule")
    names = export.get("names")
    templates = probes["templates"]
    if (not isinstance(names, list) or not all(type(name) is str for name in names)
            or len(set(names)) != len(names) or not len(probes["course_names"]) <= len(names) <= len(templates)
            or names[:len(probes["course_names"])] != probes["course_names"]):
        return failed("the export does not list the course's model names, then the run's")
    results = exported_list(export, "results", len(names), "name")
    if isinstance(results, Judgement):
        return results
    for name, template, result in zip(names, templates, results):
        problem = _template_problem(template, result)
        if problem:
            return failed(f"with the name {name!r}: {problem}")
    return passed()


def _table(rng: np.random.Generator, names: list[str], measures: list[dict]) -> dict:
    """A made-up results table in four row orders (the last one with the index reset)."""
    rows = [{"model": name, "family": model_family(name), **{key: values[key] for key in SELECTION_MEASURES}}
            for name, values in zip(names, measures)]
    index = [int(label) for label in rng.permutation(len(rows)) * 3 + 5]
    size = len(rows)
    orders = [list(range(size)), list(range(size))[::-1], *([int(position) for position in rng.permutation(size)]
                                                             for _ in range(2))]
    return {"rows": rows, "index": index, "orders": orders, "reset": [False, False, False, True]}


def choose_best_probes(rng: np.random.Generator) -> dict:
    """Tables where every course name sits, in one table or the next, on a row that is not the best."""
    known = [str(name) for name in rng.permutation(COURSE_MODEL_NAMES)]
    tables = []
    for start in range(0, len(known), 4):
        names = known[start:start + 4] + _made_up_names(rng, 2)
        measures = [_measures(rng) for _ in names]
        tables.append(_table(rng, names, measures))
        # The same measures, each name moved to the next row: a name on the best row moves off it.
        tables.append(_table(rng, names[1:] + names[:1], measures))
    # Rows equal in every measure: only the rule's last resort can separate them.
    tied = _measures(rng)
    tables.append(_table(rng, _made_up_names(rng, 3), [tied] * 3))
    tables.append(_table(rng, _made_up_names(rng, 1), [_measures(rng)]))
    return {"tables": tables}


def _choice_problem(table: dict, result) -> str | None:
    if not isinstance(result, dict):
        return "no result"
    names = [row["model"] for row in table["rows"]]
    keys = _keys(result.get("keys"), len(names))
    if isinstance(keys, str):
        return keys
    key_of = dict(zip(names, keys))
    smallest = keys[0]
    for key in keys[1:]:
        order = _order(key, smallest)
        if order is None:
            return SHAPE_PROBLEM
        smallest = key if order < 0 else smallest
    outcomes = result.get("orders")
    if not isinstance(outcomes, list) or len(outcomes) != len(table["orders"]):
        return "the export does not hold one outcome per row order"
    chosen = None
    for outcome in outcomes:
        if not isinstance(outcome, dict):
            return "no outcome"
        got = outcome.get("chosen")
        if isinstance(got, dict):
            return f"choose_best raised {error_name(got)}"
        if got not in key_of:
            return ("choose_best returned a name that is not in the table it received (apply selection_key to that "
                    "table's rows, with no model name written in the code)")
        if key_of[got] != smallest:
            return "choose_best does not return the model that selection_key ranks first"
        if chosen is not None and got != chosen:
            return ("choose_best changes its answer when the rows are shuffled: the rule must break every tie "
                    "(the name last), whatever the order of the rows")
        chosen = got
        ordered = outcome.get("sorted")
        if isinstance(ordered, dict) and "error" in ordered:
            return f"sort_results raised {error_name(ordered)}"
        if not isinstance(ordered, list):
            return "sort_results must return a pandas.DataFrame with the column model"
        if not all(type(name) is str for name in ordered) or sorted(ordered) != sorted(names):
            return "sort_results must return exactly the rows of the table it received"
        for earlier, later in zip(ordered, ordered[1:]):
            order = _order(key_of[earlier], key_of[later])
            if order is None:
                return SHAPE_PROBLEM
            if order > 0:
                return "sort_results does not order the rows by selection_key (the smallest key first)"
    return None


def judge_choose_best(probes: dict, export) -> Judgement:
    return judge_each_probe(export, probes["tables"], _choice_problem)


VERDICTS = (
    CellVerdict("test_classification_scores", scores_probes, judge_scores),
    CellVerdict("test_model_family", family_probes, judge_family),
    CellVerdict("test_selection_rule", rule_probes, judge_rule),
    CellVerdict("test_choose_best", choose_best_probes, judge_choose_best),
)
