"""Tests of solutions/separation.py: class balance (notebook 00), the split and leakage (notebook 01)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from paysages.split import find_cross_duplicates, read_split, write_split
from paysages.errors import SplitError
from solutions.separation import (
    class_counts,
    imbalance_ratio,
    leakage_report,
    split_table,
    stratified_split,
)

# An imbalanced set of labels, shuffled, like the real dataset (the counts of Landscapes / 5).
COUNTS = [70, 103, 137, 119, 139, 96, 124]


@pytest.fixture()
def labels() -> np.ndarray:
    ordered = np.repeat(np.arange(len(COUNTS)), COUNTS)
    return np.random.default_rng(3).permutation(ordered)


# Class balance ---------------------------------------------------------------------------------


def test_class_counts_follow_class_names_and_include_empty_classes():
    """Are counts given for every class, in order, as built-in ints, with 0 for an absent class?"""
    counts = class_counts(np.array([2, 0, 2, 2, 0]), ("city", "field", "forest"))
    assert list(counts) == ["city", "field", "forest"]
    assert counts == {"city": 2, "field": 0, "forest": 3}
    assert all(type(value) is int for value in counts.values())


def test_class_counts_rejects_labels_outside_the_classes():
    """Is a label that names no class refused?"""
    with pytest.raises(ValueError, match="labels must be integers between 0 and 1"):
        class_counts([0, 3], ("city", "field"))
    with pytest.raises(ValueError, match="labels must be integers between 0 and 1"):
        class_counts([-1, 0], ("city", "field"))


def test_imbalance_ratio_is_largest_over_smallest():
    """Is the ratio max/min, a float, and undefined for an empty class or no class?"""
    assert imbalance_ratio({"city": 348, "mountain": 696, "lake": 595}) == pytest.approx(2.0)
    assert type(imbalance_ratio({"a": 3, "b": 3})) is float
    with pytest.raises(ValueError, match="A class has no image"):
        imbalance_ratio({"a": 3, "b": 0})
    with pytest.raises(ValueError, match="counts is empty"):
        imbalance_ratio({})


# The stratified split --------------------------------------------------------------------------


def test_each_class_keeps_its_proportion_within_one_image(labels):
    """Does every class of imbalanced labels put 20 % (within one image) in validation?"""
    train, validation = stratified_split(labels, 0.2, seed=42)
    for label, count in enumerate(COUNTS):
        in_validation = int(np.sum(labels[validation] == label))
        in_train = int(np.sum(labels[train] == label))
        assert in_validation + in_train == count
        assert abs(in_validation - 0.2 * count) <= 1, (label, in_validation, count)


def test_split_is_a_sorted_disjoint_cover(labels):
    """Are the indices sorted integers, disjoint, and covering every image once?"""
    train, validation = stratified_split(labels, 0.2, seed=0)
    for indices in (train, validation):
        assert indices.dtype.kind == "i"
        assert np.all(np.diff(indices) > 0)
    assert not set(train.tolist()) & set(validation.tolist())
    assert sorted(train.tolist() + validation.tolist()) == list(range(len(labels)))


def test_split_is_deterministic_and_depends_on_the_seed(labels):
    """Does the same seed give the same split, and another seed another split?"""
    first = stratified_split(labels, 0.2, seed=42)
    second = stratified_split(labels, 0.2, seed=42)
    other = stratified_split(labels, 0.2, seed=43)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_a_fraction_outside_zero_one(labels, fraction):
    """Is a validation fraction outside (0, 1) refused with ValueError?"""
    with pytest.raises(ValueError, match=r"validation_fraction must lie in \(0, 1\)"):
        stratified_split(labels, fraction, seed=0)


def test_split_rejects_two_dimensional_labels():
    """Are labels that are not one-dimensional refused?"""
    with pytest.raises(ValueError, match=r"labels must be one-dimensional, got shape \(4, 2\)"):
        stratified_split(np.zeros((4, 2), dtype=int), 0.2, seed=0)


# The split table -------------------------------------------------------------------------------


def _files(labels, names=("city", "field", "forest", "lake", "mountain", "ocean", "road")):
    classes = [names[label] for label in labels]
    paths = [f"{name}/{name}_{index:04d}.jpg" for index, name in enumerate(classes)]
    return paths, classes


def test_split_table_marks_each_row_with_its_subset(labels):
    """Does row i carry file i's path, class and subset?"""
    paths, classes = _files(labels)
    train, validation = stratified_split(labels, 0.2, seed=1)
    frame = split_table(paths, classes, train, validation)
    assert list(frame.columns) == ["path", "class", "subset"]
    assert frame["path"].tolist() == paths
    assert frame["class"].tolist() == classes
    subsets = frame["subset"].to_numpy()
    assert set(subsets[train]) == {"train"} and set(subsets[validation]) == {"validation"}


