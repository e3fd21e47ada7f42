"""Tests of paysages.licences on the real ml5js licence metadata in ../shared/landscapes/licenses."""

from __future__ import annotations

import json
import shutil

import pytest

from paysages.errors import DatasetError
from paysages.licences import (
    attribution,
    licence_counts,
    load_licence_metadata,
    no_derivative_files,
    verify_sha256,
)
from paysages.registry import get_dataset_spec

EXPECTED_COUNTS = {
    "city": 348,
    "field": 517,
    "forest": 686,
    "lake": 595,
    "mountain": 696,
    "ocean": 479,
    "road": 622,
}
EXPECTED_LICENCE_COUNTS = {
    "1": 792,
    "2": 508,
    "3": 864,
    "4": 763,
    "5": 781,
    "6": 182,
    "7": 1,
    "8": 1,
    "9": 21,
    "10": 30,
}


@pytest.fixture(scope="module")
def spec():
    return get_dataset_spec("landscapes")


@pytest.fixture(scope="module")
def metadata(shared_licences_dir, spec):
    return load_licence_metadata(shared_licences_dir, spec)


@pytest.fixture
def licences_copy(shared_licences_dir, tmp_path):
    """A writable copy of the real files, in tmp_path only, for the corruption tests."""
    copy_dir = tmp_path / "licenses"
    shutil.copytree(shared_licences_dir, copy_dir)
    for path in copy_dir.iterdir():
        path.chmod(0o644)
    return copy_dir


def test_metadata_holds_every_photo_of_every_class(metadata, spec):
    assert len(metadata) == 3943
    per_class = {name: 0 for name in spec.class_names}
    for class_name, _ in metadata:
        per_class[class_name] += 1
    assert per_class == EXPECTED_COUNTS
    assert per_class == spec.expected_counts


def test_licence_counts_match_the_ml5js_readme(metadata):
    counts = licence_counts(metadata)
    assert counts == EXPECTED_LICENCE_COUNTS
    # Ordered numerically, so that "10" comes last.
    assert list(counts) == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]


def test_no_derivative_files_are_the_licence_3_and_6_photos(metadata, spec):
    forbidden = no_derivative_files(metadata, spec)
    assert len(forbidden) == 864 + 182
    assert {metadata[key].licence_id for key in forbidden} == {"3", "6"}
    assert not any(metadata[key].allows_derivatives for key in forbidden)
    allowed = set(metadata) - forbidden
    assert all(metadata[key].allows_derivatives for key in allowed)


def test_photo_info_carries_the_entry_and_the_registry_licence(metadata):
    photo = metadata[("city", "11624560624_600b918603.jpg")]
    assert photo.title == "City lights"
    assert photo.owner == "Another Eye"
    assert photo.owner_id == "46418486@N04"
    assert photo.url == "https://farm4.staticflickr.com/3779/11624560624_600b918603.jpg"
    assert photo.licence_id == "1"
    assert photo.licence_name == "CC BY-NC-SA 2.0"
    assert photo.licence_url == "https://creativecommons.org/licenses/by-nc-sa/2.0/"
    assert photo.allows_derivatives is True
    no_derivatives = metadata[("city", "25762701024_e8cc4c4df5.jpg")]
    assert no_derivatives.licence_id == "3"
    assert no_derivatives.allows_derivatives is False


def test_attribution_names_title_author_licence_and_source(metadata):
    photo = metadata[("city", "11624560624_600b918603.jpg")]
    assert attribution(photo) == (
        '"City lights" by Another Eye, CC BY-NC-SA 2.0 '
        "(https://creativecommons.org/licenses/by-nc-sa/2.0/), "
        "https://farm4.staticflickr.com/3779/11624560624_600b918603.jpg"
    )


def test_attribution_of_an_untitled_photo(metadata):
    untitled = [photo for photo in metadata.values() if not photo.title.strip()]
    assert len(untitled) == 3  # One each in city, forest and road.
    text = attribution(untitled[0])
    assert text.startswith('"Untitled" by ')
    assert untitled[0].licence_url in text and untitled[0].url in text


def test_metadata_files_match_the_registry_sha256(shared_licences_dir, spec):
    digests = verify_sha256(shared_licences_dir, spec)
    assert digests == spec.metadata_sha256
    assert set(digests) == set(spec.class_names)


def test_a_truncated_file_is_rejected_by_name(licences_copy, spec):
    damaged = licences_copy / "lake_photos_info.json"
    damaged.write_bytes(damaged.read_bytes()[:5000])
    with pytest.raises(DatasetError, match="lake_photos_info.json") as raised:
        load_licence_metadata(licences_copy, spec)
    assert "not valid JSON" in str(raised.value)
    with pytest.raises(DatasetError, match="lake_photos_info.json") as raised:
        verify_sha256(licences_copy, spec)
    assert spec.metadata_sha256["lake"] in str(raised.value)
    # The untouched files still pass.
    assert "city_photos_info.json" not in str(raised.value)


def test_an_edited_file_fails_the_sha256_check_only(licences_copy, spec):
    path = licences_copy / "ocean_photos_info.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    first = next(iter(entries))
    entries[first]["title"] = "Edited title"
    path.write_text(json.dumps(entries), encoding="utf-8")
    metadata = load_licence_metadata(licences_copy, spec)
    assert metadata[("ocean", first)].title == "Edited title"
    with pytest.raises(DatasetError, match="ocean_photos_info.json"):
        verify_sha256(licences_copy, spec)


def test_a_keyword_that_disagrees_with_the_class_is_rejected(licences_copy, spec):
    path = licences_copy / "forest_photos_info.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    first = next(iter(entries))
    entries[first]["keyword"] = "ocean"
    path.write_text(json.dumps(entries), encoding="utf-8")
    with pytest.raises(DatasetError, match="forest_photos_info.json") as raised:
        load_licence_metadata(licences_copy, spec)
    message = str(raised.value)
    assert "forest_photos_info.json" in message and first in message
    assert "'ocean'" in message and "'forest'" in message


def test_an_unknown_licence_id_is_rejected(licences_copy, spec):
    path = licences_copy / "road_photos_info.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    first = next(iter(entries))
    entries[first]["license"] = "0"
    path.write_text(json.dumps(entries), encoding="utf-8")
    with pytest.raises(DatasetError, match="road_photos_info.json") as raised:
        load_licence_metadata(licences_copy, spec)
    assert "licence id '0'" in str(raised.value)


def test_a_missing_file_is_named(licences_copy, spec):
    (licences_copy / "mountain_photos_info.json").unlink()
    with pytest.raises(DatasetError, match="mountain_photos_info.json.*missing"):
        load_licence_metadata(licences_copy, spec)
    with pytest.raises(DatasetError, match="mountain_photos_info.json: missing"):
        verify_sha256(licences_copy, spec)


def test_an_entry_without_required_fields_is_rejected(licences_copy, spec):
    path = licences_copy / "field_photos_info.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    first = next(iter(entries))
    del entries[first]["license"]
    path.write_text(json.dumps(entries), encoding="utf-8")
    with pytest.raises(DatasetError, match="field_photos_info.json.*license"):
        load_licence_metadata(licences_copy, spec)
