"""Image helpers shared by the data tests: generated pictures and the loader's former decode path."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps


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
