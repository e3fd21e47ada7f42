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
# Notebook 05: the student's own selection rule, checked for consistency, never against a rule
# (autograde/verdicts/nb05.py makes the rows and tables from these).

SELECTION_MEASURES = ("accuracy", "macro_f1", "loss", "num_params", "training_seconds", "epochs")
# The models the course saves: a rule that names one of them is caught when that name is put on
# a row that its measures do not rank where the rule puts it.
COURSE_MODEL_NAMES = (
    "cnn", "reg_baseline", "reg_augmentation", "reg_dropout", "reg_l2", "reg_batch_norm", "reg_early_stopping",
    "reg_improved", "reg_class_weights", "transfer_frozen", "transfer_finetuned", "transfer_concat",
)


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
