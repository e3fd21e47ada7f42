"""Tests of paysages.data.landscapes: the whole fetch against a local HTTP server and real zip archives.

The archives hold small but real JPEG files in class folders, with licence metadata written in
the ml5js format for exactly those files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time

import pytest

from paysages.data import archive as archive_module
from paysages.data.archive import MANIFEST_FILENAME
from paysages.data.landscapes import fetch_landscapes, read_manifest
from paysages.data.verification import verify_against_metadata
from paysages.errors import ArchiveError, FingerprintError, OfflineError
from paysages.licences import load_licence_metadata
from paysages.registry import get_dataset_spec
from tests.helpers.archives import (
    ARCHIVE_PATH,
    CLASS_NAMES,
    JUNK_MEMBERS,
    PER_CLASS,
    class_files,
    damaged_zip,
    dataset_members,
    jpeg_bytes,
    metadata_bodies,
    photo_names,
    serve_dataset,
    zip_bytes,
)
from tests.helpers.http import closed_port


@pytest.mark.network
@pytest.mark.parametrize("prefix", ["", "landscapes_small/"], ids=["root-layout", "top-folder"])
def test_fetch_downloads_extracts_verifies_and_writes_a_manifest(server, tmp_path, prefix):
    photos = photo_names()
    members = dataset_members(photos, prefix)
    members.update({prefix + name: content for name, content in JUNK_MEMBERS.items()})
    members[prefix + "extra/notes.jpg"] = jpeg_bytes(50)
    archive = zip_bytes(members)
    spec, archive_route, metadata_routes = serve_dataset(server, archive, metadata_bodies(photos))

    dataset_dir = fetch_landscapes(tmp_path, spec=spec, progress=False)

    assert dataset_dir == tmp_path / "landscapes"
    assert (tmp_path / "_downloads" / "landscapes_small.zip").read_bytes() == archive
    assert not (tmp_path / "_downloads" / "landscapes_small.zip.part").exists()
    for class_name in CLASS_NAMES:
        metadata_file = dataset_dir / "licenses" / f"{class_name}_photos_info.json"
        assert metadata_file.read_bytes() == metadata_routes[class_name].body
    # Exactly the photos, byte for byte; junk and the extra folder never become classes.
    extracted = {
        (path.parent.name, path.name): path.read_bytes()
        for path in dataset_dir.glob("*/*.jpg")
    }
    assert extracted == photos
    folders = sorted(path.name for path in dataset_dir.iterdir() if path.is_dir())
    assert folders == sorted([*CLASS_NAMES, "licenses"])
    assert not list(dataset_dir.rglob(".*")) and not list(tmp_path.glob(".landscapes*"))

    manifest = read_manifest(dataset_dir)
    assert manifest["counts"] == {name: PER_CLASS for name in CLASS_NAMES}
    assert manifest["total"] == PER_CLASS * len(CLASS_NAMES)
    assert manifest["filter"]["exclude_no_derivatives"] is False
    assert manifest["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert manifest["archive"]["path"] == "_downloads/landscapes_small.zip"
    assert manifest["archive"]["layout"] == ("root" if not prefix else "landscapes_small")
    assert manifest["archive"]["ignored_members"] == len(JUNK_MEMBERS)
    assert manifest["archive"]["unexpected_members"] == [prefix + "extra/notes.jpg"]
    assert manifest["metadata_check"] == {"ok": True, "missing": {}, "unexpected": {}}
    assert manifest["created_at"]

    # A second call finds everything in place and does not touch the network.
    hits = server.total_hits
    assert fetch_landscapes(tmp_path, spec=spec, progress=False) == dataset_dir
    assert server.total_hits == hits
    assert archive_route.hits == 1


@pytest.mark.network
def test_no_derivatives_filter_and_refiltering_from_the_kept_archive(server, tmp_path):
    photos = photo_names()
    spec, archive_route, _ = serve_dataset(
        server, zip_bytes(dataset_members(photos)), metadata_bodies(photos)
    )
    dataset_dir = fetch_landscapes(
        tmp_path, spec=spec, exclude_no_derivatives=True, progress=False
    )

    metadata = load_licence_metadata(dataset_dir / "licenses", spec)
    kept = {(path.parent.name, path.name) for path in dataset_dir.glob("*/*.jpg")}
    assert kept == {key for key, photo in metadata.items() if photo.licence_id not in {"3", "6"}}
    assert len(kept) == len(CLASS_NAMES) * (PER_CLASS - 2)
    manifest = read_manifest(dataset_dir)
    assert manifest["filter"] == {
        "exclude_no_derivatives": True,
        "excluded_licences": ["3", "6"],
        "excluded_files": 2 * len(CLASS_NAMES),
    }
    assert manifest["metadata_check"]["ok"] is True

    # Without the filter, everything comes back from the kept archive, with no server at all.
    server.stop()
    fetch_landscapes(tmp_path, spec=spec, exclude_no_derivatives=False, progress=False)
    assert {(path.parent.name, path.name) for path in dataset_dir.glob("*/*.jpg")} == set(photos)
    assert read_manifest(dataset_dir)["filter"]["exclude_no_derivatives"] is False
    assert (dataset_dir / "licenses" / "city_photos_info.json").is_file()
    assert archive_route.hits == 1


@pytest.mark.network
def test_metadata_check_names_missing_and_unexpected_files(server, tmp_path):
    photos = photo_names()
    described = dict(photos)
    # The archive lacks one described photo and holds one the metadata does not describe.
    missing_key = ("lake", sorted(name for (owner, name) in photos if owner == "lake")[2])
    in_archive = {key: value for key, value in photos.items() if key != missing_key}
    in_archive[("road", "9999_stray.jpg")] = jpeg_bytes(77)
    spec, _, _ = serve_dataset(
        server, zip_bytes(dataset_members(in_archive)), metadata_bodies(described)
    )

    with pytest.warns(UserWarning, match="9999_stray.jpg"):
        dataset_dir = fetch_landscapes(tmp_path, spec=spec, progress=False)

    check = read_manifest(dataset_dir)["metadata_check"]
    assert check == {
        "ok": False,
        "missing": {"lake": [missing_key[1]]},
        "unexpected": {"road": ["9999_stray.jpg"]},
    }
    report = verify_against_metadata(
        dataset_dir, load_licence_metadata(dataset_dir / "licenses", spec), spec
    )
    assert not report.ok
    assert report.missing["lake"] == [missing_key[1]]
    assert report.unexpected["road"] == ["9999_stray.jpg"]
    assert missing_key[1] in report.format() and "9999_stray.jpg" in report.format()


@pytest.mark.network
def test_a_broken_cached_archive_is_downloaded_again(server, tmp_path):
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, archive_route, _ = serve_dataset(server, archive, metadata_bodies(photos))
    cached = tmp_path / "_downloads" / "landscapes_small.zip"
    cached.parent.mkdir()
    cached.write_bytes(b"<html>not a zip</html>")

    fetch_landscapes(tmp_path, spec=spec, progress=False)

    assert cached.read_bytes() == archive
    assert archive_route.hits == 1


@pytest.mark.network
def test_an_interrupted_extraction_never_looks_complete(server, tmp_path, monkeypatch):
    photos = photo_names()
    spec, _, _ = serve_dataset(server, zip_bytes(dataset_members(photos)), metadata_bodies(photos))
    dataset_dir = fetch_landscapes(tmp_path, spec=spec, progress=False)
    before = class_files(dataset_dir)

    real_copy = archive_module.shutil.copyfileobj
    calls = []

    def failing_copy(source, target, length=0):
        calls.append(1)
        if len(calls) == 4:
            raise OSError("disk unplugged")
        return real_copy(source, target, length)

    monkeypatch.setattr(archive_module.shutil, "copyfileobj", failing_copy)
    with pytest.raises(OSError, match="disk unplugged"):
        fetch_landscapes(tmp_path, spec=spec, exclude_no_derivatives=True, progress=False)

    assert read_manifest(dataset_dir) is None
    assert not (dataset_dir / MANIFEST_FILENAME).exists()
    assert class_files(dataset_dir) == before  # The previous extraction was not touched.
    assert not list(tmp_path.glob(".landscapes*"))


@pytest.mark.network
def test_fetch_without_network_says_where_to_put_the_files(tmp_path):
    port = closed_port()
    spec = dataclasses.replace(
        get_dataset_spec("landscapes"),
        archive_urls=(f"http://127.0.0.1:{port}/landscapes_small.zip",),
        metadata_url_templates=(
            f"http://127.0.0.1:{port}/licenses/{{class_name}}_photos_info.json",
        ),
        archive_sha256=None,
    )
    start = time.monotonic()
    with pytest.raises(OfflineError, match="No network") as raised:
        fetch_landscapes(tmp_path, spec=spec, progress=False)
    assert time.monotonic() - start < 3.0

    message = str(raised.value)
    assert str(tmp_path / "_downloads" / "landscapes_small.zip") in message
    assert f"http://127.0.0.1:{port}/landscapes_small.zip" in message
    assert str(tmp_path / "landscapes" / "licenses") in message
    assert "city_photos_info.json" in message and "road_photos_info.json" in message
    assert read_manifest(tmp_path / "landscapes") is None


@pytest.mark.network
@pytest.mark.parametrize(
    "kind, problem",
    [("damaged member", "corrupt"), ("path traversal", "unsafe member '../../evil.jpg'")],
)
def test_a_bad_downloaded_archive_is_quarantined_then_downloaded_again(server, tmp_path, kind, problem):
    """Is a served zip that fails extraction moved aside as .bad, named, and fetched afresh next run?"""
    photos = photo_names()
    if kind == "damaged member":
        bad_archive = damaged_zip(photos)
    else:
        members = dataset_members(photos)
        members["../../evil.jpg"] = b"evil"
        bad_archive = zip_bytes(members)
    root = tmp_path / "root"
    spec, archive_route, _ = serve_dataset(server, bad_archive, metadata_bodies(photos))

    with pytest.raises(ArchiveError, match="moved aside") as raised:
        fetch_landscapes(root, spec=spec, progress=False)

    message = str(raised.value)
    kept = root / "_downloads" / "landscapes_small.zip"
    quarantined = root / "_downloads" / "landscapes_small.zip.bad"
    assert problem in message and str(quarantined) in message and "downloads it again" in message
    assert not kept.exists()
    assert quarantined.read_bytes() == bad_archive  # Moved aside, nothing lost.
    # Nothing was extracted, inside the target or outside it.
    assert not list(tmp_path.rglob("evil*"))
    assert not (tmp_path.parent / "evil.jpg").exists()
    assert not any((root / "landscapes" / name).exists() for name in CLASS_NAMES)
    assert read_manifest(root / "landscapes") is None

    # The server now has a good archive: the next run downloads it instead of reusing the bad one.
    good_archive = zip_bytes(dataset_members(photos))
    good_route = server.add(ARCHIVE_PATH, good_archive)
    dataset_dir = fetch_landscapes(root, spec=spec, progress=False)
    assert archive_route.hits == 1 and good_route.hits == 1
    assert kept.read_bytes() == good_archive
    assert {(path.parent.name, path.name) for path in dataset_dir.glob("*/*.jpg")} == set(photos)
    assert quarantined.read_bytes() == bad_archive


@pytest.mark.network
def test_fetch_prints_the_archive_fingerprint(server, tmp_path, capsys):
    """Does a download print the archive's SHA-256 and size, and a reuse print them again?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, _, _ = serve_dataset(server, archive, metadata_bodies(photos))
    expected = f"SHA-256 {hashlib.sha256(archive).hexdigest()}, {len(archive):,} bytes"

    fetch_landscapes(tmp_path, spec=spec, progress=True)
    first = capsys.readouterr().out
    fetch_landscapes(tmp_path, spec=spec, progress=True)
    second = capsys.readouterr().out

    assert expected in first and "does not record the archive's fingerprint" in first
    assert "already in" in second and expected in second


