"""paysages.pretrained: ImageNet online, the kit's own (non-ImageNet) MobileNetV2 base offline."""

import shutil

import numpy as np
import pytest

from paysages import pretrained
from paysages.errors import PrerequisiteError


def test_online_runs_use_imagenet():
    """Online, is the weights argument keras.applications' own "imagenet", with no banner?"""
    weights = pretrained.transfer_weights(offline=False, architecture="EfficientNetB0")
    assert weights.weights == "imagenet" and weights.is_imagenet
    assert pretrained.offline_banner(weights) == ""


def test_offline_runs_use_the_kit_base_labelled_as_not_imagenet():
    """Offline, is the weights argument the shipped file, verified, and loudly not ImageNet?"""
    weights = pretrained.transfer_weights(offline=True)
    assert weights.weights == str(pretrained.source_weights_path())
    assert weights.source == "paysages-source" and not weights.is_imagenet
    assert "PAS sur ImageNet" in weights.label
    banner = pretrained.offline_banner(weights)
    assert "ImageNet ne sont PAS téléchargés" in banner and weights.label in banner


def test_the_record_says_how_the_base_was_trained_and_matches_the_file():
    """Does the record name the script, the source classes (none a landscape class) and the file's SHA-256?"""
    from paysages.files import sha256_of_file
    from paysages.registry import get_dataset_spec

    record = pretrained.source_record()
    assert record["script"] == "tools/pretrain_source_base.py"
    assert not set(record["source_classes"]) & set(get_dataset_spec("landscapes").class_names)
    assert record["weights_sha256"] == sha256_of_file(pretrained.source_weights_path())


@pytest.mark.parametrize("architecture", ["EfficientNetB0", "ResNet50V2"])
def test_another_architecture_offline_starts_from_random_weights_said_loudly(architecture):
    """Offline, does a base the kit has no weights for start from random weights, and say so in French?"""
    weights = pretrained.transfer_weights(offline=True, architecture=architecture)
    assert weights.weights is None and weights.source == "random" and not weights.is_imagenet
    assert f"{architecture} avec des poids ALÉATOIRES" in weights.label
    banner = pretrained.offline_banner(weights)
    assert "ne valent RIEN" in banner and weights.label in banner


def test_an_unknown_architecture_is_refused_with_the_choices():
    """Is a base outside the three the notebook offers refused, listing them?"""
    with pytest.raises(ValueError, match="MobileNetV2, EfficientNetB0, ResNet50V2 ; reçu 'VGG16'"):
        pretrained.transfer_weights(offline=False, architecture="VGG16")


@pytest.mark.parametrize("architecture, black, white", [
    ("MobileNetV2", -1.0, 1.0), ("ResNet50V2", -1.0, 1.0), ("EfficientNetB0", 0.0, 255.0),
])
def test_each_base_names_the_preprocessing_it_expects(architecture, black, white):
    """Does each base's preprocess_input map black and white pixels where that network expects them?"""
    pixels = np.array([[[[0.0, 0.0, 0.0]]], [[[255.0, 255.0, 255.0]]]], dtype="float32")
    received = np.asarray(pretrained.preprocess_input_of(architecture)(pixels.copy()))
    assert received.reshape(2, 3)[:, 0].tolist() == pytest.approx([black, white])


def test_a_damaged_weights_file_is_named_and_refused(tmp_path, monkeypatch):
    """Is a weights file that differs from its record refused, naming the file and both digests?"""
    damaged = tmp_path / pretrained.SOURCE_WEIGHTS_NAME
    shutil.copyfile(pretrained.source_weights_path(), damaged)
    with open(damaged, "r+b") as handle:
        handle.seek(-10, 2)
        handle.write(b"\0" * 10)
    monkeypatch.setattr(pretrained, "source_weights_path", lambda: damaged)
    with pytest.raises(PrerequisiteError, match=f"{damaged.name} est abîmé : SHA-256 attendu"):
        pretrained.transfer_weights(offline=True)


def test_a_missing_weights_file_is_named(tmp_path, monkeypatch):
    """Is a missing weights file reported with its path and the cell that reinstalls the kit?"""
    missing = tmp_path / pretrained.SOURCE_WEIGHTS_NAME
    monkeypatch.setattr(pretrained, "source_weights_path", lambda: missing)
    with pytest.raises(PrerequisiteError, match="introuvable : réinstallez le kit"):
        pretrained.transfer_weights(offline=True)


@pytest.mark.slow
def test_the_kit_base_loads_through_keras_applications_with_trained_statistics():
    """Does MobileNetV2(weights=PATH) load the file's arrays, BatchNorm statistics included?"""
    import h5py
    import keras

    path = pretrained.transfer_weights(offline=True).weights
    base = keras.applications.MobileNetV2(input_shape=(64, 64, 3), include_top=False, weights=path)
    loaded = base.get_weights()
    with h5py.File(path, "r") as stored:
        arrays = []
        stored.visititems(lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    assert len(arrays) == len(loaded)
    loaded_sums = sorted(round(float(np.abs(array).sum()), 2) for array in loaded)
    stored_sums = sorted(round(float(np.abs(array.astype(np.float32)).sum()), 2) for array in arrays)
    assert loaded_sums == stored_sums
    moving_variances = [layer.moving_variance for layer in base.layers
                        if isinstance(layer, keras.layers.BatchNormalization)]
    untouched = [variance for variance in moving_variances if np.allclose(keras.ops.convert_to_numpy(variance), 1.0)]
    assert moving_variances and not untouched
