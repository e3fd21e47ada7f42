"""Tests of paysages.data.decode: every bad-file kind, conversions, limits, and reduced-scale JPEG decoding.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from paysages.data import decode
from paysages.data.sample import generate_sample_dataset
from tests.helpers.images import full_decode_reference, photo_like_image
from tests.helpers.images import (
    BAD_FILES,
    IMAGE_SIZE,
    RED,
    mean_colour,
    noise_image,
    png_bytes,
    png_header_claiming,
    sixteen_bit_rgb_png,
    sixteen_bit_rgb_tiff,
)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_decode_image_handles_each_bad_file_kind(messy_folder, name):
    """Does each bad-file kind get the expected action and reason, and a valid array when kept?"""
    class_name, action, phrase = BAD_FILES[name]
    array, issue = decode.decode_image(messy_folder / class_name / name, IMAGE_SIZE)

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
    noise_image(3, 300, 200).save(path, quality=95)

    array, issue = decode.decode_image(path, 64)

    assert issue is None
    assert array.shape == (64, 64, 3) and array.dtype == np.uint8


@pytest.mark.parametrize(
    "name", ["cmyk.jpg", "png_inside.jpg", "gif_inside.jpg", "opaque_alpha.png", "sixteen_bit_rgb.png"]
)
def test_converted_red_images_stay_red(messy_folder, name):
    """Do CMYK, PNG-in-JPG, GIF-in-JPG, opaque RGBA and 48-bit red images stay red after conversion?"""
    class_name = BAD_FILES[name][0]
    array, issue = decode.decode_image(messy_folder / class_name / name, IMAGE_SIZE)

    red, green, blue = mean_colour(array)
    assert red > 230 and green < 25 and blue < 25, (name, issue.reason, (red, green, blue))


def test_transparent_pixels_are_composited_on_white(messy_folder):
    """Is a red square on a transparent background red in the middle and white around it?"""
    array, issue = decode.decode_image(messy_folder / "ocean" / "transparent.png", 40)

    assert issue.reason == "RGBA: transparent pixels composited on white"
    assert tuple(array[20, 20]) == RED
    assert tuple(array[2, 2]) == (255, 255, 255)


def test_grayscale_and_sixteen_bit_images_become_gray_rgb(messy_folder):
    """Are grayscale and 16-bit images turned into gray RGB with correctly scaled values?"""
    gray, _ = decode.decode_image(messy_folder / "mountain" / "grayscale.jpg", IMAGE_SIZE)
    sixteen, issue = decode.decode_image(messy_folder / "ocean" / "sixteen_bit.png", IMAGE_SIZE)

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

    array, _ = decode.decode_image(path, 16)

    assert array.shape == (16, 16, 3)
    assert array[:, :6].max() == 0
    assert array[:, 10:].min() == 255


@pytest.mark.parametrize(
    "name, data",
    [
        ("deep.png", sixteen_bit_rgb_png((32_896, 65535, 0))),
        ("deep.tif", sixteen_bit_rgb_tiff((32_896, 65535, 0))),
    ],
    ids=["png", "tiff"],
)
def test_sixteen_bit_rgb_is_reported_as_reduced(tmp_path, name, data):
    """Is a 48-bit RGB PNG or TIFF, which Pillow opens as plain RGB, reported as reduced to 8 bits?"""
    path = tmp_path / name
    path.write_bytes(data)

    array, issue = decode.decode_image(path, 8)

    assert issue is not None and issue.action == "converted"
    assert "16-bit RGB reduced to 8-bit" in issue.reason
    # The high byte of each sample is kept: 32896 -> 128, 65535 -> 255, 0 -> 0.
    assert np.all(array == np.array([128, 255, 0], dtype=np.uint8))


def test_eight_bit_png_is_not_reported_as_reduced(tmp_path):
    """Is an ordinary 8-bit RGB PNG decoded without any bit-depth note?"""
    path = tmp_path / "plain.png"
    path.write_bytes(png_bytes(Image.new("RGB", (20, 10), RED)))

    array, issue = decode.decode_image(path, 8)

    assert issue is None and tuple(array[0, 0]) == RED


def test_decompression_bomb_limit_is_kit_local(tmp_path):
    """Is an over-limit image skipped without touching Pillow's global settings?"""
    path = tmp_path / "big.png"
    Image.new("RGB", (120, 100)).save(path)
    pillow_limit = Image.MAX_IMAGE_PIXELS

    array, issue = decode.decode_image(path, IMAGE_SIZE, max_pixels=11_999)
    assert array is None and issue.action == "skipped"
    assert "120x100" in issue.reason and "decompression bomb" in issue.reason

    array, issue = decode.decode_image(path, IMAGE_SIZE, max_pixels=12_000)
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
        array, issue = decode.decode_image(path, IMAGE_SIZE, max_pixels=10**9)

    assert array is None
    assert issue.action == "skipped" and "decompression bomb" in issue.reason


