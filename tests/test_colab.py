"""The Colab journey in a simulated Colab: Drive holds the run folder and the verified archive.

Every test here runs in a simulated runtime (tests/helpers/colab.py): a stand-in google.colab
that binds a fake MyDrive folder, and a content folder that a "new runtime" wipes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys

import pytest

from paysages import colab, notebook
from paysages.data import access
from paysages.data import landscapes as landscapes_module
from paysages.errors import PrerequisiteError
from paysages.notebook import finish, start
from paysages.runs import RunFolder
from paysages.settings import get_settings
from tests.helpers.archives import dataset_members, metadata_bodies, photo_names, serve_dataset, zip_bytes
from tests.helpers.colab import SimulatedColab
from tests.helpers.http import LocalServer, talk_directly_without_waiting


@pytest.fixture()
def simulated(monkeypatch, tmp_path):
    """This process as a simulated Colab runtime, with no mode imposed."""
    simulated_colab = SimulatedColab(tmp_path)
    simulated_colab.install(monkeypatch)
    monkeypatch.setattr(notebook, "_mode_state", {"written": None, "imposed": None})
    return simulated_colab


def test_the_colab_root_is_overridable(simulated):
    """Do the runtime's folders follow PAYSAGES_COLAB_CONTENT (the test's /content)?"""
    assert colab.in_colab()
    assert colab.mount_point() == simulated.content / "drive"
    assert colab.local_data_root() == simulated.content / "datasets"
    assert colab.local_run_dir() == simulated.content / "paysages_run"


def test_declining_drive_in_colab_says_what_is_lost_and_how_to_switch_it_on(simulated, capsys):
    """With USE_DRIVE = False in Colab, is the run folder local and the loss explained in French?"""
    context = start("01_separation", use_drive=False, mode="fast", quiet=True)
    output = capsys.readouterr().out
    assert "USE_DRIVE = False" in output and "effacé" in output and "USE_DRIVE = True" in output
    assert context.settings.run_dir == simulated.content.resolve() / "paysages_run"
    assert simulated.calls() == []
    finish(context)
    assert "sur cette machine Colab seulement" in capsys.readouterr().out
    assert simulated.calls("flush_and_unmount") == []


def test_finish_flushes_drive_and_says_so(simulated, capsys):
    """Does the last cell flush Drive (flush_and_unmount) and say the results are on Drive?"""
    context = start("02_cnn", use_drive=True, mode="fast", quiet=True)
    context.run.save_json("proof", {"written": True})
    finish(context)
    output = capsys.readouterr().out
    assert "Tout est enregistré sur Google Drive" in output
    assert [call["call"] for call in simulated.calls()] == ["mount", "flush_and_unmount"]
    assert (simulated.kit_folder / "run" / "proof.json").is_file()
    # The helpers no longer believe Drive is mounted: re-running start() mounts it again.
    assert colab.drive_folder() is None
    start("02_cnn", use_drive=True, mode="fast", quiet=True)
    assert len(simulated.calls("mount")) == 2


def test_finish_outside_colab_only_says_where_the_results_are(monkeypatch, tmp_path, capsys):
    """Outside Colab, does finish() touch no Drive and never import google.colab?"""
    for name in ("COLAB_RELEASE_TAG", "PAYSAGES_DRIVE_FOLDER", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    settings = get_settings("fast", run_dir=tmp_path / "run")
    finish(notebook.NotebookContext("02_cnn", settings, RunFolder.from_settings(settings)))
    assert f"Résultats écrits dans {tmp_path / 'run'}" in capsys.readouterr().out
    assert "google.colab" not in sys.modules


def test_a_missing_prerequisite_in_colab_names_the_notebook_and_drive(simulated):
    """In Colab, does a missing split name notebook 01 AND say Drive must be on in both notebooks?"""
    context = start("02_cnn", use_drive=True, mode="fast", quiet=True)
    with pytest.raises(PrerequisiteError, match="01_separation.ipynb.*USE_DRIVE = True"):
        access.require_split(context.settings)
    with pytest.raises(PrerequisiteError, match="02_cnn.ipynb.*USE_DRIVE = True"):
        context.run.load_model("cnn")


def test_outside_colab_a_missing_prerequisite_does_not_mention_drive(monkeypatch, tmp_path):
    """Outside Colab, is the message the usual one, without the Drive advice?"""
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    settings = get_settings("fast", run_dir=tmp_path / "run")
    with pytest.raises(PrerequisiteError, match="01_separation.ipynb") as raised:
        access.require_split(settings)
    assert "USE_DRIVE" not in str(raised.value)


# The dataset archive kept on Drive ----------------------------------------------------------------


@pytest.fixture()
def served_archive(monkeypatch):
    """A Landscapes-like archive on a local server; the kit's registry entry points at it."""
    talk_directly_without_waiting(monkeypatch)
    photos = photo_names()
    archive = zip_bytes(dataset_members(photos))
    with LocalServer(lifetime=60) as server:
        spec, archive_route, _ = serve_dataset(server, archive, metadata_bodies(photos))
        monkeypatch.setattr(landscapes_module, "get_dataset_spec", lambda name: spec)
        yield archive_route, archive, spec


