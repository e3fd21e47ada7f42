"""Verdicts of notebook 00 (class_counts, imbalance_ratio), recomputed with ``solutions.separation``.

Each probe set is drawn from the run's generator: random class names (so that no answer can be
written in advance), random label arrays where some classes have no image, random class-count
dicts, and the inputs on which the reference raises ValueError. A cell earns its points only
when every result the kernel exported agrees with the reference on every probe.
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import (CellVerdict, Judgement, error_name, exported_list, failed, passed,
                                      random_class_names)
from solutions.separation import class_counts, imbalance_ratio

NOTEBOOK = "00_prise_en_main"
RATIO_TOLERANCE = 1e-9


def class_counts_probes(rng: np.random.Generator) -> dict:
    """Label arrays over random class names; some classes have no image, one array is empty."""
    cases = []
    for size in (0, 1, int(rng.integers(20, 60)), int(rng.integers(150, 400))):
        num_classes = int(rng.integers(3, 10))
        names = random_class_names(rng, num_classes)
        used = rng.choice(num_classes, size=int(rng.integers(1, num_classes)), replace=False)
        labels = rng.choice(used, size=size) if size else np.zeros(0, dtype=np.int64)
        cases.append({"labels": [int(label) for label in labels], "class_names": names})
    return {"cases": cases}


def judge_class_counts(probes: dict, export) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    for number, (case, result) in enumerate(zip(probes["cases"], results), start=1):
        expected = class_counts(np.asarray(case["labels"], dtype=np.int64), tuple(case["class_names"]))
        if not isinstance(result, dict) or "error" in result:
            return failed(f"probe {number}: class_counts raised {error_name(result)}")
        if result.get("type") != "dict":
            return failed(f"probe {number}: class_counts returned a {result.get('type')!r}, not a dict")
        if result.get("keys") != list(expected):
            return failed(f"probe {number}: the keys are not the class names in order")
        if result.get("counts") != list(expected.values()):
            return failed(f"probe {number}: wrong counts (or not integers)")
    return passed()


def imbalance_ratio_probes(rng: np.random.Generator) -> dict:
    """Random class-count dicts, a balanced one, and the two inputs that must raise ValueError."""
    cases = []
    for _ in range(4):
        names = random_class_names(rng, int(rng.integers(2, 9)))
        cases.append({name: int(rng.integers(1, 1000)) for name in names})
    names = random_class_names(rng, 3)
    cases.append({name: 42 for name in names})
    cases.append({})
    with_empty_class = {name: int(rng.integers(1, 1000)) for name in random_class_names(rng, 4)}
    with_empty_class[next(iter(with_empty_class))] = 0
    cases.append(with_empty_class)
    return {"cases": cases}


def judge_imbalance_ratio(probes: dict, export) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    for number, (case, result) in enumerate(zip(probes["cases"], results), start=1):
        if not isinstance(result, dict):
            return failed(f"probe {number}: no result")
        try:
            expected = imbalance_ratio(dict(case))
        except ValueError:
            if result.get("value_error") is not True:
                return failed(f"probe {number}: imbalance_ratio must raise ValueError here")
            continue
        value = result.get("value")
        if "error" in result or isinstance(value, bool) or not isinstance(value, (int, float)):
            return failed(f"probe {number}: imbalance_ratio raised {error_name(result)} or returned no number")
        if abs(float(value) - expected) > RATIO_TOLERANCE * max(1.0, abs(expected)):
            return failed(f"probe {number}: wrong ratio")
    return passed()


VERDICTS = (
    CellVerdict("test_class_counts", class_counts_probes, judge_class_counts),
    CellVerdict("test_imbalance_ratio", imbalance_ratio_probes, judge_imbalance_ratio),
)
