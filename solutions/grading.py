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


def plain_confused_pairs(frame):
    """The table of most_confused_pairs (notebook 06) as (true, predicted, counts, shares)."""
    columns = _columns(frame, "most_confused_pairs")
    return (
        _texts(columns, "true_class"),
        _texts(columns, "predicted_class"),
        _integers(columns, "count"),
        _floats(columns, "share"),
    )


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
