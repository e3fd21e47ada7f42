"""Decode image files into ``(size, size, 3)`` ``uint8`` RGB arrays, saying what each needed.

A ``.jpg`` can hold PNG data, CMYK, grayscale, transparency or 16-bit samples, and downloads
get cut short. :func:`decode_image` decodes one file, or reports why it cannot; a file that
needed a conversion is reported too. :func:`decode_files` decodes many in parallel threads.

Speed: a JPEG larger than the target is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain
(libjpeg's scaling, through Pillow's ``Image.draft``), then resized exactly to the target. The
result differs from a full-scale decode by about 2 levels of 255 on average (the tests state
the tolerance).

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
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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

# The kit's own pixel limit: a larger image is skipped as a possible decompression bomb.
# It equals Pillow's default; Pillow's global ``Image.MAX_IMAGE_PIXELS`` is never modified.
MAX_IMAGE_PIXELS = 89_478_485

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


def decode_files(
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


def _display_path(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)
