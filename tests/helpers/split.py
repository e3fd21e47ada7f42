"""Split helpers shared by the tests: duplicate pairs recomputed from the bytes on disk."""

from __future__ import annotations

import hashlib

import pandas as pd


def cross_pairs_from_disk(split_path, dataset_dir) -> set[tuple[str, str]]:
    """Recompute, from the split file and the bytes on disk, the (train, validation) duplicate pairs."""
    frame = pd.read_csv(split_path)
    digests = {
        path: hashlib.sha256((dataset_dir / path).read_bytes()).hexdigest() for path in frame["path"]
    }
    subset_of = dict(zip(frame["path"], frame["subset"]))
    pairs = set()
    for first in frame["path"]:
        for second in frame["path"]:
            if (
                digests[first] == digests[second]
                and subset_of[first] == "train"
                and subset_of[second] == "validation"
            ):
                pairs.add((first, second))
    return pairs
