"""Reference solution of notebook 11: the key messages of a soutenance, read from the results."""


def key_messages(records, best_name):
    """Return the numbers a 15-minute defence should state, from the results table records.

    ``records`` is the list of rows saved by notebook 05 (each with ``model`` and ``macro_f1``);
    ``best_name`` the model chosen there. Gains are differences of validation macro-F1:
    ``regularisation_gain`` = best ``reg_*`` variant minus ``reg_baseline`` (class weighting,
    ``reg_class_weights``, answers the imbalance rather than over-fitting and is left out),
    ``transfer_gain`` = best ``transfer_*`` model minus ``cnn``; None when a term is missing.
    """
    scores = {str(record["model"]): float(record["macro_f1"]) for record in records}
    if best_name not in scores:
        raise ValueError(f"The best model {best_name!r} is not in the results table.")
    variants = [
        score for name, score in scores.items()
        if name.startswith("reg_") and name not in ("reg_baseline", "reg_class_weights")
    ]
    transfers = [score for name, score in scores.items() if name.startswith("transfer_")]
    regularisation_gain = None
    if variants and "reg_baseline" in scores:
        regularisation_gain = max(variants) - scores["reg_baseline"]
    transfer_gain = None
    if transfers and "cnn" in scores:
        transfer_gain = max(transfers) - scores["cnn"]
    return {
        "best_model": best_name,
        "best_macro_f1": scores[best_name],
        "num_models": len(scores),
        "regularisation_gain": regularisation_gain,
        "transfer_gain": transfer_gain,
    }
