"""Landscapes-like archives for the data tests: real small JPEGs in class folders, their licence
metadata in the ml5js format, and a registry entry pointing at a local server that serves them;
and hostile archives for the collect tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path

from PIL import Image

from paysages.registry import get_dataset_spec
from tests.helpers.http import LocalServer


CLASS_NAMES = ("city", "field", "forest", "lake", "mountain", "ocean", "road")

PER_CLASS = 3

# In each class, the first photo is under licence 3, the second under 6 (no derivatives).
LICENCE_CYCLE = ("3", "6", "1")

ARCHIVE_PATH = "/files/landscapes_small.zip"

METADATA_PATH = "/licenses/{class_name}_photos_info.json"


def jpeg_bytes(index: int) -> bytes:
    image = Image.new("RGB", (12, 8), ((index * 37) % 256, (index * 91) % 256, (index * 13) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def photo_names() -> dict[tuple[str, str], bytes]:
    photos = {}
    for class_index, class_name in enumerate(CLASS_NAMES):
        for number in range(PER_CLASS):
            index = class_index * PER_CLASS + number
            filename = f"{1000 + index}_{class_name[:2]}{number}.jpg"
            photos[(class_name, filename)] = jpeg_bytes(index)
    return photos


def licence_of(filename: str, photos) -> str:
    class_name = next(key[0] for key in photos if key[1] == filename)
    position = sorted(name for (owner, name) in photos if owner == class_name).index(filename)
    return LICENCE_CYCLE[position % len(LICENCE_CYCLE)]


def metadata_bodies(photos) -> dict[str, bytes]:
    """One JSON file per class in the ml5js format, describing exactly ``photos``."""
    bodies = {}
    for class_name in CLASS_NAMES:
        names = sorted(name for (owner, name) in photos if owner == class_name)
        entries = {
            name: {
                "url": f"https://farm1.example.invalid/{name}",
                "name": f"https://farm1.example.invalid/{name}",
                "license": LICENCE_CYCLE[position % len(LICENCE_CYCLE)],
                "title": f"Photo {position} of {class_name}",
                "owner": f"Owner {position}",
                "clean_name": name,
                "keyword": class_name,
                "owner_id": f"{position}@N00",
            }
            for position, name in enumerate(names)
        }
        bodies[class_name] = json.dumps(entries).encode("utf-8")
    return bodies


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def dataset_members(photos, prefix: str = "") -> dict[str, bytes]:
    return {
        f"{prefix}{class_name}/{name}": content for (class_name, name), content in photos.items()
    }


def serve_dataset(server: LocalServer, archive: bytes, metadata: dict[str, bytes]):
    """Serve an archive and its metadata; return a registry entry pointing at them."""
    archive_route = server.add(ARCHIVE_PATH, archive)
    metadata_routes = {
        class_name: server.add(METADATA_PATH.format(class_name=class_name), body)
        for class_name, body in metadata.items()
    }
    spec = dataclasses.replace(
        get_dataset_spec("landscapes"),
        archive_urls=(server.url(ARCHIVE_PATH),),
        metadata_url_templates=(server.url(METADATA_PATH),),
        archive_sha256=None,
        archive_size=None,
        metadata_sha256={
            name: hashlib.sha256(body).hexdigest() for name, body in metadata.items()
        },
        expected_counts={name: PER_CLASS for name in CLASS_NAMES},
    )
    return spec, archive_route, metadata_routes


def with_fingerprint(spec, archive: bytes, *, sha256: str | None = None, size: int | None = None):
    """``spec`` with an archive fingerprint recorded: ``archive``'s own unless ``sha256``/``size`` say otherwise."""
    return dataclasses.replace(
        spec,
        archive_sha256=hashlib.sha256(archive).hexdigest() if sha256 is None else sha256,
        archive_size=len(archive) if size is None else size,
    )


def class_files(dataset_dir: Path) -> dict[str, set[str]]:
    return {
        name: {path.name for path in (dataset_dir / name).iterdir()} for name in CLASS_NAMES
    }

JUNK_MEMBERS = {
    "__MACOSX/city/._1000_ci0.jpg": b"\x00\x05\x16\x07 AppleDouble",
    "__MACOSX/._city": b"\x00\x05\x16\x07",
    "city/.DS_Store": b"Bud1 junk",
    ".DS_Store": b"Bud1 junk",
    "field/.ipynb_checkpoints/1003_fi0-checkpoint.jpg": jpeg_bytes(99),
    ".ipynb_checkpoints/notes-checkpoint.ipynb": b"{}",
}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(zip_bytes(members))
    return path


def damaged_zip(photos) -> bytes:
    """A zip of ``photos`` whose first member's compressed bytes are flipped (its CRC fails)."""
    members = dataset_members(photos)
    data = bytearray(zip_bytes(members))
    offset = 30 + len(next(iter(members)).encode()) + 40
    for index in range(offset, offset + 20):
        data[index] ^= 0xFF
    return bytes(data)


def lying_zip_bomb(member: str, real_size: int, declared_size: int) -> bytes:
    """A zip whose one member inflates to ``real_size`` bytes while its index says ``declared_size``.

    Both the local header and the central directory carry the lie (the uncompressed size field);
    the CRC stays that of the real data.
    """
    data = bytearray(zip_bytes({member: b"0" * real_size}))
    size_field = struct.pack("<I", declared_size)
    data[22:26] = size_field  # Local file header: uncompressed size.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = size_field  # Central directory header: uncompressed size.
    return bytes(data)
