"""Fixtures of the data tests: image folders and a local HTTP server (../shared: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paysages.data import decode
from tests.helpers.http import LocalServer, talk_directly_without_waiting
from tests.helpers.images import CLASS_NAMES, TEST_PIXEL_LIMIT, build_messy_folder, noise_image


@pytest.fixture(autouse=True)
def no_proxy_and_no_wait(monkeypatch):
    """Talk to 127.0.0.1 directly (never through a proxy) and retry without waiting."""
    talk_directly_without_waiting(monkeypatch)


@pytest.fixture
def server():
    with LocalServer(lifetime=60) as local_server:
        yield local_server


@pytest.fixture
def messy_folder(tmp_path, monkeypatch) -> Path:
    """The messy folder, with the kit-local pixel limit lowered so that bomb.png plays the bomb."""
    monkeypatch.setattr(decode, "MAX_IMAGE_PIXELS", TEST_PIXEL_LIMIT)
    return build_messy_folder(tmp_path / "landscapes")


@pytest.fixture
def clean_folder(tmp_path) -> Path:
    root = tmp_path / "clean"
    for class_index, class_name in enumerate(CLASS_NAMES):
        (root / class_name).mkdir(parents=True)
        for number in range(2):
            noise_image(10 * class_index + number).save(root / class_name / f"image_{number}.jpg")
    return root
