"""Notebook 05's verdicts of its pure functions (classification_scores, model_family), judged outside a kernel.

The kernel's side is played by the hidden regions of notebook 05's test cells, run in this process
(``tests/helpers/verdicts.py``) with the reference functions or broken ones.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from sklearn import metrics

from autograde.verdicts import nb05, registry
from solutions import comparison, evaluation
from tests.helpers.saved_runs import saved_run_folder
from tests.helpers.tables import with_cell
from tests.helpers.verdicts import probe_exchange

NOTEBOOK = nb05.NOTEBOOK
GRADE_IDS = {"test_classification_scores", "test_model_family", "test_selection_rule", "test_choose_best"}
RULE = "F1-macro de validation le plus haut ; à égalité, perte la plus basse, puis le nom."


def _namespace(**changes) -> dict:
    """The notebook's namespace: sort_results and choose_best read the global selection_key, as in 05."""
    namespace = {"classification_scores": evaluation.classification_scores, "model_family": comparison.model_family,
                 "selection_key": comparison.selection_key, "rule": RULE}
    for function in (comparison.sort_results, comparison.choose_best):
        exec(inspect.getsource(function), namespace)
    namespace.update(changes)
    return namespace


def _verdicts(tmp_path, seed: int, run_models=(), **changes) -> dict:
    """Each cell's verdict; ``run_models`` are the model names saved in the run folder (empty files)."""
    models = tmp_path / "run" / "models"
    models.mkdir(parents=True)
    for name in run_models:
        (models / f"{name}.keras").write_bytes(b"")
    export = probe_exchange(NOTEBOOK, seed, _namespace(**changes), GRADE_IDS, tmp_path)
    result = registry.judge_notebook(NOTEBOOK, seed, export)
    assert result["ignored"] == []
    return {grade_id: result["verdicts"][grade_id] for grade_id in GRADE_IDS}


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


def _wrong_direction_key(row):
    return (float(row["macro_f1"]), float(row["loss"]), str(row["model"]))


def _favourite_name_key(row):
    return (0 if row["model"] == "transfer_finetuned" else 1, -float(row["macro_f1"]), str(row["model"]))


def _own_model_key(row):
    """Favours the student's own saved model, a name the course does not know."""
    return (0 if row["model"] == "mon_modele" else 1, -float(row["macro_f1"]), str(row["model"]))


def _training_accuracy_key(row):
    return (-float(row["train_accuracy"]), str(row["model"]))


def _name_first_key(row):
    return (str(row["model"]), -float(row["macro_f1"]))


def _unstable_key(row, _calls=[]):
    _calls.append(1)
    return (-float(row["macro_f1"]), float(len(_calls)), str(row["model"]))


def _accuracy_then_fewest_parameters(row):
    """Another student's rule: the highest accuracy, then the fewest parameters, then the name."""
    return (-row["accuracy"], row["num_params"], row["model"])


def _loss_rounded_then_cost(row):
    """A rule that treats close losses as equal, then prefers the fastest training, then the name."""
    return (round(row["loss"], 1), row["training_seconds"], row["model"])


def _constant_key(row):
    return (0.0,)


def _test_score_key(row):
    return (-row["test_macro_f1"],)


def _family_key(row):
    return (row["family"] != "04 transfert", -row["macro_f1"])


def _tie_unbroken_key(row):
    return (-float(row["macro_f1"]),)


def _first_row(table):
    return str(table["model"].iloc[0])


def _hard_coded_choice(table):
    return "mon_modele"


def _choose_over(key):
    """A right choose_best over ``key`` that does not call sort_results."""
    def choose(table):
        rows = [table.iloc[position] for position in range(len(table))]
        return str(min(rows, key=key)["model"])

    return choose


_choose_by_min = _choose_over(comparison.selection_key)


def _prefers_transfer_when_there(table):
    """Applies the rule, except when the course's fine-tuned model is in the table."""
    names = [str(name) for name in table["model"]]
    return "transfer_finetuned" if "transfer_finetuned" in names else _choose_by_min(table)


def _by_macro_f1(table):
    """Sorts by macro-F1 whatever the rule says."""
    return table.sort_values("macro_f1", ascending=False).reset_index(drop=True)


def _unsorted(table):
    return table.reset_index(drop=True)


