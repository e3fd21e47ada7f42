"""The split: stratified 80/20, seeded, written once, reused, duplicates reported."""

import shutil
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from paysages import split as split_module
from paysages.data import load_split_arrays, prepare_split
from paysages.errors import PrerequisiteError, SplitError
from paysages.settings import get_settings
from tests.helpers.split import cross_pairs_from_disk

REAL_COUNTS = {"city": 348, "field": 517, "forest": 686, "lake": 595, "mountain": 696, "ocean": 479, "road": 622}


def _real_sized_files():
    classes = [name for name, count in REAL_COUNTS.items() for _ in range(count)]
    paths = [f"{name}/{index:04d}.jpg" for index, name in enumerate(classes)]
    return paths, classes


def test_per_class_proportions_are_within_one_image_of_80_20():
    """Does every class of the real dataset's sizes keep 20% in validation, to one image?"""
    paths, classes = _real_sized_files()
    frame = split_module.make_split_frame(paths, classes, 0.2, seed=1)
    assert sorted(frame["path"]) == sorted(paths)
    validation = frame[frame["subset"] == "validation"]
    for class_name, count in REAL_COUNTS.items():
        assert abs(int((validation["class"] == class_name).sum()) - 0.2 * count) <= 1


def test_split_is_deterministic_by_seed():
    """Does the same seed give the same split and another seed a different one?"""
    paths, classes = _real_sized_files()
    first = split_module.make_split_frame(paths, classes, 0.2, seed=5)
    again = split_module.make_split_frame(paths, classes, 0.2, seed=5)
    other = split_module.make_split_frame(paths, classes, 0.2, seed=6)
    assert first.equals(again)
    assert not first.equals(other)


def test_split_file_round_trip_and_refusal_to_overwrite(tmp_path):
    """Is the split written once: re-writing the same is fine, a different one is refused?"""
    paths = [f"c{index % 3}/image_{index}.jpg" for index in range(30)]
    classes = [f"c{index % 3}" for index in range(30)]
    frame = split_module.make_split_frame(paths, classes, 0.2, seed=0)
    target = tmp_path / "run" / "split.csv"
    split_module.write_split(frame, target)
    assert split_module.read_split(target).equals(frame)
    split_module.write_split(frame, target)
    different = split_module.make_split_frame(paths, classes, 0.2, seed=1)
    with pytest.raises(SplitError, match="different split already exists"):
        split_module.write_split(different, target)
    split_module.write_split(different, target, overwrite=True)
    assert split_module.read_split(target).equals(different)


def test_malformed_split_files_are_reported(tmp_path):
    """Are a missing column, a bad subset and a missing image each reported clearly?"""
    bad = tmp_path / "bad.csv"
    bad.write_text("path,class\na.jpg,city\n")
    with pytest.raises(SplitError, match="lacks the column"):
        split_module.read_split(bad)
    bad.write_text("path,class,subset\na.jpg,city,test\n")
    with pytest.raises(SplitError, match="Unknown subset"):
        split_module.read_split(bad)
    bad.write_text("path,class,subset\ncity/a.jpg,city,train\n")
    with pytest.raises(SplitError, match="missing from"):
        split_module.read_split(bad, dataset_dir=tmp_path)


@pytest.fixture()
def sample_settings(sample_dataset_dir, tmp_path):
    """Settings whose data root holds a private copy of the session's sample dataset."""
    data_root = tmp_path / "data"
    shutil.copytree(sample_dataset_dir, data_root / "sample")
    return get_settings(
        "fast", environ={}, data_root=data_root, run_dir=tmp_path / "run", sample_per_class=40, seed=7
    )


def test_prepared_split_reuses_the_same_arrays(sample_settings):
    """Does loading through the split file give identical arrays on every call?"""
    frame = prepare_split(sample_settings)
    first = load_split_arrays(sample_settings)
    second = load_split_arrays(sample_settings)
    assert np.array_equal(first.x_train, second.x_train)
    assert np.array_equal(first.y_validation, second.y_validation)
    assert first.train_paths == list(frame.loc[frame["subset"] == "train", "path"])
    assert first.x_train.dtype == np.uint8 and first.x_train.shape[1:] == (64, 64, 3)
    counts = Counter(frame.loc[frame["subset"] == "validation", "class"])
    totals = Counter(frame["class"])
    for class_name, total in totals.items():
        assert abs(counts[class_name] - 0.2 * total) <= 1


def test_missing_split_names_the_notebook_to_run(tmp_path):
    """Without a split file, is the student told (in French) to run notebook 01 first?"""
    settings = get_settings("fast", environ={}, data_root=tmp_path, run_dir=tmp_path / "run")
    with pytest.raises(PrerequisiteError, match="01_separation"):
        load_split_arrays(settings)


