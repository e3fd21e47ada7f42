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