def _listed(table):
    return list(table["model"])


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
    # Every course name sits on a row that is not the best of some table; a table holds only ties.
    tables = first["test_choose_best"]["tables"]
    for name in nb05.COURSE_MODEL_NAMES:
        assert any(_not_the_best(table, name) for table in tables), name
    assert any(len(table["rows"]) > 1 and len({json.dumps({**row, "model": "", "family": ""}) for row in table["rows"]}) == 1
               for table in tables)
    assert registry.covers(NOTEBOOK, GRADE_IDS | SAVED_IDS)


def _not_the_best(table: dict, name: str) -> bool:
    """True when ``name`` is in the table on a row whose macro-F1 is not the table's highest."""
    rows = {row["model"]: row for row in table["rows"]}
    return name in rows and rows[name]["macro_f1"] < max(row["macro_f1"] for row in table["rows"])


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
    ("test_selection_rule", {"rule": "F1"}, "rule must be a sentence"),
    ("test_choose_best", {"choose_best": _first_row}, "choose_best"),
    ("test_choose_best", {"choose_best": _hard_coded_choice}, "choose_best returned a name that is not in the table"),
    ("test_choose_best", {"sort_results": _unsorted, "choose_best": _choose_by_min}, "sort_results does not order the rows"),
    ("test_choose_best", {"sort_results": _listed, "choose_best": _choose_by_min}, "sort_results must return a pandas.DataFrame"),
    ("test_choose_best", {"selection_key": _tie_unbroken_key}, "changes its answer when the rows are shuffled"),
    ("test_choose_best", {"choose_best": _prefers_transfer_when_there},
     "choose_best does not return the model that selection_key ranks first"),
    ("test_choose_best", {"selection_key": _accuracy_then_fewest_parameters, "sort_results": _by_macro_f1,
                          "choose_best": _choose_over(_accuracy_then_fewest_parameters)},
     "sort_results does not order the rows"),
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
    export = probe_exchange(NOTEBOOK, 57, _namespace(), GRADE_IDS, tmp_path)
    replayed = registry.judge_notebook(NOTEBOOK, 58, export)["verdicts"]
    # test_selection_rule is left out: its verdict judges how the student's own keys order made-up
    # rows, and any sound rule's keys pass; there is no expected value to recompute from the probes.
    probed = GRADE_IDS - {"test_selection_rule"}
    assert {grade_id: replayed[grade_id]["fraction"] for grade_id in probed} == dict.fromkeys(probed, 0.0)
    probes = registry.make_probes(NOTEBOOK, 59)
    for malformed in (None, [], {"results": "OK"}, {"results": [{"value": "02 CNN"}]},
                      {"results": [{"type": "dict", "keys": list(nb05.SCORE_KEYS), "values": {"accuracy": True}}] * 4}):
        judgement = nb05.judge_scores(probes["test_classification_scores"], malformed)
        assert judgement.fraction == 0.0, malformed
    names = probes["test_model_family"]["names"]
    right = [{"value": comparison.model_family(name)} for name in names]
    judgement = nb05.judge_family(probes["test_model_family"], {"results": right, "refusals": "all of them"})
    assert judgement.fraction == 0.0 and "the export does not hold one result per probe" in judgement.reason


@pytest.mark.parametrize("key", [comparison.selection_key, _accuracy_then_fewest_parameters, _loss_rounded_then_cost])
def test_any_consistent_rule_earns_the_rule_and_choice_verdicts(tmp_path, key):
    """Does every sound rule of the student's own design, applied by their choose_best and sort_results, pass?"""
    verdicts = _verdicts(tmp_path, 64, run_models=("cnn", "mon_modele"), selection_key=key)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(GRADE_IDS, 1.0)


@pytest.mark.parametrize(("key", "reason"), [
    (_wrong_direction_key, "the model better on every validation measure must get the smaller key"),
    (_favourite_name_key, "with the name 'transfer_finetuned'"),
    (_training_accuracy_key, "selection_key raised CheckFailed"),
    (_name_first_key, "with the name"),
    (_unstable_key, "the same row two different keys"),
    (_constant_key, "the model better on every validation measure must get the smaller key"),
    (_test_score_key, "selection_key raised CheckFailed"),
    (_family_key, "selection_key raised CheckFailed"),
    (["macro_f1", "loss"], "selection_key raised CheckFailed"),
])
def test_a_rule_that_is_not_a_function_of_the_measures_loses_test_selection_rule(tmp_path, key, reason):
    """Does a rule sorted the wrong way, naming a model, reading a training score or unstable lose its cell, saying why?"""
    verdicts = _verdicts(tmp_path, 60, selection_key=key)
    assert verdicts["test_selection_rule"]["fraction"] == 0.0
    assert reason in verdicts["test_selection_rule"]["reason"], verdicts["test_selection_rule"]
    assert verdicts["test_classification_scores"]["fraction"] == verdicts["test_model_family"]["fraction"] == 1.0


