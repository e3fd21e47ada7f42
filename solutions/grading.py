"""Helpers the hidden tests share: turn a student's tables into plain Python values.

Hidden tests import them under private names. Every value goes through ``paysages.checks``'
plain converters, so a DataFrame cell that claims to equal anything cannot pass a comparison.
"""

import numpy as np
import pandas as pd

from paysages import checks


def _integers(columns, key):
    values = columns[key]
    array = np.asarray(values) if len(values) else np.zeros(0, dtype=int)
    return checks.plain_int_array(array, key).tolist()


def _floats(columns, key):
    return checks.plain_float_array(np.asarray(columns[key], dtype=object).tolist(), key)


def _texts(columns, key):
    return [checks.plain_str(value, key) for value in columns[key]]


def _columns(frame, what):
    if not isinstance(frame, pd.DataFrame):
        raise AssertionError(f"{what} doit renvoyer un pandas.DataFrame.")
    return pd.DataFrame.to_dict(frame, orient="list")


def plain_error_table(frame):
    """The error table of notebook 06 (misclassified_examples) as plain lists, column by column."""
    columns = _columns(frame, "misclassified_examples")
    return {
        "index": _integers(columns, "index"),
        "true_label": _integers(columns, "true_label"),
        "predicted_label": _integers(columns, "predicted_label"),
        "true_class": _texts(columns, "true_class"),
        "predicted_class": _texts(columns, "predicted_class"),
        "confidence": _floats(columns, "confidence"),
    }


def fresh_context():
    """Settings, run folder and split arrays, reloaded from the environment and the disk.

    Hidden tests use these, under private names, instead of the notebook's own ``settings``,
    ``run`` and ``data``: student code can rebind those names or change the arrays in place
    (validate on training images, say), but not what the split file and the images say.
    """
    from paysages.data import load_split_arrays
    from paysages.runs import RunFolder
    from paysages.settings import get_settings

    settings = get_settings()
    return settings, RunFolder(settings.run_dir), load_split_arrays(settings)


def student_baseline_cnn(run, input_shape, num_classes):
    """The network notebook 03's variants must extend: the student's own CNN of notebook 02.

    Returns ``(model, description)``. When notebook 02 saved no model, the reference
    architecture stands in, so that a failure in 02 is not counted a second time in 03.
    """
    from paysages.errors import PrerequisiteError
    from solutions.cnn import build_cnn

    try:
        return run.load_model("cnn", compile=False), "votre CNN du notebook 02"
    except PrerequisiteError:
        return build_cnn(input_shape, num_classes), "le CNN de référence (le notebook 02 n'a sauvegardé aucun modèle)"


def check_saved_variant(run, data, settings, name, options, reference_signature):
    """Check the saved model ``reg_<name>`` of notebook 03 against the options that define it.

    The model holds exactly the techniques its options ask for, on the architecture of the
    student's baseline; it trained ``settings.num_epochs`` epochs (early stopping: at most that)
    at ``settings.learning_rate`` with batches of ``settings.batch_size`` on the split's
    training images; its validation accuracy, recomputed from the saved weights, matches its
    history. Raises AssertionError with a French message naming the variant.
    """
    import math

    from solutions.evaluation import classification_scores, predict_probabilities
    from solutions.regularisation import (
        architecture_options, core_signature, evaluated_epoch, model_techniques, option_techniques,
    )

    saved = run.load_model(f"reg_{name}")
    asked = option_techniques(options)
    expected_layers = option_techniques(architecture_options(options))
    if model_techniques(saved) != expected_layers:
        raise AssertionError(
            f"Le modèle sauvegardé reg_{name} contient {sorted(model_techniques(saved))}, "
            f"ses options demandent {sorted(expected_layers)}."
        )
    if core_signature(saved) != reference_signature:
        raise AssertionError(f"Le modèle sauvegardé reg_{name} n'a pas l'architecture de votre modèle de base.")
    history = run.load_history(f"reg_{name}")
    if "val_loss" not in history or "val_accuracy" not in history:
        raise AssertionError(f"L'historique de reg_{name} n'a pas de mesures de validation.")
    stops_early = "early_stopping" in asked
    num_epochs = len(history["val_loss"])
    if (stops_early and not 1 <= num_epochs <= settings.num_epochs) or (
        not stops_early and num_epochs != settings.num_epochs
    ):
        raise AssertionError(f"reg_{name} : {num_epochs} époques au lieu de {settings.num_epochs}.")
    # The same optimiser settings for every variant: learning rate, and batch size through the step count.
    if abs(float(saved.optimizer.learning_rate.numpy()) - settings.learning_rate) > 1e-9:
        raise AssertionError(f"reg_{name} doit être compilée avec settings.learning_rate, comme les autres variantes.")
    steps_per_epoch = math.ceil(len(data.y_train) / settings.batch_size)
    if int(saved.optimizer.iterations.numpy()) != num_epochs * steps_per_epoch:
        raise AssertionError(
            f"reg_{name} : {int(saved.optimizer.iterations.numpy())} pas d'optimisation au lieu de "
            f"{num_epochs * steps_per_epoch} : même taille de lot (settings.batch_size) et mêmes données pour toutes."
        )
    recomputed = classification_scores(data.y_validation, predict_probabilities(saved, data.x_validation))["accuracy"]
    logged = float(history["val_accuracy"][evaluated_epoch(history, stops_early)])
    if abs(recomputed - logged) > 0.03:
        raise AssertionError(
            f"reg_{name} : l'exactitude recalculée ({recomputed:.3f}) ne correspond pas à l'historique ({logged:.3f})."
        )


