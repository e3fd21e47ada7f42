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

* ``test_results_table`` and ``test_saved_results``: the kernel exports the run's saved models
  (``paysages.probes.export_run``), their records' training times and epochs, the student's
  table (or results.json and best.json as read from the disk) and the keys of its rows. The
  trusted process rebuilds each model with ``safe_mode=True``, decodes the validation images
  itself from the grading data and recomputes accuracy, macro-F1, loss and parameters: each row
  must match its saved model, the table must follow the student's own keys, and best.json must
  name the row with the smallest key.
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import (CellVerdict, Judgement, error_name, export_error, exported_list, failed,
                                      is_number, judge_each_probe, passed, table_problem)
from autograde.verdicts.models import load_saved_model
from autograde.verdicts.runs import exported_run
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
# The results table: its columns, and how far a recomputed score may be from the student's.
RESULT_COLUMNS = ["model", "family", "accuracy", "macro_f1", "loss", "num_params", "training_seconds", "epochs"]
RECOMPUTED_TOLERANCE = 1e-3


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


def _measures(rng: np.random.Generator) -> dict:
    """Random validation measures as plain numbers, in the table's column order."""
    values = random_measures(rng)
    return {key: int(values[key]) if key in ("num_params", "epochs") else float(values[key])
            for key in SELECTION_MEASURES}


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


def _sorted_problem(keys, unsorted: str) -> str | None:
    """``unsorted`` when the keys are not in increasing order, the shape problem when they do not compare, else None."""
    for earlier, later in zip(keys, keys[1:]):
        order = _order(earlier, later)
        if order is None:
            return SHAPE_PROBLEM
        if order > 0:
            return unsorted
    return None


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


def _name_problem(result) -> str | None:
    """What is wrong with the keys exported for one name slot, or None."""
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
    for name, result in zip(names, results):
        problem = _name_problem(result)
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
        problem = _sorted_problem([key_of[name] for name in ordered],
                                  "sort_results does not order the rows by selection_key (the smallest key first)")
        if problem:
            return problem
    return None


def judge_choose_best(probes: dict, export) -> Judgement:
    return judge_each_probe(export, probes["tables"], _choice_problem)


# test_results_table and test_saved_results ---------------------------------------------------------
def _recomputed_scores(export, models: dict):
    """name -> accuracy, macro-F1, loss and parameters of each saved model, recomputed here; or the failing judgement."""
    from solutions.evaluation import predict_probabilities

    context = exported_run(export, models)
    if isinstance(context, Judgement):
        return context
    _run, data, _settings = context
    if not export["models"]:
        return failed("the run folder holds no saved model")
    scores = {}
    for name, key in export["models"].items():
        model = load_saved_model(models.get(key), what=f"the model {str(name)[:60]}")
        if isinstance(model, Judgement):
            return model
        scores[name] = classification_scores(data.y_validation, predict_probabilities(model, data.x_validation))
        scores[name]["num_params"] = float(model.count_params())
    return scores


def _scores_problem_of_rows(rows: dict, recomputed: dict) -> str | None:
    """Why the rows (name -> values) do not describe the saved models, or None."""
    if sorted(rows) != sorted(recomputed):
        return "there must be exactly one row per model saved in the run folder"
    for name, values in rows.items():
        for key in ("accuracy", "macro_f1", "loss"):
            value = values.get(key)
            if not is_number(value) or abs(value - recomputed[name][key]) > RECOMPUTED_TOLERANCE:
                return f"{key} of {name} does not match the saved model, recomputed on the validation set"
    return None


def _named_rows(names, columns: dict):
    """name -> {column: value} from a table's columns, or the problem (a str)."""
    if any(type(name) is not str for name in names):
        return "the column model must hold the models' names (text)"
    if len(set(names)) != len(names):
        return "a model appears twice"
    return {name: {column: values[position] for column, values in columns.items()}
            for position, name in enumerate(names)}




