"""The embedded procedural sample dataset: synthetic landscapes in the seven Landscapes classes.

The real ml5js Landscapes photos cannot always be downloaded (tests, continuous integration, a
classroom without internet), so the kit ships a deterministic generator of small synthetic
landscapes with the same class names and the same folder layout::

    sample/
        city/city_0001.jpg ...
        field/field_0001.jpg ...
        ...
        licenses/city_photos_info.json ...   (same JSON format as the ml5js metadata)
        sample_info.json                     (how the folder was generated)

The scenes are drawn by :mod:`paysages.data.painters`; this module writes the dataset: the
images, their licence metadata and ``sample_info.json``, swapped into place when complete.

Everything is deterministic: each image's random generator is derived from
``(seed, class index, image number)``, so the same seed always gives byte-identical files and
changing ``per_class`` does not change the images that both sizes share.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from paysages.data.painters import MINIMUM_IMAGE_SIZE, render_scene
from paysages.errors import DatasetError
from paysages.files import swap_folder_into_place
from paysages.registry import get_dataset_spec
from paysages.validation import check_integer


GENERATOR_VERSION = 1
"""Bumped whenever the drawings change, so that an old sample folder is regenerated."""

SAMPLE_CLASS_NAMES = get_dataset_spec("sample").class_names
"""The seven class names, alphabetical, from the registry entry "sample"."""

REAL_CLASS_COUNTS = dict(get_dataset_spec("landscapes").expected_counts)
"""Photos per class in the real ml5js Landscapes dataset (3,943 in all), from the registry."""

SAMPLE_INFO_FILENAME = "sample_info.json"

LICENCE_DIRNAME = "licenses"

LICENCE_FILENAME_TEMPLATE = "{class_name}_photos_info.json"

SAMPLE_LICENCE_ID = "9"  # CC0 1.0 in the Flickr licence ids the Landscapes metadata uses

SAMPLE_OWNER = "paysages sample generator"

SAMPLE_OWNER_ID = "paysages"

JPEG_QUALITY = 90


def sample_class_counts(per_class: int) -> dict[str, int]:
    """Return how many images each class gets, imbalanced like the real dataset.

    ``per_class`` is the average: class ``c`` gets ``round(per_class * real_c / mean(real))``
    images (at least one), so with ``per_class=100`` city gets 62 and mountain 124.
    """
    per_class = check_integer("per_class", per_class, minimum=1)
    mean_count = sum(REAL_CLASS_COUNTS.values()) / len(REAL_CLASS_COUNTS)
    return {
        name: max(1, round(per_class * REAL_CLASS_COUNTS[name] / mean_count)) for name in SAMPLE_CLASS_NAMES
    }


def sample_file_name(class_name: str, number: int) -> str:
    """Return the file name of image ``number`` (counted from 1) of a class: ``lake_0012.jpg``."""
    return f"{class_name}_{number:04d}.jpg"


def image_generator(seed: int, class_name: str, number: int) -> np.random.Generator:
    """Return the random generator that draws image ``number`` of ``class_name``."""
    if class_name not in SAMPLE_CLASS_NAMES:
        raise ValueError(f"Unknown class {class_name!r}: choose one of {', '.join(SAMPLE_CLASS_NAMES)}.")
    class_index = SAMPLE_CLASS_NAMES.index(class_name)
    return np.random.default_rng(np.random.SeedSequence([seed, class_index, number]))


def _expected_info(per_class: int, seed: int, image_size: int, counts: dict[str, int]) -> dict:
    return {
        "generator": "paysages.data.sample",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "per_class": per_class,
        "image_size": image_size,
        "jpeg_quality": JPEG_QUALITY,
        "class_names": list(SAMPLE_CLASS_NAMES),
        "counts": dict(counts),
        "total": sum(counts.values()),
        "licence": {"id": SAMPLE_LICENCE_ID, "name": "CC0 1.0"},
        "description": "Synthetic landscapes drawn by paysages.data.painters; they are not photographs.",
    }


def read_sample_info(dataset_dir) -> dict | None:
    """Return the ``sample_info.json`` of a generated folder, or None if it is missing or unreadable."""
    path = Path(dataset_dir) / SAMPLE_INFO_FILENAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _is_complete(out_dir: Path, expected: dict) -> bool:
    """True if ``out_dir`` holds exactly the dataset that ``expected`` describes."""
    if read_sample_info(out_dir) != expected:
        return False
    for class_name, count in expected["counts"].items():
        wanted = {sample_file_name(class_name, number) for number in range(1, count + 1)}
        try:
            with os.scandir(out_dir / class_name) as entries:
                present = {entry.name for entry in entries if entry.name.endswith(".jpg") and entry.is_file()}
        except OSError:
            return False
        if present != wanted:
            return False
        if not (
            out_dir / LICENCE_DIRNAME / LICENCE_FILENAME_TEMPLATE.format(class_name=class_name)
        ).is_file():
            return False
    return True


def _licence_entry(class_name: str, number: int) -> dict:
    file_name = sample_file_name(class_name, number)
    url = f"sample://{class_name}/{file_name}"
    return {
        "url": url,
        "name": url,
        "license": SAMPLE_LICENCE_ID,
        "title": f"Synthetic {class_name} #{number}",
        "owner": SAMPLE_OWNER,
        "clean_name": file_name,
        "keyword": class_name,
        "owner_id": SAMPLE_OWNER_ID,
    }


def _write_dataset(folder: Path, info: dict) -> None:
    """Draw every image and write the licence files, then ``sample_info.json`` last."""
    licence_dir = folder / LICENCE_DIRNAME
    licence_dir.mkdir()
    for class_name in SAMPLE_CLASS_NAMES:
        class_dir = folder / class_name
        class_dir.mkdir()
        licences = {}
        for number in range(1, info["counts"][class_name] + 1):
            rng = image_generator(info["seed"], class_name, number)
            image = render_scene(class_name, rng, info["image_size"])
            file_name = sample_file_name(class_name, number)
            image.save(class_dir / file_name, format="JPEG", quality=JPEG_QUALITY)
            licences[file_name] = _licence_entry(class_name, number)
        licence_path = licence_dir / LICENCE_FILENAME_TEMPLATE.format(class_name=class_name)
        licence_path.write_text(json.dumps(licences), encoding="utf-8")
    (folder / SAMPLE_INFO_FILENAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def generate_sample_dataset(
    out_dir,
    *,
    per_class: int = 100,
    seed: int = 42,
    image_size: int = 128,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic sample dataset to ``out_dir`` and return its path.

    ``out_dir/<class>/<class>_0001.jpg`` ... are JPEG files of ``image_size`` pixels square,
    about ``per_class`` per class on average (imbalanced like the real data, see
    :func:`sample_class_counts`); ``out_dir/licenses/`` holds metadata in the ml5js format and
    ``out_dir/sample_info.json`` the parameters.

    If ``out_dir`` already holds the dataset these parameters describe, nothing is written
    (unless ``overwrite=True``). Otherwise the images are drawn in a temporary folder beside
    ``out_dir`` and renamed into place, so a crash never leaves a half-written dataset.
    A non-empty folder that is not a sample dataset is only replaced with ``overwrite=True``.
    """
    per_class = check_integer("per_class", per_class, minimum=1)
    image_size = check_integer("image_size", image_size, minimum=MINIMUM_IMAGE_SIZE)
    seed = check_integer("seed", seed, minimum=0)
    out_dir = Path(out_dir).expanduser()
    if out_dir.name in ("", ".", ".."):
        out_dir = out_dir.resolve()
    info = _expected_info(per_class, seed, image_size, sample_class_counts(per_class))
    if not overwrite and _is_complete(out_dir, info):
        return out_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(
            f"{out_dir} exists and is not a folder: choose another place for the sample dataset."
        )
    if (
        not overwrite
        and out_dir.is_dir()
        and any(out_dir.iterdir())
        and not (out_dir / SAMPLE_INFO_FILENAME).is_file()
    ):
        raise DatasetError(
            f"{out_dir} is not empty and does not hold a sample dataset (no {SAMPLE_INFO_FILENAME}). "
            "Choose another folder, or pass overwrite=True to replace its contents."
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        os.chmod(staging, 0o755)
        _write_dataset(staging, info)
        # Another process may have finished the same dataset meanwhile: keep its copy.
        if overwrite or not _is_complete(out_dir, info):
            try:
                swap_folder_into_place(staging, out_dir)
            except OSError:
                if not _is_complete(out_dir, info):
                    raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir
