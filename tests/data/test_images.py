"""Tests of paysages.images: scanning a messy folder, decoding every bad-file kind, the cache, verify."""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from paysages import images
from paysages.errors import DatasetError
from tests.helpers.images import full_decode_reference, photo_like_image

CLASS_NAMES = ("city", "field", "forest", "lake", "mountain", "ocean", "road")
IMAGE_SIZE = 32
# The kit's pixel limit in these tests: every fixture image is smaller, the "bomb" is larger.
TEST_PIXEL_LIMIT = 10_000

RED = (255, 0, 0)


def _noise_image(seed: int, width: int = 48, height: int = 40) -> Image.Image:
    generator = np.random.default_rng(seed)
    pixels = generator.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def _jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _gif_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="GIF")
    return buffer.getvalue()


def _rgba_red_square_on_transparent() -> Image.Image:
    """A 40x40 image: a 20x20 opaque red square in the middle, transparent around it."""
    image = Image.new("RGBA", (40, 40), (0, 0, 255, 0))
    image.paste(Image.new("RGBA", (20, 20), (*RED, 255)), (10, 10))
    return image


def _sixteen_bit_gray(value: int) -> Image.Image:
    pixels = np.full((40, 40), value, dtype=np.uint16)
    image = Image.fromarray(pixels)
    assert image.mode == "I;16"
    return image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _sixteen_bit_rgb_png(rgb: tuple[int, int, int], width: int = 40, height: int = 30) -> bytes:
    """A 48-bit PNG (16 bits per RGB sample), written by hand: Pillow cannot save one."""
    import struct
    import zlib

    row = b"\x00" + struct.pack(">HHH", *rgb) * width  # Filter byte 0, then the samples.
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(row * height))
        + _png_chunk(b"IEND", b"")
    )


