"""What a registered cell verdict is: the probes the grader chooses, then the judgement of the export."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The verdict of one test cell: the fraction of its points earned, and why."""

    fraction: float
    reason: str

    def __post_init__(self):
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"A verdict is a fraction between 0 and 1, not {self.fraction!r}.")


@dataclasses.dataclass(frozen=True)
class CellVerdict:
    """How one test cell is judged outside the kernel.

    ``make_probes(rng)`` returns the plain (JSON) inputs of this run; ``judge(probes, export)``
    compares the plain results the kernel exported (None when it exported nothing) with the
    reference, recomputed from the same probes. A verdict with ``reads_arrays`` also gets
    ``arrays``, the NumPy arrays the cell exported in ``<grade id>.npz`` (a dict of plain arrays,
    or None when there is no such file); one with ``reads_model`` also gets ``model``, the
    :class:`autograde.verdicts.exports.SavedModel` the cell exported as ``<grade id>.keras`` (or
    None); one with ``reads_models`` also gets ``models``, a dict ``key -> SavedModel`` of the
    cell's ``<grade id>-<key>.keras`` exports. They come in that order:
    ``judge(probes, export[, arrays][, model][, models])``.
    """

    grade_id: str
    make_probes: Callable[[np.random.Generator], dict]
    judge: Callable[..., Judgement]
    reads_arrays: bool = False
    reads_model: bool = False
    reads_models: bool = False


def passed(reason: str = "every probe agrees with the reference") -> Judgement:
    return Judgement(1.0, reason)


def failed(reason: str) -> Judgement:
    return Judgement(0.0, reason)


# Helpers shared by the notebooks' verdicts --------------------------------------------------------
NOTHING_EXPORTED = "the test cell exported nothing (it failed or did not run)"
# The numbers of classes a model builder is probed with: never the data set's 7, so that a builder
# that ignores ``num_classes`` fails.
PROBE_NUM_CLASSES = (3, 4, 5, 6, 8, 9)


def probe_shape(rng: np.random.Generator, sides) -> dict:
    """An input shape (a side drawn from ``sides``, three channels) and a number of classes for one run."""
    side = int(rng.choice(sides))
    return {"input_shape": [side, side, 3], "num_classes": int(rng.choice(PROBE_NUM_CLASSES))}


def export_error(export, what: str = "the function"):
    """The failing judgement when the cell exported nothing or its call raised, else None."""
    if export is None:
        return failed(NOTHING_EXPORTED)
    if isinstance(export, dict) and "error" in export:
        return failed(f"{what} raised {error_name(export)}")
    return None


def random_class_names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct made-up class names, so that no answer can be written in advance."""
    numbers = rng.choice(np.arange(100, 1000), size=count, replace=False)
    return [f"classe_{int(number)}" for number in numbers]


def error_name(result) -> str:
    """The exception name a kernel exported for one probe (``"nothing"`` when none)."""
    name = result.get("error") if isinstance(result, dict) else None
    return str(name)[:80] if name else "nothing"


def exported_list(export, key: str, expected_length: int, what: str = "probe"):
    """``export[key]``, a list of one result per probe, or the failing judgement."""
    if export is None:
        return failed(NOTHING_EXPORTED)
    results = export.get(key) if isinstance(export, dict) else None
    if not isinstance(results, list) or len(results) != expected_length:
        return failed(f"the export does not hold one result per {what}")
    return results


def judge_each_probe(export, cases: list, problem_of) -> Judgement:
    """Pass when ``problem_of(case, result)`` finds nothing wrong in the exported result of any probe.

    ``export["results"]`` holds one result per case; the first problem fails the cell, numbered.
    """
    results = exported_list(export, "results", len(cases))
    if isinstance(results, Judgement):
        return results
    for number, (case, result) in enumerate(zip(cases, results), start=1):
        problem = problem_of(case, result)
        if problem:
            return failed(f"probe {number}: {problem}")
    return passed()


def valid_indices(values, length: int):
    """``values`` as a NumPy array of indices in ``0 .. length - 1``, or None when it is not one."""
    if not isinstance(values, list) or not all(type(value) is int and 0 <= value < length for value in values):
        return None
    return np.asarray(values, dtype=np.int64)


def table_problem(result, columns: list[str], function: str):
    """Why an exported table (:func:`paysages.probes.plain_table`) is not a DataFrame with ``columns``, or None."""
    if not isinstance(result, dict) or "error" in result:
        return f"{function} raised {error_name(result)}"
    if result.get("dataframe") is not True:
        return f"{function} returned a {str(result.get('type'))[:40]!r}, not a pandas.DataFrame"
    if result.get("columns") != columns:
        return f"{function}: the columns are not {', '.join(columns)} (in this order)"
    values = result.get("values")
    if not isinstance(values, dict) or not all(isinstance(values.get(column), list) for column in columns):
        return f"{function}: a column does not hold plain values of its kind (integers, numbers or text)"
    lengths = {len(values[column]) for column in columns}
    if len(lengths) != 1:
        return f"{function}: the columns differ in length"
    return None


def is_number(value) -> bool:
    """True for a finite built-in int or float read from an export (not a bool, None or text)."""
    return type(value) in (int, float) and abs(value) < float("inf")


def number_rows(rows, shape: tuple = (None, None)):
    """Exported rows (lists of plain finite numbers, all as long) as a float64 2-D array, or None.

    ``shape`` gives the number of rows and of columns expected; None accepts any.
    """
    if not isinstance(rows, list) or not all(isinstance(row, list) and all(map(is_number, row)) for row in rows):
        return None
    if len({len(row) for row in rows}) > 1:
        return None
    array = np.asarray(rows, dtype=np.float64)
    if array.ndim != 2 or any(size is not None and actual != size for actual, size in zip(array.shape, shape)):
        return None
    return array


def close_numbers(got: list, expected, tolerance: float) -> bool:
    """True when ``got`` (a list of plain numbers) matches ``expected`` within ``tolerance``."""
    expected = np.asarray(expected, dtype=np.float64)
    if not isinstance(got, list) or len(got) != len(expected) or not all(is_number(value) for value in got):
        return False
    return bool(np.all(np.abs(np.asarray(got, dtype=np.float64) - expected) <= tolerance))
