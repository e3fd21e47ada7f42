"""Reference solutions of notebooks 00 and 01: class balance, the stratified split, leakage.

The notebooks receive these functions' bodies as their solution regions (see
autograde/build_notebooks.py): edit them here, then run ``make notebooks``. Each function may only
use the names that the notebooks' set-up cells import: ``hashlib``, ``Path``, ``np`` and ``pd``.
"""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd


def class_counts(labels, class_names):
    """Count the images of each class.

    ``labels`` holds one integer per image, the index of its class in ``class_names``. Returns a
    dict mapping every class name, in the order of ``class_names``, to its number of images as a
    built-in ``int`` (0 for a class without images). Raises ValueError when a label is not a
    valid index of ``class_names``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}.")
    if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels must be integers between 0 and {len(class_names) - 1}.")
    counts = np.bincount(labels.astype(np.int64), minlength=len(class_names))
    return {str(name): int(count) for name, count in zip(class_names, counts)}


def imbalance_ratio(counts):
    """Return the imbalance ratio of a class-count dict: largest count / smallest count.

    The result is a built-in ``float`` (1.0 for perfectly balanced classes). Raises ValueError
    when ``counts`` is empty or when a class has no image (the ratio would be infinite).
    """
    values = [int(value) for value in counts.values()]
    if not values:
        raise ValueError("counts is empty: there is no class to compare.")
    if min(values) <= 0:
        raise ValueError("A class has no image: the imbalance ratio is undefined.")
    return float(max(values) / min(values))


def stratified_split(labels, validation_fraction, seed):
    """Split image indices into train and validation, class by class.

    For each class (in increasing label order) the indices of its images are shuffled by the
    permutation method of one generator made by ``np.random.default_rng(seed)``, and the first
    ``round(n_c * validation_fraction)`` of them go to validation, the rest to train (``n_c``:
    the class's number of images). Every class thus keeps the requested proportion, within one
    image. The same ``seed`` always gives the same split.

    Returns ``(train_indices, validation_indices)``: two sorted NumPy integer arrays, disjoint,
    that together cover ``0 .. len(labels) - 1``. Raises ValueError when ``validation_fraction``
    is not strictly between 0 and 1 or when ``labels`` is not one-dimensional.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction}.")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}.")
    rng = np.random.default_rng(seed)
    train_parts = [np.array([], dtype=np.int64)]
    validation_parts = [np.array([], dtype=np.int64)]
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        num_validation = int(round(len(members) * validation_fraction))
        validation_parts.append(members[:num_validation])
        train_parts.append(members[num_validation:])
    train_indices = np.sort(np.concatenate(train_parts)).astype(np.int64)
    validation_indices = np.sort(np.concatenate(validation_parts)).astype(np.int64)
    return train_indices, validation_indices


def split_table(relative_paths, class_names_of_files, train_indices, validation_indices):
    """Build the split table: one row per file, with columns ``path``, ``class`` and ``subset``.

    Row ``i`` describes file ``i``: its path relative to the dataset folder
    (``relative_paths[i]``), its class name (``class_names_of_files[i]``) and its subset,
    ``"train"`` if ``i`` is in ``train_indices`` and ``"validation"`` if it is in
    ``validation_indices``. Raises ValueError when the two lists differ in length, or when the
    indices are not a partition of the files (an index out of range, in both subsets, or in none).
    """
    num_files = len(relative_paths)
    if len(class_names_of_files) != num_files:
        raise ValueError(f"Got {num_files} paths but {len(class_names_of_files)} class names.")
    train_indices = np.asarray(train_indices, dtype=np.int64)
    validation_indices = np.asarray(validation_indices, dtype=np.int64)
    all_indices = np.concatenate([train_indices, validation_indices])
    if all_indices.size and (all_indices.min() < 0 or all_indices.max() >= num_files):
        raise ValueError(f"Indices must lie between 0 and {num_files - 1}.")
    if len(np.unique(all_indices)) != len(all_indices):
        raise ValueError("An image is in both subsets (or twice in one): the indices must be disjoint.")
    if len(all_indices) != num_files:
        raise ValueError("Some images are in no subset: the indices must cover every file.")
    subsets = np.empty(num_files, dtype=object)
    subsets[train_indices] = "train"
    subsets[validation_indices] = "validation"
    return pd.DataFrame(
        {
            "path": [str(path) for path in relative_paths],
            "class": [str(name) for name in class_names_of_files],
            "subset": list(subsets),
        }
    )


def leakage_report(frame, dataset_dir):
    """Find exact duplicate files that sit on both sides of a split.

    ``frame`` is a split table (columns ``path``, ``class``, ``subset``; paths relative to
    ``dataset_dir``). Each file's content is hashed with ``hashlib.sha256``; two files with the
    same hash are the same image. Returns a sorted list of ``(train_path, validation_path)``
    tuples of strings, one for every pair of identical files with one in ``"train"`` and the
    other in ``"validation"`` (an empty list when the split does not leak).
    """
    dataset_dir = Path(dataset_dir)
    paths_by_hash = {}
    for path, subset in zip(frame["path"], frame["subset"]):
        digest = hashlib.sha256((dataset_dir / str(path)).read_bytes()).hexdigest()
        group = paths_by_hash.setdefault(digest, {"train": [], "validation": []})
        group[str(subset)].append(str(path))
    pairs = []
    for group in paths_by_hash.values():
        for train_path in group["train"]:
            for validation_path in group["validation"]:
                pairs.append((train_path, validation_path))
    return sorted(pairs)
