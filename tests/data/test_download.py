"""Tests of paysages.download against a real HTTP server on 127.0.0.1 and real zip archives.

The archives hold small but real JPEG files in class folders, with licence metadata written in
the ml5js format for exactly those files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import socket
import stat
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from paysages import download
from paysages.download import (
    MANIFEST_FILENAME,
    download_file,
    extract_archive,
    fetch_landscapes,
    read_manifest,
    verify_against_metadata,
)
from paysages.errors import ArchiveError, DownloadError, FingerprintError, OfflineError
from paysages.licences import load_licence_metadata, no_derivative_files
from paysages.registry import get_dataset_spec
from tests.data.helpers_http import LocalServer

CLASS_NAMES = ("city", "field", "forest", "lake", "mountain", "ocean", "road")
PER_CLASS = 3
# In each class, the first photo is under licence 3, the second under 6 (no derivatives).
LICENCE_CYCLE = ("3", "6", "1")
ARCHIVE_PATH = "/files/landscapes_small.zip"
METADATA_PATH = "/licenses/{class_name}_photos_info.json"


@pytest.fixture(autouse=True)
def no_proxy_and_no_wait(monkeypatch):
    """Talk to 127.0.0.1 directly (never through a proxy) and retry without waiting."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(download, "DEFAULT_BACKOFF_SECONDS", 0.01)


@pytest.fixture
def server():
    with LocalServer(lifetime=60) as local_server:
        yield local_server


# --------------------------------------------------------------------------------------------
# Building archives and metadata.
# --------------------------------------------------------------------------------------------


