"""Tests of paysages.data.scan: listing the files of the declared classes in a messy folder.
"""

from __future__ import annotations

import numpy as np
import pytest

from paysages.data.scan import scan_image_folder
from paysages.errors import DatasetError
from tests.helpers.images import BAD_FILES, CLASS_NAMES, GOOD_PER_CLASS, IGNORED_ENTRIES


def test_scan_keeps_exactly_the_declared_classes(messy_folder):
    """Do stray folders (__MACOSX, .ipynb_checkpoints, extra/) stay out of the class list?"""
    scan = scan_image_folder(messy_folder, CLASS_NAMES)

    assert scan.class_names == CLASS_NAMES
    assert scan.missing_classes == []
    assert scan.unexpected_folders == [messy_folder / "extra"]
    for path in scan.files:
        relative = path.relative_to(messy_folder)
        assert relative.parts[0] in CLASS_NAMES
        assert not any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)
    assert [CLASS_NAMES[label] for label in scan.labels] == [
        path.relative_to(messy_folder).parts[0] for path in scan.files
    ]


def test_scan_reports_every_ignored_entry_with_a_reason(messy_folder):
    """Is every entry that is not used listed in ``ignored`` with a sensible reason?"""
    scan = scan_image_folder(messy_folder, CLASS_NAMES)
    ignored = {path.relative_to(messy_folder).as_posix(): reason for path, reason in scan.ignored}

    for name, phrase in IGNORED_ENTRIES.items():
        assert name in ignored, f"{name} is not reported as ignored"
        assert phrase in ignored[name], f"{name}: {ignored[name]!r} does not mention {phrase!r}"


def test_scan_lists_every_candidate_file_whatever_its_extension(messy_folder):
    """Are files with other, upper-case or no extensions kept for decoding, not dropped?"""
    scan = scan_image_folder(messy_folder, CLASS_NAMES)
    names = {path.name for path in scan.files}

    assert set(BAD_FILES) <= names
    assert "good_0.JPG" in names
    expected_count = len(CLASS_NAMES) * GOOD_PER_CLASS + len(BAD_FILES)
    assert len(scan.files) == expected_count
    assert scan.class_counts()["road"] == GOOD_PER_CLASS + 3


def test_scan_is_sorted_and_deterministic(messy_folder):
    """Does scanning twice give the same files in class order, then path order?"""
    first = scan_image_folder(messy_folder, CLASS_NAMES)
    second = scan_image_folder(messy_folder, list(CLASS_NAMES))

    assert first.files == second.files
    assert np.array_equal(first.labels, second.labels)
    assert list(first.labels) == sorted(first.labels)
    for label in range(len(CLASS_NAMES)):
        class_files = [path for path, value in zip(first.files, first.labels) if value == label]
        assert class_files == sorted(class_files, key=lambda path: path.as_posix())


def test_scan_reports_missing_classes_and_case_mismatch(clean_folder):
    """Is a missing class reported, with a hint when only the letter case differs?"""
    (clean_folder / "lake").rename(clean_folder / "Lake")
    scan = scan_image_folder(clean_folder, CLASS_NAMES)

    assert scan.missing_classes == ["lake"]
    assert scan.unexpected_folders == [clean_folder / "Lake"]
    reasons = dict(scan.ignored)
    assert "did you mean 'lake'" in reasons[clean_folder / "Lake"]


def test_scan_rejects_missing_root_and_bad_class_names(tmp_path):
    """Are a missing root and invalid class names refused with clear errors?"""
    with pytest.raises(DatasetError, match="does not exist"):
        scan_image_folder(tmp_path / "absent", CLASS_NAMES)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        scan_image_folder(tmp_path / "file.txt", CLASS_NAMES)
    refusals = {
        "city": "not a single string",
        (): "class_names is empty",
        ("city", "city"): "Duplicate class name",
        ("__MACOSX",): "a name the kit always ignores",
        ("a/b",): "must be a folder name, not a path",
        (".hidden",): "a name the kit always ignores",
    }
    for bad_names, phrase in refusals.items():
        with pytest.raises(ValueError, match=phrase):
            scan_image_folder(tmp_path, bad_names)