def _sixteen_bit_rgb_tiff(rgb: tuple[int, int, int], width: int = 16, height: int = 8) -> bytes:
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
    truncated = _jpeg_bytes(_noise_image(1, 96, 96))
    return {
        "corrupt.jpg": b"\xff\xd8\xff\xe0" + generator.bytes(2000),
        "truncated.jpg": truncated[: len(truncated) // 2],
        "empty.jpg": b"",
        "notes.jpg": b"These are my notes about the landscapes, not a photo.\n",
        "png_inside.jpg": _png_bytes(Image.new("RGB", (40, 30), RED)),
        "gif_inside.jpg": _gif_bytes(Image.new("RGB", (40, 30), RED)),
        "cmyk.jpg": _jpeg_bytes(Image.new("CMYK", (40, 30), (0, 255, 255, 0))),
        "grayscale.jpg": _jpeg_bytes(Image.new("L", (40, 30), 128)),
        "transparent.png": _png_bytes(_rgba_red_square_on_transparent()),
        "sixteen_bit_rgb.png": _sixteen_bit_rgb_png((65535, 0, 0)),
    }


def _write_bad_files(root: Path) -> None:
    writes = {
        **bad_file_contents(),
        "opaque_alpha.png": _png_bytes(Image.new("RGBA", (40, 30), (*RED, 255))),
        "sixteen_bit.png": _png_bytes(_sixteen_bit_gray(32_896)),
        "bomb.png": _png_bytes(Image.new("RGB", (200, 200), (0, 128, 0))),
        "photo_without_extension": _jpeg_bytes(_noise_image(2)),
        "readme.txt": b"Photos by many Flickr users.\n",
    }
    for name, data in writes.items():
        class_name = BAD_FILES[name][0]
        (root / class_name / name).write_bytes(data)


def _build_messy_folder(root: Path) -> Path:
    """Write valid JPEGs in the seven classes, every bad-file kind, and stray entries."""
    for class_index, class_name in enumerate(CLASS_NAMES):
        class_dir = root / class_name
        class_dir.mkdir(parents=True)
        for number in range(GOOD_PER_CLASS):
            extension = ".JPG" if number == 0 else ".jpg"
            _noise_image(100 * class_index + number).save(class_dir / f"good_{number}{extension}", quality=90)
    _write_bad_files(root)

    (root / "__MACOSX" / "city").mkdir(parents=True)
    (root / "__MACOSX" / "city" / "._good_1.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / ".DS_Store").write_bytes(b"Bud1\x00\x00")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "notebook-checkpoint.ipynb").write_text("{}")
    (root / "licenses").mkdir()
    (root / "licenses" / "city_photos_info.json").write_text("{}")
    (root / "city_photos_info.json").write_text("{}")
    (root / "extra").mkdir()
    _noise_image(999).save(root / "extra" / "stray.jpg")
    (root / "notes.txt").write_text("A file at the root.")
    (root / "city" / ".DS_Store").write_bytes(b"Bud1")
    (root / "city" / "._resource.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / "field" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "forest" / ".ipynb_checkpoints").mkdir()
    _noise_image(5).save(root / "forest" / ".ipynb_checkpoints" / "copy.jpg")
    (root / "lake" / ".hidden_folder").mkdir()
    _noise_image(6).save(root / "lake" / ".hidden_folder" / "hidden.jpg")
    return root


@pytest.fixture
def messy_folder(tmp_path, monkeypatch) -> Path:
    """The messy folder, with the kit-local pixel limit lowered so that bomb.png plays the bomb."""
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", TEST_PIXEL_LIMIT)
    return _build_messy_folder(tmp_path / "landscapes")


@pytest.fixture
def clean_folder(tmp_path) -> Path:
    root = tmp_path / "clean"
    for class_index, class_name in enumerate(CLASS_NAMES):
        (root / class_name).mkdir(parents=True)
        for number in range(2):
            _noise_image(10 * class_index + number).save(root / class_name / f"image_{number}.jpg")
    return root


def _issues_by_name(issues) -> dict[str, images.ImageIssue]:
    return {issue.path.name: issue for issue in issues}


# ---------------------------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------------------------


def test_scan_keeps_exactly_the_declared_classes(messy_folder):
    """Do stray folders (__MACOSX, .ipynb_checkpoints, extra/) stay out of the class list?"""
    scan = images.scan_image_folder(messy_folder, CLASS_NAMES)

    assert scan.class_names == CLASS_NAMES
    assert scan.missing_classes == []
    assert scan.unexpected_folders == [messy_folder / "extra"]
    for path in scan.files:
        relative = path.relative_to(messy_folder)
        assert relative.parts[0] in CLASS_NAMES
        assert not any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)
    assert [CLASS_NAMES[label] for label in scan.labels] == [
        path.relative_to(messy_folder).parts[0] for path in scan.files
    ]


def test_scan_reports_every_ignored_entry_with_a_reason(messy_folder):
    """Is every entry that is not used listed in ``ignored`` with a sensible reason?"""
    scan = images.scan_image_folder(messy_folder, CLASS_NAMES)
    ignored = {path.relative_to(messy_folder).as_posix(): reason for path, reason in scan.ignored}

    for name, phrase in IGNORED_ENTRIES.items():
        assert name in ignored, f"{name} is not reported as ignored"
        assert phrase in ignored[name], f"{name}: {ignored[name]!r} does not mention {phrase!r}"


def test_scan_lists_every_candidate_file_whatever_its_extension(messy_folder):
    """Are files with other, upper-case or no extensions kept for decoding, not dropped?"""
    scan = images.scan_image_folder(messy_folder, CLASS_NAMES)
    names = {path.name for path in scan.files}

    assert set(BAD_FILES) <= names
    assert "good_0.JPG" in names
    expected_count = len(CLASS_NAMES) * GOOD_PER_CLASS + len(BAD_FILES)
    assert len(scan.files) == expected_count
    assert scan.class_counts()["road"] == GOOD_PER_CLASS + 3


def test_scan_is_sorted_and_deterministic(messy_folder):
    """Does scanning twice give the same files in class order, then path order?"""
    first = images.scan_image_folder(messy_folder, CLASS_NAMES)
    second = images.scan_image_folder(messy_folder, list(CLASS_NAMES))

    assert first.files == second.files
    assert np.array_equal(first.labels, second.labels)
    assert list(first.labels) == sorted(first.labels)
    for label in range(len(CLASS_NAMES)):
        class_files = [path for path, value in zip(first.files, first.labels) if value == label]
        assert class_files == sorted(class_files, key=lambda path: path.as_posix())


def test_scan_reports_missing_classes_and_case_mismatch(clean_folder):
    """Is a missing class reported, with a hint when only the letter case differs?"""
    (clean_folder / "lake").rename(clean_folder / "Lake")
    scan = images.scan_image_folder(clean_folder, CLASS_NAMES)

    assert scan.missing_classes == ["lake"]
    assert scan.unexpected_folders == [clean_folder / "Lake"]
    reasons = dict(scan.ignored)
    assert "did you mean 'lake'" in reasons[clean_folder / "Lake"]


def test_scan_rejects_missing_root_and_bad_class_names(tmp_path):
    """Are a missing root and invalid class names refused with clear errors?"""
    with pytest.raises(DatasetError, match="does not exist"):
        images.scan_image_folder(tmp_path / "absent", CLASS_NAMES)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        images.scan_image_folder(tmp_path / "file.txt", CLASS_NAMES)
    for bad_names in ([], "city", ["city", "city"], ["__MACOSX"], ["a/b"], [".hidden"]):
        with pytest.raises(ValueError):
            images.scan_image_folder(tmp_path, bad_names)


# ---------------------------------------------------------------------------------------------
# Decoding one file
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_decode_image_handles_each_bad_file_kind(messy_folder, name):
    """Does each bad-file kind get the expected action and reason, and a valid array when kept?"""
    class_name, action, phrase = BAD_FILES[name]
    array, issue = images.decode_image(messy_folder / class_name / name, IMAGE_SIZE)

    assert issue is not None
    assert issue.action == action
    assert phrase in issue.reason
    assert issue.path == messy_folder / class_name / name
    if action == "skipped":
        assert array is None
    else:
        assert array.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        assert array.dtype == np.uint8


def test_decode_image_gives_a_plain_rgb_array_for_a_good_jpeg(tmp_path):
    """Is a good JPEG decoded without any issue, to the requested square size?"""
    path = tmp_path / "photo.jpg"
    _noise_image(3, 300, 200).save(path, quality=95)

    array, issue = images.decode_image(path, 64)

    assert issue is None
    assert array.shape == (64, 64, 3) and array.dtype == np.uint8


def _mean_colour(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize(
    "name", ["cmyk.jpg", "png_inside.jpg", "gif_inside.jpg", "opaque_alpha.png", "sixteen_bit_rgb.png"]
)
def test_converted_red_images_stay_red(messy_folder, name):
    """Do CMYK, PNG-in-JPG, GIF-in-JPG, opaque RGBA and 48-bit red images stay red after conversion?"""
    class_name = BAD_FILES[name][0]
    array, issue = images.decode_image(messy_folder / class_name / name, IMAGE_SIZE)

    red, green, blue = _mean_colour(array)
    assert red > 230 and green < 25 and blue < 25, (name, issue.reason, (red, green, blue))


def test_transparent_pixels_are_composited_on_white(messy_folder):
    """Is a red square on a transparent background red in the middle and white around it?"""
    array, issue = images.decode_image(messy_folder / "ocean" / "transparent.png", 40)

    assert issue.reason == "RGBA: transparent pixels composited on white"
    assert tuple(array[20, 20]) == RED
    assert tuple(array[2, 2]) == (255, 255, 255)


def test_grayscale_and_sixteen_bit_images_become_gray_rgb(messy_folder):
    """Are grayscale and 16-bit images turned into gray RGB with correctly scaled values?"""
    gray, _ = images.decode_image(messy_folder / "mountain" / "grayscale.jpg", IMAGE_SIZE)
    sixteen, issue = images.decode_image(messy_folder / "ocean" / "sixteen_bit.png", IMAGE_SIZE)

    assert np.all(np.abs(gray.astype(int) - 128) <= 2)
    # 32896 / 65535 of full scale is 128 in 8 bits; a conversion that clips would give 255.
    assert np.all(sixteen == 128), issue.reason
    assert "I;16" in issue.reason


def test_sixteen_bit_full_range_is_scaled(tmp_path):
    """Do 0 and 65535 become 0 and 255 (scaling, not clipping)?"""
    pixels = np.zeros((8, 16), dtype=np.uint16)
    pixels[:, 8:] = 65535
    path = tmp_path / "range.png"
    Image.fromarray(pixels).save(path)

    array, _ = images.decode_image(path, 16)

    assert array.shape == (16, 16, 3)
    assert array[:, :6].max() == 0
    assert array[:, 10:].min() == 255


@pytest.mark.parametrize(
    "name, data",
    [
        ("deep.png", _sixteen_bit_rgb_png((32_896, 65535, 0))),
        ("deep.tif", _sixteen_bit_rgb_tiff((32_896, 65535, 0))),
    ],
    ids=["png", "tiff"],
)
def test_sixteen_bit_rgb_is_reported_as_reduced(tmp_path, name, data):
    """Is a 48-bit RGB PNG or TIFF, which Pillow opens as plain RGB, reported as reduced to 8 bits?"""
    path = tmp_path / name
    path.write_bytes(data)

    array, issue = images.decode_image(path, 8)

    assert issue is not None and issue.action == "converted"
    assert "16-bit RGB reduced to 8-bit" in issue.reason
    # The high byte of each sample is kept: 32896 -> 128, 65535 -> 255, 0 -> 0.
    assert np.all(array == np.array([128, 255, 0], dtype=np.uint8))


def test_eight_bit_png_is_not_reported_as_reduced(tmp_path):
    """Is an ordinary 8-bit RGB PNG decoded without any bit-depth note?"""
    path = tmp_path / "plain.png"
    path.write_bytes(_png_bytes(Image.new("RGB", (20, 10), RED)))

    array, issue = images.decode_image(path, 8)

    assert issue is None and tuple(array[0, 0]) == RED


def test_decompression_bomb_limit_is_kit_local(tmp_path):
    """Is an over-limit image skipped without touching Pillow's global settings?"""
    path = tmp_path / "big.png"
    Image.new("RGB", (120, 100)).save(path)
    pillow_limit = Image.MAX_IMAGE_PIXELS

    array, issue = images.decode_image(path, IMAGE_SIZE, max_pixels=11_999)
    assert array is None and issue.action == "skipped"
    assert "120x100" in issue.reason and "decompression bomb" in issue.reason

    array, issue = images.decode_image(path, IMAGE_SIZE, max_pixels=12_000)
    assert array is not None and issue is None

    assert Image.MAX_IMAGE_PIXELS == pillow_limit
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_pillow_decompression_bomb_error_is_reported(tmp_path, monkeypatch):
    """When Pillow's own limit is lower and it raises, is the file skipped, not fatal?"""
    path = tmp_path / "big.png"
    Image.new("RGB", (120, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        array, issue = images.decode_image(path, IMAGE_SIZE, max_pixels=10**9)

    assert array is None
    assert issue.action == "skipped" and "decompression bomb" in issue.reason


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb that allocates nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("pillow_limit", ["default", None])
def test_huge_header_is_skipped_with_the_default_limit(tmp_path, monkeypatch, pillow_limit):
    """Is a 30000x30000 claim skipped, even when the user switched Pillow's own check off?"""
    if pillow_limit is None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_claiming(30_000, 30_000))

    array, issue = images.decode_image(path, IMAGE_SIZE)

    assert array is None
    assert issue.action == "skipped" and "decompression bomb" in issue.reason


def test_truncated_images_are_not_loaded_by_pillow_setting(messy_folder):
    """Is a truncated JPEG skipped, with Pillow's LOAD_TRUNCATED_IMAGES left off?"""
    array, issue = images.decode_image(messy_folder / "field" / "truncated.jpg", IMAGE_SIZE)

    assert array is None and issue.reason == "truncated (the file ends too early)"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_missing_file_and_bad_arguments(tmp_path):
    """Is a missing file reported as skipped, and a bad image size refused?"""
    array, issue = images.decode_image(tmp_path / "gone.jpg", IMAGE_SIZE)
    assert array is None and issue.action == "skipped" and "cannot be read" in issue.reason
    for bad_size in (0, -3, 2.5, True, "64"):
        with pytest.raises(ValueError):
            images.decode_image(tmp_path / "gone.jpg", bad_size)
    with pytest.raises(ValueError):
        images.ImageIssue(tmp_path / "x.jpg", "reason", "deleted")


def test_non_square_image_is_resized_whole(tmp_path):
    """Is a wide image squeezed to a square, not cropped (left and right halves both kept)?"""
    image = Image.new("RGB", (400, 100), RED)
    image.paste(Image.new("RGB", (200, 100), (0, 0, 255)), (200, 0))
    path = tmp_path / "wide.jpg"
    image.save(path, quality=95)

    array, _ = images.decode_image(path, 32)

    assert array[16, 4, 0] > 200 and array[16, 4, 2] < 60
    assert array[16, 28, 2] > 200 and array[16, 28, 0] < 60


def test_exif_orientation_is_applied(tmp_path):
    """Is a photo tagged "rotated 180 degrees" turned the right way up, as a viewer shows it?"""
    image = Image.new("RGB", (64, 64), RED)
    image.paste(Image.new("RGB", (32, 64), (0, 0, 255)), (32, 0))
    exif = Image.Exif()
    exif[0x0112] = 3
    path = tmp_path / "rotated.jpg"
    image.save(path, quality=95, exif=exif)

    array, issue = images.decode_image(path, 32)

    assert issue is None
    assert array[16, 4, 2] > 200 and array[16, 28, 0] > 200


def test_html_and_git_lfs_pointer_are_named(tmp_path):
    """Are failed downloads (HTML page, Git LFS pointer) reported as such?"""
    html = tmp_path / "page.jpg"
    html.write_text("<!DOCTYPE html><html><body>Rate limited</body></html>")
    pointer = tmp_path / "pointer.jpg"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")

    assert "HTML page" in images.decode_image(html, IMAGE_SIZE)[1].reason
    assert "Git LFS pointer" in images.decode_image(pointer, IMAGE_SIZE)[1].reason


# ---------------------------------------------------------------------------------------------
# Loading a folder
# ---------------------------------------------------------------------------------------------


def test_load_images_keeps_converted_skips_bad_and_drops_nothing_silently(messy_folder):
    """Is every scanned file either kept or reported as skipped, with arrays that match?"""
    scan = images.scan_image_folder(messy_folder, CLASS_NAMES)
    result = images.load_images(scan.files, IMAGE_SIZE, labels=scan.labels)

    issues = _issues_by_name(result.issues)
    kept_names = {path.name for path in result.paths}
    for name, (_class_name, action, phrase) in BAD_FILES.items():
        assert issues[name].action == action, name
        assert phrase in issues[name].reason, name
        assert (name in kept_names) == (action == "converted"), name
    assert set(issues) == set(BAD_FILES)

    assert len(result.paths) + len(result.skipped) == len(scan.files)
    assert result.images.shape == (len(result.paths), IMAGE_SIZE, IMAGE_SIZE, 3)
    assert result.images.dtype == np.uint8
    assert result.from_cache is False and result.seconds > 0
    assert result.paths == [path for path in scan.files if path.name in kept_names]
    expected_labels = [label for path, label in zip(scan.files, scan.labels) if path.name in kept_names]
    assert list(result.labels) == expected_labels
    assert "skipped" in result.summary()


def test_load_images_arrays_match_decode_image(messy_folder):
    """Does each row of the array equal what decode_image gives for that file?"""
    scan = images.scan_image_folder(messy_folder, CLASS_NAMES)
    result = images.load_images(scan.files, IMAGE_SIZE, workers=2)

    for row, path in enumerate(result.paths):
        array, _ = images.decode_image(path, IMAGE_SIZE)
        assert np.array_equal(result.images[row], array), path


def test_load_images_serial_and_threaded_agree(messy_folder):
    """Do one worker and several workers give the same arrays, paths and issues?"""
    files = images.scan_image_folder(messy_folder, CLASS_NAMES).files
    serial = images.load_images(files, IMAGE_SIZE, workers=1)
    threaded = images.load_images(files, IMAGE_SIZE, workers=4)

    assert np.array_equal(serial.images, threaded.images)
    assert serial.paths == threaded.paths
    assert serial.issues == threaded.issues


def test_load_images_empty_list_and_bad_arguments(tmp_path):
    """Is an empty list fine, and are mismatched labels and bad worker counts refused?"""
    result = images.load_images([], IMAGE_SIZE, cache_dir=tmp_path / "cache")
    assert result.images.shape == (0, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert result.paths == [] and result.issues == []

    with pytest.raises(ValueError, match="one label per path"):
        images.load_images([tmp_path / "a.jpg"], IMAGE_SIZE, labels=[0, 1])
    with pytest.raises(ValueError):
        images.load_images([tmp_path / "a.jpg"], IMAGE_SIZE, workers=0)


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


def _load(folder: Path, cache_dir: Path, **options) -> images.LoadResult:
    scan = images.scan_image_folder(folder, CLASS_NAMES)
    return images.load_images(scan.files, IMAGE_SIZE, labels=scan.labels, cache_dir=cache_dir, **options)


def _cache_files(cache_dir: Path) -> list[Path]:
    return sorted(path for path in cache_dir.iterdir())


def test_second_load_comes_from_the_cache(messy_folder, tmp_path):
    """Does a second load return identical arrays, paths, labels and issues from the cache?"""
    cache_dir = tmp_path / "cache"
    first = _load(messy_folder, cache_dir)
    second = _load(messy_folder, cache_dir)

    assert first.from_cache is False and second.from_cache is True
    assert np.array_equal(first.images, second.images)
    assert second.images.dtype == np.uint8
    assert first.paths == second.paths
    assert np.array_equal(first.labels, second.labels)
    assert first.issues == second.issues
    assert [path.suffix for path in _cache_files(cache_dir)] == [".json", ".npy"]


def test_cache_files_are_plain_npy_and_json(messy_folder, tmp_path):
    """Can the cache be opened with np.load(mmap_mode="r") and read as JSON, without temp files?"""
    cache_dir = tmp_path / "cache"
    result = _load(messy_folder, cache_dir, cache_name="landscapes-train")
    array_path, = cache_dir.glob("*.npy")
    index_path, = cache_dir.glob("*.json")

    mapped = np.load(array_path, mmap_mode="r")
    assert np.array_equal(mapped, result.images)
    index = json.loads(index_path.read_text())
    assert index["count"] == len(result.paths)
    assert any(item["path"].endswith("truncated.jpg") for item in index["issues"])
    assert array_path.name.startswith("landscapes-train-32px-")
    assert not list(cache_dir.glob("*.tmp")) and not list(cache_dir.glob(".*"))


@pytest.mark.parametrize("change", ["touch", "add", "remove", "rewrite"])
def test_changed_files_invalidate_the_cache(clean_folder, tmp_path, change):
    """Does touching, adding, removing or rewriting a file make the next load decode again?"""
    cache_dir = tmp_path / "cache"
    first = _load(clean_folder, cache_dir)
    assert _load(clean_folder, cache_dir).from_cache is True

    target = clean_folder / "lake" / "image_0.jpg"
    if change == "touch":
        status = target.stat()
        os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
    elif change == "add":
        _noise_image(77).save(clean_folder / "lake" / "image_9.jpg")
    elif change == "remove":
        target.unlink()
    else:
        Image.new("RGB", (48, 40), RED).save(target, quality=50)

    after = _load(clean_folder, cache_dir)
    assert after.from_cache is False
    expected_count = {"add": 1, "remove": -1}.get(change, 0) + len(first.paths)
    assert len(after.paths) == expected_count
    if change == "rewrite":
        row = after.paths.index(target)
        assert _mean_colour(after.images[row])[0] > 200
    again = _load(clean_folder, cache_dir)
    assert again.from_cache is True
    # The stale cache was replaced, not kept beside the new one.
    assert len(list(cache_dir.glob("*.npy"))) == 1


def test_image_size_and_cache_name_have_separate_caches(clean_folder, tmp_path):
    """Do different image sizes or cache names never share a cache file?"""
    cache_dir = tmp_path / "cache"
    files = images.scan_image_folder(clean_folder, CLASS_NAMES).files
    images.load_images(files, 32, cache_dir=cache_dir)
    other_size = images.load_images(files, 16, cache_dir=cache_dir)
    other_name = images.load_images(files, 32, cache_dir=cache_dir, cache_name="other")

    assert other_size.from_cache is False and other_size.images.shape[1:] == (16, 16, 3)
    assert other_name.from_cache is False
    assert images.load_images(files, 32, cache_dir=cache_dir).from_cache is True


def test_rebuilding_a_cache_never_deletes_another_cache(clean_folder, tmp_path):
    """Are caches with a name that merely starts like another one left alone?"""
    cache_dir = tmp_path / "cache"
    files = images.scan_image_folder(clean_folder, CLASS_NAMES).files
    images.load_images(files[:4], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a-32px")
    images.load_images(files[:4], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a")
    images.load_images(files[:5], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a")

    assert len(list(cache_dir.glob("*.npy"))) == 2
    assert images.load_images(files[:4], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a-32px").from_cache


@pytest.mark.parametrize("damage", ["array", "index", "truncated_array"])
def test_corrupt_cache_is_rebuilt_with_a_warning(messy_folder, tmp_path, damage):
    """Is a damaged cache ignored with a warning, the images decoded again, and the cache fixed?"""
    cache_dir = tmp_path / "cache"
    first = _load(messy_folder, cache_dir)
    array_path, = cache_dir.glob("*.npy")
    index_path, = cache_dir.glob("*.json")
    if damage == "array":
        array_path.write_bytes(b"not a numpy file at all")
    elif damage == "index":
        index_path.write_text("{ broken json")
    else:
        data = array_path.read_bytes()
        array_path.write_bytes(data[: len(data) // 2])

    with pytest.warns(images.CacheWarning, match="cannot be used"):
        rebuilt = _load(messy_folder, cache_dir)

    assert rebuilt.from_cache is False
    assert np.array_equal(rebuilt.images, first.images)
    assert _load(messy_folder, cache_dir).from_cache is True


def test_unwritable_cache_only_warns(clean_folder, tmp_path):
    """When the cache folder cannot be created, are the images still returned, with a warning?"""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")

    with pytest.warns(images.CacheWarning, match="could not be written"):
        result = _load(clean_folder, blocker / "cache")

    assert len(result.paths) == 2 * len(CLASS_NAMES)


def test_moved_dataset_keeps_its_cache(clean_folder, tmp_path):
    """Does moving the whole dataset folder keep the cache valid (paths are relative)?"""
    cache_dir = tmp_path / "cache"
    first = _load(clean_folder, cache_dir)
    moved = tmp_path / "moved" / "clean"
    moved.parent.mkdir()
    shutil.move(clean_folder, moved)

    second = _load(moved, cache_dir)

    assert second.from_cache is True
    assert np.array_equal(first.images, second.images)
    assert all(path.is_relative_to(moved) for path in second.paths)


# ---------------------------------------------------------------------------------------------
# The verify report
# ---------------------------------------------------------------------------------------------


def test_verify_report_is_ok_and_names_every_file(messy_folder):
    """Is the messy folder usable, and does the report name every converted, skipped, ignored entry?"""
    report = images.verify_image_folder(messy_folder, CLASS_NAMES, image_size=IMAGE_SIZE)
    text = report.format()

    assert report.ok is True
    assert report.missing_classes == [] and report.empty_classes == []
    assert "OK: all 7 classes have usable images." in text
    for name, (_class_name, action, phrase) in BAD_FILES.items():
        matching = [line for line in text.splitlines() if name in line]
        assert matching, f"{name} is missing from the report"
        assert phrase in matching[0]
    for name in IGNORED_ENTRIES:
        assert name in text, f"{name} is missing from the report"
    skipped_per_class = {}
    for name, (class_name, action, _phrase) in BAD_FILES.items():
        if action == "skipped":
            skipped_per_class[class_name] = skipped_per_class.get(class_name, 0) + 1
    for class_name in CLASS_NAMES:
        scanned = GOOD_PER_CLASS + sum(1 for value in BAD_FILES.values() if value[0] == class_name)
        assert report.counts[class_name] == scanned - skipped_per_class.get(class_name, 0)
    assert str(report) == text


def test_verify_report_summarises_many_ignored_entries(clean_folder):
    """Do hundreds of macOS resource forks take a few lines, with their count, not hundreds?"""
    for number in range(40):
        (clean_folder / "city" / f"._photo_{number:02d}.jpg").write_bytes(b"\x00\x05\x16\x07")
    report = images.verify_image_folder(clean_folder, CLASS_NAMES)
    text = report.format()

    assert report.ok is True
    assert len(report.ignored) == 40
    assert "... and 30 more: macOS resource fork (hidden file)" in text
    assert len(text.splitlines()) < 40


def test_progress_bar_does_not_change_the_result(clean_folder, capsys):
    """Does progress=True show a bar and return the same images?"""
    files = images.scan_image_folder(clean_folder, CLASS_NAMES).files
    quiet = images.load_images(files, IMAGE_SIZE)
    shown = images.load_images(files, IMAGE_SIZE, progress=True)

    assert np.array_equal(quiet.images, shown.images)
    assert "Decoding images" in capsys.readouterr().err


def test_verify_report_missing_class_folder(clean_folder):
    """Is a missing class folder named in a clear NOT OK message?"""
    shutil.rmtree(clean_folder / "lake")
    report = images.verify_image_folder(clean_folder, CLASS_NAMES)

    assert report.ok is False
    assert report.missing_classes == ["lake"]
    text = report.format()
    assert "NOT OK" in text and "missing: lake" in text
    assert "MISSING" in text


def test_verify_report_class_without_usable_image(clean_folder):
    """Is a class whose files are all unusable reported as empty?"""
    for path in (clean_folder / "road").iterdir():
        path.write_bytes(b"")
    report = images.verify_image_folder(clean_folder, CLASS_NAMES)

    assert report.ok is False
    assert report.empty_classes == ["road"]
    assert "no usable image: road" in report.format()


def test_verify_report_absent_root(tmp_path):
    """Is a missing root reported (not raised) with a clear message?"""
    report = images.verify_image_folder(tmp_path / "nowhere", CLASS_NAMES)

    assert report.ok is False and report.root_exists is False
    assert "does not exist" in report.format()


def test_verify_report_suggests_the_nested_root(clean_folder, tmp_path):
    """When the class folders sit one level deeper, does the report say where they are?"""
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.move(clean_folder, outer / "landscapes_small")
    report = images.verify_image_folder(outer, CLASS_NAMES)

    assert report.ok is False
    assert "inside" in report.format() and "landscapes_small" in report.format()


# ---------------------------------------------------------------------------------------------
# Reduced-scale JPEG decoding against the full decode, and the memory-mapped cache
# ---------------------------------------------------------------------------------------------

# The tolerance of reduced-scale JPEG decoding (libjpeg's DCT scaling, then an exact resize)
# against a full-scale decode and the same resize, in levels of 0-255: per image, the mean
# absolute difference and its 99th percentile; over all images, the mean absolute difference.
# Measured on the generated sample: at most 2.6 per image, 22 at the 99th percentile, 1.5 overall.
MAX_IMAGE_MEAN_DIFFERENCE = 3.0
MAX_PERCENTILE_99_DIFFERENCE = 24.0
MAX_OVERALL_MEAN_DIFFERENCE = 2.0


def _differences(path: Path, image_size: int) -> np.ndarray:
    array, issue = images.decode_image(path, image_size)
    assert issue is None and array.shape == (image_size, image_size, 3)
    return np.abs(array.astype(np.int16) - full_decode_reference(path, image_size).astype(np.int16))


@pytest.mark.parametrize("image_size", [32, 64])
def test_reduced_scale_decoding_matches_the_full_decode_on_the_sample(tmp_path, image_size):
    """On the generated sample (128 px JPEGs), is the draft decode within the stated tolerance?"""
    from paysages.sample import generate_sample_dataset

    folder = generate_sample_dataset(tmp_path / "sample", per_class=3, seed=0, image_size=128)
    files = sorted(folder.glob("*/*.jpg"))
    assert len(files) >= 14

    differences = [_differences(path, image_size) for path in files]

    for path, difference in zip(files, differences):
        assert difference.mean() <= MAX_IMAGE_MEAN_DIFFERENCE, path.name
        assert np.percentile(difference, 99) <= MAX_PERCENTILE_99_DIFFERENCE, path.name
    assert np.mean([difference.mean() for difference in differences]) <= MAX_OVERALL_MEAN_DIFFERENCE


@pytest.mark.parametrize("image_size", [32, 100, 160])
def test_reduced_scale_decoding_matches_the_full_decode_on_a_large_jpeg(tmp_path, image_size):
    """A 1200x900 photo-like JPEG: decoded at 1/8, 1/4 or 1/2 scale, is it within the tolerance?"""
    path = tmp_path / "large.jpg"
    photo_like_image(seed=3, width=1200, height=900).save(path, quality=90)
    with Image.open(path) as image:
        image.draft("RGB", (image_size, image_size))
        assert image.size[0] < 1200  # libjpeg really decodes at a reduced scale.

    difference = _differences(path, image_size)

    assert difference.mean() <= MAX_OVERALL_MEAN_DIFFERENCE
    assert np.percentile(difference, 99) <= MAX_PERCENTILE_99_DIFFERENCE


def test_a_cached_load_is_one_memory_map_that_the_caller_may_modify(clean_folder, tmp_path):
    """Is the cached array memory-mapped, and does writing to it leave the cache file intact?"""
    cache_dir = tmp_path / "cache"
    first = _load(clean_folder, cache_dir)
    second = _load(clean_folder, cache_dir)
    array_path, = cache_dir.glob("*.npy")

    assert second.from_cache is True
    assert isinstance(second.images, np.memmap) and Path(second.images.filename) == array_path.resolve()
    second.images[0] = 0  # Copy-on-write: the caller's copy changes, never the file.
    assert np.array_equal(np.load(array_path), first.images)
    assert np.array_equal(_load(clean_folder, cache_dir).images, first.images)


def test_the_cache_format_version_is_part_of_the_key(clean_folder, tmp_path, monkeypatch):
    """Does a cache written by an older format version get rebuilt rather than reused?"""
    cache_dir = tmp_path / "cache"
    monkeypatch.setattr(images, "CACHE_FORMAT_VERSION", images.CACHE_FORMAT_VERSION - 1)
    _load(clean_folder, cache_dir)
    monkeypatch.undo()

    assert _load(clean_folder, cache_dir).from_cache is False
    assert _load(clean_folder, cache_dir).from_cache is True
