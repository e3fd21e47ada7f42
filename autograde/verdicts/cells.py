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
    reference, recomputed from the same probes.
    """

    grade_id: str
    make_probes: Callable[[np.random.Generator], dict]
    judge: Callable[[dict, object], Judgement]


def passed(reason: str = "every probe agrees with the reference") -> Judgement:
    return Judgement(1.0, reason)


def failed(reason: str) -> Judgement:
    return Judgement(0.0, reason)


# Helpers shared by the notebooks' verdicts --------------------------------------------------------
NOTHING_EXPORTED = "the test cell exported nothing (it failed or did not run)"


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