def well_formed_extra_experiments(run, data, settings, variants):
    """The extra experiments of notebook 03 that are well formed, and why the others are not.

    Returns ``(accepted, refused)``: the names (from ``paysages.checks.extra_experiments``)
    whose saved model passes :func:`check_saved_variant` with a single technique, and for each
    other one a French line saying why. The class-weighted model changes only the loss's
    weights, so its network must be the baseline's with no technique.
    """
    from paysages.checks import extra_experiments
    from solutions.regularisation import core_signature, option_techniques

    baseline_model, _origin = student_baseline_cnn(run, settings.image_shape, len(data.class_names))
    signature = core_signature(baseline_model)
    accepted, refused = [], []
    for name in extra_experiments(variants, run):
        options = {} if name == "class_weights" and name not in variants else dict(variants[name])
        try:
            if len(option_techniques(options)) > 1:
                raise AssertionError(f"reg_{name} combine plusieurs techniques")
            check_saved_variant(run, data, settings, name, options, signature)
        except Exception as error:  # A broken experiment is refused with its reason, never fatal.
            refused.append(f"{name} : {error}")
        else:
            accepted.append(name)
    return accepted, refused


# ---------------------------------------------------------------------------------------------
# Notebook 05: the student's own selection rule, checked for consistency, never against a rule.

SELECTION_MEASURES = ("accuracy", "macro_f1", "loss", "num_params", "training_seconds", "epochs")
# The models the course saves: a rule that names one of them is caught when that name is put on
# a row that its measures do not rank where the rule puts it.
COURSE_MODEL_NAMES = (
    "cnn", "reg_baseline", "reg_augmentation", "reg_dropout", "reg_l2", "reg_batch_norm", "reg_early_stopping",
    "reg_improved", "reg_class_weights", "transfer_frozen", "transfer_finetuned", "transfer_concat",
)
_COMMON_NAME = "modele"


def selection_row(model, measures):
    """One row as the checks hand it to selection_key: the name and the validation measures only."""
    return pd.Series({"model": model, **{key: measures[key] for key in SELECTION_MEASURES}}, dtype=object)


def _as_test_failure(check, *arguments):
    """Run a visible check of ``paysages.checks``; its French hint becomes the hidden test's failure."""
    try:
        return check(*arguments)
    except checks.CheckFailed as error:
        raise AssertionError(str(error)) from None


def _key(selection_key, row):
    return _as_test_failure(checks.sort_key_of, selection_key, row)


def _plain_name(value, what):
    return _as_test_failure(checks.plain_str, value, what)


