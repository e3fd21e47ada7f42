"""Licence metadata of the ml5js Landscapes photos, and how to credit them.

The ml5js repository ships one JSON file per class (``<class>_photos_info.json``) with one object
per photo, keyed by file name::

    {"11624560624_600b918603.jpg": {
        "url": "https://farm4.staticflickr.com/3779/11624560624_600b918603.jpg",
        "license": "1", "title": "City lights", "owner": "Another Eye",
        "clean_name": "11624560624_600b918603.jpg", "keyword": "city",
        "owner_id": "46418486@N04", ...}, ...}

The ``license`` field is a Flickr licence id; the registry (``datasets/registry.json``) maps each
id to its name, its URL and whether it allows derivative works. Photos under licences 3 and 6
(CC BY-NC-ND 2.0 and CC BY-ND 2.0) may be shared but not adapted: the ml5js README asks to take
them out of any project that builds upon the images.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from paysages.errors import DatasetError
from paysages.files import sha256_of_file
from paysages.registry import DatasetSpec

# The fields every photo entry must carry.
REQUIRED_FIELDS = ("url", "license", "title", "owner", "keyword", "owner_id")


@dataclasses.dataclass(frozen=True)
class PhotoInfo:
    """Who took one photo, where it comes from and under which licence it is shared."""

    class_name: str
    filename: str
    title: str
    owner: str
    owner_id: str
    url: str
    licence_id: str
    licence_name: str
    licence_url: str
    allows_derivatives: bool



def _is_plain_filename(name: str) -> bool:
    return (
        bool(name)
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
    )


def _load_class_file(
    path: Path, class_name: str, spec: DatasetSpec
) -> dict[tuple[str, str], PhotoInfo]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise DatasetError(
            f"The licence metadata file {path} is missing. Download the dataset again "
            "(paysages.data.landscapes.fetch_landscapes) or copy the file there by hand."
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"The licence metadata file {path} cannot be read: {error}") from error
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"The licence metadata file {path} is not valid JSON ({error}). "
            "Delete it and download it again."
        ) from error
    if not isinstance(raw, dict):
        raise DatasetError(
            f"The licence metadata file {path} must hold one JSON object keyed by file name, "
            f"not a {type(raw).__name__}."
        )

    photos = {}
    for filename, entry in raw.items():
        where = f"entry {filename!r} of {path}"
        if not _is_plain_filename(filename):
            raise DatasetError(f"The {where} is not a plain file name.")
        if not isinstance(entry, dict):
            raise DatasetError(f"The {where} must be a JSON object, not a {type(entry).__name__}.")
        absent = [field for field in REQUIRED_FIELDS if field not in entry]
        if absent:
            raise DatasetError(f"The {where} lacks the field(s): {', '.join(absent)}.")
        keyword = str(entry["keyword"])
        if keyword != class_name:
            raise DatasetError(
                f"The {where} has keyword {keyword!r} but the file describes class {class_name!r}."
            )
        licence_id = str(entry["license"])
        licence = spec.licences.get(licence_id)
        if licence is None:
            raise DatasetError(
                f"The {where} has licence id {licence_id!r}, which the registry does not know "
                f"(known ids: {', '.join(sorted(spec.licences, key=_licence_sort_key))})."
            )
        photos[(class_name, filename)] = PhotoInfo(
            class_name=class_name,
            filename=filename,
            title=str(entry["title"] or ""),
            owner=str(entry["owner"] or ""),
            owner_id=str(entry["owner_id"] or ""),
            url=str(entry["url"] or ""),
            licence_id=licence_id,
            licence_name=licence.name,
            licence_url=licence.url,
            allows_derivatives=licence.allows_derivatives,
        )
    return photos


def load_licence_metadata(
    metadata_dir: Path, spec: DatasetSpec
) -> dict[tuple[str, str], PhotoInfo]:
    """Read the licence metadata of every class of ``spec`` from ``metadata_dir``.

    Args:
        metadata_dir: the folder holding ``spec.metadata_filename(class_name)`` for each class.
        spec: the dataset's registry entry (class names, file-name template, licences).

    Returns:
        A dictionary mapping ``(class_name, filename)`` to the photo's :class:`PhotoInfo`.

    Raises:
        DatasetError: naming the file (and the entry) when a file is missing or not valid JSON,
            when an entry's keyword disagrees with its class, or when a licence id is unknown.
    """
    metadata_dir = Path(metadata_dir)
    if not spec.licences:
        raise DatasetError(f"Dataset {spec.name!r} declares no licences in the registry.")
    metadata = {}
    for class_name in spec.class_names:
        path = metadata_dir / spec.metadata_filename(class_name)
        metadata.update(_load_class_file(path, class_name, spec))
    return metadata


def verify_sha256(metadata_dir: Path, spec: DatasetSpec) -> dict[str, str]:
    """Check the metadata files against the SHA-256 digests the registry knows.

    Classes without a known digest are hashed but not checked.

    Returns:
        The actual SHA-256 digest of each class's file, keyed by class name.

    Raises:
        DatasetError: listing every missing file and every file whose digest differs, with the
            expected and the actual digest.
    """
    metadata_dir = Path(metadata_dir)
    digests = {}
    problems = []
    for class_name in spec.class_names:
        path = metadata_dir / spec.metadata_filename(class_name)
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        digests[class_name] = sha256_of_file(path)
        expected = spec.metadata_sha256.get(class_name)
        if expected is not None and digests[class_name] != expected.lower():
            problems.append(
                f"{path}: sha256 {digests[class_name]} differs from the registry's {expected}"
            )
    if problems:
        raise DatasetError(
            "The licence metadata files do not match the registry:\n  "
            + "\n  ".join(problems)
            + "\nDelete these files and download them again."
        )
    return digests


def attribution(photo: PhotoInfo) -> str:
    """Return the credit line of one photo: title, author, licence (with its URL) and source.

    Example: ``"City lights" by Another Eye, CC BY-NC-SA 2.0
    (https://creativecommons.org/licenses/by-nc-sa/2.0/), https://farm4.staticflickr.com/...jpg``.
    """
    title = photo.title.strip() or "Untitled"
    owner = photo.owner.strip() or "an unknown author"
    return f'"{title}" by {owner}, {photo.licence_name} ({photo.licence_url}), {photo.url}'


def _licence_sort_key(licence_id: str) -> tuple[int, str]:
    # Numeric ids sort as numbers ("2" before "10"); anything else comes after, alphabetically.
    return (int(licence_id), "") if licence_id.isdigit() else (1 << 30, licence_id)


def licence_counts(metadata: dict[tuple[str, str], PhotoInfo]) -> dict[str, int]:
    """Return how many photos each licence id covers, ordered by licence id."""
    counts: dict[str, int] = {}
    for photo in metadata.values():
        counts[photo.licence_id] = counts.get(photo.licence_id, 0) + 1
    return {key: counts[key] for key in sorted(counts, key=_licence_sort_key)}


def no_derivative_files(
    metadata: dict[tuple[str, str], PhotoInfo], spec: DatasetSpec
) -> set[tuple[str, str]]:
    """Return the ``(class_name, filename)`` pairs whose licence forbids derivative works."""
    forbidden = spec.no_derivative_licences
    return {key for key, photo in metadata.items() if photo.licence_id in forbidden}