def test_a_rule_that_favours_the_runs_own_model_is_caught_by_its_name(tmp_path):
    """Is a rule that names the student's own saved model (not a course name) caught, and the same rule without that model not?"""
    caught = _verdicts(tmp_path / "with", 61, run_models=("cnn", "mon_modele"), selection_key=_own_model_key)
    assert caught["test_selection_rule"]["fraction"] == 0.0
    assert "with the name 'mon_modele'" in caught["test_selection_rule"]["reason"]
    unseen = _verdicts(tmp_path / "without", 61, run_models=("cnn",), selection_key=_own_model_key)
    assert unseen["test_selection_rule"]["fraction"] == 1.0


def test_the_kernels_list_of_names_must_start_with_the_course_names(tmp_path):
    """Is an export that leaves out a course name (so that a rule naming it is never tried) worth nothing?"""
    export = probe_exchange(NOTEBOOK, 62, _namespace(), {"test_selection_rule"}, tmp_path)
    path = export / "test_selection_rule.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    content["names"], content["results"] = content["names"][1:], content["results"][1:]
    path.write_text(json.dumps(content), encoding="utf-8")
    verdict = registry.judge_notebook(NOTEBOOK, 62, export)["verdicts"]["test_selection_rule"]
    assert verdict == {"fraction": 0.0, "reason": "the export does not list the course's model names, then the run's"}


def test_malformed_keys_of_05_earn_nothing_and_say_why():
    """Are keys of booleans, keys that do not compare, and missing placements worth nothing, each with its reason?"""
    probes = registry.make_probes(NOTEBOOK, 63)
    course = list(nb05.COURSE_MODEL_NAMES)
    cases = {
        "a key is not a tuple of numbers and text": {"pair": [[True]] * 5},
        "the keys do not compare with each other": {"pair": [["a"], [1.0], ["a"], [1.0], ["a"]]},
        "the export does not hold one key per row": {"pair": [[0.0], [1.0]]},
        "the export does not hold the keys of every placement": {"pair": [[0.0], [1.0], [0.0], [1.0], [0.0]],
                                                                 "common": [[float(n)] for n in range(6)]},
    }
    for reason, result in cases.items():
        judgement = nb05.judge_rule(probes["test_selection_rule"], {"rule": RULE, "names": course,
                                                                     "results": [result] * len(course)})
        assert judgement.fraction == 0.0 and reason in judgement.reason, (reason, judgement)
    table = probes["test_choose_best"]["tables"][0]
    names = [row["model"] for row in table["rows"]]
    keys = [[float(position)] for position in range(len(names))]
    outcome = {"chosen": names[0], "sorted": names[::-1]}
    judgement = nb05.judge_choose_best({"tables": [table]}, {"results": [{"keys": keys, "orders": [outcome] * 4}]})
    assert judgement.fraction == 0.0 and "sort_results does not order the rows" in judgement.reason
    outcome = {"chosen": names[0], "sorted": names}
    judgement = nb05.judge_choose_best({"tables": [table]}, {"results": [{"keys": keys, "orders": [outcome] * 4}]})
    assert judgement.fraction == 1.0


# test_results_table and test_saved_results (a saved run) ---------------------------------------------------
SAVED_IDS = {"test_results_table", "test_saved_results"}


def _tiny_classifier(seed: int, input_shape, num_classes: int):
    """An untrained softmax classifier, small enough to build and save in a second."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(4 + seed, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A fast-mode run folder with three saved models (one without a timing), its split and its data."""
    history = {"loss": [1.2, 1.0], "accuracy": [0.3, 0.4], "val_loss": [1.3, 1.1], "val_accuracy": [0.3, 0.35]}

    def save_models(run, settings, data):
        for seed, (name, seconds) in enumerate((("cnn", 12.5), ("reg_dropout", 20.0), ("transfer_frozen", None))):
            model = _tiny_classifier(seed, settings.image_shape, len(data.class_names))
            run.save_model(model, name, history=history if seconds else None, training_seconds=seconds)

    return saved_run_folder(tmp_path_factory.mktemp("nb05"), save_models)