def _runtime_with_drive(simulated, capsys):
    """A new runtime: empty /content, Drive mounted by start(); return the settings."""
    simulated.new_runtime()
    context = start("00_prise_en_main", use_drive=True, mode="fast", dataset="landscapes", quiet=True)
    capsys.readouterr()
    return context.settings


def test_a_new_runtime_copies_the_archive_from_drive_instead_of_downloading(simulated, served_archive, capsys):
    """Is the verified archive kept on Drive once, and copied (not downloaded) by the next runtime?"""
    archive_route, archive, _ = served_archive
    settings = _runtime_with_drive(simulated, capsys)
    access.ensure_dataset(settings, progress=False)
    kept = simulated.kit_folder / "archives" / "landscapes_small.zip"
    assert kept.read_bytes() == archive
    assert kept.with_name(kept.name + ".sha256").read_text().strip() == hashlib.sha256(archive).hexdigest()
    assert archive_route.hits == 1

    settings = _runtime_with_drive(simulated, capsys)
    assert access.dataset_is_missing(settings)
    access.ensure_dataset(settings, progress=False)
    output = capsys.readouterr().out
    assert "Archive copiée depuis Google Drive et vérifiée" in output
    assert archive_route.hits == 1  # Not downloaded again.
    assert not access.dataset_is_missing(settings)
    # The images are on the runtime's local disk, not on Drive.
    assert settings.dataset_dir.is_relative_to(simulated.content.resolve())


@pytest.mark.parametrize("damage", ["truncated", "no fingerprint"])
def test_a_damaged_archive_on_drive_is_reported_and_replaced(simulated, served_archive, capsys, damage):
    """Is a half-copied or corrupt archive on Drive detected, reported, and replaced by a download?"""
    archive_route, archive, _ = served_archive
    settings = _runtime_with_drive(simulated, capsys)
    access.ensure_dataset(settings, progress=False)
    kept = simulated.kit_folder / "archives" / "landscapes_small.zip"
    if damage == "truncated":
        kept.write_bytes(archive[: len(archive) // 2])
        expected_message = "incomplète ou abîmée"
    else:
        kept.with_name(kept.name + ".sha256").unlink()
        expected_message = "n'a pas d'empreinte"

    settings = _runtime_with_drive(simulated, capsys)
    access.ensure_dataset(settings, progress=False)
    assert expected_message in capsys.readouterr().out
    assert archive_route.hits == 2  # Downloaded afresh...
    assert kept.read_bytes() == archive  # ...and kept on Drive again, whole.
    assert not access.dataset_is_missing(settings)


def test_the_registry_fingerprint_wins_over_the_one_on_drive(simulated, served_archive, monkeypatch, capsys):
    """With a SHA-256 in the registry, is a Drive copy checked against it, not against its own record?"""
    archive_route, archive, spec = served_archive
    settings = _runtime_with_drive(simulated, capsys)
    access.ensure_dataset(settings, progress=False)
    kept = simulated.kit_folder / "archives" / "landscapes_small.zip"
    # Someone replaced the archive on Drive and its record together: only the registry can tell.
    forged = archive + b"forged"
    kept.write_bytes(forged)
    kept.with_name(kept.name + ".sha256").write_text(hashlib.sha256(forged).hexdigest())
    registered = dataclasses.replace(spec, archive_sha256=hashlib.sha256(archive).hexdigest())
    monkeypatch.setattr(landscapes_module, "get_dataset_spec", lambda name: registered)

    settings = _runtime_with_drive(simulated, capsys)
    access.ensure_dataset(settings, progress=False)
    assert "incomplète ou abîmée" in capsys.readouterr().out
    assert archive_route.hits == 2
    assert kept.read_bytes() == archive


def test_outside_colab_no_archive_is_kept(monkeypatch, tmp_path, served_archive):
    """Outside Colab, does the download keep nothing anywhere but the data root?"""
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("PAYSAGES_DRIVE_FOLDER", raising=False)
    assert colab.drive_archives_dir() is None
    settings = get_settings("fast", dataset="landscapes", data_root=tmp_path / "data", run_dir=tmp_path / "run")
    access.ensure_dataset(settings, progress=False)
    assert [path.name for path in tmp_path.iterdir()] == ["data"]
