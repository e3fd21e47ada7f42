"""Tests of paysages.files: hashing, atomic writes, folder swaps."""

import hashlib
import json
import os

import pytest

from paysages import files


def test_the_file_digest_matches_hashlib_across_chunks(tmp_path):
    """Does a file read in several chunks hash like the whole bytes?"""
    data = os.urandom(3 * 1024 + 17)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert files.sha256_of_file(path, chunk_size=1024) == hashlib.sha256(data).hexdigest()
    assert files.sha256_of_bytes(data) == hashlib.sha256(data).hexdigest()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    """Is the old content kept, and no temporary file left, when the writer raises?"""
    path = tmp_path / "results.json"
    path.write_text("old", encoding="utf-8")

    def broken_writer(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.write_atomic(path, broken_writer)
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["results.json"]


def test_json_is_written_whole_and_a_symlink_is_replaced_not_followed(tmp_path):
    """Does an atomic JSON write replace a symbolic link instead of writing through it?"""
    outside = tmp_path / "outside.txt"
    outside.write_text("keep", encoding="utf-8")
    path = tmp_path / "sub" / "data.json"
    path.parent.mkdir()
    path.symlink_to(outside)
    files.write_json_atomic(path, {"accuracy": 0.5, "classe": "forêt"}, durable=True)
    assert not path.is_symlink()
    assert json.loads(path.read_text(encoding="utf-8")) == {"accuracy": 0.5, "classe": "forêt"}
    assert outside.read_text(encoding="utf-8") == "keep"


def test_a_folder_swap_replaces_the_old_folder_whole(tmp_path):
    """Does the destination hold exactly the staging folder's files afterwards, with no leftovers?"""
    destination = tmp_path / "dataset"
    destination.mkdir()
    (destination / "old.jpg").write_bytes(b"old")
    staging = tmp_path / ".dataset.staging"
    staging.mkdir()
    (staging / "new.jpg").write_bytes(b"new")
    files.swap_folder_into_place(staging, destination)
    assert sorted(item.name for item in destination.iterdir()) == ["new.jpg"]
    assert sorted(item.name for item in tmp_path.iterdir()) == ["dataset"]


def test_a_failed_folder_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    """When the second rename fails, is the old folder back in place and the staging kept?"""
    destination = tmp_path / "dataset"
    destination.mkdir()
    (destination / "old.jpg").write_bytes(b"old")
    staging = tmp_path / "staging"
    staging.mkdir()
    real_replace = os.replace
    calls = []

    def failing_second_replace(source, target):
        calls.append((source, target))
        if len(calls) == 2:
            raise OSError("rename refused")
        return real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", failing_second_replace)
    with pytest.raises(OSError, match="rename refused"):
        files.swap_folder_into_place(staging, destination)
    assert (destination / "old.jpg").read_bytes() == b"old"
    assert staging.is_dir()
