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


def sort_results(table):
    """Sort a results table by the selection rule: best model first, index reset.

    The rule: highest ``macro_f1`` first; ties broken by the lowest ``loss``, then by the fewest
    ``num_params``, then by the model name (so that the order never depends on chance).
    """
    missing = [column for column in ("model", "macro_f1", "loss", "num_params") if column not in table.columns]
    if missing:
        raise ValueError(f"The table lacks the column(s) {', '.join(missing)}.")
    return table.sort_values(
        ["macro_f1", "loss", "num_params", "model"],
        ascending=[False, True, True, True],
        kind="mergesort",
    ).reset_index(drop=True)


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
    """Return the name (a str) of the best model of a results table, by the selection rule.

    The rule: the highest validation ``macro_f1`` wins, because the classes are imbalanced and
    accuracy favours the large classes; ties are broken by the lowest validation ``loss`` (the
    better calibrated model), then by the fewest ``num_params`` (the cheaper model), then by
    the name. The table need not be sorted. Raises ValueError when it is empty.
    """
    if len(table) == 0:
        raise ValueError("The results table is empty: there is no model to choose.")
    return str(sort_results(table)["model"].iloc[0])
