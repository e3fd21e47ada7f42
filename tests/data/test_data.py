"""High-level data access: never a silent fallback when the real dataset is absent."""

import pytest

from paysages.data import ensure_dataset
from paysages.errors import DatasetError
from paysages.settings import get_settings


def test_offline_without_the_real_dataset_says_what_to_do(tmp_path):
    """Offline and without the Landscapes files, is the error explicit about how to get them?"""
    settings = get_settings("full", environ={}, data_root=tmp_path, offline=True)
    with pytest.raises(DatasetError) as error:
        ensure_dataset(settings)
    message = str(error.value)
    assert "paysages data download" in message and str(tmp_path) in message
    assert "PAYSAGES_DATASET=sample" in message
    assert not any(tmp_path.iterdir()), "nothing may be created or generated in its place"


def test_sample_dataset_is_generated_once_and_reused(tmp_path):
    """Is the sample dataset generated on first use and left untouched afterwards?"""
    settings = get_settings("fast", environ={}, data_root=tmp_path, sample_per_class=5)
    folder = ensure_dataset(settings)
    stamps = {path: path.stat().st_mtime_ns for path in folder.rglob("*.jpg")}
    assert len(stamps) >= 7 * 3
    assert ensure_dataset(settings) == folder
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*.jpg")} == stamps