def _saved_verdicts(saved_run, tmp_path, *, edit_table=None, edit_files=None, **changes) -> dict:
    """Run cells 4 and 5 of 05 the notebook's way, let the edits change the table or the files, then judge."""
    from autograde.execute import patched_environment
    from autograde.layout import COURSE_NOTEBOOK_DIR
    from tests.helpers.verdicts import export_like_the_kernel

    run, data = saved_run["run"], saved_run["data"]
    namespace = _namespace(**changes)
    with patched_environment(saved_run["environment"]):
        table = comparison.results_table(run, run.model_names(), data, 64)
        table = edit_table(table) if edit_table else table
        best_name = namespace["choose_best"](table)
        records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        files = {"results": records, "best": {"name": best_name, "rule": namespace["rule"]}}
        if edit_files:
            edit_files(files)
        for name, content in files.items():
            run.save_json(name, content)
        namespace.update(table=table, best_name=best_name)
        probes, export = tmp_path / "probes", tmp_path / "export"
        registry.write_probes(NOTEBOOK, 70, probes)
        export.mkdir()
        export_like_the_kernel(COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb", namespace, probes, export, SAVED_IDS)
        verdicts = registry.judge_notebook(NOTEBOOK, 70, export)["verdicts"]
    return {grade_id: verdicts[grade_id] for grade_id in SAVED_IDS}


def test_the_reference_table_and_files_earn_both_run_verdicts(saved_run, tmp_path):
    """Do the reference table, results.json and best.json, judged from the rebuilt models, earn both cells?"""
    verdicts = _saved_verdicts(saved_run, tmp_path)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(SAVED_IDS, 1.0)


def _without_last_row(table):
    return table.iloc[:-1].reset_index(drop=True)


def _reversed(table):
    return table.iloc[::-1].reset_index(drop=True)


@pytest.mark.parametrize(("edit_table", "reason"), [
    (with_cell("accuracy", 0, 0.999), "accuracy of"),
    (with_cell("num_params", 1, 1.0), "num_params of"),
    (with_cell("family", 2, "autre"), "the family of"),
    (with_cell("training_seconds", 0, 99.0), "must be read from run.model_meta"),
    (_without_last_row, "exactly one row per model saved"),
    (_reversed, "the rows are not sorted by your rule"),
])
def test_a_table_that_does_not_describe_the_saved_models_loses_test_results_table(saved_run, tmp_path, edit_table,
                                                                                  reason):
    """Does a typed score, count, family or time, a missing model or the wrong order lose the table's cell?"""
    verdict = _saved_verdicts(saved_run, tmp_path, edit_table=edit_table)["test_results_table"]
    assert verdict["fraction"] == 0.0 and reason in verdict["reason"], verdict


def _typed_loss(files):
    files["results"][0]["loss"] = 0.01


def _second_best(files):
    files["best"]["name"] = files["results"][1]["model"]


def _other_rule(files):
    files["best"]["rule"] = "Une autre règle que celle du notebook, écrite à la main."


def _duplicated_row(files):
    files["results"].append(dict(files["results"][0]))


@pytest.mark.parametrize(("edit_files", "reason"), [
    (_typed_loss, "results.json: loss of"),
    (_second_best, "best_name and best.json must name the same model"),
    (_other_rule, "best.json must record the sentence rule"),
    (_duplicated_row, "results.json: a model appears twice"),
])
def test_files_that_disagree_with_the_models_or_the_rule_lose_test_saved_results(saved_run, tmp_path, edit_files,
                                                                                 reason):
    """Does a typed score, a duplicated row, another model or another rule in the files lose that cell only?"""
    verdicts = _saved_verdicts(saved_run, tmp_path, edit_files=edit_files)
    assert verdicts["test_saved_results"]["fraction"] == 0.0
    assert reason in verdicts["test_saved_results"]["reason"], verdicts["test_saved_results"]
    assert verdicts["test_results_table"]["fraction"] == 1.0


def test_a_best_model_that_is_not_the_rules_first_loses_test_saved_results(saved_run, tmp_path):
    """When best_name and best.json agree on a model that the rule does not rank first, is the cell lost?"""
    def second(table):
        return str(table["model"].iloc[1])

    verdicts = _saved_verdicts(saved_run, tmp_path, choose_best=second)
    assert verdicts["test_saved_results"]["fraction"] == 0.0
    assert "does not name the best model of results.json" in verdicts["test_saved_results"]["reason"]
