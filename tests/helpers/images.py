"""Image helpers shared by the data tests: generated pictures, every bad-file kind, a messy folder,
and the loader's former full-scale decode path.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from paysages.data.decode import ImageIssue
from paysages.registry import get_dataset_spec

CLASS_NAMES = get_dataset_spec("landscapes").class_names

IMAGE_SIZE = 32

# The kit's pixel limit in these tests: every fixture image is smaller, the "bomb" is larger.
TEST_PIXEL_LIMIT = 10_000

RED = (255, 0, 0)


def noise_image(seed: int, width: int = 48, height: int = 40) -> Image.Image:
    generator = np.random.default_rng(seed)
    pixels = generator.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="GIF")
    return buffer.getvalue()


def rgba_red_square_on_transparent() -> Image.Image:
    """A 40x40 image: a 20x20 opaque red square in the middle, transparent around it."""
    image = Image.new("RGBA", (40, 40), (0, 0, 255, 0))
    image.paste(Image.new("RGBA", (20, 20), (*RED, 255)), (10, 10))
    return image


def sixteen_bit_gray(value: int) -> Image.Image:
    pixels = np.full((40, 40), value, dtype=np.uint16)
    image = Image.fromarray(pixels)
    assert image.mode == "I;16"
    return image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def sixteen_bit_rgb_png(rgb: tuple[int, int, int], width: int = 40, height: int = 30) -> bytes:
    """A 48-bit PNG (16 bits per RGB sample), written by hand: Pillow cannot save one."""
    import struct
    import zlib

    row = b"\x00" + struct.pack(">HHH", *rgb) * width  # Filter byte 0, then the samples.
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(row * height))
        + png_chunk(b"IEND", b"")
    )


def sixteen_bit_rgb_tiff(rgb: tuple[int, int, int], width: int = 16, height: int = 8) -> bytes:
    """An uncompressed little-endian TIFF with BitsPerSample 16,16,16, written by hand."""
    import struct

    pixels = struct.pack("<HHH", *rgb) * (width * height)
    bits_offset, data_offset = 8, 14
    ifd_offset = data_offset + len(pixels)
    short, long = 3, 4
    tags = [
        (256, short, 1, width), (257, short, 1, height), (258, short, 3, bits_offset),
        (259, short, 1, 1), (262, short, 1, 2), (273, long, 1, data_offset),
        (277, short, 1, 3), (278, short, 1, height), (279, long, 1, len(pixels)), (284, short, 1, 1),
    ]
    entries = b"".join(
        struct.pack("<HHII", tag, kind, count, value)
        if kind == long or count > 1
        else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in tags
    )
    ifd = struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<HHH", 16, 16, 16) + pixels + ifd

# Every bad-file kind: file name -> (class, expected action, a phrase its reason contains).
BAD_FILES = {
    "corrupt.jpg": ("city", "skipped", "corrupt"),
    "truncated.jpg": ("field", "skipped", "truncated"),
    "empty.jpg": ("forest", "skipped", "empty file"),
    "notes.jpg": ("forest", "skipped", "not an image"),
    "png_inside.jpg": ("lake", "converted", "PNG data named .jpg"),
    "gif_inside.jpg": ("lake", "converted", "GIF data named .jpg"),
    "cmyk.jpg": ("mountain", "converted", "CMYK"),
    "grayscale.jpg": ("mountain", "converted", "grayscale"),
    "transparent.png": ("ocean", "converted", "composited on white"),
    "opaque_alpha.png": ("ocean", "converted", "alpha dropped"),
    "sixteen_bit.png": ("ocean", "converted", "16-bit"),
    "sixteen_bit_rgb.png": ("ocean", "converted", "16-bit RGB reduced to 8-bit"),
    "bomb.png": ("road", "skipped", "decompression bomb"),
    "photo_without_extension": ("road", "converted", "JPEG data with no file extension"),
    "readme.txt": ("road", "skipped", "not an image"),
}

# Entries that are neither images nor classes, relative to the root, with a reason phrase.
IGNORED_ENTRIES = {
    "__MACOSX": "macOS",
    ".DS_Store": "macOS",
    ".ipynb_checkpoints": "Jupyter",
    "licenses": "licence",
    "city_photos_info.json": "metadata",
    "extra": "not among the declared classes",
    "notes.txt": "outside every class folder",
    "city/.DS_Store": "macOS",
    "city/._resource.jpg": "resource fork",
    "field/Thumbs.db": "Windows",
    "forest/.ipynb_checkpoints": "Jupyter",
    "lake/.hidden_folder": "hidden folder",
}

GOOD_PER_CLASS = 3


def bad_file_contents() -> dict[str, bytes]:
    """The bytes of the bad-file kinds shared by this module and the `data verify` CLI test."""
    generator = np.random.default_rng(0)
    truncated = jpeg_bytes(noise_image(1, 96, 96))
    return {
        "corrupt.jpg": b"\xff\xd8\xff\xe0" + generator.bytes(2000),
        "truncated.jpg": truncated[: len(truncated) // 2],
        "empty.jpg": b"",
        "notes.jpg": b"These are my notes about the landscapes, not a photo.\n",
        "png_inside.jpg": png_bytes(Image.new("RGB", (40, 30), RED)),
        "gif_inside.jpg": gif_bytes(Image.new("RGB", (40, 30), RED)),
        "cmyk.jpg": jpeg_bytes(Image.new("CMYK", (40, 30), (0, 255, 255, 0))),
        "grayscale.jpg": jpeg_bytes(Image.new("L", (40, 30), 128)),
        "transparent.png": png_bytes(rgba_red_square_on_transparent()),
        "sixteen_bit_rgb.png": sixteen_bit_rgb_png((65535, 0, 0)),
    }


def write_bad_files(root: Path) -> None:
    writes = {
        **bad_file_contents(),
        "opaque_alpha.png": png_bytes(Image.new("RGBA", (40, 30), (*RED, 255))),
        "sixteen_bit.png": png_bytes(sixteen_bit_gray(32_896)),
        "bomb.png": png_bytes(Image.new("RGB", (200, 200), (0, 128, 0))),
        "photo_without_extension": jpeg_bytes(noise_image(2)),
        "readme.txt": b"Photos by many Flickr users.\n",
    }
    for name, data in writes.items():
        class_name = BAD_FILES[name][0]
        (root / class_name / name).write_bytes(data)


def build_messy_folder(root: Path) -> Path:
    """Write valid JPEGs in the seven classes, every bad-file kind, and stray entries."""
    for class_index, class_name in enumerate(CLASS_NAMES):
        class_dir = root / class_name
        class_dir.mkdir(parents=True)
        for number in range(GOOD_PER_CLASS):
            extension = ".JPG" if number == 0 else ".jpg"
            noise_image(100 * class_index + number).save(class_dir / f"good_{number}{extension}", quality=90)
    write_bad_files(root)

    (root / "__MACOSX" / "city").mkdir(parents=True)
    (root / "__MACOSX" / "city" / "._good_1.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / ".DS_Store").write_bytes(b"Bud1\x00\x00")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "notebook-checkpoint.ipynb").write_text("{}")
    (root / "licenses").mkdir()
    (root / "licenses" / "city_photos_info.json").write_text("{}")
    (root / "city_photos_info.json").write_text("{}")
    (root / "extra").mkdir()
    noise_image(999).save(root / "extra" / "stray.jpg")
    (root / "notes.txt").write_text("A file at the root.")
    (root / "city" / ".DS_Store").write_bytes(b"Bud1")
    (root / "city" / "._resource.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / "field" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "forest" / ".ipynb_checkpoints").mkdir()
    noise_image(5).save(root / "forest" / ".ipynb_checkpoints" / "copy.jpg")
    (root / "lake" / ".hidden_folder").mkdir()
    noise_image(6).save(root / "lake" / ".hidden_folder" / "hidden.jpg")
    return root


def issues_by_name(issues) -> dict[str, ImageIssue]:
    return {issue.path.name: issue for issue in issues}


def mean_colour(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, 3).mean(axis=0)


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb that allocates nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def photo_like_image(seed: int, width: int, height: int) -> Image.Image:
    """Return a picture with detail at several scales, as photographs have (not pure noise).

    Smooth random fields at coarse-to-fine grids, their amplitude falling with the frequency,
    over a vertical gradient: JPEG compresses it like a photo, and a downscaled decode of it
    is meaningful (pure noise has no structure left at a quarter of its size).
    """
    generator = np.random.default_rng(seed)
    pixels = np.zeros((height, width, 3), dtype=np.float32)
    for cells in (2, 4, 8, 16, 32, 64):
        coarse = generator.normal(0.0, 1.0, (cells, cells, 3)).astype(np.float32)
        for channel in range(3):
            field = Image.fromarray(coarse[..., channel]).resize((width, height), Image.Resampling.BICUBIC)
            pixels[..., channel] += np.asarray(field) * (120.0 / cells)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels += 90.0 * (1.0 - rows) + 60.0
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def full_decode_reference(path, image_size: int) -> np.ndarray:
    """Decode a file at full scale, then resize it: the loader's path before JPEG draft decoding.

    EXIF orientation applied, converted to RGB, the whole image resized to a square with the
    loader's filter (bilinear, ``reducing_gap=3.0``).
    """
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        resized = image.resize((image_size, image_size), Image.Resampling.BILINEAR, reducing_gap=3.0)
        return np.asarray(resized, dtype=np.uint8)
