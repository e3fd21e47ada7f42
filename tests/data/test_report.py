"""Tests of paysages.data.report: the printable check of an image folder (paysages data verify).
"""

from __future__ import annotations

import shutil

from paysages.data.report import verify_image_folder
from tests.helpers.images import BAD_FILES, CLASS_NAMES, GOOD_PER_CLASS, IGNORED_ENTRIES, IMAGE_SIZE


def test_verify_report_is_ok_and_names_every_file(messy_folder):
    """Is the messy folder usable, and does the report name every converted, skipped, ignored entry?"""
    report = verify_image_folder(messy_folder, CLASS_NAMES, image_size=IMAGE_SIZE)
    text = report.format()

    assert report.ok is True
    assert report.missing_classes == [] and report.empty_classes == []
    assert "OK: all 7 classes have usable images." in text
    for name, (_class_name, action, phrase) in BAD_FILES.items():
        matching = [line for line in text.splitlines() if name in line]
        assert matching, f"{name} is missing from the report"
        assert phrase in matching[0]
    for name in IGNORED_ENTRIES:
        assert name in text, f"{name} is missing from the report"
    skipped_per_class = {}
    for name, (class_name, action, _phrase) in BAD_FILES.items():
        if action == "skipped":
            skipped_per_class[class_name] = skipped_per_class.get(class_name, 0) + 1
    for class_name in CLASS_NAMES:
        scanned = GOOD_PER_CLASS + sum(1 for value in BAD_FILES.values() if value[0] == class_name)
        assert report.counts[class_name] == scanned - skipped_per_class.get(class_name, 0)
    assert str(report) == text


def test_verify_report_summarises_many_ignored_entries(clean_folder):
    """Do hundreds of macOS resource forks take a few lines, with their count, not hundreds?"""
    for number in range(40):
        (clean_folder / "city" / f"._photo_{number:02d}.jpg").write_bytes(b"\x00\x05\x16\x07")
    report = verify_image_folder(clean_folder, CLASS_NAMES)
    text = report.format()

    assert report.ok is True
    assert len(report.ignored) == 40
    assert "... and 30 more: macOS resource fork (hidden file)" in text
    assert len(text.splitlines()) < 40


def test_verify_report_missing_class_folder(clean_folder):
    """Is a missing class folder named in a clear NOT OK message?"""
    shutil.rmtree(clean_folder / "lake")
    report = verify_image_folder(clean_folder, CLASS_NAMES)

    assert report.ok is False
    assert report.missing_classes == ["lake"]
    text = report.format()
    assert "NOT OK" in text and "missing: lake" in text
    assert "MISSING" in text


def test_verify_report_class_without_usable_image(clean_folder):
    """Is a class whose files are all unusable reported as empty?"""
    for path in (clean_folder / "road").iterdir():
        path.write_bytes(b"")
    report = verify_image_folder(clean_folder, CLASS_NAMES)

    assert report.ok is False
    assert report.empty_classes == ["road"]
    assert "no usable image: road" in report.format()


def test_verify_report_absent_root(tmp_path):
    """Is a missing root reported (not raised) with a clear message?"""
    report = verify_image_folder(tmp_path / "nowhere", CLASS_NAMES)

    assert report.ok is False and report.root_exists is False
    assert "does not exist" in report.format()


def test_verify_report_suggests_the_nested_root(clean_folder, tmp_path):
    """When the class folders sit one level deeper, does the report say where they are?"""
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.move(clean_folder, outer / "landscapes_small")
    report = verify_image_folder(outer, CLASS_NAMES)

    assert report.ok is False
    assert "inside" in report.format() and "landscapes_small" in report.format()
