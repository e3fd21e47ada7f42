"""Tests of paysages.data.verification: the archive fingerprint and the check against the licence metadata.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from paysages.data.landscapes import fetch_landscapes, read_manifest
from paysages.data.verification import verify_against_metadata
from paysages.licences import load_licence_metadata, no_derivative_files
from paysages.registry import get_dataset_spec
from tests.helpers.archives import CLASS_NAMES, serve_dataset, zip_bytes


def _real_entries(shared_licences_dir) -> dict[tuple[str, str], str]:
    """Every photo of the real metadata files, read as plain JSON: (class, file) -> licence id."""
    entries = {}
    for class_name in CLASS_NAMES:
        raw = json.loads((shared_licences_dir / f"{class_name}_photos_info.json").read_text(encoding="utf-8"))
        entries.update({(class_name, filename): str(entry["license"]) for filename, entry in raw.items()})
    return entries


def _readme_licence_counts(shared_licences_dir) -> dict[str, int]:
    """The per-licence counts the shared README states ("licences 1: 792, 2: 508, ...")."""
    text = (shared_licences_dir.parent / "README.md").read_text(encoding="utf-8")
    sentence = re.search(r"licences ((?:\d+: \d+(?:, )?)+)", text.replace("\n", " "))
    return {key: int(value) for key, value in re.findall(r"(\d+): (\d+)", sentence.group(1))}


def _placeholder_tree(root: Path, names) -> Path:
    for class_name, filename in names:
        folder = root / class_name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_bytes(b"placeholder")
    return root


def test_metadata_check_on_the_real_metadata_names_exactly_the_missing_and_the_stray_file(
    shared_licences_dir, tmp_path
):
    """Every real photo but one, plus a stray file: are exactly those two named, and nothing else?"""
    spec = get_dataset_spec("landscapes")
    metadata = load_licence_metadata(shared_licences_dir, spec)
    entries = _real_entries(shared_licences_dir)
    assert set(metadata) == set(entries) and len(entries) == spec.expected_total
    missing = sorted(entries)[len(entries) // 2]
    stray = ("ocean", "99999999999_stray0000.jpg")
    root = _placeholder_tree(tmp_path / "landscapes", [key for key in sorted(entries) if key != missing] + [stray])

    report = verify_against_metadata(root, metadata, spec)

    assert not report.ok
    assert {name: files for name, files in report.missing.items() if files} == {missing[0]: [missing[1]]}
    assert {name: files for name, files in report.unexpected.items() if files} == {stray[0]: [stray[1]]}
    assert report.missing_folders == []
    assert report.total == len(entries)  # One gone, one added.
    text = report.format()
    assert missing[1] in text and stray[1] in text and "Mismatches found." in text


def test_licence_filter_on_the_real_metadata_keeps_the_photos_that_allow_derivatives(
    shared_licences_dir, tmp_path
):
    """Dropping licences 3 and 6 from the real metadata: 3943 - 864 - 182 = 2897 photos kept?"""
    spec = get_dataset_spec("landscapes")
    metadata = load_licence_metadata(shared_licences_dir, spec)
    entries = _real_entries(shared_licences_dir)
    readme = _readme_licence_counts(shared_licences_dir)
    from collections import Counter

    assert Counter(entries.values()) == readme  # The files and the README agree.
    expected_kept = len(entries) - readme["3"] - readme["6"]
    assert expected_kept == 3943 - 864 - 182 == 2897

    excluded = no_derivative_files(metadata, spec)
    assert excluded == {key for key, licence in entries.items() if licence in {"3", "6"}}
    kept = [key for key in sorted(entries) if key not in excluded]
    assert len(kept) == expected_kept

    # A folder holding exactly the kept photos passes the check with the filter...
    root = _placeholder_tree(tmp_path / "filtered", kept)
    report = verify_against_metadata(root, metadata, spec, excluded=excluded)
    assert report.ok and report.total == expected_kept and report.excluded_count == len(excluded)
    # ...and one excluded photo left in place is reported as unexpected.
    leftover = sorted(excluded)[0]
    _placeholder_tree(root, [leftover])
    report = verify_against_metadata(root, metadata, spec, excluded=excluded)
    assert not report.ok
    assert {name: files for name, files in report.unexpected.items() if files} == {leftover[0]: [leftover[1]]}


@pytest.mark.network
def test_fetch_with_the_real_metadata_and_the_filter_extracts_2897_photos(server, tmp_path, shared_licences_dir):
    """The real metadata files served (registry sha256 checked) with a placeholder archive: filter applied?"""
    entries = _real_entries(shared_licences_dir)
    archive = zip_bytes({f"landscapes_small/{c}/{f}": b"placeholder" for (c, f) in sorted(entries)})
    metadata = {
        name: (shared_licences_dir / f"{name}_photos_info.json").read_bytes() for name in CLASS_NAMES
    }
    spec, _, _ = serve_dataset(server, archive, metadata)
    # The registry's own sha256 of the real files, not digests computed by the test.
    spec = dataclasses.replace(spec, metadata_sha256=get_dataset_spec("landscapes").metadata_sha256)

    dataset_dir = fetch_landscapes(tmp_path, spec=spec, exclude_no_derivatives=True, progress=False)

    kept = {(path.parent.name, path.name) for path in dataset_dir.glob("*/*.jpg")}
    assert kept == {key for key, licence in entries.items() if licence not in {"3", "6"}}
    manifest = read_manifest(dataset_dir)
    assert manifest["total"] == len(kept) == 2897
    assert manifest["filter"]["excluded_files"] == len(entries) - 2897
    assert manifest["metadata_check"] == {"ok": True, "missing": {}, "unexpected": {}}
