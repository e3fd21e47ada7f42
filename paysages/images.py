"""Scan a folder of class sub-folders, decode every image once, robustly and fast, with a cache.

Real image folders are messy: archives made on a Mac carry ``__MACOSX/`` and ``.DS_Store``,
Jupyter leaves ``.ipynb_checkpoints/``, downloads get cut short, and a ``.jpg`` can hold PNG
data, CMYK, grayscale, transparency or 16-bit samples. This module turns such a folder into
a NumPy array of RGB images and says, file by file, what it converted and what it skipped:

* :func:`scan_image_folder` lists the files of the declared classes only; a stray folder never
  becomes a class, and every entry that is not used is reported with a reason.
* :func:`decode_image` decodes one file to a ``(size, size, 3)`` ``uint8`` RGB array, or reports
  why it cannot.
* :func:`load_images` decodes a list of files in parallel and caches the result on disk.
* :func:`verify_image_folder` combines both into a printable report (``paysages verify``).

Aspect ratio: every image is resized, whole, to a square of ``image_size`` pixels, without
cropping, so a wide photo is squeezed horizontally. This is what
``keras.utils.image_dataset_from_directory`` does by default (``crop_to_aspect_ratio=False``),
so models see the same kind of input with either loader.

Orientation: a photo whose EXIF data says "rotate me" is rotated, as an image viewer shows it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from paysages.errors import DatasetError
from paysages.files import write_atomic, write_text_atomic
from paysages.validation import check_integer

# The image formats each image extension should hold (Pillow's format names).
EXPECTED_FORMATS = {
    ".jpg": frozenset({"JPEG", "MPO"}),
    ".jpeg": frozenset({"JPEG", "MPO"}),
    ".png": frozenset({"PNG"}),
    ".gif": frozenset({"GIF"}),
    ".bmp": frozenset({"BMP", "DIB"}),
    ".webp": frozenset({"WEBP"}),
}

# Extensions recognised as images, compared case-insensitively. Files with any other
# extension inside a class folder are still decoded, so that nothing is dropped silently:
# an image is then reported as "converted" (for example "JPEG data named .txt"), anything
# else as "skipped".
IMAGE_EXTENSIONS = frozenset(EXPECTED_FORMATS)

# The only formats Pillow may try. Formats such as EPS would run external programs on
# untrusted files, so they are never attempted. (Multi-picture JPEGs, "MPO", open as JPEG.)
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF")

# Names that are never images nor classes, with the reason given in reports.
IGNORED_NAMES = {
    "__MACOSX": "macOS archive metadata",
    ".DS_Store": "macOS folder metadata",
    "Thumbs.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
    ".ipynb_checkpoints": "Jupyter checkpoint folder",
}

# The folder of licence metadata that the Landscapes archive keeps beside the class folders.
LICENCE_FOLDER_NAME = "licenses"

# The kit's own pixel limit: a larger image is skipped as a possible decompression bomb.
# It equals Pillow's default; Pillow's global ``Image.MAX_IMAGE_PIXELS`` is never modified.
MAX_IMAGE_PIXELS = 89_478_485

# Bump when the decoded pixels or the reported issues would change, so that old caches are
# not reused (2: 16-bit RGB files are reported as reduced to 8 bits; 3: the array is read
# memory-mapped, copy-on-write).
CACHE_FORMAT_VERSION = 3
# How many hexadecimal digits of the cache key go into a cache file's name.
_KEY_LENGTH = 24

CONVERTED = "converted"
SKIPPED = "skipped"

_FILE_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types (IHDR byte 25) that Pillow reduces to 8 bits per sample when stored at 16.
_PNG_COLOUR_TYPES = {2: "RGB", 4: "grayscale with alpha", 6: "RGBA"}
# The TIFF tag that gives the bits of each sample.
_TIFF_BITS_PER_SAMPLE = 258
# How many leading bytes of a file are read to find its bit depth (the PNG header fits).
_HEADER_BYTES = 32


class CacheWarning(UserWarning):
    """The image cache could not be read or written; the images are decoded instead."""


@dataclasses.dataclass
class ImageIssue:
    """A file that needed a conversion to be usable, or that was skipped.

    ``action`` is ``"converted"`` (the image is in the arrays) or ``"skipped"`` (it is not);
    ``reason`` is a short human phrase such as ``"PNG data named .jpg"``.
    """

    path: Path
    reason: str
    action: str

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.action not in (CONVERTED, SKIPPED):
            raise ValueError(f"action must be {CONVERTED!r} or {SKIPPED!r}, got {self.action!r}.")

    @property
    def skipped(self) -> bool:
        return self.action == SKIPPED

    def describe(self, relative_to: Path | None = None) -> str:
        """Return ``"path: reason (action)"``, the path relative to ``relative_to`` when possible."""
        return f"{_display_path(self.path, relative_to)}: {self.reason} ({self.action})"


@dataclasses.dataclass
class ScanResult:
    """The files of the declared classes in an image folder, and everything else found there."""

    root: Path
    files: list[Path]
    labels: np.ndarray
    class_names: tuple[str, ...]
    ignored: list[tuple[Path, str]]
    missing_classes: list[str]
    unexpected_folders: list[Path]

    def class_counts(self) -> dict[str, int]:
        """Return the number of scanned files per class (before decoding)."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts)}


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


