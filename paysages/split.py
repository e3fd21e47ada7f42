"""The train/validation split: computed once, written to a split file, reused by every later step.

The split file is a CSV with one row per image and three columns:

* ``path``: the image's path relative to the dataset folder, with forward slashes;
* ``class``: its class name;
* ``subset``: ``train`` or ``validation``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from paysages.errors import SplitError
from paysages.files import sha256_of_file, write_text_atomic

SUBSETS = ("train", "validation")
COLUMNS = ("path", "class", "subset")


def make_split_frame(
    relative_paths: Sequence[str],
    class_names_of_files: Sequence[str],
    validation_fraction: float = 0.2,
    seed: int = 42,
) -> pd.DataFrame:
    """Build the split table (path, class, subset) for a list of files and their classes."""
    if len(relative_paths) != len(class_names_of_files):
        raise ValueError(
            f"Got {len(relative_paths)} paths but {len(class_names_of_files)} class names."
        )
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction}.")
    check_stratifiable(class_names_of_files, validation_fraction)
    from sklearn.model_selection import train_test_split

    # scikit-learn's stratified split keeps each class within one image of the fraction.
    train, validation = train_test_split(
        np.arange(len(relative_paths)),
        test_size=validation_fraction,
        stratify=list(class_names_of_files),
        random_state=seed,
    )
    subsets = np.empty(len(relative_paths), dtype=object)
    subsets[train] = "train"
    subsets[validation] = "validation"
    frame = pd.DataFrame(
        {"path": list(relative_paths), "class": list(class_names_of_files), "subset": subsets}
    )
    return frame.sort_values("path", kind="stable").reset_index(drop=True)


def _format_counts(counts: Counter) -> str:
    return ", ".join(f"{name} ({count})" for name, count in sorted(counts.items()))


def check_stratifiable(class_names_of_files: Sequence[str], validation_fraction: float = 0.2) -> None:
    """Raise :class:`SplitError` when a stratified split of these files is impossible.

    scikit-learn's stratified split needs at least two images in every class (one on each side)
    and at least one image per class on each side, that is at least as many validation images,
    and as many training images, as there are classes. It raises a bare ``ValueError`` otherwise;
    this check says instead which classes are too small and what to do.
    """
    counts = Counter(class_names_of_files)
    total = sum(counts.values())
    if total == 0:
        raise SplitError("There are no images to split: generate or download the dataset first.")
    too_small = Counter({name: count for name, count in counts.items() if count < 2})
    if too_small:
        raise SplitError(
            f"A stratified split needs at least 2 images per class (one on each side), but these "
            f"classes have fewer: {_format_counts(too_small)}. Add images to these classes, or "
            "leave them out of the dataset."
        )
    # scikit-learn rounds the validation size up and gives the rest to training.
    validation_size = math.ceil(validation_fraction * total)
    train_size = total - validation_size
    class_count = len(counts)
    for side, size, fraction in (
        ("validation", validation_size, validation_fraction),
        ("training", train_size, 1.0 - validation_fraction),
    ):
        if size < class_count:
            needed = math.ceil(class_count / fraction)
            raise SplitError(
                f"A {validation_fraction:.0%} validation split of {total} images gives {size} "
                f"{side} images for {class_count} classes, fewer than one per class. Images per "
                f"class: {_format_counts(counts)}. Use at least {needed} images in all (for the "
                "sample dataset, a larger PAYSAGES_SAMPLE_PER_CLASS), or change the validation "
                "fraction."
            )


def write_split(frame: pd.DataFrame, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write the split file atomically.

    An existing split file with different content is never replaced unless ``overwrite`` is
    true: the split is computed once and every later notebook must see the same one.
    """
    frame = validate_split_frame(frame)
    path = Path(path)
    if path.exists() and not overwrite:
        existing = read_split(path)
        if existing.equals(frame):
            return path
        raise SplitError(
            f"A different split already exists at {path}. The split must be computed once and "
            "reused; delete that file (and every model trained on it) or pass overwrite=True."
        )
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
    return path


def validate_split_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check the columns and values of a split table; return it with canonical row order."""
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise SplitError(f"The split table lacks the column(s): {', '.join(missing)}.")
    frame = frame.loc[:, list(COLUMNS)].astype(str)
    bad_subsets = sorted(set(frame["subset"]) - set(SUBSETS))
    if bad_subsets:
        raise SplitError(f"Unknown subset value(s) in the split: {', '.join(bad_subsets)}.")
    duplicated = frame["path"][frame["path"].duplicated()].tolist()
    if duplicated:
        raise SplitError(f"These paths appear more than once in the split: {duplicated[:5]}.")
    if frame.empty:
        raise SplitError("The split table is empty.")
    return frame.sort_values("path", kind="stable").reset_index(drop=True)


def read_split(path: Path | str, dataset_dir: Path | str | None = None) -> pd.DataFrame:
    """Read and validate a split file; with ``dataset_dir``, check every listed file exists."""
    path = Path(path)
    if not path.is_file():
        raise SplitError(f"No split file at {path}.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise SplitError(f"The split file {path} cannot be read: {error}") from error
    frame = validate_split_frame(frame)
    if dataset_dir is not None:
        dataset_dir = Path(dataset_dir)
        absent = [name for name in frame["path"] if not (dataset_dir / name).is_file()]
        if absent:
            raise SplitError(
                f"{len(absent)} file(s) of the split {path} are missing from {dataset_dir}, "
                f"for example {absent[:3]}. Was the dataset changed after the split was made?"
            )
    return frame


def split_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-class image counts of each subset, with the validation share."""
    table = pd.crosstab(frame["class"], frame["subset"]).reindex(columns=list(SUBSETS), fill_value=0)
    table["total"] = table.sum(axis=1)
    table["validation_share"] = (table["validation"] / table["total"]).round(3)
    return table



def find_cross_duplicates(frame: pd.DataFrame, dataset_dir: Path | str) -> pd.DataFrame:
    """Report exact duplicate files (same content hash) that fall on both sides of the split.

    Such pairs leak validation images into training. Returns one row per duplicated content
    with the train and validation paths that share it (empty when the split is clean).
    """
    dataset_dir = Path(dataset_dir)
    hashes = [sha256_of_file(dataset_dir / name) for name in frame["path"]]
    annotated = frame.assign(sha256=hashes)
    rows = []
    for digest, group in annotated.groupby("sha256"):
        subsets = set(group["subset"])
        if len(subsets) > 1:
            rows.append(
                {
                    "sha256": digest,
                    "train_paths": sorted(group.loc[group["subset"] == "train", "path"]),
                    "validation_paths": sorted(group.loc[group["subset"] == "validation", "path"]),
                }
            )
    return pd.DataFrame(rows, columns=["sha256", "train_paths", "validation_paths"])


def format_cross_duplicates(duplicates: pd.DataFrame) -> str:
    """Describe the table of :func:`find_cross_duplicates` in a few lines, one per shared content."""
    if duplicates.empty:
        return "No duplicate file across the split: no image lies on both sides."
    lines = [
        f"{len(duplicates)} file content(s) lie on both sides of the split "
        "(exact duplicates: these validation images leak into training):"
    ]
    for row in duplicates.itertuples(index=False):
        lines.append(
            f"  train: {', '.join(row.train_paths)}  <->  validation: {', '.join(row.validation_paths)}"
        )
    return "\n".join(lines)
