"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY_DIR = Path(__file__).resolve().parents[1]
SHARED_LICENCES_DIR = REPOSITORY_DIR.parent / "shared" / "landscapes" / "licenses"

# Keep TensorFlow quiet and deterministic enough for tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def repository_dir() -> Path:
    return REPOSITORY_DIR


@pytest.fixture(scope="session")
def shared_licences_dir() -> Path:
    """The ml5js licence metadata files, kept beside the project in ../shared (never copied in)."""
    if not SHARED_LICENCES_DIR.is_dir():
        pytest.fail(
            f"{SHARED_LICENCES_DIR} is missing: the tests need the ml5js licence metadata "
            "checked out beside the project as ../shared/landscapes/licenses."
        )
    return SHARED_LICENCES_DIR


@pytest.fixture(scope="session")
def sample_dataset_dir(tmp_path_factory) -> Path:
    """A small sample dataset generated once per test session (about 40 images per class)."""
    from paysages.data.sample import generate_sample_dataset

    out_dir = tmp_path_factory.mktemp("sample") / "sample"
    generate_sample_dataset(out_dir, per_class=40, seed=7)
    return out_dir
