"""Verdicts of notebook 11 (key_messages), recomputed with ``solutions.defence``.

``test_key_messages``: the kernel calls the student's ``key_messages`` on results tables the grader
made up (random validation macro-F1 under the course's model names and made-up ones, a best model
drawn among the rows; tables without a transfer model, without ``reg_baseline``, without ``cnn``,
and one where ``reg_class_weights`` scores highest, which must stay out of the regularisation
gain) and on the run's own table (results.json and best.json as read from the disk). Every value
must be the reference's: the same text, the same count, the same gains within 1e-9, None where a
term is missing. The run's table is the kernel's word (notebook 05's verdict judges it).
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import NOTHING_EXPORTED, CellVerdict, Judgement, error_name, failed, is_number, passed
from solutions.defence import key_messages
from solutions.grading import COURSE_MODEL_NAMES

NOTEBOOK = "11_soutenance"
GAIN_TOLERANCE = 1e-9
# The tables made up per run, and the made-up names of each family added to some of them.
MADE_UP_TABLES = 4


def _made_up_names(rng: np.random.Generator) -> list[str]:
    """A made-up regularisation variant and a made-up transfer model (they count as their family)."""
    suffixes = rng.choice(np.arange(100, 1000), size=2, replace=False)
    return [f"reg_essai_{int(suffixes[0])}", f"transfer_essai_{int(suffixes[1])}"]


def _table(rng: np.random.Generator, names) -> list[dict]:
    return [{"model": str(name), "macro_f1": round(float(rng.uniform(0.2, 0.9)), 4)} for name in names]


def key_messages_probes(rng: np.random.Generator) -> dict:
    """Made-up results tables (some terms missing, class weighting on top) with a best model each."""
    names = list(COURSE_MODEL_NAMES)
    tables = []
    for _ in range(MADE_UP_TABLES):
        chosen = [str(name) for name in rng.choice(names, size=int(rng.integers(4, len(names) + 1)), replace=False)]
        tables.append(_table(rng, chosen + _made_up_names(rng)))
    tables.append(_table(rng, [name for name in names if not name.startswith("transfer_")]))
    tables.append(_table(rng, [name for name in names if name != "reg_baseline"]))
    tables.append(_table(rng, [name for name in names if name != "cnn"]))
    weighted = _table(rng, names)
    for row in weighted:
        if row["model"] == "reg_class_weights":
            row["macro_f1"] = 0.99
    tables.append(weighted)
    cases = [{"records": table, "best_name": table[int(rng.integers(0, len(table)))]["model"]} for table in tables]
    return {"cases": cases}


def _messages_problem(result, records, best_name) -> str | None:
    """Why the exported messages are not the reference's on this table, or None."""
    if not isinstance(result, dict) or "error" in result:
        return f"key_messages raised {error_name(result)}"
    messages = result.get("messages")
    if not isinstance(messages, dict):
        return "key_messages must return a dict"
    expected = key_messages(records, best_name)
    for key, value in expected.items():
        got = messages.get(key)
        if value is None:
            if got is not None:
                return f"{key} must be None when one of its terms is missing"
        elif isinstance(value, str):
            if got != value:
                return f"{key} does not match the results table"
        elif not is_number(got) or abs(got - value) > GAIN_TOLERANCE:
            return f"{key} does not match the results table (reg_class_weights stays out of the regularisation gain)"
    return None


def judge_key_messages(probes: dict, export) -> Judgement:
    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    results = export.get("results")
    if not isinstance(results, list) or len(results) != len(probes["cases"]):
        return failed("the export does not hold one result per table")
    for number, (case, result) in enumerate(zip(probes["cases"], results), start=1):
        problem = _messages_problem(result, case["records"], case["best_name"])
        if problem:
            return failed(f"table {number}: {problem}")
    run = export.get("run")
    if not isinstance(run, dict) or "error" in run:
        return failed(f"results.json and best.json could not be read ({error_name(run)}): re-run notebook 05")
    records, best_name = run.get("records"), run.get("best_name")
    if (not isinstance(records, list) or type(best_name) is not str
            or not all(isinstance(row, dict) and type(row.get("model")) is str and is_number(row.get("macro_f1"))
                       for row in records)
            or best_name not in [row["model"] for row in records]):
        return failed("results.json and best.json do not describe a results table and its best model")
    problem = _messages_problem(run.get("result"), records, best_name)
    if problem:
        return failed(f"the run's results table: {problem}")
    return passed()


VERDICTS = (
    CellVerdict("test_key_messages", key_messages_probes, judge_key_messages),
)
