"""Tests of the embedded procedural sample dataset (paysages.data.sample): the dataset on disk."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paysages.data import sample
from paysages.data.sample import (
    REAL_CLASS_COUNTS,
    SAMPLE_CLASS_NAMES,
    generate_sample_dataset,
    image_generator,
    sample_class_counts,
)
from paysages.errors import DatasetError
from paysages.registry import get_dataset_spec
from tests.helpers.images import CLASS_NAMES


FILE_NAME_PATTERN = re.compile(r"^(?P<class_name>[a-z]+)_(?P<number>\d{4})\.jpg$")


def file_hashes(folder: Path) -> dict[str, str]:
    """Return the sha256 of every file under ``folder``, keyed by relative path."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def modification_times(folder: Path) -> dict[str, int]:
    return {
        path.relative_to(folder).as_posix(): path.stat().st_mtime_ns for path in sorted(folder.rglob("*"))
    }


def leftover_siblings(out_dir: Path) -> list[str]:
    """Temporary folders a generation left beside ``out_dir`` (there must be none)."""
    return sorted(path.name for path in out_dir.parent.iterdir() if path.name.startswith(f".{out_dir.name}."))


def test_class_names_match_the_registry_and_the_real_dataset():
    assert SAMPLE_CLASS_NAMES == tuple(sorted(SAMPLE_CLASS_NAMES))
    assert SAMPLE_CLASS_NAMES == get_dataset_spec("sample").class_names
    assert SAMPLE_CLASS_NAMES == get_dataset_spec("landscapes").class_names
    assert SAMPLE_CLASS_NAMES == CLASS_NAMES
    assert REAL_CLASS_COUNTS == get_dataset_spec("landscapes").expected_counts


def test_class_counts_are_imbalanced_like_the_real_dataset():
    counts = sample_class_counts(100)
    assert counts == {
        "city": 62,
        "field": 92,
        "forest": 122,
        "lake": 106,
        "mountain": 124,
        "ocean": 85,
        "road": 110,
    }
    assert list(counts) == list(SAMPLE_CLASS_NAMES)
    assert abs(sum(counts.values()) / len(counts) - 100) < 1
    real_order = sorted(REAL_CLASS_COUNTS, key=REAL_CLASS_COUNTS.get)
    assert sorted(counts, key=counts.get) == real_order
    # Smaller sizes keep the same order (ties allowed once rounding bites).
    for per_class in (1, 3, 10, 40, 250):
        counts = sample_class_counts(per_class)
        ordered = [counts[name] for name in real_order]
        assert ordered == sorted(ordered), per_class
        assert min(counts.values()) >= 1


@pytest.mark.parametrize("per_class", [0, -3, 2.5, True, "100", None])
def test_class_counts_reject_bad_values(per_class):
    with pytest.raises(ValueError, match="per_class must be an integer >= 1, got"):
        sample_class_counts(per_class)


def test_each_image_has_its_own_generator():
    draws = {
        (class_name, number): image_generator(42, class_name, number).integers(0, 2**32)
        for class_name in SAMPLE_CLASS_NAMES
        for number in (1, 2, 3)
    }
    assert len(set(draws.values())) == len(draws)
    assert image_generator(42, "lake", 2).integers(0, 2**32) == draws[("lake", 2)]


def test_folder_layout_and_counts(sample_dataset_dir):
    expected = sample_class_counts(40)
    class_dirs = sorted(path.name for path in sample_dataset_dir.iterdir() if path.is_dir())
    assert class_dirs == sorted([*SAMPLE_CLASS_NAMES, "licenses"])
    for class_name in SAMPLE_CLASS_NAMES:
        names = sorted(path.name for path in (sample_dataset_dir / class_name).iterdir())
        assert names == [f"{class_name}_{number:04d}.jpg" for number in range(1, expected[class_name] + 1)]
        for name in names:
            match = FILE_NAME_PATTERN.match(name)
            assert match and match["class_name"] == class_name
    real_order = sorted(REAL_CLASS_COUNTS, key=REAL_CLASS_COUNTS.get)
    found = [len(list((sample_dataset_dir / name).glob("*.jpg"))) for name in real_order]
    assert found == sorted(found)
    assert found[0] < found[-1]


def test_sample_info_describes_the_folder(sample_dataset_dir):
    info = json.loads((sample_dataset_dir / "sample_info.json").read_text(encoding="utf-8"))
    assert info["generator_version"] == sample.GENERATOR_VERSION
    assert info["seed"] == 7
    assert info["per_class"] == 40
    assert info["image_size"] == 128
    assert info["counts"] == sample_class_counts(40)
    assert info["total"] == sum(sample_class_counts(40).values())
    assert info["class_names"] == list(SAMPLE_CLASS_NAMES)
    assert sample.read_sample_info(sample_dataset_dir) == info


