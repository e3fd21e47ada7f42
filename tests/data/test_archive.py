"""Tests of paysages.data.archive: safe extraction of real zip archives, and quarantine.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from paysages.data.archive import MANIFEST_FILENAME, extract_archive, quarantine_archive
from paysages.errors import ArchiveError
from tests.helpers.archives import (
    CLASS_NAMES,
    JUNK_MEMBERS,
    PER_CLASS,
    dataset_members,
    jpeg_bytes,
    photo_names,
    write_zip,
    zip_bytes,
)


def test_a_file_that_is_not_a_zip_is_rejected_by_name(tmp_path):
    archive = tmp_path / "landscapes_small.zip"
    archive.write_bytes(zip_bytes(dataset_members(photo_names()))[:-200])  # Truncated.
    with pytest.raises(ArchiveError, match="landscapes_small.zip") as raised:
        extract_archive(archive, tmp_path / "out", CLASS_NAMES)
    assert "Delete" in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_a_zip_with_a_damaged_member_is_rejected(tmp_path):
    photos = photo_names()
    members = dataset_members(photos)
    data = bytearray(zip_bytes(members))
    # Flip bytes inside the compressed data of the first member (its header is 30 + name bytes).
    first_name = next(iter(members))
    offset = 30 + len(first_name.encode()) + 40
    for index in range(offset, offset + 20):
        data[index] ^= 0xFF
    archive = tmp_path / "damaged.zip"
    archive.write_bytes(bytes(data))

    with pytest.raises(ArchiveError, match="damaged.zip.*corrupt"):
        extract_archive(archive, tmp_path / "out", CLASS_NAMES)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "evil_name",
    ["../evil.jpg", "city/../../evil.jpg", "/tmp/paysages-evil.jpg", "city\\..\\..\\evil.jpg"],
)
def test_members_escaping_the_folder_are_refused_and_nothing_is_written(tmp_path, evil_name):
    target = tmp_path / "nested" / "out"
    members = dataset_members(photo_names())
    members[evil_name] = b"evil"
    archive = write_zip(tmp_path / "evil.zip", members)

    with pytest.raises(ArchiveError, match="unsafe member") as raised:
        extract_archive(archive, target, CLASS_NAMES)

    assert repr(evil_name) in str(raised.value)
    assert not target.exists()
    assert not (tmp_path / "evil.jpg").exists() and not (tmp_path / "nested" / "evil.jpg").exists()
    assert not Path("/tmp/paysages-evil.jpg").exists()
    assert {path.name for path in tmp_path.iterdir()} == {"evil.zip"}


def test_a_symbolic_link_pointing_outside_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in dataset_members(photo_names()).items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("city/link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "../../../etc/passwd")
    path = tmp_path / "links.zip"
    path.write_bytes(buffer.getvalue())

    with pytest.raises(ArchiveError, match="city/link.jpg"):
        extract_archive(path, tmp_path / "out", CLASS_NAMES)
    assert not (tmp_path / "out").exists()


def test_junk_is_ignored_and_an_extra_folder_is_reported(tmp_path):
    photos = photo_names()
    members = dataset_members(photos, "landscapes_small/")
    members.update({"landscapes_small/" + name: content for name, content in JUNK_MEMBERS.items()})
    members["__MACOSX/landscapes_small/._city"] = b"junk"
    members["landscapes_small/extra/a.jpg"] = jpeg_bytes(1)
    members["landscapes_small/readme.txt"] = b"hello"
    archive = write_zip(tmp_path / "landscapes_small.zip", members)

    report = extract_archive(archive, tmp_path / "out", CLASS_NAMES)

    assert report.layout == "landscapes_small"
    assert report.counts == {name: PER_CLASS for name in CLASS_NAMES}
    assert len(report.ignored) == len(JUNK_MEMBERS) + 1
    assert sorted(report.unexpected) == [
        "landscapes_small/extra/a.jpg",
        "landscapes_small/readme.txt",
    ]
    assert report.unexpected_folders == ["extra"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(CLASS_NAMES)
    assert "2 files outside the class folders" in report.format()


def test_a_missing_class_folder_is_named(tmp_path):
    photos = {key: value for key, value in photo_names().items() if key[0] not in {"lake", "road"}}
    archive = write_zip(tmp_path / "partial.zip", dataset_members(photos))
    with pytest.raises(ArchiveError, match="lacks the class folder\\(s\\) lake, road"):
        extract_archive(archive, tmp_path / "out", CLASS_NAMES)
    assert not (tmp_path / "out").exists()


def test_an_archive_with_several_top_folders_and_no_class_is_refused(tmp_path):
    archive = write_zip(tmp_path / "other.zip", {"cats/a.jpg": b"1", "dogs/b.jpg": b"2"})
    with pytest.raises(ArchiveError, match="top folders are: cats, dogs"):
        extract_archive(archive, tmp_path / "out", CLASS_NAMES)


def test_exclude_leaves_the_listed_photos_out_and_keeps_other_entries(tmp_path):
    photos = photo_names()
    archive = write_zip(tmp_path / "all.zip", dataset_members(photos))
    destination = tmp_path / "out"
    (destination / "licenses").mkdir(parents=True)
    (destination / "licenses" / "keep.json").write_text("{}")
    (destination / MANIFEST_FILENAME).write_text("{}")
    (destination / "city").mkdir()
    (destination / "city" / "old.jpg").write_bytes(b"stale")
    excluded = {("city", name) for (owner, name) in photos if owner == "city"}

    report = extract_archive(archive, destination, CLASS_NAMES, exclude=excluded)

    assert report.counts["city"] == 0 and report.counts["field"] == PER_CLASS
    assert sorted(report.excluded) == sorted(excluded)
    assert list((destination / "city").iterdir()) == []  # The stale file went with the old folder.
    assert (destination / "licenses" / "keep.json").read_text() == "{}"
    assert not (destination / MANIFEST_FILENAME).exists()  # A stale manifest is dropped.


def test_a_second_quarantine_keeps_the_first(tmp_path):
    """Two bad archives in a row: are both kept, under different names?"""
    archive = tmp_path / "landscapes_small.zip"
    archive.write_bytes(b"first")
    first = quarantine_archive(archive)
    archive.write_bytes(b"second")
    second = quarantine_archive(archive)
    assert (first.name, second.name) == ("landscapes_small.zip.bad", "landscapes_small.zip.2.bad")
    assert first.read_bytes() == b"first" and second.read_bytes() == b"second"
    assert not archive.exists()