def jpeg_bytes(index: int) -> bytes:
    image = Image.new("RGB", (12, 8), ((index * 37) % 256, (index * 91) % 256, (index * 13) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def photo_names() -> dict[tuple[str, str], bytes]:
    photos = {}
    for class_index, class_name in enumerate(CLASS_NAMES):
        for number in range(PER_CLASS):
            index = class_index * PER_CLASS + number
            filename = f"{1000 + index}_{class_name[:2]}{number}.jpg"
            photos[(class_name, filename)] = jpeg_bytes(index)
    return photos


def licence_of(filename: str, photos) -> str:
    class_name = next(key[0] for key in photos if key[1] == filename)
    position = sorted(name for (owner, name) in photos if owner == class_name).index(filename)
    return LICENCE_CYCLE[position % len(LICENCE_CYCLE)]


def metadata_bodies(photos) -> dict[str, bytes]:
    """One JSON file per class in the ml5js format, describing exactly ``photos``."""
    bodies = {}
    for class_name in CLASS_NAMES:
        names = sorted(name for (owner, name) in photos if owner == class_name)
        entries = {
            name: {
                "url": f"https://farm1.example.invalid/{name}",
                "name": f"https://farm1.example.invalid/{name}",
                "license": LICENCE_CYCLE[position % len(LICENCE_CYCLE)],
                "title": f"Photo {position} of {class_name}",
                "owner": f"Owner {position}",
                "clean_name": name,
                "keyword": class_name,
                "owner_id": f"{position}@N00",
            }
            for position, name in enumerate(names)
        }
        bodies[class_name] = json.dumps(entries).encode("utf-8")
    return bodies


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def dataset_members(photos, prefix: str = "") -> dict[str, bytes]:
    return {
        f"{prefix}{class_name}/{name}": content for (class_name, name), content in photos.items()
    }


def serve_dataset(server: LocalServer, archive: bytes, metadata: dict[str, bytes]):
    """Serve an archive and its metadata; return a registry entry pointing at them."""
    archive_route = server.add(ARCHIVE_PATH, archive)
    metadata_routes = {
        class_name: server.add(METADATA_PATH.format(class_name=class_name), body)
        for class_name, body in metadata.items()
    }
    spec = dataclasses.replace(
        get_dataset_spec("landscapes"),
        archive_urls=(server.url(ARCHIVE_PATH),),
        metadata_url_templates=(server.url(METADATA_PATH),),
        archive_sha256=None,
        metadata_sha256={
            name: hashlib.sha256(body).hexdigest() for name, body in metadata.items()
        },
        expected_counts={name: PER_CLASS for name in CLASS_NAMES},
    )
    return spec, archive_route, metadata_routes


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def class_files(dataset_dir: Path) -> dict[str, set[str]]:
    return {
        name: {path.name for path in (dataset_dir / name).iterdir()} for name in CLASS_NAMES
    }


# --------------------------------------------------------------------------------------------
# The whole procedure.
# --------------------------------------------------------------------------------------------

JUNK_MEMBERS = {
    "__MACOSX/city/._1000_ci0.jpg": b"\x00\x05\x16\x07 AppleDouble",
    "__MACOSX/._city": b"\x00\x05\x16\x07",
    "city/.DS_Store": b"Bud1 junk",
    ".DS_Store": b"Bud1 junk",
    "field/.ipynb_checkpoints/1003_fi0-checkpoint.jpg": jpeg_bytes(99),
    ".ipynb_checkpoints/notes-checkpoint.ipynb": b"{}",
}


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

    real_copy = download.shutil.copyfileobj
    calls = []

    def failing_copy(source, target, length=0):
        calls.append(1)
        if len(calls) == 4:
            raise OSError("disk unplugged")
        return real_copy(source, target, length)

    monkeypatch.setattr(download.shutil, "copyfileobj", failing_copy)
    with pytest.raises(OSError, match="disk unplugged"):
        fetch_landscapes(tmp_path, spec=spec, exclude_no_derivatives=True, progress=False)

    assert read_manifest(dataset_dir) is None
    assert not (dataset_dir / MANIFEST_FILENAME).exists()
    assert class_files(dataset_dir) == before  # The previous extraction was not touched.
    assert not list(tmp_path.glob(".landscapes*"))


# --------------------------------------------------------------------------------------------
# Downloading one file.
# --------------------------------------------------------------------------------------------


def big_payload(size: int = 300_000) -> bytes:
    return bytes((index * 7 + index // 251) % 256 for index in range(size))


@pytest.mark.network
def test_an_interrupted_transfer_is_resumed_with_a_range_request(server, tmp_path):
    payload = big_payload()
    route = server.add("/big.bin", payload, cut_after=100_000)
    destination = tmp_path / "big.bin"

    download_file(
        server.url("/big.bin"),
        destination,
        expected_sha256=hashlib.sha256(payload).hexdigest(),
        progress=False,
    )

    assert hashlib.sha256(destination.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert route.requests == [None, "bytes=100000-"]
    assert not (tmp_path / "big.bin.part").exists()


@pytest.mark.network
def test_a_server_that_ignores_range_still_gives_the_right_file(server, tmp_path):
    payload = big_payload()
    route = server.add("/big.bin", payload, cut_after=120_000, ignore_range=True)
    destination = tmp_path / "big.bin"

    download_file(server.url("/big.bin"), destination, expected_size=len(payload), progress=False)

    assert destination.read_bytes() == payload
    assert route.requests == [None, "bytes=120000-"]


@pytest.mark.network
def test_a_partial_file_left_by_an_earlier_run_is_resumed(server, tmp_path):
    payload = big_payload()
    route = server.add("/big.bin", payload)
    destination = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(payload[:77_777])

    download_file(server.url("/big.bin"), destination, expected_size=len(payload), progress=False)

    assert destination.read_bytes() == payload
    assert route.requests == ["bytes=77777-"]


@pytest.mark.network
def test_a_complete_partial_file_is_finished_without_downloading_again(server, tmp_path):
    payload = big_payload(10_000)
    route = server.add("/done.bin", payload)
    (tmp_path / "done.bin.part").write_bytes(payload)

    download_file(server.url("/done.bin"), tmp_path / "done.bin", progress=False)

    # The server answers 416 "bytes */10000": the partial file already is the whole file.
    assert route.requests == ["bytes=10000-"]
    assert (tmp_path / "done.bin").read_bytes() == payload


@pytest.mark.network
def test_a_server_error_is_retried_then_reported(server, tmp_path):
    route = server.add("/busy.bin", b"", status=503)
    with pytest.raises(DownloadError, match="gave up after 3 attempt.*HTTP 503"):
        download_file(server.url("/busy.bin"), tmp_path / "busy.bin", retries=2, progress=False)
    assert route.hits == 3
    assert not (tmp_path / "busy.bin").exists()


@pytest.mark.network
def test_a_transfer_that_keeps_failing_keeps_its_partial_file_for_later(server, tmp_path):
    payload = big_payload()
    server.add("/big.bin", payload, cut_after=50_000, cut_times=100)
    destination = tmp_path / "big.bin"

    with pytest.raises(DownloadError, match="gave up after 2 attempt") as raised:
        download_file(server.url("/big.bin"), destination, retries=1, progress=False)

    assert "is kept" in str(raised.value)
    assert not destination.exists()
    part = tmp_path / "big.bin.part"
    # Two cut transfers of 50,000 bytes each, the second one appended by resuming.
    assert part.read_bytes() == payload[:100_000]

    server.add("/healthy.bin", payload)
    download_file(
        server.url("/healthy.bin"), destination, expected_size=len(payload), progress=False
    )
    assert destination.read_bytes() == payload
    assert not part.exists()


@pytest.mark.network
def test_a_sha256_mismatch_leaves_no_file_behind(server, tmp_path):
    server.add("/file.bin", b"the wrong content" * 100)
    destination = tmp_path / "file.bin"

    with pytest.raises(DownloadError, match="sha256") as raised:
        download_file(
            server.url("/file.bin"), destination, expected_sha256="0" * 64, progress=False
        )

    assert "file.bin" in str(raised.value)
    assert not destination.exists()
    assert not (tmp_path / "file.bin.part").exists()


@pytest.mark.network
def test_a_git_lfs_pointer_falls_through_to_the_next_url(server, tmp_path):
    payload = big_payload(20_000)
    pointer = (
        b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        b"size 20000\n"
    )
    lfs_route = server.add("/raw/data.zip", pointer)
    real_route = server.add("/media/data.zip", payload)
    destination = tmp_path / "data.zip"

    download_file(
        [server.url("/raw/data.zip"), server.url("/media/data.zip")], destination, progress=False
    )

    assert destination.read_bytes() == payload
    assert lfs_route.hits == 1 and real_route.hits == 1


@pytest.mark.network
def test_a_missing_file_on_every_mirror_is_a_download_error_not_offline(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as raised:
        download_file(
            [server.url("/a.zip"), server.url("/b.zip")], tmp_path / "a.zip", progress=False
        )
    assert not isinstance(raised.value, OfflineError)


@pytest.mark.network
def test_without_any_server_offline_error_comes_at_once(tmp_path):
    port = closed_port()
    start = time.monotonic()
    with pytest.raises(OfflineError, match="put it at"):
        download_file(
            [f"http://127.0.0.1:{port}/a.zip", f"http://127.0.0.1:{port}/b.zip"],
            tmp_path / "a.zip",
            retries=3,
            backoff=5.0,  # Retrying would take 35 s: the error must come without any retry.
            progress=False,
        )
    assert time.monotonic() - start < 3.0


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
    with pytest.raises(OfflineError) as raised:
        fetch_landscapes(tmp_path, spec=spec, progress=False)
    assert time.monotonic() - start < 3.0

    message = str(raised.value)
    assert str(tmp_path / "_downloads" / "landscapes_small.zip") in message
    assert f"http://127.0.0.1:{port}/landscapes_small.zip" in message
    assert str(tmp_path / "landscapes" / "licenses") in message
    assert "city_photos_info.json" in message and "road_photos_info.json" in message
    assert read_manifest(tmp_path / "landscapes") is None


# --------------------------------------------------------------------------------------------
# Extracting an archive (no network).
# --------------------------------------------------------------------------------------------


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(zip_bytes(members))
    return path


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


# --------------------------------------------------------------------------------------------
# A downloaded archive that fails extraction is quarantined, never reused.
# --------------------------------------------------------------------------------------------


def damaged_zip(photos) -> bytes:
    """A zip of ``photos`` whose first member's compressed bytes are flipped (its CRC fails)."""
    members = dataset_members(photos)
    data = bytearray(zip_bytes(members))
    offset = 30 + len(next(iter(members)).encode()) + 40
    for index in range(offset, offset + 20):
        data[index] ^= 0xFF
    return bytes(data)


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

    with pytest.raises(ArchiveError) as raised:
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


def test_a_second_quarantine_keeps_the_first(tmp_path):
    """Two bad archives in a row: are both kept, under different names?"""
    archive = tmp_path / "landscapes_small.zip"
    archive.write_bytes(b"first")
    first = download.quarantine_archive(archive)
    archive.write_bytes(b"second")
    second = download.quarantine_archive(archive)
    assert (first.name, second.name) == ("landscapes_small.zip.bad", "landscapes_small.zip.2.bad")
    assert first.read_bytes() == b"first" and second.read_bytes() == b"second"
    assert not archive.exists()


# --------------------------------------------------------------------------------------------
# Timeouts: a short one to connect, a longer one to read.
# --------------------------------------------------------------------------------------------


@pytest.mark.network
def test_a_server_that_accepts_but_never_answers_is_a_read_timeout_retried(tmp_path):
    """Connected but no answer: is it retried on the read timeout, and not mistaken for no network?"""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # The kernel completes the connections; nobody ever answers.
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.zip"
    start = time.monotonic()
    try:
        with pytest.raises(DownloadError) as raised:
            download_file(url, tmp_path / "slow.zip", retries=1, read_timeout=0.3, progress=False)
    finally:
        listener.close()
    elapsed = time.monotonic() - start
    assert not isinstance(raised.value, OfflineError)
    assert "gave up after 2 attempt" in str(raised.value) and "timed out" in str(raised.value)
    assert 0.5 < elapsed < 5.0


@pytest.mark.network
def test_a_connection_that_never_completes_is_offline_after_the_connect_timeout(tmp_path):
    """A server whose connection queue is full (SYNs dropped): OfflineError after the short connect timeout?"""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.3)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip("this system completes connections beyond a full listen queue")
        start = time.monotonic()
        with pytest.raises(OfflineError, match="no connection to 127.0.0.1 within 0.5 s"):
            download_file(
                f"http://127.0.0.1:{port}/a.zip", tmp_path / "a.zip", retries=3, backoff=5.0,
                connect_timeout=0.5, progress=False,
            )
        # No retry: one connect timeout, not four, and none of the 35 s of back-off.
        assert time.monotonic() - start < 2.0
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_default_timeouts_connect_quickly_and_read_patiently():
    assert download.CONNECT_TIMEOUT_SECONDS <= 10 < download.READ_TIMEOUT_SECONDS


# --------------------------------------------------------------------------------------------
# The metadata check and the licence filter against the real ml5js licence metadata.
# --------------------------------------------------------------------------------------------


def _real_entries(shared_licences_dir) -> dict[tuple[str, str], str]:
    """Every photo of the real metadata files, read as plain JSON: (class, file) -> licence id."""
    entries = {}
    for class_name in CLASS_NAMES:
        raw = json.loads((shared_licences_dir / f"{class_name}_photos_info.json").read_text(encoding="utf-8"))
        entries.update({(class_name, filename): str(entry["license"]) for filename, entry in raw.items()})
    return entries


def _readme_licence_counts(shared_licences_dir) -> dict[str, int]:
    """The per-licence counts the shared README states ("licences 1: 792, 2: 508, ...")."""
    import re

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


# --------------------------------------------------------------------------------------------
# The archive's fingerprint (SHA-256 and size) recorded in the registry.
# --------------------------------------------------------------------------------------------


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