@pytest.mark.parametrize("pillow_limit", ["default", None])
def test_huge_header_is_skipped_with_the_default_limit(tmp_path, monkeypatch, pillow_limit):
    """Is a 30000x30000 claim skipped, even when the user switched Pillow's own check off?"""
    if pillow_limit is None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_claiming(30_000, 30_000))

    array, issue = decode.decode_image(path, IMAGE_SIZE)

    assert array is None
    assert issue.action == "skipped" and "decompression bomb" in issue.reason


def test_truncated_images_are_not_loaded_by_pillow_setting(messy_folder):
    """Is a truncated JPEG skipped, with Pillow's LOAD_TRUNCATED_IMAGES left off?"""
    array, issue = decode.decode_image(messy_folder / "field" / "truncated.jpg", IMAGE_SIZE)

    assert array is None and issue.reason == "truncated (the file ends too early)"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_missing_file_and_bad_arguments(tmp_path):
    """Is a missing file reported as skipped, and a bad image size refused?"""
    array, issue = decode.decode_image(tmp_path / "gone.jpg", IMAGE_SIZE)
    assert array is None and issue.action == "skipped" and "cannot be read" in issue.reason
    for bad_size in (0, -3, 2.5, True, "64"):
        with pytest.raises(ValueError, match="image_size must be an integer >= 1, got"):
            decode.decode_image(tmp_path / "gone.jpg", bad_size)
    with pytest.raises(ValueError, match="action must be 'converted' or 'skipped', got 'deleted'"):
        decode.ImageIssue(tmp_path / "x.jpg", "reason", "deleted")


def test_non_square_image_is_resized_whole(tmp_path):
    """Is a wide image squeezed to a square, not cropped (left and right halves both kept)?"""
    image = Image.new("RGB", (400, 100), RED)
    image.paste(Image.new("RGB", (200, 100), (0, 0, 255)), (200, 0))
    path = tmp_path / "wide.jpg"
    image.save(path, quality=95)

    array, _ = decode.decode_image(path, 32)

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

    array, issue = decode.decode_image(path, 32)

    assert issue is None
    assert array[16, 4, 2] > 200 and array[16, 28, 0] > 200


def test_html_and_git_lfs_pointer_are_named(tmp_path):
    """Are failed downloads (HTML page, Git LFS pointer) reported as such?"""
    html = tmp_path / "page.jpg"
    html.write_text("<!DOCTYPE html><html><body>Rate limited</body></html>")
    pointer = tmp_path / "pointer.jpg"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")

    assert "HTML page" in decode.decode_image(html, IMAGE_SIZE)[1].reason
    assert "Git LFS pointer" in decode.decode_image(pointer, IMAGE_SIZE)[1].reason

# The tolerance of reduced-scale JPEG decoding (libjpeg's DCT scaling, then an exact resize)
# against a full-scale decode and the same resize, in levels of 0-255: per image, the mean
# absolute difference and its 99th percentile; over all images, the mean absolute difference.
# Measured on the generated sample: at most 2.6 per image, 22 at the 99th percentile, 1.5 overall.
MAX_IMAGE_MEAN_DIFFERENCE = 3.0

MAX_PERCENTILE_99_DIFFERENCE = 24.0

MAX_OVERALL_MEAN_DIFFERENCE = 2.0


def _differences(path: Path, image_size: int) -> np.ndarray:
    array, issue = decode.decode_image(path, image_size)
    assert issue is None and array.shape == (image_size, image_size, 3)
    return np.abs(array.astype(np.int16) - full_decode_reference(path, image_size).astype(np.int16))


@pytest.mark.parametrize("image_size", [32, 64])
def test_reduced_scale_decoding_matches_the_full_decode_on_the_sample(tmp_path, image_size):
    """On the generated sample (128 px JPEGs), is the draft decode within the stated tolerance?"""
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
