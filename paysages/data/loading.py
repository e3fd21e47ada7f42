"""Load a list of image files once into one array, then from an on-disk cache.

:func:`load_images` decodes every file (see :mod:`paysages.data.decode`) and stores the array
as an uncompressed ``.npy`` file with a ``.json`` index; a later load of the same unchanged
files is one memory-mapped read of that file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from paysages.data.decode import (
    CONVERTED,
    ImageIssue,
    SKIPPED,
    decode_files,
    _resolve_max_pixels,
    default_workers,
)
from paysages.files import write_atomic, write_text_atomic
from paysages.validation import check_integer


# Bump when the decoded pixels or the reported issues would change, so that old caches are
# not reused (2: 16-bit RGB files are reported as reduced to 8 bits; 3: the array is read
# memory-mapped, copy-on-write).
CACHE_FORMAT_VERSION = 3

# How many hexadecimal digits of the cache key go into a cache file's name.
_KEY_LENGTH = 24


class CacheWarning(UserWarning):
    """The image cache could not be read or written; the images are decoded instead."""


@dataclasses.dataclass
class LoadResult:
    """Decoded images and what happened to every file.

    ``images``, ``paths`` and ``labels`` hold the usable images only, in input order;
    ``labels`` is ``None`` when no labels were given. ``issues`` lists every converted or
    skipped file, so that ``len(paths) + skipped == number of input files``.
    """

    images: np.ndarray
    paths: list[Path]
    labels: np.ndarray | None
    issues: list[ImageIssue]
    from_cache: bool
    seconds: float

    @property
    def skipped(self) -> list[ImageIssue]:
        return [issue for issue in self.issues if issue.action == SKIPPED]

    @property
    def converted(self) -> list[ImageIssue]:
        return [issue for issue in self.issues if issue.action == CONVERTED]

    def summary(self) -> str:
        """Return one line such as ``"3943 images (64x64) in 2.1 s, 5 converted, 2 skipped"``."""
        size = "x".join(str(value) for value in self.images.shape[1:3])
        source = "from cache" if self.from_cache else "decoded"
        return (
            f"{len(self.paths)} images ({size}) {source} in {self.seconds:.2f} s, "
            f"{len(self.converted)} converted, {len(self.skipped)} skipped"
        )


def _split_by_folder(paths: Sequence[Path]) -> tuple[list[str], list[int], list[str]]:
    """Return the resolved folders (each ending with a separator) and, per file, its folder's
    number and its file name.

    Folders are resolved (symbolic links, ``..``) once each rather than file by file: a
    dataset has thousands of files but only a few folders, and resolving costs system calls.
    """
    separator, alternative = os.sep, os.altsep
    folder_numbers: dict[str, int] = {}
    resolved_folders: list[str] = []
    numbers: list[int] = []
    file_names: list[str] = []
    for path in paths:
        name = os.fspath(path)
        if alternative:
            name = name.replace(alternative, separator)
        folder, found_separator, file_name = name.rpartition(separator)
        number = folder_numbers.get(folder)
        if number is None:
            number = folder_numbers[folder] = len(resolved_folders)
            # "" is the current folder and "/" + "" the root: realpath makes both absolute.
            resolved_folders.append(os.path.join(os.path.realpath(folder + found_separator), ""))
        numbers.append(number)
        file_names.append(file_name)
    return resolved_folders, numbers, file_names


def _relative_folders(resolved_folders: list[str]) -> list[str]:
    """Return each folder relative to their common folder, with forward slashes and a final
    slash ("" for the common folder itself)."""
    separator = os.sep
    try:
        root = os.path.commonpath([folder.rstrip(separator) or separator for folder in resolved_folders])
    except ValueError:
        # Folders on different Windows drives share no folder: keep them whole.
        return [folder.replace(separator, "/") for folder in resolved_folders]
    prefix_length = len(os.path.join(root, ""))
    return [folder[prefix_length:].replace(separator, "/") for folder in resolved_folders]


def _relative_names(paths: Sequence[Path]) -> list[str]:
    """Return each file's resolved path relative to the files' common folder ("city/1.jpg")."""
    resolved_folders, numbers, file_names = _split_by_folder(paths)
    relative_folders = _relative_folders(resolved_folders)
    return [relative_folders[number] + file_name for number, file_name in zip(numbers, file_names)]


def _fingerprint(paths: Sequence[Path], image_size: int, cache_name: str, max_pixels: int) -> str:
    """Return the cache key of a list of files.

    The key covers the cache name, the image size, the decoder and, for every file in order,
    its resolved path relative to the files' common folder, its size and its modification
    time (in nanoseconds): any change to the file list or to a file gives a new key, while a
    dataset folder moved or copied as a whole (keeping modification times) keeps its key.
    It costs one ``stat`` per file, about a millisecond per thousand files: this loop is
    what a cached load spends most of its time on, hence its terse style.
    """
    separator, alternative = os.sep, os.altsep
    stat = os.stat
    folder_numbers: dict[str, int] = {}
    resolved_folders: list[str] = []
    lines = []
    for path in paths:
        name = os.fspath(path)
        if alternative:
            name = name.replace(alternative, separator)
        folder, found_separator, file_name = name.rpartition(separator)
        number = folder_numbers.get(folder)
        if number is None:
            number = folder_numbers[folder] = len(resolved_folders)
            resolved_folders.append(os.path.join(os.path.realpath(folder + found_separator), ""))
        try:
            status = stat(resolved_folders[number] + file_name)
            lines.append(f"{number}/{file_name}\x00{status.st_size}:{status.st_mtime_ns}")
        except OSError:
            lines.append(f"{number}/{file_name}\x00unreadable")
    header = {
        "format": CACHE_FORMAT_VERSION,
        "cache_name": cache_name,
        "image_size": image_size,
        "max_pixels": max_pixels,
        "pillow": Image.__version__,
        "folders": _relative_folders(resolved_folders) if resolved_folders else [],
    }
    lines.append(json.dumps(header, sort_keys=True))
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def _safe_cache_name(cache_name: str) -> str:
    if not isinstance(cache_name, str) or not cache_name.strip():
        raise ValueError(f"cache_name must be a non-empty string, got {cache_name!r}.")
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in cache_name.strip())


def _cache_paths(cache_dir: Path, cache_name: str, image_size: int, key: str) -> tuple[Path, Path]:
    stem = f"{_safe_cache_name(cache_name)}-{image_size}px-{key[:_KEY_LENGTH]}"
    return cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"


def _read_cache(
    array_path: Path, index_path: Path, key: str, paths: Sequence[Path], image_size: int
) -> tuple[np.ndarray, list[int], list[ImageIssue]] | None:
    """Return the cached images, kept indices and issues, or ``None`` when there is no cache.

    A cache that exists but cannot be used is reported with a :class:`CacheWarning`.
    """
    if not index_path.is_file() or not array_path.is_file():
        return None
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index.get("format") != CACHE_FORMAT_VERSION or index.get("key") != key:
            raise ValueError("its index does not match the files")
        if index.get("total") != len(paths):
            raise ValueError("its index lists a different number of files")
        kept = [int(position) for position in index["kept"]]
        if any(not 0 <= position < len(paths) for position in kept) or kept != sorted(set(kept)):
            raise ValueError("its index holds invalid file positions")
        issues = [
            ImageIssue(paths[int(item["position"])], str(item["reason"]), str(item["action"]))
            for item in index["issues"]
        ]
        # One memory-mapped read: the pages of the array are read from disk when first used,
        # and copy-on-write keeps the cache file unchanged if the caller modifies the array.
        images = np.load(array_path, mmap_mode="c", allow_pickle=False)
        expected_shape = (len(kept), image_size, image_size, 3)
        if images.dtype != np.uint8 or images.shape != expected_shape:
            raise ValueError(f"its array has shape {images.shape} {images.dtype}, not {expected_shape} uint8")
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError) as error:
        warnings.warn(
            f"The image cache {array_path} cannot be used ({error}); decoding the images again "
            "and rebuilding it.",
            CacheWarning,
            stacklevel=3,
        )
        return None
    return images, kept, issues


def _write_cache(
    array_path: Path,
    index_path: Path,
    key: str,
    cache_name: str,
    image_size: int,
    relative_names: list[str],
    images: np.ndarray,
    kept: list[int],
    issues_by_position: list[tuple[int, ImageIssue]],
    labels: np.ndarray | None,
) -> None:
    """Store the images (``.npy``) and then the index (``.json``), each atomically."""
    index = {
        "format": CACHE_FORMAT_VERSION,
        "key": key,
        "cache_name": cache_name,
        "image_size": image_size,
        "total": len(relative_names),
        "count": len(kept),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "paths": relative_names,
        "labels": None if labels is None else [int(value) for value in labels],
        "kept": kept,
        "issues": [
            {"position": position, "path": relative_names[position], "reason": issue.reason, "action": issue.action}
            for position, issue in issues_by_position
        ],
    }
    text = json.dumps(index, indent=1)
    array_path.parent.mkdir(parents=True, exist_ok=True)
    # The array first, the index last: an index only ever describes a complete array.
    write_atomic(array_path, lambda handle: np.save(handle, images, allow_pickle=False))
    write_text_atomic(index_path, text)
    # Older caches of the same name and size describe files that have changed since.
    stem_prefix = array_path.stem[: -_KEY_LENGTH]
    for old_path in array_path.parent.glob(f"{stem_prefix}*"):
        old_key = old_path.stem[len(stem_prefix):]
        is_old_cache = (
            old_path.suffix in (".npy", ".json")
            and len(old_key) == _KEY_LENGTH
            and all(char in "0123456789abcdef" for char in old_key)
        )
        if is_old_cache and old_path not in (array_path, index_path):
            try:
                old_path.unlink()
            except OSError:
                pass


def load_images(
    paths: Iterable[str | os.PathLike],
    image_size: int,
    *,
    labels: Sequence[int] | np.ndarray | None = None,
    cache_dir: str | os.PathLike | None = None,
    cache_name: str = "images",
    workers: int | None = None,
    progress: bool = False,
    max_pixels: int | None = None,
) -> LoadResult:
    """Decode every file once, up front, into a ``(N, image_size, image_size, 3)`` uint8 array.

    Files are decoded in parallel threads (``workers``, default :func:`default_workers`):
    Pillow releases the GIL while it decodes, and threads start instantly and share memory,
    where processes would pay a start-up and a copy of every image (see the benchmark).
    A file that cannot be used is skipped and listed in ``issues``, never dropped silently and
    never fatal; a file that needed a conversion is kept and listed too. ``paths`` and
    ``labels`` of the result are those of the kept images, in input order.

    With ``cache_dir``, the arrays are stored there as ``<cache_name>-<size>px-<key>.npy``
    (uncompressed) with a ``.json`` index of paths, labels and issues. A cached load is one
    memory-mapped read of that file (``np.load(..., mmap_mode="c")``): pages are read from disk
    when first used, and the returned array may be modified (copy-on-write) without changing
    the cache. ``progress=True`` shows a ``tqdm.auto`` bar while files are decoded (a cached
    load has nothing to show). The key hashes the cache name, the image size and every file's path
    (relative to the files' common folder), size and modification time, so adding, removing,
    renaming or modifying a file rebuilds the cache. A cache that cannot be read is rebuilt
    with a :class:`CacheWarning`; a cache that cannot be written only gives a warning.

    While it decodes, Pillow's decompression-bomb warning is silenced process-wide (the kit
    applies its own limit, ``max_pixels``); Python's warning filters are not thread-safe, so
    call it from one thread at a time.
    """
    start = time.perf_counter()
    path_list = [path if isinstance(path, Path) else Path(path) for path in paths]
    image_size = check_integer("image_size", image_size, minimum=1)
    limit = _resolve_max_pixels(max_pixels)
    label_array = None
    if labels is not None:
        label_array = np.asarray(labels)
        if label_array.shape != (len(path_list),):
            raise ValueError(
                f"labels must hold one label per path: got {label_array.shape} labels for "
                f"{len(path_list)} paths."
            )
    if workers is None:
        workers = default_workers()
    else:
        workers = check_integer("workers", workers, minimum=1)

    cache_files = None
    if cache_dir is not None and path_list:
        key = _fingerprint(path_list, image_size, cache_name, limit)
        cache_files = _cache_paths(Path(cache_dir).expanduser(), cache_name, image_size, key)
        cached = _read_cache(*cache_files, key, path_list, image_size)
        if cached is not None:
            images, kept, issues = cached
            return LoadResult(
                images=images,
                paths=[path_list[position] for position in kept],
                labels=None if label_array is None else label_array[kept],
                issues=issues,
                from_cache=True,
                seconds=time.perf_counter() - start,
            )

    images, kept, issues_by_position = decode_files(path_list, image_size, limit, workers, progress)

    if cache_files is not None:
        try:
            _write_cache(
                *cache_files, key, cache_name, image_size, _relative_names(path_list),
                images, kept, issues_by_position, label_array,
            )
        except OSError as error:
            warnings.warn(
                f"The image cache could not be written to {cache_files[0].parent} ({error}); "
                "the images will be decoded again next time.",
                CacheWarning,
                stacklevel=2,
            )

    return LoadResult(
        images=images,
        paths=[path_list[position] for position in kept],
        labels=None if label_array is None else label_array[kept],
        issues=[issue for _position, issue in issues_by_position],
        from_cache=False,
        seconds=time.perf_counter() - start,
    )
