"""Tests of paysages.data.access, what notebooks call: never a silent fallback, French messages naming the notebook to run,
a dataset wiped after the split (a recycled Colab runtime) fetched again with a message."""

import dataclasses
import hashlib
import io
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from paysages.data import decode
from paysages.data import landscapes as landscapes_module
from paysages.data.loading import load_images
from paysages.data.access import (
    dataset_is_missing,
    ensure_dataset,
    load_split_arrays,
    prepare_split,
    scan_and_decode,
)
from paysages.errors import DatasetError, FingerprintError, OfflineError
from paysages.registry import get_dataset_spec
from paysages.settings import get_settings
from tests.helpers.archives import dataset_members, metadata_bodies, with_fingerprint, zip_bytes
from tests.helpers.http import LocalServer, closed_port

CLASS_NAMES = ("city", "field", "forest", "lake", "mountain", "ocean", "road")
# Enough photos per class for a stratified 80/20 split (one validation image per class at least).
PHOTOS_PER_CLASS = 5



def _photos() -> dict[tuple[str, str], bytes]:
    """Small but real, distinct JPEG photos, PHOTOS_PER_CLASS per class."""
    photos = {}
    for class_index, class_name in enumerate(CLASS_NAMES):
        for number in range(PHOTOS_PER_CLASS):
            pixels = np.random.default_rng(10 * class_index + number).integers(0, 256, (24, 32, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
            photos[(class_name, f"{2000 + 10 * class_index + number}.jpg")] = buffer.getvalue()
    return photos


def _landscapes_spec(archive_url: str, metadata_template: str, metadata: dict[str, bytes]):
    return dataclasses.replace(
        get_dataset_spec("landscapes"),
        archive_urls=(archive_url,),
        metadata_url_templates=(metadata_template,),
        archive_sha256=None,
        archive_size=None,
        metadata_sha256={name: hashlib.sha256(body).hexdigest() for name, body in metadata.items()},
    )


@pytest.fixture
def served_landscapes(monkeypatch):
    """A local server with a Landscapes-like archive; the kit's registry entry points at it."""
    photos = _photos()
    metadata = metadata_bodies(photos)
    with LocalServer(lifetime=60) as server:
        archive_route = server.add("/landscapes_small.zip", zip_bytes(dataset_members(photos)))
        for class_name, body in metadata.items():
            server.add(f"/licenses/{class_name}_photos_info.json", body)
        spec = _landscapes_spec(
            server.url("/landscapes_small.zip"), server.url("/licenses/{class_name}_photos_info.json"), metadata
        )
        monkeypatch.setattr(landscapes_module, "get_dataset_spec", lambda name: spec)
        yield server, archive_route, photos


def _unreachable_landscapes(monkeypatch):
    port = closed_port()
    spec = _landscapes_spec(
        f"http://127.0.0.1:{port}/landscapes_small.zip",
        f"http://127.0.0.1:{port}/licenses/{{class_name}}_photos_info.json",
        {},
    )
    monkeypatch.setattr(landscapes_module, "get_dataset_spec", lambda name: spec)


# ---------------------------------------------------------------------------------------------
# Getting the dataset
# ---------------------------------------------------------------------------------------------


@pytest.mark.network
def test_without_network_the_real_dataset_error_says_what_to_do(tmp_path, monkeypatch):
    """With no server reachable, is the French error quick, explicit, and is nothing put in its place?"""
    _unreachable_landscapes(monkeypatch)
    settings = get_settings("full", environ={}, data_root=tmp_path)
    start = time.monotonic()
    with pytest.raises(OfflineError, match="00_prise_en_main.ipynb") as error:
        ensure_dataset(settings, progress=False)
    assert time.monotonic() - start < 5.0
    message = str(error.value)
    assert "00_prise_en_main.ipynb" in message and "paysages data download" in message
    assert str(tmp_path) in message and "PAYSAGES_DATASET=sample" in message
    # The manual instructions of the download say where each file goes.
    assert str(tmp_path / "_downloads" / "landscapes_small.zip") in message
    assert not [path for path in tmp_path.rglob("*") if path.is_file()], "nothing may be generated in its place"
    assert not (tmp_path / "landscapes").exists()


@pytest.mark.network
def test_offline_setting_does_not_block_the_dataset_download(tmp_path, served_landscapes):
    """PAYSAGES_OFFLINE concerns pretrained weights only: is the dataset still downloaded?"""
    server, archive_route, photos = served_landscapes
    settings = get_settings("fast", environ={}, dataset="landscapes", data_root=tmp_path, offline=True)
    assert settings.offline

    folder = ensure_dataset(settings, progress=False)

    assert archive_route.hits == 1
    on_disk = {(path.parent.name, path.name): path.read_bytes() for path in folder.glob("*/*.jpg")}
    assert on_disk == photos
    assert not dataset_is_missing(settings)


@pytest.mark.network
def test_a_dataset_installed_before_the_fingerprint_was_recorded_is_checked_again(
    tmp_path, served_landscapes, monkeypatch, capsys
):
    """Installed unverified, then a fingerprint is recorded: is a dataset from another archive refused?"""
    server, archive_route, photos = served_landscapes
    archive = archive_route.body
    settings = get_settings("fast", environ={}, dataset="landscapes", data_root=tmp_path)
    ensure_dataset(settings, progress=False)
    assert "PAS vérifiée" in capsys.readouterr().out
    unverified = landscapes_module.get_dataset_spec("landscapes")

    # The recorded fingerprint is that of the archive the dataset came from (its manifest says
    # so): the dataset is reused as is, nothing downloaded.
    monkeypatch.setattr(landscapes_module, "get_dataset_spec", lambda name: with_fingerprint(unverified, archive))
    ensure_dataset(settings, progress=False)
    assert capsys.readouterr().out == ""
    assert archive_route.hits == 1

    # Another file's fingerprint: the dataset no longer counts as installed, and its kept archive
    # is checked, refused and moved aside, in French.
    monkeypatch.setattr(landscapes_module, "get_dataset_spec",
                        lambda name: with_fingerprint(unverified, archive, sha256="cd" * 32))
    with pytest.raises(FingerprintError, match="n'est pas le fichier enregistré pour ce cours"):
        ensure_dataset(settings, progress=False)
    kept = tmp_path / "_downloads" / "landscapes_small.zip"
    assert not kept.exists() and kept.with_name("landscapes_small.zip.bad").read_bytes() == archive


def test_sample_dataset_is_generated_once_and_reused(tmp_path):
    """Is the sample dataset generated on first use and left untouched afterwards?"""
    settings = get_settings("fast", environ={}, data_root=tmp_path, sample_per_class=5)
    assert dataset_is_missing(settings)
    folder = ensure_dataset(settings)
    stamps = {path: path.stat().st_mtime_ns for path in folder.rglob("*.jpg")}
    assert len(stamps) >= 7 * 3
    assert not dataset_is_missing(settings)
    assert ensure_dataset(settings) == folder
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*.jpg")} == stamps


def _landscapes_like_copy(settings):
    """The split sample's files as a "landscapes" dataset (changing a sample's files regenerates it)."""
    landscapes = dataclasses.replace(settings, dataset="landscapes")
    shutil.copytree(settings.dataset_dir, landscapes.dataset_dir)
    (landscapes.dataset_dir / "paysages_dataset.json").write_text('{"dataset": "landscapes"}')
    return landscapes


def test_missing_class_folder_names_the_notebook_in_french(tmp_path):
    """When a class folder vanished, does the error name it and tell to re-run notebook 00?"""
    settings = get_settings("fast", environ={}, data_root=tmp_path, sample_per_class=5)
    ensure_dataset(settings)
    # A landscapes-like folder with a manifest but no road folder.
    landscapes = _landscapes_like_copy(settings)
    shutil.rmtree(landscapes.dataset_dir / "road")

    with pytest.raises(DatasetError, match="Il manque") as error:
        scan_and_decode(landscapes)

    message = str(error.value)
    assert "road" in message and "00_prise_en_main.ipynb" in message and "Il manque" in message


# ---------------------------------------------------------------------------------------------
# Loading through the split when the dataset changed or vanished
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def split_sample(tmp_path):
    """A generated sample dataset and its split, in a data root and a run folder of their own."""
    settings = get_settings(
        "fast", environ={}, data_root=tmp_path / "content", run_dir=tmp_path / "drive" / "run", sample_per_class=6
    )
    frame = prepare_split(settings)
    return settings, frame


def test_a_wiped_sample_dataset_is_regenerated_with_a_message(split_sample, capsys):
    """After the data root is wiped (recycled Colab runtime), are the same arrays back, and said so?"""
    settings, _frame = split_sample
    before = load_split_arrays(settings)
    capsys.readouterr()
    shutil.rmtree(settings.data_root)

    after = load_split_arrays(settings)

    output = capsys.readouterr().out
    assert "absent" in output and "régénéré" in output and str(settings.dataset_dir) in output
    assert np.array_equal(before.x_train, after.x_train)
    assert np.array_equal(before.y_validation, after.y_validation)
    assert before.train_paths == after.train_paths


def test_a_present_dataset_is_loaded_without_any_message(split_sample, capsys):
    """With the dataset in place, does loading say nothing about restoring it?"""
    settings, _frame = split_sample
    capsys.readouterr()
    load_split_arrays(settings)
    assert "absent" not in capsys.readouterr().out


@pytest.mark.network
def test_a_wiped_landscapes_dataset_is_downloaded_again_with_a_message(tmp_path, served_landscapes, capsys):
    """With the split on Drive and /content wiped, is the real dataset downloaded again, and said so?"""
    server, archive_route, photos = served_landscapes
    settings = get_settings(
        "fast", environ={}, dataset="landscapes", data_root=tmp_path / "content", run_dir=tmp_path / "drive"
    )
    ensure_dataset(settings, progress=False)
    frame = prepare_split(settings)
    before = load_split_arrays(settings)
    capsys.readouterr()
    shutil.rmtree(settings.data_root)

    after = load_split_arrays(settings)

    assert "téléchargé à nouveau" in capsys.readouterr().out
    assert archive_route.hits == 2
    assert sorted(after.train_paths + after.validation_paths) == sorted(frame["path"])
    assert np.array_equal(before.x_validation, after.x_validation)

    # Without network, the same situation gives the French offline message instead.
    shutil.rmtree(settings.data_root)
    server.stop()
    with pytest.raises(OfflineError, match="00_prise_en_main.ipynb"):
        load_split_arrays(settings)


def test_split_files_missing_from_the_dataset_name_both_notebooks(split_sample):
    """When images of the split are gone from a present dataset, does the error say what to run?"""
    settings, frame = split_sample
    gone = frame["path"].iloc[0]
    landscapes = _landscapes_like_copy(settings)
    (landscapes.dataset_dir / gone).unlink()

    with pytest.raises(DatasetError, match="manquent") as error:
        load_split_arrays(landscapes)

    message = str(error.value)
    assert gone in message and "manquent" in message
    assert "00_prise_en_main.ipynb" in message and "01_separation.ipynb" in message


def test_undecodable_split_file_says_to_fetch_the_dataset_again(split_sample):
    """A damaged image of the split: does the error name it and point to notebook 00, not to a new split?"""
    settings, frame = split_sample
    damaged = frame.loc[frame["subset"] == "validation", "path"].iloc[0]
    landscapes = _landscapes_like_copy(settings)
    (landscapes.dataset_dir / damaged).write_bytes(b"<html>not a photo</html>")

    with pytest.raises(DatasetError, match="ne se décodent plus") as error:
        load_split_arrays(landscapes)

    message = str(error.value)
    assert damaged in message and "ne se décodent plus" in message
    assert "00_prise_en_main.ipynb" in message and "reste valable" in message


def test_split_of_another_dataset_names_notebook_01(split_sample):
    """A split whose classes the dataset does not have: is the student told to redo it in notebook 01?"""
    settings, frame = split_sample
    renamed = frame.assign(**{"class": frame["class"].replace({"city": "town"})})
    renamed.to_csv(settings.split_path, index=False)

    with pytest.raises(DatasetError, match="classes inconnues") as error:
        load_split_arrays(settings)

    message = str(error.value)
    assert "town" in message and "01_separation.ipynb" in message


# ---------------------------------------------------------------------------------------------
# One decoding for every loading path, with a progress bar
# ---------------------------------------------------------------------------------------------


def _count_decodes(monkeypatch) -> list:
    """Record every file the loader decodes (cache hits decode nothing)."""
    decoded = []
    real_decode = decode._decode_guarded

    def counting_decode(path, image_size, max_pixels):
        decoded.append(path)
        return real_decode(path, image_size, max_pixels)

    monkeypatch.setattr(decode, "_decode_guarded", counting_decode)
    return decoded


def test_the_split_arrays_come_from_the_one_dataset_cache(split_sample, monkeypatch):
    """After the split (which decoded the dataset), do the arrays decode nothing, from one cache?"""
    settings, frame = split_sample
    decoded = _count_decodes(monkeypatch)

    data = load_split_arrays(settings)
    again = load_split_arrays(settings)

    assert decoded == []
    assert len(list((settings.data_root / "_cache").glob("*.npy"))) == 1
    assert sorted(data.train_paths + data.validation_paths) == sorted(frame["path"])
    assert np.array_equal(data.x_train, again.x_train)
    # The rows are the right images: the same as decoding the split's files directly.
    direct = load_images([settings.dataset_dir / name for name in data.validation_paths], settings.image_size)
    assert np.array_equal(data.x_validation, direct.images)
    expected_labels = [data.class_names.index(name.split("/")[0]) for name in data.validation_paths]
    assert data.y_validation.tolist() == expected_labels


def test_decoding_the_dataset_shows_a_progress_bar_that_can_be_switched_off(tmp_path, capsys):
    """Does the first decoding show a tqdm bar on stderr, and progress=False show none?"""
    settings = get_settings(
        "fast", environ={}, data_root=tmp_path / "content", run_dir=tmp_path / "run", sample_per_class=3
    )
    ensure_dataset(settings, progress=False)
    capsys.readouterr()

    scan_and_decode(settings, progress=False)
    quiet = capsys.readouterr()
    shutil.rmtree(settings.data_root / "_cache")
    _dataset_dir, scan, result = scan_and_decode(settings)
    shown = capsys.readouterr()

    assert "Decoding images" not in quiet.err + quiet.out
    assert "Decoding images" in shown.err and f"{len(scan.files)}/{len(scan.files)}" in shown.err
    assert result.from_cache is False
