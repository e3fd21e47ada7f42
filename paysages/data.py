"""High-level data access for notebooks and commands: get the dataset, split it once, load arrays.

Every notebook after 01 calls :func:`load_split_arrays`, which reads the split file written by
notebook 01 and returns the same arrays every time (decoded once, then served from a cache).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from paysages.errors import DatasetError, PrerequisiteError
from paysages.registry import get_dataset_spec
from paysages.settings import Settings
from paysages import split as split_module


@dataclasses.dataclass
class SplitArrays:
    """The decoded train and validation images of a split, with their labels and paths."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    class_names: tuple[str, ...]
    train_paths: list[str]
    validation_paths: list[str]
    issues: list

    def describe(self) -> str:
        return (
            f"train: {len(self.y_train)} images, validation: {len(self.y_validation)} images, "
            f"shape {self.x_train.shape[1:]}, classes: {', '.join(self.class_names)}"
        )


def ensure_dataset(settings: Settings, *, progress: bool = True) -> Path:
    """Make sure the chosen dataset is on disk and return its folder.

    The sample dataset is generated (once; later calls reuse it). The real Landscapes dataset is
    downloaded and verified unless it already is; in offline mode a missing dataset is an error
    that says where to put the files by hand.
    """
    if settings.dataset == "sample":
        from paysages.sample import generate_sample_dataset

        return generate_sample_dataset(
            settings.dataset_dir, per_class=settings.sample_per_class, seed=settings.seed
        )
    from paysages.download import fetch_landscapes, read_manifest

    manifest = read_manifest(settings.dataset_dir)
    wanted = settings.exclude_no_derivatives
    on_disk = None if manifest is None else bool(manifest.get("filter", {}).get("exclude_no_derivatives"))
    if manifest is not None and (wanted is None or wanted == on_disk):
        return settings.dataset_dir
    if settings.offline and manifest is None:
        raise DatasetError(
            f"The Landscapes dataset is not in {settings.dataset_dir} and offline mode is on "
            "(PAYSAGES_OFFLINE=1). Run `paysages data download --root "
            f"{settings.data_root}` on a machine with internet, or switch to the sample dataset "
            "(PAYSAGES_DATASET=sample)."
        )
    # A different licence filter re-extracts from the kept archive (no download needed).
    return fetch_landscapes(settings.data_root, exclude_no_derivatives=bool(wanted), progress=progress)


def class_names_of(settings: Settings) -> tuple[str, ...]:
    return get_dataset_spec(settings.dataset).class_names


def _cache_dir(settings: Settings) -> Path:
    return settings.data_root / "_cache"


def scan_and_decode(settings: Settings, *, progress: bool = False):
    """Scan the dataset folder and decode every image once (cached); return the load result."""
    from paysages.images import load_images, scan_image_folder

    dataset_dir = ensure_dataset(settings, progress=progress)
    scan = scan_image_folder(dataset_dir, class_names_of(settings))
    if scan.missing_classes:
        raise DatasetError(
            f"{dataset_dir} lacks the class folder(s) {', '.join(scan.missing_classes)}: "
            f"run `paysages data verify {dataset_dir}` for details."
        )
    result = load_images(
        scan.files,
        settings.image_size,
        labels=scan.labels,
        cache_dir=_cache_dir(settings),
        cache_name=settings.dataset,
        progress=progress,
    )
    return dataset_dir, scan, result


def prepare_split(settings: Settings, *, overwrite: bool = False, progress: bool = False) -> pd.DataFrame:
    """Compute the stratified split of the usable images and write it to ``settings.split_path``."""
    dataset_dir, scan, result = scan_and_decode(settings, progress=progress)
    class_names = scan.class_names
    relative = [Path(path).relative_to(dataset_dir).as_posix() for path in result.paths]
    classes = [class_names[int(label)] for label in result.labels]
    frame = split_module.make_split_frame(
        relative, classes, settings.validation_fraction, settings.seed
    )
    split_module.write_split(frame, settings.split_path, overwrite=overwrite)
    return frame


def require_split(settings: Settings) -> pd.DataFrame:
    """Read the split file, or explain in French which notebook writes it."""
    if not settings.split_path.is_file():
        raise PrerequisiteError(
            f"Le fichier de séparation {settings.split_path} est introuvable : exécutez d'abord "
            "le notebook 01_separation.ipynb (il écrit la séparation train/validation une fois "
            "pour toutes)."
        )
    return split_module.read_split(settings.split_path, settings.dataset_dir)


def load_split_arrays(settings: Settings, *, progress: bool = False) -> SplitArrays:
    """Load the train and validation arrays through the split file (identical on every call)."""
    from paysages.images import load_images

    frame = require_split(settings)
    class_names = class_names_of(settings)
    unknown = sorted(set(frame["class"]) - set(class_names))
    if unknown:
        raise DatasetError(f"The split names unknown classes: {', '.join(unknown)}.")
    parts = {}
    issues = []
    for subset in split_module.SUBSETS:
        rows = frame[frame["subset"] == subset]
        paths = [settings.dataset_dir / name for name in rows["path"]]
        labels = np.array([class_names.index(name) for name in rows["class"]], dtype=np.int64)
        result = load_images(
            paths,
            settings.image_size,
            labels=labels,
            cache_dir=_cache_dir(settings),
            cache_name=f"{settings.dataset}-{subset}",
            progress=progress,
        )
        skipped = [issue for issue in result.issues if issue.action == "skipped"]
        if skipped:
            raise DatasetError(
                f"{len(skipped)} file(s) of the split can no longer be decoded, for example "
                f"{skipped[0].path}: {skipped[0].reason}. Recreate the split (notebook 01)."
            )
        issues.extend(result.issues)
        parts[subset] = (result.images, np.asarray(result.labels, dtype=np.int64), list(rows["path"]))
    return SplitArrays(
        x_train=parts["train"][0],
        y_train=parts["train"][1],
        x_validation=parts["validation"][0],
        y_validation=parts["validation"][1],
        class_names=tuple(class_names),
        train_paths=parts["train"][2],
        validation_paths=parts["validation"][2],
        issues=issues,
    )