# ---------------------------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------------------------


def ignore_reason(name: str, is_folder: bool, at_root: bool) -> str | None:
    """Return why a folder entry is never an image nor a class, or ``None`` when it may be one.

    ``at_root`` is True for the entries of the dataset folder itself, where the ``licenses/``
    folder and ``*.json`` files are metadata.
    """
    if name in IGNORED_NAMES:
        return IGNORED_NAMES[name]
    if name.startswith("._"):
        return "macOS resource fork (hidden file)"
    if name.startswith("."):
        return "hidden folder" if is_folder else "hidden file"
    if at_root and is_folder and name == LICENCE_FOLDER_NAME:
        return "licence metadata folder, not images"
    if at_root and not is_folder and name.lower().endswith(".json"):
        return "metadata file, not an image"
    return None


# The former private name, still imported by paysages.explorer.
_ignore_reason = ignore_reason


def _check_class_names(class_names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(class_names, str):
        raise ValueError("class_names must be a list of names, not a single string.")
    names = tuple(class_names)
    if not names:
        raise ValueError("class_names is empty: declare the class folders explicitly.")
    for name in names:
        if not isinstance(name, str) or not name or name in (".", ".."):
            raise ValueError(f"Invalid class name {name!r}.")
        if "/" in name or "\\" in name:
            raise ValueError(f"Class name {name!r} must be a folder name, not a path.")
        if ignore_reason(name, is_folder=True, at_root=True) is not None:
            raise ValueError(f"Class name {name!r} is a name the kit always ignores.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"Duplicate class name(s): {', '.join(duplicates)}.")
    return names


def _scan_class_folder(class_dir: Path, ignored: list[tuple[Path, str]]) -> list[Path]:
    """Return every candidate file under ``class_dir`` (sub-folders included), sorted."""
    found = []
    for folder, folder_names, file_names in os.walk(class_dir, followlinks=False):
        folder_path = Path(folder)
        kept_folders = []
        for name in sorted(folder_names):
            path = folder_path / name
            reason = ignore_reason(name, is_folder=True, at_root=False)
            if reason is None and path.is_symlink():
                reason = "link to a folder, not followed"
            if reason is None:
                kept_folders.append(name)
            else:
                ignored.append((path, reason))
        # Pruning in place tells os.walk not to descend into the ignored folders.
        folder_names[:] = kept_folders
        for name in file_names:
            path = folder_path / name
            reason = ignore_reason(name, is_folder=False, at_root=False)
            if reason is None:
                found.append(path)
            else:
                ignored.append((path, reason))
    return sorted(found, key=lambda path: path.relative_to(class_dir).as_posix())


def scan_image_folder(root: str | os.PathLike, class_names: Iterable[str]) -> ScanResult:
    """List the files of the declared classes under ``root``, one sub-folder per class.

    Class names are explicit: a folder that is not declared never becomes a class; it is
    listed in ``unexpected_folders`` (and in ``ignored``). Known clutter (``__MACOSX``,
    ``.DS_Store``, ``Thumbs.db``, ``.ipynb_checkpoints``, hidden entries, and at the root the
    ``licenses/`` folder and ``*.json`` files) is reported in ``ignored`` with its reason.

    Every other file inside a class folder is a candidate, whatever its extension, so that a
    file that is not an image is reported by :func:`load_images` rather than dropped silently.
    Files are sorted by class (in ``class_names`` order), then by path.

    Raises:
        DatasetError: ``root`` does not exist or is not a folder.
        ValueError: ``class_names`` is empty, repeats a name or holds an invalid name.
    """
    names = _check_class_names(class_names)
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"The image folder {root} does not exist.")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file, not a folder of class sub-folders.")

    ignored: list[tuple[Path, str]] = []
    unexpected_folders: list[Path] = []
    class_dirs: dict[str, Path] = {}
    lowered_names = {name.lower(): name for name in names}
    for entry in sorted(os.scandir(root), key=lambda item: item.name):
        path = Path(entry.path)
        is_folder = entry.is_dir()
        reason = ignore_reason(entry.name, is_folder=is_folder, at_root=True)
        if reason is not None:
            ignored.append((path, reason))
        elif entry.name in names and is_folder:
            class_dirs[entry.name] = path
        elif entry.name in names:
            ignored.append((path, "a file named like a class, not a folder"))
        elif is_folder:
            unexpected_folders.append(path)
            reason = "folder not among the declared classes"
            close_name = lowered_names.get(entry.name.lower())
            if close_name is not None:
                reason += f" (did you mean {close_name!r}? names are case-sensitive)"
            ignored.append((path, reason))
        else:
            ignored.append((path, "file outside every class folder"))

    files: list[Path] = []
    labels: list[int] = []
    missing_classes = []
    for index, name in enumerate(names):
        if name not in class_dirs:
            missing_classes.append(name)
            continue
        class_files = _scan_class_folder(class_dirs[name], ignored)
        files.extend(class_files)
        labels.extend([index] * len(class_files))

    return ScanResult(
        root=root,
        files=files,
        labels=np.asarray(labels, dtype=np.int64),
        class_names=names,
        ignored=ignored,
        missing_classes=missing_classes,
        unexpected_folders=unexpected_folders,
    )


# ---------------------------------------------------------------------------------------------
# Decoding one file
# ---------------------------------------------------------------------------------------------



@functools.cache
def _open_formats() -> tuple[str, ...]:
    """Return the allowed formats that this Pillow installation can open."""
    Image.init()
    return tuple(name for name in ALLOWED_FORMATS if name in Image.OPEN)


def _sniff_content(path: Path) -> str:
    """Guess what a file that Pillow cannot identify holds, for the report."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return "not an image"
    for signature, format_name in _FILE_SIGNATURES:
        if head.startswith(signature):
            return f"corrupt {format_name} file (its header cannot be read)"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "corrupt WEBP file (its header cannot be read)"
    if head.startswith(b"version https://git-lfs"):
        return "not an image (a Git LFS pointer: the real file was never downloaded)"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "not an image (an HTML page, probably a failed download)"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return "not an image (a text file)"
    return "not an image (unrecognised data)"


def _format_reason(format_name: str | None, suffix: str) -> str | None:
    """Return a reason when the file's content does not match its extension."""
    expected = EXPECTED_FORMATS.get(suffix.lower())
    if expected is not None and format_name in expected:
        return None
    if not suffix:
        return f"{format_name} data with no file extension"
    return f"{format_name} data named {suffix}"


def _sixteen_bit_to_grayscale(image: Image.Image) -> Image.Image:
    """Scale 16-bit samples (0-65535) to 8 bits (0-255), rounding, as an ``L`` image."""
    samples = np.asarray(image).astype(np.float32)
    scaled = np.clip(np.rint(samples / 257.0), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled)


def _float_to_grayscale(image: Image.Image) -> Image.Image:
    """Scale floating-point samples (0-1, or 0-255 when larger) to an ``L`` image."""
    samples = np.nan_to_num(np.asarray(image, dtype=np.float32))
    if samples.size and samples.max() <= 1.0:
        samples = samples * 255.0
    return Image.fromarray(np.clip(np.rint(samples), 0, 255).astype(np.uint8))


def _composite_alpha(image: Image.Image, mode_name: str) -> tuple[Image.Image, str]:
    """Flatten an image with transparency, saying whether alpha was dropped or composited."""
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    lowest, _highest = alpha.getextrema()
    if lowest == 255:
        return rgba.convert("RGB"), f"{mode_name} with a fully opaque alpha channel: alpha dropped"
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=alpha)
    return background, f"{mode_name}: transparent pixels composited on white"


