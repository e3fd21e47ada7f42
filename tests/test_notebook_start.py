"""The notebooks' first call: Drive only inside Colab and never while grading."""

import sys
import types

import pytest

from paysages import colab
from paysages.notebook import start


@pytest.fixture()
def fake_colab(monkeypatch, tmp_path):
    """A stand-in for Colab: the marker variable and a google.colab.drive that records mounts."""
    mounts = []
    drive = types.SimpleNamespace(mount=lambda mount_point: mounts.append(mount_point))
    # Only google.colab is faked: the real `google` namespace package (protobuf) must stay.
    google_colab = types.ModuleType("google.colab")
    google_colab.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    monkeypatch.setattr(colab, "MOUNT_POINT", str(tmp_path / "drive"))
    monkeypatch.setattr(colab, "LOCAL_DATA_ROOT", str(tmp_path / "content-datasets"))
    for name in ("PAYSAGES_RUN_DIR", "PAYSAGES_DATA_ROOT", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    return types.SimpleNamespace(mounts=mounts, drive=drive, root=tmp_path)


def test_drive_holds_the_run_folder_in_colab(fake_colab, monkeypatch):
    """In Colab with USE_DRIVE, is the run folder moved to MyDrive/paysages/run?"""
    context = start("02_cnn", use_drive=True, quiet=True)
    assert fake_colab.mounts == [str(fake_colab.root / "drive")]
    assert context.settings.run_dir == (fake_colab.root / "drive" / "MyDrive" / "paysages" / "run").resolve()


def test_grading_never_mounts_drive(fake_colab, monkeypatch, tmp_path):
    """While nbgrader executes the notebook, is Drive left alone even if USE_DRIVE is True?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("PAYSAGES_RUN_DIR", str(tmp_path / "grading-run"))
    context = start("02_cnn", use_drive=True, quiet=True)
    assert fake_colab.mounts == []
    assert context.settings.run_dir == (tmp_path / "grading-run").resolve()


def test_a_failed_mount_falls_back_to_the_local_folder_and_says_so(fake_colab, monkeypatch, tmp_path, capsys):
    """If the Drive mount times out, does the notebook go on locally with a message?"""
    def refuse(mount_point):
        raise TimeoutError("mount timed out")

    fake_colab.drive.mount = refuse
    monkeypatch.setenv("PAYSAGES_RUN_DIR", str(tmp_path / "local-run"))
    context = start("02_cnn", use_drive=True, quiet=True)
    assert "Le montage de Google Drive a échoué" in capsys.readouterr().out
    assert context.settings.run_dir == (tmp_path / "local-run").resolve()


def test_outside_colab_drive_is_not_touched(monkeypatch, tmp_path):
    """Outside Colab, does use_drive change nothing (and never import google.colab)?"""
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setenv("PAYSAGES_RUN_DIR", str(tmp_path / "run"))
    context = start("00_prise_en_main", use_drive=True, quiet=True)
    assert context.settings.run_dir == (tmp_path / "run").resolve()
    assert "google.colab" not in sys.modules