def _order(left, right, what="selection_key"):
    """-1, 0 or 1 as the plain key ``left`` is smaller than, equal to or larger than ``right``."""
    try:
        return (left > right) - (left < right)
    except TypeError:
        raise AssertionError(
            f"Les clés de {what} ne se comparent pas entre elles ({left} et {right}) : renvoyez toujours "
            "un tuple de même forme (des nombres, le nom éventuellement en dernier)."
        ) from None


def random_measures(generator, *, num_params=None, training_seconds=None, epochs=None):
    """Plausible random validation measures of one model (costs fixed when given)."""
    return {
        "accuracy": float(generator.uniform(0.3, 0.95)),
        "macro_f1": float(generator.uniform(0.2, 0.9)),
        "loss": float(generator.uniform(0.2, 2.0)),
        "num_params": int(generator.integers(1_000, 3_000_000)) if num_params is None else num_params,
        "training_seconds": float(generator.uniform(5.0, 900.0)) if training_seconds is None else training_seconds,
        "epochs": int(generator.integers(2, 40)) if epochs is None else epochs,
    }


def _made_up_names(generator, count):
    syllables = ("ba", "lo", "ri", "ta", "mu", "ke", "so", "vi", "de", "na")
    names = set()
    while len(names) < count:
        names.add("".join(generator.choice(syllables, size=3)) + f"_{int(generator.integers(10, 99))}")
    return sorted(names)


def check_rule_reads_only_the_row(selection_key, model_names, seed):
    """The hidden checks of notebook 05's selection rule, whatever rule the student chose.

    * at equal cost, a model better on every validation measure (macro-F1, accuracy, loss) gets a
      smaller key, whatever the two names: this catches a key sorted the wrong way and a key that
      favours a name written in the code;
    * the names change the order of two rows only where their keys tie once the names are made
      equal (the name may break ties, nothing more);
    * the key reads nothing but the row: it is called on rows of the validation measures only.
    Each name of ``model_names`` and of the course is tried on the best and on the worst row.
    """
    generator = np.random.default_rng(seed)
    names = sorted(set(map(str, model_names)) | set(COURSE_MODEL_NAMES))
    for name in names:
        # Better quality at equal cost, the named row being the worse one, then the better one.
        costs = random_measures(generator)
        better = random_measures(generator, num_params=costs["num_params"], training_seconds=costs["training_seconds"],
                                 epochs=costs["epochs"])
        worse = dict(better, accuracy=better["accuracy"] - 0.2, macro_f1=better["macro_f1"] - 0.15,
                     loss=better["loss"] + 0.5)
        (other,) = _made_up_names(generator, 1)
        for better_name, worse_name in ((other, name), (name, other)):
            better_key = _key(selection_key, selection_row(better_name, better))
            worse_key = _key(selection_key, selection_row(worse_name, worse))
            if _order(better_key, worse_key) >= 0:
                raise AssertionError(
                    "À coût égal, selection_key doit préférer (clé plus petite) le modèle meilleur sur toutes les "
                    "mesures de validation ; sur des lignes inventées, elle ne le fait pas. Vérifiez le sens "
                    "(la plus petite clé gagne) et qu'aucun nom de modèle n'est écrit dans la règle."
                )
        # Random rows: the name of a row changes nothing but ties.
        rows = [random_measures(generator) for _ in range(6)]
        common_keys = [_key(selection_key, selection_row(_COMMON_NAME, measures)) for measures in rows]
        ranked = sorted(range(len(rows)), key=lambda position: common_keys[position])
        for target in (ranked[0], ranked[-1]):
            row_names = _made_up_names(generator, len(rows))
            row_names[target] = name
            keys = [_key(selection_key, selection_row(row_name, measures)) for row_name, measures in zip(row_names, rows)]
            for first in range(len(rows)):
                for second in range(first + 1, len(rows)):
                    expected = _order(common_keys[first], common_keys[second])
                    if expected != 0 and _order(keys[first], keys[second]) != expected:
                        raise AssertionError(
                            "selection_key classe autrement deux modèles quand seul leur nom change : la règle "
                            "ne doit dépendre que des mesures (le nom ne peut servir qu'à départager des ex æquo)."
                        )