def test_duplicates_across_the_split_are_reported(sample_settings):
    """Is an exact copy of a validation image placed in training reported with both paths?"""
    frame = prepare_split(sample_settings)
    dataset_dir = sample_settings.dataset_dir
    assert split_module.find_cross_duplicates(frame, dataset_dir).empty
    validation_row = frame[frame["subset"] == "validation"].iloc[0]
    copy_name = f"{validation_row['class']}/zz_copy.jpg"
    shutil.copyfile(dataset_dir / validation_row["path"], dataset_dir / copy_name)
    extra_row = pd.DataFrame([{"path": copy_name, "class": validation_row["class"], "subset": "train"}])
    extended = pd.concat([frame, extra_row], ignore_index=True)
    report = split_module.find_cross_duplicates(extended, dataset_dir)
    assert len(report) == 1
    assert report.iloc[0]["train_paths"] == [copy_name]
    assert report.iloc[0]["validation_paths"] == [validation_row["path"]]


# Impossible splits --------------------------------------------------------------------------------


def test_a_class_with_one_image_is_named_instead_of_a_raw_scikit_learn_error():
    """Does a class with a single image raise the kit's SplitError naming it, not a bare ValueError?"""
    classes = ["city"] + ["field"] * 10 + ["road"] * 10
    paths = [f"{name}/{index}.jpg" for index, name in enumerate(classes)]
    with pytest.raises(SplitError, match="at least 2 images per class") as error:
        split_module.make_split_frame(paths, classes, 0.2, seed=0)
    message = str(error.value)
    assert "city (1)" in message and "field" not in message
    assert "at least 2 images per class" in message


def test_fewer_validation_images_than_classes_is_explained():
    """With 3 images in each of 7 classes, 20% gives 5 validation images: is that said, with the fix?"""
    classes = [name for name in REAL_COUNTS for _ in range(3)]
    paths = [f"{name}/{index}.jpg" for index, name in enumerate(classes)]
    with pytest.raises(SplitError, match="5 validation images for 7 classes") as error:
        split_module.make_split_frame(paths, classes, 0.2, seed=0)
    message = str(error.value)
    assert "5 validation images for 7 classes" in message
    assert all(f"{name} (3)" in message for name in REAL_COUNTS)
    assert "at least 35 images" in message
    # The smallest dataset the message asks for does split, one validation image per class.
    classes = [name for name in REAL_COUNTS for _ in range(5)]
    frame = split_module.make_split_frame([f"{index}.jpg" for index in range(35)], classes, 0.2, seed=0)
    assert Counter(frame.loc[frame["subset"] == "validation", "class"]) == Counter(REAL_COUNTS.keys())


def test_fewer_training_images_than_classes_is_explained():
    """A validation fraction so large that training lacks one image per class: SplitError too?"""
    classes = [name for name in ("a", "b", "c") for _ in range(2)]
    with pytest.raises(SplitError, match="training images for 3 classes"):
        split_module.make_split_frame([str(index) for index in range(6)], classes, 0.9, seed=0)


def test_no_image_at_all_is_a_split_error():
    with pytest.raises(SplitError, match="no images to split"):
        split_module.make_split_frame([], [], 0.2, seed=0)


# Duplicates reported by prepare_split -------------------------------------------------------------


def _landscapes_like_copy(sample_settings, duplicated_class: str):
    """A copy of the sample as a downloaded Landscapes folder, each image of one class duplicated."""
    import dataclasses

    settings = dataclasses.replace(sample_settings, dataset="landscapes")
    shutil.copytree(sample_settings.dataset_dir, settings.dataset_dir)
    (settings.dataset_dir / "paysages_dataset.json").write_text('{"dataset": "landscapes"}')
    for path in sorted((settings.dataset_dir / duplicated_class).glob("*.jpg")):
        shutil.copyfile(path, path.with_name(f"copy_of_{path.name}"))
    return settings



def test_prepare_split_warns_of_duplicates_across_the_split(sample_settings):
    """Does prepare_split compute the cross duplicates and warn with each pair?"""
    from paysages.data import CrossDuplicateWarning, prepare_split_with_report

    settings = _landscapes_like_copy(sample_settings, "city")
    with pytest.warns(CrossDuplicateWarning) as caught:
        frame = prepare_split(settings)

    pairs = cross_pairs_from_disk(settings.split_path, settings.dataset_dir)
    assert pairs, "with every city image copied, some pair must straddle the split"
    message = str(caught[0].message)
    for train_path, validation_path in pairs:
        assert f"train: {train_path}  <->  validation: {validation_path}" in message
    assert len(frame) == len(pd.read_csv(settings.split_path))
    report = prepare_split_with_report(settings)
    assert {
        (row.train_paths[0], row.validation_paths[0]) for row in report.duplicates.itertuples()
    } == pairs


def test_prepare_split_on_a_clean_dataset_warns_nothing(sample_settings):
    """On the sample dataset, with no duplicate on disk, is nothing reported?"""
    import warnings

    from paysages.data import CrossDuplicateWarning, prepare_split_with_report

    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDuplicateWarning)
        prepare_split(sample_settings)
    assert cross_pairs_from_disk(sample_settings.split_path, sample_settings.dataset_dir) == set()
    report = prepare_split_with_report(sample_settings)
    assert report.duplicates.empty and report.format_duplicates().startswith("No duplicate")