def test_files_decode_as_rgb_jpeg_of_the_requested_size(sample_dataset_dir):
    for path in sorted(sample_dataset_dir.glob("*/*.jpg")):
        with Image.open(path) as image:
            assert image.format == "JPEG", path
            assert image.mode == "RGB", path
            assert image.size == (128, 128), path
            image.load()


def test_licence_metadata_uses_the_ml5js_format(sample_dataset_dir, shared_licences_dir):
    real_entry = next(iter(json.loads((shared_licences_dir / "lake_photos_info.json").read_text()).values()))
    landscapes = get_dataset_spec("landscapes")
    assert landscapes.licences[sample.SAMPLE_LICENCE_ID].name.startswith("CC0")
    for class_name in SAMPLE_CLASS_NAMES:
        path = sample_dataset_dir / "licenses" / f"{class_name}_photos_info.json"
        assert path.name == landscapes.metadata_filename(class_name)
        metadata = json.loads(path.read_text(encoding="utf-8"))
        files = sorted(image.name for image in (sample_dataset_dir / class_name).glob("*.jpg"))
        assert sorted(metadata) == files, "one entry per image, keyed by file name"
        for file_name, entry in metadata.items():
            assert set(entry) == set(real_entry)
            assert entry["keyword"] == class_name
            assert entry["clean_name"] == file_name
            assert entry["license"] == "9"
            assert entry["url"] == entry["name"] == f"sample://{class_name}/{file_name}"
            assert entry["owner"] == "paysages sample generator"
            assert entry["owner_id"] == "paysages"
            number = int(FILE_NAME_PATTERN.match(file_name)["number"])
            assert entry["title"] == f"Synthetic {class_name} #{number}"


def test_same_seed_gives_identical_files_and_another_seed_different_images(tmp_path):
    first = generate_sample_dataset(tmp_path / "first", per_class=3, seed=11, image_size=64)
    second = generate_sample_dataset(tmp_path / "second", per_class=3, seed=11, image_size=64)
    other = generate_sample_dataset(tmp_path / "other", per_class=3, seed=12, image_size=64)
    assert first == tmp_path / "first"
    first_hashes = file_hashes(first)
    assert len([name for name in first_hashes if name.endswith(".jpg")]) == sum(
        sample_class_counts(3).values()
    )
    assert file_hashes(second) == first_hashes
    other_hashes = file_hashes(other)
    assert set(other_hashes) == set(first_hashes)
    images = [name for name in first_hashes if name.endswith(".jpg")]
    assert all(other_hashes[name] != first_hashes[name] for name in images)


def test_changing_per_class_keeps_the_images_both_sizes_share(tmp_path):
    small = file_hashes(generate_sample_dataset(tmp_path / "small", per_class=2, seed=5, image_size=48))
    large = file_hashes(generate_sample_dataset(tmp_path / "large", per_class=4, seed=5, image_size=48))
    shared = [name for name in small if name.endswith(".jpg")]
    assert shared and all(large[name] == small[name] for name in shared)


def test_rerun_with_the_same_parameters_writes_nothing(tmp_path):
    out_dir = generate_sample_dataset(tmp_path / "sample", per_class=3, seed=1, image_size=48)
    before = modification_times(out_dir)
    start = time.perf_counter()
    assert generate_sample_dataset(out_dir, per_class=3, seed=1, image_size=48) == out_dir
    assert time.perf_counter() - start < 1.0
    assert modification_times(out_dir) == before
    assert leftover_siblings(out_dir) == []


def test_new_parameters_or_a_missing_file_regenerate(tmp_path):
    out_dir = generate_sample_dataset(tmp_path / "sample", per_class=2, seed=1, image_size=48)
    old_hashes = file_hashes(out_dir)
    generate_sample_dataset(out_dir, per_class=2, seed=2, image_size=48)
    assert sample.read_sample_info(out_dir)["seed"] == 2
    assert file_hashes(out_dir)["city/city_0001.jpg"] != old_hashes["city/city_0001.jpg"]

    (out_dir / "lake" / "lake_0001.jpg").unlink()
    (out_dir / "road" / "stray.jpg").write_bytes(b"not an image")
    generate_sample_dataset(out_dir, per_class=2, seed=2, image_size=48)
    assert (out_dir / "lake" / "lake_0001.jpg").is_file()
    assert not (out_dir / "road" / "stray.jpg").exists()
    assert leftover_siblings(out_dir) == []

    before = modification_times(out_dir)
    generate_sample_dataset(out_dir, per_class=2, seed=2, image_size=48, overwrite=True)
    assert modification_times(out_dir) != before
    assert leftover_siblings(out_dir) == []


