"""Settings resolution and the dataset registry."""

from pathlib import Path

import pytest

from paysages.registry import get_dataset_spec, load_registry
from paysages.settings import get_settings


def test_fast_mode_is_the_default_and_uses_the_sample(tmp_path):
    """Does a bare call give fast mode on the sample dataset, offline?"""
    settings = get_settings(environ={})
    assert settings.mode == "fast" and settings.dataset == "sample" and settings.offline
    assert settings.image_shape == (64, 64, 3)


def test_full_mode_defaults_to_the_real_dataset_online():
    """Does full mode choose the real dataset, larger images and more epochs than fast mode?"""
    fast, full = get_settings("fast", environ={}), get_settings("full", environ={})
    assert full.dataset == "landscapes" and not full.offline
    assert full.image_size > fast.image_size and full.num_epochs > fast.num_epochs


def test_environment_then_arguments_override_defaults(tmp_path):
    """Do PAYSAGES_* variables override the mode defaults, and keyword arguments override both?"""
    environ = {"PAYSAGES_SEED": "7", "PAYSAGES_DATA_ROOT": str(tmp_path / "data"), "PAYSAGES_OFFLINE": "0"}
    settings = get_settings(environ=environ)
    assert settings.seed == 7 and settings.data_root == (tmp_path / "data").resolve() and not settings.offline
    assert get_settings(environ=environ, seed=3).seed == 3
    assert settings.dataset_dir == settings.data_root / "sample"
    assert settings.split_path.name == "split.csv"


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"PAYSAGES_MODE": "turbo"}, "Unknown mode"),
        ({"PAYSAGES_DATASET": "cifar"}, "Unknown dataset"),
        ({"PAYSAGES_IMAGE_SIZE": "16"}, "at least 32"),
        ({"PAYSAGES_OFFLINE": "maybe"}, "yes/no"),
        ({"PAYSAGES_NUM_EPOCHS": "many"}, "PAYSAGES_NUM_EPOCHS"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(environ, message):
    """Is every invalid setting rejected with a ValueError that names it?"""
    with pytest.raises(ValueError, match=message):
        get_settings(environ=environ)


def test_offline_mode_says_so_loudly():
    """Does the settings summary state that offline mode changes transfer-learning results?"""
    assert "OFFLINE" in get_settings(environ={}).describe()
    assert "OFFLINE" not in get_settings("full", environ={}).describe()


def test_landscapes_registry_entry_matches_the_published_dataset(shared_licences_dir):
    """Does the registry declare the 7 classes, the 3,943 photos and the no-derivative licences?"""
    spec = get_dataset_spec("landscapes")
    assert spec.class_names == ("city", "field", "forest", "lake", "mountain", "ocean", "road")
    assert spec.expected_counts["mountain"] == 696 and spec.expected_total == 3943
    assert spec.no_derivative_licences == {"3", "6"}
    assert spec.archive_filename == "landscapes_small.zip"
    assert all(url.endswith("landscapes_small.zip") for url in spec.archive_urls)
    for class_name in spec.class_names:
        assert (shared_licences_dir / spec.metadata_filename(class_name)).is_file()
        assert spec.metadata_urls(class_name)[0].endswith(f"licenses/{class_name}_photos_info.json")


def test_registry_lists_both_datasets_with_the_same_classes():
    """Do the sample and real datasets share their class names, so one loader serves both?"""
    registry = load_registry()
    assert set(registry) == {"landscapes", "sample"}
    assert registry["sample"].class_names == registry["landscapes"].class_names
    with pytest.raises(Exception, match="Unknown dataset"):
        get_dataset_spec("mnist")