def _reduced_bit_depth_reason(image: Image.Image, head: bytes) -> str | None:
    """Say when Pillow silently reduced 16-bit colour samples to 8 bits, or return None.

    Pillow opens a 16-bit (48-bit) RGB or 64-bit RGBA PNG or TIFF as an ordinary 8-bit image,
    keeping the high byte of each sample; nothing in the decoded image shows it. The bit depth
    is read from the file itself: the PNG header's bit-depth byte, or the TIFF BitsPerSample tag.
    16-bit grayscale is not reduced by Pillow (it opens as ``I;16``) and is reported by
    :func:`_to_rgb` instead.
    """
    if image.format == "PNG":
        if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
            return None
        bit_depth, colour_type = head[24], head[25]
        if bit_depth == 16 and colour_type in _PNG_COLOUR_TYPES:
            return f"16-bit {_PNG_COLOUR_TYPES[colour_type]} reduced to 8-bit"
        return None
    if image.format == "TIFF" and image.mode not in _SIXTEEN_BIT_MODES and image.mode != "F":
        try:
            bits = image.tag_v2.get(_TIFF_BITS_PER_SAMPLE)
        except AttributeError:
            return None
        if isinstance(bits, int):
            bits = (bits,)
        if bits and all(isinstance(value, int) for value in bits) and max(bits) > 8:
            return f"{max(bits)}-bit {image.mode} reduced to 8-bit"
    return None