def test_a_failure_leaves_no_half_written_dataset(tmp_path, monkeypatch):
    out_dir = generate_sample_dataset(tmp_path / "sample", per_class=2, seed=1, image_size=48)
    before = file_hashes(out_dir)
    drawn = []
    real_render_scene = sample.render_scene

    def failing_render_scene(class_name, rng, image_size):
        drawn.append(class_name)
        if len(drawn) > 5:
            raise RuntimeError("simulated crash")
        return real_render_scene(class_name, rng, image_size)

    monkeypatch.setattr(sample, "render_scene", failing_render_scene)
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_sample_dataset(out_dir, per_class=2, seed=9, image_size=48)
    assert file_hashes(out_dir) == before, "the previous dataset must be left untouched"
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_sample_dataset(tmp_path / "fresh", per_class=2, seed=9, image_size=48)
    assert not (tmp_path / "fresh").exists()
    assert leftover_siblings(out_dir) == [] and leftover_siblings(tmp_path / "fresh") == []


def test_a_folder_that_is_not_a_sample_dataset_is_only_replaced_on_request(tmp_path):
    out_dir = tmp_path / "photos"
    out_dir.mkdir()
    (out_dir / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(DatasetError, match="overwrite=True"):
        generate_sample_dataset(out_dir, per_class=1, image_size=32)
    assert (out_dir / "holiday.jpg").read_bytes() == b"precious"
    generate_sample_dataset(out_dir, per_class=1, image_size=32, overwrite=True)
    assert not (out_dir / "holiday.jpg").exists()
    assert sample.read_sample_info(out_dir)["per_class"] == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    generate_sample_dataset(empty, per_class=1, image_size=32)
    assert (empty / "sample_info.json").is_file()


@pytest.mark.parametrize(
    "arguments",
    [
        {"per_class": 0},
        {"per_class": -1},
        {"per_class": 1.5},
        {"image_size": 31},
        {"image_size": 0},
        {"seed": -1},
        {"seed": "42"},
    ],
)
def test_generate_rejects_bad_arguments(tmp_path, arguments):
    (name,) = arguments
    with pytest.raises(ValueError, match=f"{name} must be an integer >= "):
        generate_sample_dataset(tmp_path / "sample", **arguments)
    assert list(tmp_path.iterdir()) == []


def load_resized(folder: Path, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Load every class folder as float arrays resized to ``image_size`` (PIL only)."""
    images, labels = [], []
    for label, class_name in enumerate(SAMPLE_CLASS_NAMES):
        for path in sorted((folder / class_name).glob("*.jpg")):
            with Image.open(path) as image:
                resized = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
                images.append(np.asarray(resized, dtype=np.float32))
            labels.append(label)
    return np.stack(images), np.asarray(labels)


@pytest.mark.slow
def test_a_small_cnn_learns_the_sample_but_not_perfectly(tmp_path):
    keras = pytest.importorskip("keras")
    model_selection = pytest.importorskip("sklearn.model_selection")

    folder = generate_sample_dataset(tmp_path / "sample", per_class=100, seed=42)
    images, labels = load_resized(folder, 64)
    train_x, val_x, train_y, val_y = model_selection.train_test_split(
        images, labels, test_size=0.2, stratify=labels, random_state=0
    )

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(64, 64, 3))
    hidden = keras.layers.Rescaling(1.0 / 255)(inputs)
    for filters in (16, 32, 64):
        hidden = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(hidden)
        hidden = keras.layers.MaxPooling2D()(hidden)
    hidden = keras.layers.Flatten()(hidden)
    hidden = keras.layers.Dropout(0.3)(hidden)
    outputs = keras.layers.Dense(len(SAMPLE_CLASS_NAMES), activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(train_x, train_y, epochs=10, batch_size=32, verbose=0)

    predictions = model.predict(val_x, verbose=0).argmax(axis=1)
    accuracy = float((predictions == val_y).mean())
    confusion = np.zeros((len(SAMPLE_CLASS_NAMES),) * 2, dtype=int)
    np.add.at(confusion, (val_y, predictions), 1)
    report = f"validation accuracy {accuracy:.3f}; confusion (rows = true {SAMPLE_CLASS_NAMES}):\n{confusion}"
    print(report)
    assert accuracy >= 0.60, "the sample must be learnable: " + report
    assert accuracy < 0.97, "the sample must not be trivially separable: " + report
    assert len(set(predictions.tolist())) >= 6, "the network must not ignore classes: " + report
