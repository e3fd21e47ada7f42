"""Verdicts of notebook 01 (the stratified 80/20 split, its table, split.csv, leakage), with ``solutions.separation``.

Each probe set is drawn from the run's generator, so that no answer can be written in advance:

* ``test_stratified_split``: random label arrays (random labels, some absent, a class of one or
  two images), random fractions and seeds; the kernel calls the student's function twice with
  the same seed, once with another seed, and once after seeding NumPy's global generator, plus
  the fractions it must refuse. The verdict checks properties, not equality with the
  reference (a student may shuffle differently): a sorted partition of the indices, every class
  within one image of its share, the same split for the same seed whatever the global state,
  another split for another seed, ValueError where the reference raises it.
* ``test_split_table``: random paths, class names and partitions, and index sets the reference
  refuses (missing, out of range, in both subsets); the rows must be the reference's, in any order.
* ``test_split_file``: split.csv is the student's own file of the run, not a probe. The kernel
  exports the images the kit lists, split.csv as the kit reads it, and the student's
  ``stratified_split`` and ``split_table`` on these images; the verdict checks that the file lists
  every image once with its class, holds exactly that split, that the split is a stratified
  partition and that ``split_table`` reproduces the file. The image list is the kernel's report
  (the trusted process has no data set): a verdict of consistency, which a forged export can only
  pass by being a correct stratified split of the images it lists.
* ``test_leakage_report``: small files of random contents, some copied on both sides of the
  split, several times, or inside one side, with names unknown in advance; the trusted process
  writes the same files in its own temporary folder and runs the reference on them.

The former in-kernel check of ``leakage_report`` on the real split.csv against
``paysages.split.find_cross_duplicates`` needs the image files, which the trusted process cannot
read: the random files above test the same property (every train/validation pair of identical
files, sorted) on duplicates placed by the grader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from autograde.verdicts.cells import (NOTHING_EXPORTED, CellVerdict, Judgement, error_name, exported_list,
                                      failed, passed, random_class_names, valid_indices)
from solutions.separation import leakage_report, split_table, stratified_split

NOTEBOOK = "01_separation"
# A class may be one image away from its share of validation images (rounding).
STRATIFICATION_TOLERANCE = 1.0 + 1e-9
SPLIT_COLUMNS = ["path", "class", "subset"]
SPLIT_CALLS = ("first", "again", "other_seed", "after_global_seed")


# Shared checks -----------------------------------------------------------------------------------
def _split_problem(result, labels: np.ndarray, fraction: float, *, require_sorted: bool = True):
    """Why an exported split of ``labels`` is wrong, or None with the validation indices when it is right."""
    if not isinstance(result, dict) or "error" in result:
        return f"stratified_split raised {error_name(result)}", None
    if "train" not in result or "validation" not in result:
        return f"stratified_split returned a {str(result.get('type'))[:40]!r}, not a tuple (train, validation)", None
    train = valid_indices(result.get("train"), len(labels))
    validation = valid_indices(result.get("validation"), len(labels))
    if train is None or validation is None:
        return "the indices are not two 1-D integer arrays of valid image indices", None
    if np.intersect1d(train, validation).size:
        return "an image is both in train and in validation (leakage)", None
    if len(train) + len(validation) != len(labels) or len(np.union1d(train, validation)) != len(labels):
        return "the two subsets do not cover every image exactly once", None
    if require_sorted and (np.any(np.diff(train) <= 0) or np.any(np.diff(validation) <= 0)):
        return "the indices are not sorted", None
    if abs(len(validation) - fraction * len(labels)) > len(np.unique(labels)) * STRATIFICATION_TOLERANCE:
        return (f"wrong ratio: {len(validation)} of {len(labels)} images in validation for a fraction of "
                f"{fraction:g}"), None
    for label in np.unique(labels):
        total = int(np.sum(labels == label))
        in_validation = int(np.sum(labels[validation] == label))
        if abs(in_validation - fraction * total) > STRATIFICATION_TOLERANCE:
            return (f"not stratified: a class of {total} images has {in_validation} in validation, "
                    f"not {fraction * total:g} within one image"), None
    return None, validation


# test_stratified_split ---------------------------------------------------------------------------
def _reference_validation(labels, fraction: float, seed: int) -> np.ndarray:
    return stratified_split(np.asarray(labels, dtype=np.int64), fraction, seed)[1]


def stratified_split_probes(rng: np.random.Generator) -> dict:
    """Random label arrays, fractions and seeds, and the fractions the reference refuses."""
    cases = []
    for fraction in (0.2, round(float(rng.uniform(0.1, 0.45)), 3), round(float(rng.uniform(0.1, 0.45)), 3)):
        num_classes = int(rng.integers(2, 8))
        # Labels need not be 0 .. k - 1: some label values are absent.
        values = np.sort(rng.choice(np.arange(num_classes + 3), size=num_classes, replace=False))
        sizes = rng.integers(15, 120, size=num_classes)
        sizes[int(rng.integers(num_classes))] = int(rng.integers(1, 3))
        labels = rng.permutation(np.repeat(values, sizes))
        seed = int(rng.integers(0, 2**31))
        other_seed = int(rng.integers(0, 2**31))
        # Another seed must give another split: draw it until the reference's differs.
        while other_seed == seed or np.array_equal(_reference_validation(labels, fraction, seed),
                                                   _reference_validation(labels, fraction, other_seed)):
            other_seed = int(rng.integers(0, 2**31))
        cases.append({"labels": [int(label) for label in labels], "fraction": fraction, "seed": seed,
                      "other_seed": other_seed, "global_seed": int(rng.integers(0, 2**32))})
    labels = rng.integers(0, 3, size=int(rng.integers(20, 40)))
    bad_fractions = [0.0, 1.0, 1.5, round(float(rng.uniform(-1.0, -0.01)), 3), round(float(rng.uniform(1.01, 3.0)), 3)]
    return {"cases": cases, "labels": [int(label) for label in labels], "seed": int(rng.integers(0, 2**31)),
            "bad_fractions": bad_fractions}


def judge_stratified_split(probes: dict, export) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    refusals = exported_list(export, "bad_fractions", len(probes["bad_fractions"]), "refused fraction")
    if isinstance(refusals, Judgement):
        return refusals
    for number, (case, calls) in enumerate(zip(probes["cases"], results), start=1):
        if not isinstance(calls, dict):
            return failed(f"probe {number}: no result")
        labels = np.asarray(case["labels"], dtype=np.int64)
        validations = {}
        for call in SPLIT_CALLS:
            problem, validations[call] = _split_problem(calls.get(call), labels, case["fraction"])
            if problem:
                return failed(f"probe {number} ({call.replace('_', ' ')}): {problem}")
        if not np.array_equal(validations["first"], validations["again"]):
            return failed(f"probe {number}: the same seed gave two different splits (not deterministic)")
        if np.array_equal(validations["first"], validations["other_seed"]):
            return failed(f"probe {number}: another seed gave the same split (the seed is not used)")
        if not np.array_equal(validations["first"], validations["after_global_seed"]):
            return failed(f"probe {number}: the split depends on NumPy's global random state, not only on the seed")
    for fraction, result in zip(probes["bad_fractions"], refusals):
        try:
            stratified_split(np.asarray(probes["labels"], dtype=np.int64), fraction, probes["seed"])
        except ValueError:
            if not isinstance(result, dict) or result.get("value_error") is not True:
                return failed(f"validation_fraction={fraction:g}: stratified_split must raise ValueError")
        else:
            raise ValueError(f"The reference accepts the refused fraction {fraction!r}: the probes are wrong.")
    return passed()


# test_split_table --------------------------------------------------------------------------------
def _file_names(rng: np.random.Generator, class_names: list[str], count: int) -> tuple[list[str], list[str]]:
    """Random relative paths (unique, one folder per class) and the class of each file."""
    classes = [class_names[index] for index in rng.integers(0, len(class_names), size=count)]
    numbers = rng.choice(np.arange(10**6, 10**7), size=count, replace=False)
    return [f"{name}/{int(number)}_{int(number) % 97:02d}.jpg" for name, number in zip(classes, numbers)], classes


def _table_case(paths, classes, train, validation) -> dict:
    return {"paths": list(paths), "classes": list(classes), "train": [int(index) for index in train],
            "validation": [int(index) for index in validation]}


def split_table_probes(rng: np.random.Generator) -> dict:
    """Random files and partitions, and the index sets the reference refuses."""
    cases = []
    for count in (1, int(rng.integers(5, 12)), int(rng.integers(40, 120))):
        paths, classes = _file_names(rng, random_class_names(rng, int(rng.integers(2, 6))), count)
        validation = np.sort(rng.choice(count, size=int(rng.integers(0, count // 2 + 1)), replace=False))
        cases.append(_table_case(paths, classes, np.setdiff1d(np.arange(count), validation), validation))
    count = int(rng.integers(6, 15))
    paths, classes = _file_names(rng, random_class_names(rng, 3), count)
    order = rng.permutation(count)
    half = count // 2
    bad_cases = [
        # One image in no subset.
        _table_case(paths, classes, np.sort(order[: half - 1]), np.sort(order[half:])),
        # An index past the last file.
        _table_case(paths, classes, np.sort(order[:half]),
                    np.sort(np.append(order[half:], count + int(rng.integers(0, 5))))),
        # One image in both subsets.
        _table_case(paths, classes, np.sort(order[: half + 1]), np.sort(order[half:])),
    ]
    return {"cases": cases, "bad_cases": bad_cases}


def _reference_rows(case: dict) -> list[list[str]]:
    table = split_table(case["paths"], case["classes"], np.asarray(case["train"], dtype=np.int64),
                        np.asarray(case["validation"], dtype=np.int64))
    return sorted([str(item) for item in row] for row in table.itertuples(index=False, name=None))


def judge_split_table(probes: dict, export) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    refusals = exported_list(export, "refusals", len(probes["bad_cases"]), "refused partition")
    if isinstance(refusals, Judgement):
        return refusals
    for number, (case, result) in enumerate(zip(probes["cases"], results), start=1):
        if not isinstance(result, dict) or "error" in result:
            return failed(f"probe {number}: split_table raised {error_name(result)}")
        if result.get("dataframe") is not True:
            return failed(f"probe {number}: split_table returned a {str(result.get('type'))[:40]!r}, not a DataFrame")
        if result.get("columns") != SPLIT_COLUMNS:
            return failed(f"probe {number}: the columns are not path, class, subset (in this order)")
        rows = result.get("rows")
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            return failed(f"probe {number}: no rows")
        if sorted(rows) != _reference_rows(case):
            return failed(f"probe {number}: wrong rows (one row per file: its path, its class, train or validation)")
    for number, (case, result) in enumerate(zip(probes["bad_cases"], refusals), start=1):
        try:
            _reference_rows(case)
        except ValueError:
            if not isinstance(result, dict) or result.get("value_error") is not True:
                return failed(f"refused partition {number}: indices that are not a partition must raise ValueError")
        else:
            raise ValueError(f"The reference accepts the refused partition {number}: the probes are wrong.")
    return passed()


# test_split_file ---------------------------------------------------------------------------------
def split_file_probes(rng: np.random.Generator) -> dict:
    """No probe: split.csv is the student's file of the run (see the module's docstring)."""
    return {}


def judge_split_file(probes: dict, export) -> Judgement:
    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    paths, labels, class_names = export.get("paths"), export.get("labels"), export.get("class_names")
    fraction, seed = export.get("validation_fraction"), export.get("seed")
    if (not isinstance(class_names, list) or not class_names or not all(type(name) is str for name in class_names)
            or not isinstance(paths, list) or not paths or not all(type(path) is str for path in paths)
            or len(set(paths)) != len(paths) or valid_indices(labels, len(class_names)) is None
            or len(labels) != len(paths) or type(fraction) is not float or not 0.0 < fraction < 1.0
            or type(seed) is not int):
        return failed("the export does not describe the images of the data set")
    labels = np.asarray(labels, dtype=np.int64)
    classes = [class_names[label] for label in labels]
    on_disk = export.get("file")
    if not isinstance(on_disk, dict) or "error" in on_disk:
        return failed(f"split.csv could not be read ({error_name(on_disk)})")
    columns = [on_disk.get(column) for column in SPLIT_COLUMNS]
    if not all(isinstance(column, list) and len(column) == len(columns[0]) for column in columns):
        return failed("split.csv could not be read (its columns differ in length)")
    class_of, subset_of = dict(zip(columns[0], columns[1])), dict(zip(columns[0], columns[2]))
    if len(columns[0]) != len(paths) or sorted(columns[0]) != sorted(paths):
        return failed("split.csv does not list every usable image exactly once")
    if any(class_of[path] != name for path, name in zip(paths, classes)):
        return failed("split.csv gives an image another class than its folder's")
    problem, _ = _split_problem(export.get("split"), labels, fraction, require_sorted=False)
    if problem:
        return failed(f"on the images of the data set: {problem}")
    split = export["split"]
    expected = split_table(paths, classes, np.asarray(split["train"], dtype=np.int64),
                           np.asarray(split["validation"], dtype=np.int64))
    if [subset_of[path] for path in paths] != [str(subset) for subset in expected["subset"]]:
        return failed("split.csv does not hold the split that stratified_split computes (an older split kept?)")
    table = export.get("table")
    if not isinstance(table, dict) or "error" in table:
        return failed(f"split_table raised {error_name(table)} on the split of the data set")
    if (not isinstance(table.get("path"), list) or not isinstance(table.get("subset"), list)
            or len(table["path"]) != len(table["subset"])
            or dict(zip(table["path"], table["subset"])) != subset_of or len(table["path"]) != len(paths)):
        return failed("split_table does not reproduce split.csv")
    return passed()


# test_leakage_report -----------------------------------------------------------------------------
def _random_content(rng: np.random.Generator) -> str:
    return rng.bytes(int(rng.integers(1, 200))).hex()


def leakage_report_probes(rng: np.random.Generator) -> dict:
    """Small files of random contents: cross copies (several per image), copies inside one side, none."""
    cases = []
    for with_leaks in (False, True, True):
        class_names = random_class_names(rng, int(rng.integers(2, 4)))
        originals = [_random_content(rng) for _ in range(int(rng.integers(4, 9)))]
        contents = list(originals)
        if with_leaks:
            # Copies of random originals, on either side: several copies of one image, some inside one side.
            copied = rng.integers(0, len(originals), size=int(rng.integers(3, 8)))
            contents += [originals[int(index)] for index in copied]
            contents.append(originals[0])
        else:
            # A copy on the same side only is no leak.
            contents.append(originals[0])
        paths, classes = _file_names(rng, class_names, len(contents))
        # A name with a space, as real file names may have.
        paths[-1] = paths[-1].replace(".jpg", " (copie).jpg")
        if with_leaks:
            subsets = [str(subset) for subset in rng.choice(["train", "validation"], size=len(contents))]
            subsets[0], subsets[-1] = "train", "validation"
        else:
            # The first original and its copy both in train, one other image in validation.
            subsets = ["train"] * len(contents)
            subsets[int(rng.integers(1, len(originals)))] = "validation"
        order = rng.permutation(len(contents))
        cases.append({"files": [{"path": paths[index], "class": classes[index], "subset": subsets[index],
                                 "content": contents[index]} for index in order]})
    return {"cases": cases}


def _reference_pairs(case: dict) -> list[list[str]]:
    """The reference's pairs on the same files, written in a folder of the trusted process."""
    with tempfile.TemporaryDirectory(prefix="paysages-verdict-") as folder:
        for file in case["files"]:
            path = Path(folder) / file["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes.fromhex(file["content"]))
        frame = pd.DataFrame({column: [file[column] for file in case["files"]] for column in SPLIT_COLUMNS})
        return [list(pair) for pair in leakage_report(frame, folder)]


def judge_leakage_report(probes: dict, export) -> Judgement:
    results = exported_list(export, "results", len(probes["cases"]))
    if isinstance(results, Judgement):
        return results
    for number, (case, result) in enumerate(zip(probes["cases"], results), start=1):
        if not isinstance(result, dict) or "error" in result:
            return failed(f"probe {number}: leakage_report raised {error_name(result)}")
        if result.get("type") != "list":
            return failed(f"probe {number}: leakage_report returned a {str(result.get('type'))[:40]!r}, not a list")
        pairs = result.get("pairs")
        if not isinstance(pairs, list) or any(pair is None for pair in pairs):
            return failed(f"probe {number}: each element must be a pair (train path, validation path) of strings")
        expected = _reference_pairs(case)
        if pairs != expected:
            return failed(f"probe {number}: {len(pairs)} pair(s) found, {len(expected)} expected, or not the same "
                          f"ones, or not sorted (every train/validation pair of identical files)")
    return passed()


VERDICTS = (
    CellVerdict("test_stratified_split", stratified_split_probes, judge_stratified_split),
    CellVerdict("test_split_table", split_table_probes, judge_split_table),
    CellVerdict("test_split_file", split_file_probes, judge_split_file),
    CellVerdict("test_leakage_report", leakage_report_probes, judge_leakage_report),
)