def _same_optional(got, expected) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    return is_number(got) and abs(got - expected) <= 1e-6 * max(1.0, abs(expected))


def judge_results_table(probes: dict, export, models: dict) -> Judgement:
    recomputed = _recomputed_scores(export, models)
    if isinstance(recomputed, Judgement):
        return recomputed
    table = export.get("table")
    problem = table_problem(table, RESULT_COLUMNS, "results_table")
    if problem:
        return failed(problem)
    values = table["values"]
    rows = _named_rows(values["model"], values)
    if isinstance(rows, str):
        return failed(rows)
    problem = _scores_problem_of_rows(rows, recomputed)
    if problem:
        return failed(problem)
    meta = export.get("meta") if isinstance(export.get("meta"), dict) else {}
    for name, row in rows.items():
        if row["num_params"] != recomputed[name]["num_params"]:
            return failed(f"num_params of {name} does not match the saved model")
        if row["family"] != model_family(name):
            return failed(f"the family of {name} is wrong")
        record = meta.get(name)
        if not isinstance(record, dict) or "error" in record:
            return failed(f"the record of {name} could not be read ({error_name(record)})")
        for key in ("training_seconds", "epochs"):
            if not _same_optional(row[key], record.get(key)):
                return failed(f"{key} of {name} must be read from run.model_meta({name!r})")
    keys = _keys(export.get("keys"), len(rows))
    if isinstance(keys, str):
        return failed(keys)
    problem = _sorted_problem(keys, "the rows are not sorted by your rule (selection_key, smallest key first): "
                                    "use sort_results")
    return failed(problem) if problem else passed("every row matches its saved model, sorted by the student's rule")


def judge_saved_results(probes: dict, export, models: dict) -> Judgement:
    recomputed = _recomputed_scores(export, models)
    if isinstance(recomputed, Judgement):
        return recomputed
    file_rows = export.get("results")
    if not isinstance(file_rows, list) or not all(isinstance(row, dict) for row in file_rows):
        return failed("results.json must be a list of rows (objects)")
    rows = _named_rows([row.get("model") for row in file_rows], {
        key: [row.get(key) for row in file_rows] for key in ("accuracy", "macro_f1", "loss")})
    if isinstance(rows, str):
        return failed(f"results.json: {rows}")
    problem = _scores_problem_of_rows(rows, recomputed)
    if problem:
        return failed(f"results.json: {problem}")
    best, best_name, rule = export.get("best"), export.get("best_name"), export.get("rule")
    if not isinstance(best, dict) or type(best.get("name")) is not str:
        return failed("best.json must hold the name of the chosen model")
    if best_name != best["name"]:
        return failed("best_name and best.json must name the same model")
    if not isinstance(rule, str) or best.get("rule") != rule or len(rule.strip()) < RULE_MINIMUM_LENGTH:
        return failed("best.json must record the sentence rule that states your rule")
    keys = _keys(export.get("keys"), len(file_rows))
    if isinstance(keys, str):
        return failed(keys)
    key_of = dict(zip((row["model"] for row in file_rows), keys))
    if best["name"] not in key_of:
        return failed("best.json names a model that is not saved")
    for key in keys:
        order = _order(key, key_of[best["name"]])
        if order is None:
            return failed(SHAPE_PROBLEM)
        if order < 0:
            return failed("by your selection_key, best.json does not name the best model of results.json")
    return passed("results.json matches the saved models and best.json names the row with the smallest key")


VERDICTS = (
    CellVerdict("test_classification_scores", scores_probes, judge_scores),
    CellVerdict("test_model_family", family_probes, judge_family),
    CellVerdict("test_selection_rule", rule_probes, judge_rule),
    CellVerdict("test_choose_best", choose_best_probes, judge_choose_best),
    CellVerdict("test_results_table", lambda rng: {}, judge_results_table, reads_models=True),
    CellVerdict("test_saved_results", lambda rng: {}, judge_saved_results, reads_models=True),
)
