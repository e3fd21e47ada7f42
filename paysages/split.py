"""The train/validation split: computed once, written to a split file, reused by every later step.

The split file is a CSV with one row per image and three columns:

* ``path``: the image's path relative to the dataset folder, with forward slashes;
* ``class``: its class name;
* ``subset``: ``train`` or ``validation``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from paysages.errors import SplitError

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
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
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


def file_sha256(path: Path) -> str:
    """Hash a file's content (used to find exact duplicates)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_cross_duplicates(frame: pd.DataFrame, dataset_dir: Path | str) -> pd.DataFrame:
    """Report exact duplicate files (same content hash) that fall on both sides of the split.

    Such pairs leak validation images into training. Returns one row per duplicated content
    with the train and validation paths that share it (empty when the split is clean).
    """
    dataset_dir = Path(dataset_dir)
    hashes = [file_sha256(dataset_dir / name) for name in frame["path"]]
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