@pytest.mark.network
def test_an_archive_matching_the_registry_fingerprint_is_accepted(server, tmp_path):
    """With the right SHA-256 and size in the registry, is the dataset installed and recorded?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, _, _ = serve_dataset(server, archive, metadata_bodies(photos))
    spec = dataclasses.replace(
        spec, archive_sha256=hashlib.sha256(archive).hexdigest().upper(), archive_size=len(archive)
    )

    dataset_dir = fetch_landscapes(tmp_path, spec=spec, progress=False)

    manifest = read_manifest(dataset_dir)
    assert manifest["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert manifest["archive"]["size"] == len(archive)
    assert manifest["total"] == PER_CLASS * len(CLASS_NAMES)


@pytest.mark.network
@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_a_downloaded_archive_with_another_fingerprint_is_quarantined(server, tmp_path, wrong):
    """A served archive that differs from the registry: named error, expected vs found, kept as .bad?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, archive_route, _ = serve_dataset(server, archive, metadata_bodies(photos))
    actual_sha256 = hashlib.sha256(archive).hexdigest()
    if wrong == "sha256":
        spec = dataclasses.replace(spec, archive_sha256="ab" * 32, archive_size=len(archive))
        expected_phrase = f"SHA-256 expected {'ab' * 32}, found {actual_sha256}"
    else:
        spec = dataclasses.replace(spec, archive_sha256=actual_sha256, archive_size=len(archive) + 1)
        expected_phrase = f"size expected {len(archive) + 1:,} bytes, found {len(archive):,} bytes"
    kept = tmp_path / "_downloads" / "landscapes_small.zip"

    with pytest.raises(FingerprintError, match="is not the file recorded in the dataset registry") as raised:
        fetch_landscapes(tmp_path, spec=spec, progress=False)

    message = str(raised.value)
    quarantined = kept.with_name("landscapes_small.zip.bad")
    assert str(kept) in message and expected_phrase in message and str(quarantined) in message
    assert not kept.exists() and quarantined.read_bytes() == archive  # Nothing deleted.
    assert read_manifest(tmp_path / "landscapes") is None
    assert not any((tmp_path / "landscapes" / name).exists() for name in CLASS_NAMES)
    assert archive_route.hits == 1


@pytest.mark.network
def test_a_kept_archive_with_another_fingerprint_is_quarantined(server, tmp_path):
    """A kept archive that no longer matches the registry: error, quarantine, next run downloads?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, archive_route, _ = serve_dataset(server, archive, metadata_bodies(photos))
    kept = tmp_path / "_downloads" / "landscapes_small.zip"
    kept.parent.mkdir(parents=True)
    stale = zip_bytes(dataset_members(dict(list(photos.items())[:-1])))
    kept.write_bytes(stale)
    spec = dataclasses.replace(
        spec, archive_sha256=hashlib.sha256(archive).hexdigest(), archive_size=len(archive)
    )

    with pytest.raises(FingerprintError, match=re.escape(str(kept))):
        fetch_landscapes(tmp_path, spec=spec, progress=False)
    assert archive_route.hits == 0
    assert kept.with_name("landscapes_small.zip.bad").read_bytes() == stale

    dataset_dir = fetch_landscapes(tmp_path, spec=spec, progress=False)
    assert archive_route.hits == 1 and kept.read_bytes() == archive
    assert read_manifest(dataset_dir)["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
