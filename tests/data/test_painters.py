"""Tests of paysages.data.painters: one synthetic scene per call, of the right size, deterministic, quick."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from paysages.data.painters import render_scene
from tests.helpers.images import CLASS_NAMES


@pytest.mark.parametrize("class_name", CLASS_NAMES)
@pytest.mark.parametrize("image_size", [32, 64, 128])
def test_render_scene_returns_an_rgb_image_of_the_requested_size(class_name, image_size):
    image = render_scene(class_name, np.random.default_rng(3), image_size)
    assert isinstance(image, Image.Image)
    assert image.mode == "RGB"
    assert image.size == (image_size, image_size)
    pixels = np.asarray(image, dtype=float)
    assert pixels.std() > 5, "a scene must not be a flat colour"


def test_render_scene_is_deterministic_and_varies_with_the_generator():
    first = np.asarray(render_scene("lake", np.random.default_rng(5), 64))
    again = np.asarray(render_scene("lake", np.random.default_rng(5), 64))
    other = np.asarray(render_scene("lake", np.random.default_rng(6), 64))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_render_scene_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown class"):
        render_scene("desert", np.random.default_rng(0), 64)
    with pytest.raises(ValueError, match="image_size"):
        render_scene("city", np.random.default_rng(0), 31)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        render_scene("city", 42, 64)


def test_scenes_are_drawn_quickly():
    rng = np.random.default_rng(0)
    start = time.process_time()
    for class_name in CLASS_NAMES:
        for _ in range(3):
            render_scene(class_name, rng, 128)
    per_image = (time.process_time() - start) / (3 * len(CLASS_NAMES))
    assert per_image < 0.1, f"{per_image * 1000:.0f} ms per 128-pixel image"