def _to_rgb(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Convert any Pillow mode to RGB, returning a reason when a conversion was needed."""
    mode = image.mode
    if mode == "RGB":
        return image, None
    if mode in _SIXTEEN_BIT_MODES:
        bits = "32-bit" if mode == "I" else "16-bit"
        return _sixteen_bit_to_grayscale(image).convert("RGB"), (
            f"{bits} grayscale ({mode}) scaled to 8-bit RGB"
        )
    if mode == "F":
        return _float_to_grayscale(image).convert("RGB"), "floating-point grayscale (F) scaled to RGB"
    if mode in ("RGBA", "RGBa"):
        return _composite_alpha(image, "RGBA")
    if mode in ("LA", "La"):
        return _composite_alpha(image, "grayscale with alpha (LA)")
    if mode == "PA" or (mode == "P" and "transparency" in image.info):
        return _composite_alpha(image, "palette with transparency (P)")
    if mode == "P":
        return image.convert("RGB"), "palette (P) converted to RGB"
    if mode == "L":
        return image.convert("RGB"), "grayscale (L) converted to RGB"
    if mode == "1":
        return image.convert("L").convert("RGB"), "black-and-white (1-bit) converted to RGB"
    if mode == "CMYK":
        return image.convert("RGB"), "CMYK converted to RGB"
    return image.convert("RGB"), f"{mode} converted to RGB"


def _decode(path: Path, image_size: int, max_pixels: int) -> tuple[np.ndarray | None, ImageIssue | None]:
    """Decode one file; the body of :func:`decode_image`, without warning handling."""
    if not isinstance(path, Path):
        path = Path(path)
    reasons = []
    try:
        handle = open(path, "rb")
    except OSError as error:
        return None, ImageIssue(path, f"cannot be read ({error.strerror or error})", SKIPPED)
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return None, ImageIssue(path, "empty file (0 bytes)", SKIPPED)
        head = handle.read(_HEADER_BYTES)
        handle.seek(0)
        try:
            image = Image.open(handle, formats=_open_formats())
        except UnidentifiedImageError:
            return None, ImageIssue(path, _sniff_content(path), SKIPPED)
        except Image.DecompressionBombError as error:
            return None, ImageIssue(path, f"too large, possible decompression bomb ({error})", SKIPPED)
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            return None, ImageIssue(path, f"corrupt (its header cannot be read: {error})", SKIPPED)

        with image:
            format_reason = _format_reason(image.format, path.suffix)
            if format_reason is not None:
                reasons.append(format_reason)
            depth_reason = _reduced_bit_depth_reason(image, head)
            if depth_reason is not None:
                reasons.append(depth_reason)
            width, height = image.size
            if width * height > max_pixels:
                return None, ImageIssue(
                    path,
                    f"too large ({width}x{height} = {width * height:,} pixels, over the kit's limit "
                    f"of {max_pixels:,}): possible decompression bomb",
                    SKIPPED,
                )
            if width == 0 or height == 0:
                return None, ImageIssue(path, f"corrupt (size {width}x{height})", SKIPPED)
            if image.format in ("JPEG", "MPO"):
                # Decode at 1/2, 1/4 or 1/8 scale in the DCT domain when that stays larger than
                # the target: much faster than decoding full size, and just as sharp after resizing.
                image.draft("RGB", (image_size, image_size))
            try:
                if image.format in ("GIF", "PNG", "WEBP") and getattr(image, "is_animated", False):
                    reasons.append(f"animated {image.format}: first frame used")
                    image.seek(0)
                image.load()
            except MemoryError:
                return None, ImageIssue(path, "too large to decode in memory", SKIPPED)
            except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as error:
                message = str(error)
                if "truncated" in message.lower():
                    return None, ImageIssue(path, "truncated (the file ends too early)", SKIPPED)
                return None, ImageIssue(path, f"corrupt ({message or type(error).__name__})", SKIPPED)

            orientation = 1
            if "exif" in image.info or image.format == "TIFF":
                try:
                    orientation = image.getexif().get(0x0112, 1)
                except Exception:
                    # Broken EXIF data does not make the pixels unusable.
                    orientation = 1
            if orientation in (2, 3, 4, 5, 6, 7, 8):
                image = ImageOps.exif_transpose(image)

            rgb_image, conversion_reason = _to_rgb(image)
            if conversion_reason is not None:
                reasons.append(conversion_reason)
            if rgb_image.size != (image_size, image_size):
                rgb_image = rgb_image.resize(
                    (image_size, image_size), Image.Resampling.BILINEAR, reducing_gap=3.0
                )
            array = np.asarray(rgb_image, dtype=np.uint8)

    if array.shape != (image_size, image_size, 3):
        return None, ImageIssue(path, f"unexpected decoded shape {array.shape}", SKIPPED)
    issue = ImageIssue(path, "; ".join(reasons), CONVERTED) if reasons else None
    return array, issue


def _decode_guarded(path: Path, image_size: int, max_pixels: int) -> tuple[np.ndarray | None, ImageIssue | None]:
    """Decode one file, turning any unexpected error into a skipped-file issue."""
    try:
        return _decode(path, image_size, max_pixels)
    except Exception as error:
        # One strange file must never stop the whole dataset from loading.
        return None, ImageIssue(path, f"cannot be decoded ({type(error).__name__}: {error})", SKIPPED)


@contextlib.contextmanager
def _quiet_pillow():
    """Silence Pillow's decompression-bomb warning while the kit applies its own limit.

    ``warnings.catch_warnings`` is not thread-safe, so it is entered once, in the calling
    thread, around a whole batch of decoding; the worker threads share its filters.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _resolve_max_pixels(max_pixels: int | None) -> int:
    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    return check_integer("max_pixels", limit, minimum=1)


def decode_image(
    path: str | os.PathLike, image_size: int, *, max_pixels: int | None = None
) -> tuple[np.ndarray | None, ImageIssue | None]:
    """Decode one file into a ``(image_size, image_size, 3)`` ``uint8`` RGB array.

    Returns ``(array, None)`` for a plain RGB image, ``(array, issue)`` when the file needed a
    conversion (``issue.action == "converted"``: CMYK, grayscale, palette, transparency,
    16-bit samples, a format that does not match the extension...) and ``(None, issue)`` when
    it cannot be used (``issue.action == "skipped"``: empty, not an image, corrupt, truncated,
    or larger than ``max_pixels``, which defaults to the kit's :data:`MAX_IMAGE_PIXELS`).

    The whole image is resized to a square (no cropping). JPEG files are first decoded at a
    reduced scale in the DCT domain (``Image.draft``) when the target size allows it.
    Truncated files are detected by fully decoding them; Pillow's global
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` and ``Image.MAX_IMAGE_PIXELS`` are never changed.
    """
    image_size = check_integer("image_size", image_size, minimum=1)
    limit = _resolve_max_pixels(max_pixels)
    with _quiet_pillow():
        return _decode_guarded(path, image_size, limit)


# ---------------------------------------------------------------------------------------------
# Decoding many files, with a cache
# ---------------------------------------------------------------------------------------------


def default_workers() -> int:
    """Return the default number of decoding threads: the usable CPU cores plus two, at most 16.

    Decoding is CPU-bound on a local disk, where threads beyond the cores cost a few per cent;
    the two extra threads keep the cores busy while files are read from slow storage such as
    a Google Drive folder mounted in Colab, or while other programs compete for the cores.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return min(16, cores + 2)


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


def _decode_all(
    paths: Sequence[Path], image_size: int, max_pixels: int, workers: int, progress: bool
) -> tuple[np.ndarray, list[int], list[tuple[int, ImageIssue]]]:
    """Decode every file in parallel threads; return the kept images, positions and issues."""
    buffer = np.empty((len(paths), image_size, image_size, 3), dtype=np.uint8)
    kept: list[int] = []
    issues: list[tuple[int, ImageIssue]] = []

    def decode_into_buffer(position: int) -> ImageIssue | None:
        array, issue = _decode_guarded(paths[position], image_size, max_pixels)
        if array is not None:
            buffer[position] = array
        return issue

    progress_bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            progress_bar = tqdm(total=len(paths), desc="Decoding images", unit="image")

    def decode_chunk(positions: range) -> list[ImageIssue | None]:
        return [decode_into_buffer(position) for position in positions]

    # Chunks of files, rather than single files, keep the thread pool's overhead small.
    chunk_size = max(1, min(32, len(paths) // (workers * 8)))
    chunks = [range(start, min(start + chunk_size, len(paths))) for start in range(0, len(paths), chunk_size)]
    try:
        with _quiet_pillow():
            if workers == 1 or len(chunks) < 2:
                results = map(decode_chunk, chunks)
                executor = None
            else:
                # Pillow releases the GIL while it decodes and resizes, so threads run in
                # parallel without the start-up and copying costs of processes.
                executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
                results = executor.map(decode_chunk, chunks)
            try:
                for positions, chunk_issues in zip(chunks, results):
                    for position, issue in zip(positions, chunk_issues):
                        if issue is not None:
                            issues.append((position, issue))
                        if issue is None or issue.action == CONVERTED:
                            kept.append(position)
                    if progress_bar is not None:
                        progress_bar.update(len(positions))
            finally:
                if executor is not None:
                    # After an interruption (Ctrl-C), drop the chunks not started yet.
                    executor.shutdown(wait=True, cancel_futures=True)
    finally:
        if progress_bar is not None:
            progress_bar.close()

    # Move the kept rows to the front, in place: a copy would double the peak memory.
    for row, position in enumerate(kept):
        if row != position:
            buffer[row] = buffer[position]
    return buffer[: len(kept)], kept, issues


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
    (uncompressed, so ``np.load(..., mmap_mode="r")`` works) with a ``.json`` index of paths,
    labels and issues. The key hashes the cache name, the image size and every file's path
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

    images, kept, issues_by_position = _decode_all(path_list, image_size, limit, workers, progress)

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


# ---------------------------------------------------------------------------------------------
# The verify report
# ---------------------------------------------------------------------------------------------


def _display_path(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


@dataclasses.dataclass
class VerifyReport:
    """What :func:`verify_image_folder` found: usable images per class, issues, clutter."""

    root: Path
    class_names: tuple[str, ...]
    root_exists: bool
    counts: dict[str, int]
    issues: list[ImageIssue]
    ignored: list[tuple[Path, str]]
    missing_classes: list[str]
    unexpected_folders: list[Path]
    image_size: int
    problem: str | None = None

    @property
    def empty_classes(self) -> list[str]:
        """Declared classes whose folder exists but holds no usable image."""
        return [
            name for name in self.class_names
            if name not in self.missing_classes and self.counts.get(name, 0) == 0
        ]

    @property
    def total_images(self) -> int:
        return sum(self.counts.values())

    @property
    def skipped(self) -> list[ImageIssue]:
        return [issue for issue in self.issues if issue.action == SKIPPED]

    @property
    def converted(self) -> list[ImageIssue]:
        return [issue for issue in self.issues if issue.action == CONVERTED]

    @property
    def ok(self) -> bool:
        """True when the root exists and every declared class has at least one usable image."""
        return self.root_exists and self.problem is None and all(
            self.counts.get(name, 0) > 0 for name in self.class_names
        )

    def _nested_hint(self) -> str | None:
        """Suggest the right root when the class folders sit one level deeper."""
        for folder in self.unexpected_folders:
            inside = [name for name in self.class_names if (folder / name).is_dir()]
            if inside:
                return f"The class folders seem to be inside {folder}: pass that folder as the root."
        return None

    def _ignored_lines(self, shown_per_reason: int = 10) -> list[str]:
        """List the ignored entries; a reason shared by many entries shows a few and a count."""
        lines = []
        shown: dict[str, int] = {}
        hidden: dict[str, int] = {}
        for path, reason in self.ignored:
            if shown.get(reason, 0) >= shown_per_reason:
                hidden[reason] = hidden.get(reason, 0) + 1
                continue
            shown[reason] = shown.get(reason, 0) + 1
            name = _display_path(path, self.root)
            if path.is_dir() and not path.is_symlink():
                name += "/"
            lines.append(f"  {name}: {reason}")
        lines.extend(f"  ... and {count} more: {reason}" for reason, count in hidden.items())
        return lines

    def format(self) -> str:
        """Return the report as text: classes, skipped and converted files, ignored entries."""
        lines = [f"Image folder: {self.root}"]
        if not self.root_exists:
            lines.append(
                f"NOT OK: the folder {self.root} does not exist. Download or generate the dataset "
                "first, or check the data root setting (PAYSAGES_DATA_ROOT)."
            )
            return "\n".join(lines)
        if self.problem is not None:
            lines.append(f"NOT OK: {self.problem}")
            return "\n".join(lines)

        width = max(len(name) for name in self.class_names)
        lines.append(f"Classes ({len(self.class_names)} declared, {self.total_images} usable images at {self.image_size}x{self.image_size}):")
        for name in self.class_names:
            if name in self.missing_classes:
                note = "MISSING: no folder"
            elif self.counts.get(name, 0) == 0:
                note = "EMPTY: no usable image"
            else:
                note = ""
            count = self.counts.get(name, 0)
            lines.append(f"  {name:<{width}}  {count:>6} images  {note}".rstrip())

        skipped, converted = self.skipped, self.converted
        lines.append(f"Skipped files ({len(skipped)}), not used:" if skipped else "Skipped files: none")
        lines.extend(f"  {_display_path(issue.path, self.root)}: {issue.reason}" for issue in skipped)
        lines.append(f"Converted files ({len(converted)}), used:" if converted else "Converted files: none")
        lines.extend(f"  {_display_path(issue.path, self.root)}: {issue.reason}" for issue in converted)
        lines.append(f"Ignored entries ({len(self.ignored)}):" if self.ignored else "Ignored entries: none")
        lines.extend(self._ignored_lines())

        if self.ok:
            lines.append(f"OK: all {len(self.class_names)} classes have usable images.")
        else:
            problems = []
            if self.missing_classes:
                problems.append(f"class folder(s) missing: {', '.join(self.missing_classes)}")
            if self.empty_classes:
                problems.append(f"class(es) with no usable image: {', '.join(self.empty_classes)}")
            lines.append("NOT OK: " + "; ".join(problems) + ".")
            hint = self._nested_hint()
            if hint is not None:
                lines.append(hint)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def verify_image_folder(
    root: str | os.PathLike,
    class_names: Iterable[str],
    *,
    image_size: int = 64,
    workers: int | None = None,
    progress: bool = False,
) -> VerifyReport:
    """Decode every file of an image folder and report what is usable, converted or skipped.

    Never raises for a missing folder or bad files: the report says so (``report.ok`` is False
    and ``report.format()`` explains). Invalid ``class_names`` still raise ``ValueError``.
    """
    names = _check_class_names(class_names)
    image_size = check_integer("image_size", image_size, minimum=1)
    root_path = Path(root).expanduser()
    empty_report = dict(
        root=root_path, class_names=names, counts={name: 0 for name in names}, issues=[],
        ignored=[], missing_classes=list(names), unexpected_folders=[], image_size=image_size,
    )
    if not root_path.exists():
        return VerifyReport(root_exists=False, **empty_report)
    try:
        scan = scan_image_folder(root_path, names)
    except DatasetError as error:
        return VerifyReport(root_exists=True, problem=str(error), **empty_report)

    loaded = load_images(scan.files, image_size, labels=scan.labels, workers=workers, progress=progress)
    usable = np.bincount(loaded.labels, minlength=len(names)) if len(loaded.paths) else np.zeros(len(names), int)
    return VerifyReport(
        root=root_path,
        class_names=names,
        root_exists=True,
        counts={name: int(count) for name, count in zip(names, usable)},
        issues=loaded.issues,
        ignored=scan.ignored,
        missing_classes=scan.missing_classes,
        unexpected_folders=scan.unexpected_folders,
        image_size=image_size,
    )