def synthetic_results_table(generator, names, measures=None):
    """A results table of made-up models: one row per name, random measures, an unusual index."""
    from solutions.comparison import model_family

    measures = measures or [random_measures(generator) for _ in names]
    rows = [{"model": name, "family": model_family(name), **values} for name, values in zip(names, measures)]
    table = pd.DataFrame(rows, columns=["model", "family", *SELECTION_MEASURES])
    table.index = generator.permutation(len(table)) * 3 + 5
    return table


def _synthetic_tables(generator, model_names):
    """Tables where every known name sits, in one table or the next, on a row that is not the best."""
    known = [str(name) for name in generator.permutation(sorted(set(map(str, model_names)) | set(COURSE_MODEL_NAMES)))]
    tables = []
    for start in range(0, len(known), 4):
        names = known[start:start + 4] + _made_up_names(generator, 2)
        measures = [random_measures(generator) for _ in names]
        tables.append(synthetic_results_table(generator, names, measures))
        # The same measures, each name moved to the next row: a name on the best row moves off it.
        tables.append(synthetic_results_table(generator, names[1:] + names[:1], measures))
    # Rows equal in every measure: only the rule's last resort can separate them.
    names = _made_up_names(generator, 3)
    tables.append(synthetic_results_table(generator, names, [random_measures(generator)] * len(names)))
    # A table of one row.
    tables.append(synthetic_results_table(generator, _made_up_names(generator, 1)))
    return tables


def check_choose_best_follows_the_key(selection_key, choose_best, sort_results, model_names, seed):
    """The hidden checks of notebook 05's choose_best and sort_results, against the student's own key.

    On tables of random measures whose names mix the run's models, the course's and made-up ones:
    choose_best returns the row that selection_key ranks first, the same for every order of the
    rows; sort_results returns the same rows in the order of the keys. A complete tie (two rows
    equal in every measure) must also be broken the same way whatever the row order.
    """
    generator = np.random.default_rng(seed)
    for table in _synthetic_tables(generator, model_names):
        keys = {str(row["model"]): _key(selection_key, row) for _, row in table.iterrows()}
        smallest = None
        for key in keys.values():
            if smallest is None or _order(key, smallest) < 0:
                smallest = key
        chosen = None
        # The table as built, reversed (every pair of rows swapped), then shuffled twice.
        orders = [np.arange(len(table)), np.arange(len(table))[::-1], *(generator.permutation(len(table)) for _ in range(2))]
        for permutation, order in enumerate(orders):
            shuffled = table.iloc[order].copy()
            if permutation == 3:
                shuffled = shuffled.reset_index(drop=True)
            got = _plain_name(choose_best(shuffled), "choose_best(table)")
            if got not in keys:
                raise AssertionError(
                    "choose_best renvoie un nom absent du tableau reçu : appliquez selection_key aux lignes "
                    "de ce tableau, sans écrire de nom de modèle ni lire le tableau du notebook."
                )
            if _order(keys[got], smallest) != 0:
                raise AssertionError(
                    "choose_best ne renvoie pas le modèle que selection_key classe en premier (sur un tableau "
                    "inventé) : la règle doit être appliquée telle quelle, sans nom de modèle écrit en dur."
                )
            if chosen is not None and got != chosen:
                raise AssertionError(
                    "choose_best change d'avis quand on mélange les lignes du tableau : la règle doit départager "
                    "toutes les égalités (le nom en dernier recours), le choix ne doit pas dépendre de l'ordre."
                )
            chosen = got
            ordered = sort_results(shuffled.copy())
            if not isinstance(ordered, pd.DataFrame) or "model" not in ordered.columns:
                raise AssertionError("sort_results doit renvoyer un pandas.DataFrame avec la colonne model.")
            ordered_names = [_plain_name(name, "La colonne model")
                             for name in pd.DataFrame.to_dict(ordered, orient="list")["model"]]
            if sorted(ordered_names) != sorted(keys):
                raise AssertionError("sort_results doit renvoyer exactement les lignes du tableau reçu.")
            for earlier, later in zip(ordered_names, ordered_names[1:]):
                if _order(keys[earlier], keys[later]) > 0:
                    raise AssertionError(
                        "sort_results ne range pas les lignes selon selection_key (la plus petite clé en tête)."
                    )