def test_split_table_refuses_indices_that_are_not_a_partition():
    """Are overlapping, missing or out-of-range indices refused?"""
    paths, classes = _files([0, 0, 1, 1])
    with pytest.raises(ValueError, match="An image is in both subsets"):
        split_table(paths, classes, [0, 1, 2], [2, 3])
    # Four indices for four files, but image 2 twice and image 3 never.
    with pytest.raises(ValueError, match="An image is in both subsets"):
        split_table(paths, classes, [0, 1, 2], [2])
    with pytest.raises(ValueError, match="Some images are in no subset"):
        split_table(paths, classes, [0, 1], [2])
    with pytest.raises(ValueError, match="Indices must lie between 0 and 3"):
        split_table(paths, classes, [0, 1, 2], [4])
    with pytest.raises(ValueError, match="Got 4 paths but 3 class names"):
        split_table(paths, classes[:3], [0, 1], [2, 3])


def test_split_table_round_trips_through_the_split_file(tmp_path, labels):
    """Does the table survive write_split/read_split, and is a different split refused?"""
    paths, classes = _files(labels)
    train, validation = stratified_split(labels, 0.2, seed=42)
    frame = split_table(paths, classes, train, validation)
    split_path = write_split(frame, tmp_path / "split.csv")
    back = read_split(split_path).set_index("path")
    assert back.loc[paths, "class"].tolist() == classes
    subsets = back.loc[paths, "subset"].to_numpy()
    assert np.array_equal(np.flatnonzero(subsets == "validation"), validation)
    # Writing the same split again is accepted; a different one is refused.
    write_split(frame, split_path)
    other = split_table(paths, classes, *stratified_split(labels, 0.2, seed=7))
    with pytest.raises(SplitError, match="A different split already exists"):
        write_split(other, split_path)


# Leakage -----------------------------------------------------------------------------------------


@pytest.fixture()
def small_split(tmp_path, sample_dataset_dir):
    """Six real sample images, three per class, split 2 train + 1 validation per class."""
    rows = []
    for class_name in ("city", "lake"):
        (tmp_path / class_name).mkdir()
        for number, source in enumerate(sorted((sample_dataset_dir / class_name).glob("*.jpg"))[:3]):
            shutil.copy(source, tmp_path / class_name / source.name)
            rows.append((f"{class_name}/{source.name}", class_name, "validation" if number == 2 else "train"))
    return tmp_path, pd.DataFrame(rows, columns=["path", "class", "subset"])


def _pairs_of(duplicates: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(
        (train_path, validation_path)
        for train_paths, validation_paths in zip(duplicates["train_paths"], duplicates["validation_paths"])
        for train_path in train_paths
        for validation_path in validation_paths
    )


def test_leakage_report_is_empty_for_a_clean_split(small_split):
    """Does a split without duplicated files report no leak?"""
    dataset_dir, frame = small_split
    assert leakage_report(frame, dataset_dir) == []
    assert _pairs_of(find_cross_duplicates(frame, dataset_dir)) == []


def test_leakage_report_finds_a_planted_duplicate(small_split):
    """Is a copy of a training image placed in validation found, and agrees with the kit?"""
    dataset_dir, frame = small_split
    train_path = frame.loc[frame["subset"] == "train", "path"].iloc[0]
    copy_path = "lake/copy_of_a_training_image.jpg"
    shutil.copy(dataset_dir / train_path, dataset_dir / copy_path)
    # A second copy on the train side is a duplicate too, but not a leak on its own.
    shutil.copy(dataset_dir / train_path, dataset_dir / "city/second_copy.jpg")
    frame = pd.concat(
        [frame, pd.DataFrame([(copy_path, "lake", "validation"), ("city/second_copy.jpg", "city", "train")],
                             columns=frame.columns)],
        ignore_index=True,
    )
    report = leakage_report(frame, dataset_dir)
    assert report == sorted([(train_path, copy_path), ("city/second_copy.jpg", copy_path)])
    assert all(type(path) is str for pair in report for path in pair)
    assert report == _pairs_of(find_cross_duplicates(frame, dataset_dir))
