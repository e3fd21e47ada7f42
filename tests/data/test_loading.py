"""Tests of paysages.data.loading: decoding a list of files into one array, and the on-disk cache.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paysages.data import decode, loading
from paysages.data.scan import scan_image_folder
from tests.helpers.images import (
    BAD_FILES,
    CLASS_NAMES,
    IMAGE_SIZE,
    RED,
    issues_by_name,
    mean_colour,
    noise_image,
)


def test_load_images_keeps_converted_skips_bad_and_drops_nothing_silently(messy_folder):
    """Is every scanned file either kept or reported as skipped, with arrays that match?"""
    scan = scan_image_folder(messy_folder, CLASS_NAMES)
    result = loading.load_images(scan.files, IMAGE_SIZE, labels=scan.labels)

    issues = issues_by_name(result.issues)
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
    scan = scan_image_folder(messy_folder, CLASS_NAMES)
    result = loading.load_images(scan.files, IMAGE_SIZE, workers=2)

    for row, path in enumerate(result.paths):
        array, _ = decode.decode_image(path, IMAGE_SIZE)
        assert np.array_equal(result.images[row], array), path


def test_load_images_serial_and_threaded_agree(messy_folder):
    """Do one worker and several workers give the same arrays, paths and issues?"""
    files = scan_image_folder(messy_folder, CLASS_NAMES).files
    serial = loading.load_images(files, IMAGE_SIZE, workers=1)
    threaded = loading.load_images(files, IMAGE_SIZE, workers=4)

    assert np.array_equal(serial.images, threaded.images)
    assert serial.paths == threaded.paths
    assert serial.issues == threaded.issues


def test_load_images_empty_list_and_bad_arguments(tmp_path):
    """Is an empty list fine, and are mismatched labels and bad worker counts refused?"""
    result = loading.load_images([], IMAGE_SIZE, cache_dir=tmp_path / "cache")
    assert result.images.shape == (0, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert result.paths == [] and result.issues == []

    with pytest.raises(ValueError, match="one label per path"):
        loading.load_images([tmp_path / "a.jpg"], IMAGE_SIZE, labels=[0, 1])
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1, got 0 \(int\)"):
        loading.load_images([tmp_path / "a.jpg"], IMAGE_SIZE, workers=0)


def _load(folder: Path, cache_dir: Path, **options) -> loading.LoadResult:
    scan = scan_image_folder(folder, CLASS_NAMES)
    return loading.load_images(scan.files, IMAGE_SIZE, labels=scan.labels, cache_dir=cache_dir, **options)


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
        noise_image(77).save(clean_folder / "lake" / "image_9.jpg")
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
        assert mean_colour(after.images[row])[0] > 200
    again = _load(clean_folder, cache_dir)
    assert again.from_cache is True
    # The stale cache was replaced, not kept beside the new one.
    assert len(list(cache_dir.glob("*.npy"))) == 1


def test_image_size_and_cache_name_have_separate_caches(clean_folder, tmp_path):
    """Do different image sizes or cache names never share a cache file?"""
    cache_dir = tmp_path / "cache"
    files = scan_image_folder(clean_folder, CLASS_NAMES).files
    loading.load_images(files, 32, cache_dir=cache_dir)
    other_size = loading.load_images(files, 16, cache_dir=cache_dir)
    other_name = loading.load_images(files, 32, cache_dir=cache_dir, cache_name="other")

    assert other_size.from_cache is False and other_size.images.shape[1:] == (16, 16, 3)
    assert other_name.from_cache is False
    assert loading.load_images(files, 32, cache_dir=cache_dir).from_cache is True


def test_rebuilding_a_cache_never_deletes_another_cache(clean_folder, tmp_path):
    """Are caches with a name that merely starts like another one left alone?"""
    cache_dir = tmp_path / "cache"
    files = scan_image_folder(clean_folder, CLASS_NAMES).files
    loading.load_images(files[:4], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a-32px")
    loading.load_images(files[:4], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a")
    loading.load_images(files[:5], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a")

    assert len(list(cache_dir.glob("*.npy"))) == 2
    assert loading.load_images(files[:4], IMAGE_SIZE, cache_dir=cache_dir, cache_name="a-32px").from_cache


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

    with pytest.warns(loading.CacheWarning, match="cannot be used"):
        rebuilt = _load(messy_folder, cache_dir)

    assert rebuilt.from_cache is False
    assert np.array_equal(rebuilt.images, first.images)
    assert _load(messy_folder, cache_dir).from_cache is True


def test_unwritable_cache_only_warns(clean_folder, tmp_path):
    """When the cache folder cannot be created, are the images still returned, with a warning?"""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")

    with pytest.warns(loading.CacheWarning, match="could not be written"):
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


def test_progress_bar_does_not_change_the_result(clean_folder, capsys):
    """Does progress=True show a bar and return the same images?"""
    files = scan_image_folder(clean_folder, CLASS_NAMES).files
    quiet = loading.load_images(files, IMAGE_SIZE)
    shown = loading.load_images(files, IMAGE_SIZE, progress=True)

    assert np.array_equal(quiet.images, shown.images)
    assert "Decoding images" in capsys.readouterr().err


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
    monkeypatch.setattr(loading, "CACHE_FORMAT_VERSION", loading.CACHE_FORMAT_VERSION - 1)
    _load(clean_folder, cache_dir)
    monkeypatch.undo()

    assert _load(clean_folder, cache_dir).from_cache is False
    assert _load(clean_folder, cache_dir).from_cache is True
