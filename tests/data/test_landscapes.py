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

from paysages.cli import main as paysages_main
from paysages.data import archive as archive_module
from paysages.data import landscapes as landscapes_module
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
    with_fingerprint,
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
        archive_size=None,
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


def _fingerprint_line(archive: bytes) -> str:
    return f"SHA-256 {hashlib.sha256(archive).hexdigest()}, taille {len(archive)} octets"


@pytest.mark.network
@pytest.mark.parametrize("progress", [True, False])
def test_without_a_recorded_fingerprint_the_download_says_it_is_not_verified(server, tmp_path, capsys, progress):
    """No fingerprint recorded: does each run print SHA-256 and size, say "not verified", and give the values to record?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, _, _ = serve_dataset(server, archive, metadata_bodies(photos))
    to_record = f'"dataset_archive": {{"sha256": "{hashlib.sha256(archive).hexdigest()}", "size": {len(archive)}}}'

    fetch_landscapes(tmp_path, spec=spec, progress=progress)
    first = capsys.readouterr().out
    fetch_landscapes(tmp_path, spec=spec, progress=progress)
    second = capsys.readouterr().out

    for output in (first, second):  # Downloaded, then already there: never silent.
        assert _fingerprint_line(archive) in output
        assert "landscapes_small.zip n'est PAS vérifiée" in output
        assert "aucune empreinte de référence" in output
        assert to_record in output and "autograde/course.json" in output
        assert "identiques à l'empreinte enregistrée" not in output
    assert read_manifest(tmp_path / "landscapes")["archive"]["sha256_in_registry"] is None


@pytest.mark.network
def test_an_archive_matching_the_recorded_fingerprint_is_accepted_and_said_verified(server, tmp_path, capsys):
    """With the right SHA-256 and size recorded, is the dataset installed, recorded and said verified, twice?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, archive_route, _ = serve_dataset(server, archive, metadata_bodies(photos))
    spec = with_fingerprint(spec, archive, sha256=hashlib.sha256(archive).hexdigest().upper())

    dataset_dir = fetch_landscapes(tmp_path, spec=spec, progress=False)
    first = capsys.readouterr().out
    fetch_landscapes(tmp_path, spec=spec, progress=False)
    second = capsys.readouterr().out

    for output in (first, second):
        assert f"Archive landscapes_small.zip vérifiée : {_fingerprint_line(archive)}" in output
        assert "identiques à l'empreinte enregistrée pour ce cours" in output
        assert "PAS vérifiée" not in output
    manifest = read_manifest(dataset_dir)
    assert manifest["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert manifest["archive"]["size"] == len(archive)
    assert manifest["archive"]["size_in_registry"] == len(archive)
    assert manifest["total"] == PER_CLASS * len(CLASS_NAMES)
    assert archive_route.hits == 1


@pytest.mark.network
@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_a_downloaded_archive_with_another_fingerprint_is_quarantined(server, tmp_path, wrong):
    """A served archive that differs from the recorded fingerprint: French error naming the file,
    expected and actual values and what to do; the file kept as .bad, nothing extracted?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, archive_route, _ = serve_dataset(server, archive, metadata_bodies(photos))
    actual_sha256 = hashlib.sha256(archive).hexdigest()
    if wrong == "sha256":
        spec = with_fingerprint(spec, archive, sha256="ab" * 32)
        expected_phrase = f"SHA-256 attendu {'ab' * 32}, trouvé {actual_sha256}"
    else:
        spec = with_fingerprint(spec, archive, size=len(archive) + 1)
        expected_phrase = f"taille attendue {len(archive) + 1} octets, trouvée {len(archive)} octets"
    kept = tmp_path / "_downloads" / "landscapes_small.zip"

    with pytest.raises(FingerprintError, match="n'est pas le fichier enregistré pour ce cours") as raised:
        fetch_landscapes(tmp_path, spec=spec, progress=False)

    message = str(raised.value)
    quarantined = kept.with_name("landscapes_small.zip.bad")
    assert str(kept) in message and expected_phrase in message and str(quarantined) in message
    assert "rien n'est effacé" in message and "Relancez le téléchargement" in message
    assert ("SHA-256 attendu" in message) == (wrong == "sha256")  # Only what differs is named.
    assert not kept.exists() and quarantined.read_bytes() == archive  # Nothing deleted.
    # The licence metadata downloaded beside it is kept too.
    assert len(list((tmp_path / "landscapes" / "licenses").glob("*_photos_info.json"))) == len(CLASS_NAMES)
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
    spec = with_fingerprint(spec, archive)

    with pytest.raises(FingerprintError, match=re.escape(str(kept))):
        fetch_landscapes(tmp_path, spec=spec, progress=False)
    assert archive_route.hits == 0
    assert kept.with_name("landscapes_small.zip.bad").read_bytes() == stale

    dataset_dir = fetch_landscapes(tmp_path, spec=spec, progress=False)
    assert archive_route.hits == 1 and kept.read_bytes() == archive
    assert read_manifest(dataset_dir)["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()



@pytest.mark.network
@pytest.mark.parametrize("recorded", ["the archive's", "another file's"])
def test_a_fingerprint_recorded_in_course_json_is_the_one_downloads_check(server, tmp_path, recorded):
    """course.json -> (make notebooks) registry -> download: is the recorded fingerprint the one checked?"""
    from autograde import build_notebooks as builder
    from paysages.registry import load_registry

    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    served, _, _ = serve_dataset(server, archive, metadata_bodies(photos))
    sha256 = hashlib.sha256(archive).hexdigest() if recorded == "the archive's" else "ef" * 32
    registry = tmp_path / "registry.json"
    registry.write_text(builder.REGISTRY_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    builder.sync_registry(registry_path=registry, config={"dataset_archive": {"sha256": sha256, "size": len(archive)}})
    recorded_spec = load_registry(registry)["landscapes"]
    spec = dataclasses.replace(served, archive_sha256=recorded_spec.archive_sha256,
                               archive_size=recorded_spec.archive_size)

    if recorded == "the archive's":
        dataset_dir = fetch_landscapes(tmp_path / "root", spec=spec, progress=False)
        assert read_manifest(dataset_dir)["archive"]["sha256_in_registry"] == sha256
    else:
        with pytest.raises(FingerprintError, match=f"SHA-256 attendu {sha256}, trouvé {hashlib.sha256(archive).hexdigest()}"):
            fetch_landscapes(tmp_path / "root", spec=spec, progress=False)
        assert (tmp_path / "root" / "_downloads" / "landscapes_small.zip.bad").read_bytes() == archive

# `paysages data download`: what the command prints -------------------------------------------


@pytest.mark.network
def test_the_download_command_prints_the_archive_fingerprint_and_checks_the_recorded_one(
    server, tmp_path, monkeypatch, capsys
):
    """Does `paysages data download` print SHA-256 and size, then refuse a changed archive with status 2?"""
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    spec, archive_route, _ = serve_dataset(server, archive, metadata_bodies(photos))
    monkeypatch.setattr(landscapes_module, "get_dataset_spec", lambda name: with_fingerprint(spec, archive))
    root = tmp_path / "data"

    assert paysages_main(["data", "download", "--root", str(root)]) == 0
    output = capsys.readouterr().out
    assert f"Archive landscapes_small.zip vérifiée : {_fingerprint_line(archive)}" in output
    assert paysages_main(["data", "download", "--root", str(root)]) == 0  # Already there.
    assert _fingerprint_line(archive) in capsys.readouterr().out

    # The recorded fingerprint is now another file's (the server's file changed since): the dataset
    # on disk no longer counts as installed, and the archive, downloaded again, is refused.
    other = zip_bytes(dataset_members(dict(list(photos.items())[1:])))
    monkeypatch.setattr(landscapes_module, "get_dataset_spec", lambda name: with_fingerprint(spec, other))
    kept = root / "_downloads" / "landscapes_small.zip"
    kept.unlink()  # As on a new runtime: the archive is downloaded again.

    status = paysages_main(["data", "download", "--root", str(root)])

    error = capsys.readouterr().err.splitlines()[-1]  # After the progress bars: one line.
    assert status == 2 and error.startswith("error: L'archive ")
    assert str(kept) in error
    assert f"SHA-256 attendu {hashlib.sha256(other).hexdigest()}, trouvé {hashlib.sha256(archive).hexdigest()}" in error
    assert f"taille attendue {len(other)} octets, trouvée {len(archive)} octets" in error
    assert "ré-exécutez la cellule, ou `paysages data download`" in error
    assert kept.with_name("landscapes_small.zip.bad").read_bytes() == archive
    assert archive_route.hits == 2
