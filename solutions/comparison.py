"""Reference solution of notebook 05: one results table for the networks of notebooks 02, 03 and 04.

Every number of the table is recomputed on the validation set from the models saved in the run
folder: nothing is copied from a training log. The notebooks receive these functions' bodies as
their solution regions (see autograde/build_notebooks.py): edit them here, then run
``make notebooks``. ``classification_scores`` is injected into notebook 05 from
``solutions.evaluation`` as an exercise of its own.
"""

import pandas as pd

from solutions.evaluation import classification_scores


def model_family(name):
    """Return the notebook family of a saved model from its name.

    ``"cnn"`` (and names starting with ``"cnn_"``) belong to ``"02 CNN"``, names starting with
    ``"reg_"`` to ``"03 régularisation"``, names starting with ``"transfer_"`` to
    ``"04 transfert"``; any other name belongs to ``"autre"``. Raises ValueError when ``name``
    is not a string.
    """
    if not isinstance(name, str):
        raise ValueError(f"A model name must be a string, got {type(name).__name__}.")
    if name == "cnn" or name.startswith("cnn_"):
        return "02 CNN"
    if name.startswith("reg_"):
        return "03 régularisation"
    if name.startswith("transfer_"):
        return "04 transfert"
    return "autre"


def selection_key(row):
    """Return the sort key of one row of the results table under your selection rule.

    ``row`` is one row of the table (a pandas Series, as ``table.iloc[0]``). The model with the
    smallest key is the best: to prefer the highest value of a measure, put its opposite in the
    key (``-row["macro_f1"]``). The key is a tuple of numbers (the model name may come last, as a
    string, to break the ties that remain). It may read only the validation measures of the
    table (``accuracy``, ``macro_f1``, ``loss``, ``num_params``, ``training_seconds``,
    ``epochs``) and the name ``model``, never a test set nor a name written in the code.
    """
    return (
        -float(row["macro_f1"]),  # the highest validation macro-F1 first: the classes are imbalanced
        float(row["loss"]),  # at equal macro-F1, the lowest validation loss (the better calibrated)
        int(row["num_params"]),  # then the fewest parameters (the cheaper model)
        str(row["model"]),  # then the name, so that no tie is left to the order of the rows
    )


def sort_results(table):
    """Sort a results table by ``selection_key``: best model (smallest key) first, index reset.

    The table need not be sorted and its index need not be 0..n-1; the table itself is left
    unchanged. Raises ValueError when it has no ``model`` column.
    """
    if "model" not in table.columns:
        raise ValueError("The table lacks the column model.")
    order = sorted(range(len(table)), key=lambda position: selection_key(table.iloc[position]))
    return table.iloc[order].reset_index(drop=True)


def results_table(run, model_names, data, batch_size):
    """Evaluate every saved model on the validation set and return one sorted results table.

    For each name of ``model_names``: load the model from the run folder
    (``run.load_model(name)``), predict the class probabilities of ``data.x_validation``
    (``model.predict(..., batch_size=batch_size, verbose=0)``) and score them against
    ``data.y_validation`` with ``classification_scores``. The table (a pandas DataFrame) has one
    row per model and the columns ``model``, ``family`` (``model_family``), ``accuracy``,
    ``macro_f1``, ``loss``, ``num_params`` (counted on the loaded model), ``training_seconds``
    and ``epochs`` (both read from ``run.model_meta(name)``). It is sorted by ``sort_results``:
    best model first. Raises ValueError when ``model_names`` is empty.
    """
    model_names = list(model_names)
    if not model_names:
        raise ValueError("model_names is empty: there is no saved model to compare.")
    rows = []
    for name in model_names:
        model = run.load_model(name)
        probabilities = model.predict(data.x_validation, batch_size=batch_size, verbose=0)
        scores = classification_scores(data.y_validation, probabilities)
        meta = run.model_meta(name)
        rows.append(
            {
                "model": name,
                "family": model_family(name),
                "accuracy": float(scores["accuracy"]),
                "macro_f1": float(scores["macro_f1"]),
                "loss": float(scores["loss"]),
                "num_params": int(model.count_params()),
                "training_seconds": meta.get("training_seconds"),
                "epochs": meta.get("epochs"),
            }
        )
    columns = ["model", "family", "accuracy", "macro_f1", "loss", "num_params", "training_seconds", "epochs"]
    table = pd.DataFrame(rows, columns=columns)
    # Missing timings (None) become NaN so that the column stays numeric.
    table["training_seconds"] = pd.to_numeric(table["training_seconds"], errors="coerce")
    table["epochs"] = pd.to_numeric(table["epochs"], errors="coerce")
    return sort_results(table)


def choose_best(table):
    """Return the name (a str) of the best model of a results table: the smallest ``selection_key``.

    The table need not be sorted. Raises ValueError when it is empty.
    """
    if len(table) == 0:
        raise ValueError("The results table is empty: there is no model to choose.")
    return str(sort_results(table)["model"].iloc[0])
