"""The notebooks' first call: Drive only inside Colab and never while grading."""

import sys

import pytest

from paysages import notebook
from paysages.notebook import start
from paysages.settings import MODE_DEFAULTS, get_settings
from tests.helpers.colab import SimulatedColab


@pytest.fixture()
def fake_colab(monkeypatch, tmp_path):
    """This process as a simulated Colab runtime (tests/helpers/colab.py)."""
    simulated = SimulatedColab(tmp_path)
    simulated.install(monkeypatch)
    return simulated


def test_drive_holds_the_run_folder_in_colab(fake_colab, monkeypatch):
    """In Colab with USE_DRIVE, is the run folder moved to MyDrive/paysages/run?"""
    context = start("02_cnn", use_drive=True, quiet=True)
    assert [call["mountpoint"] for call in fake_colab.calls("mount")] == [str(fake_colab.content / "drive")]
    assert context.settings.run_dir == (fake_colab.kit_folder / "run").resolve()
    # The images are decoded on the runtime's local disk, not on Drive.
    assert context.settings.data_root == (fake_colab.content / "datasets").resolve()


def test_grading_never_mounts_drive(fake_colab, monkeypatch, tmp_path):
    """While nbgrader executes the notebook, is Drive left alone even if USE_DRIVE is True?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("PAYSAGES_RUN_DIR", str(tmp_path / "grading-run"))
    context = start("02_cnn", use_drive=True, quiet=True)
    assert fake_colab.calls() == []
    assert context.settings.run_dir == (tmp_path / "grading-run").resolve()


def test_validation_in_colab_chains_through_drive_like_a_student(fake_colab, monkeypatch):
    """While nbgrader validates (not grades) a notebook in Colab, is the run folder on Drive?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    context = start("02_cnn", use_drive=True, mode="full", quiet=True)
    assert [call["call"] for call in fake_colab.calls()] == ["mount"]
    assert context.settings.run_dir == (fake_colab.kit_folder / "run").resolve()
    # The fast mode stays imposed during a validation, as during grading.
    assert context.settings.mode == "fast"


def test_a_failed_mount_falls_back_to_the_local_folder_and_says_so(fake_colab, monkeypatch, tmp_path, capsys):
    """If the Drive mount times out, does the notebook go on locally with a message?"""
    from google.colab import drive

    def refuse(mount_point):
        raise TimeoutError("mount timed out")

    monkeypatch.setattr(drive, "mount", refuse)
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


@pytest.fixture()
def no_imposed_mode(monkeypatch, tmp_path):
    """No mode in the environment, not grading; start() writes PAYSAGES_MODE, undone afterwards."""
    for name in ("PAYSAGES_MODE", "NBGRADER_EXECUTION", "COLAB_RELEASE_TAG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYSAGES_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("PAYSAGES_DATA_ROOT", str(tmp_path / "datasets"))
    monkeypatch.setattr(notebook, "_mode_state", {"written": None, "imposed": None})


def test_the_notebook_mode_choice_is_used_and_can_be_changed(no_imposed_mode):
    """Does MODE choose the settings, and does re-running the set-up cell with another MODE take it?"""
    full = start("02_cnn", mode="full", quiet=True)
    assert full.settings.mode == "full" and full.settings.dataset == "landscapes"
    assert full.settings.image_size == MODE_DEFAULTS["full"]["image_size"]
    # A later get_settings() in the same kernel (hidden tests, helpers) agrees with the choice.
    assert get_settings().mode == "full"
    fast = start("02_cnn", mode="fast", quiet=True)
    assert fast.settings.mode == "fast" and fast.settings.dataset == "sample"


def test_the_environment_and_grading_impose_fast_mode(no_imposed_mode, monkeypatch, capsys):
    """Do PAYSAGES_MODE (grader, demo, tests) and nbgrader's execution win over MODE, and say so?"""
    monkeypatch.setenv("PAYSAGES_MODE", "fast")
    assert start("02_cnn", mode="full", quiet=True).settings.mode == "fast"
    assert "PAYSAGES_MODE=fast" in capsys.readouterr().out
    # Still imposed at the next set-up cell, although start() wrote that same value itself.
    assert start("03_regularisation", mode="full", quiet=True).settings.mode == "fast"
    monkeypatch.delenv("PAYSAGES_MODE")
    monkeypatch.setattr(notebook, "_mode_state", {"written": None, "imposed": None})
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert notebook.resolve_mode("full") == "fast"
    assert "mode rapide (fast) est imposé" in capsys.readouterr().out


def test_an_unknown_mode_is_refused_in_french(no_imposed_mode):
    """Is a typo in MODE refused with a message naming the two modes?"""
    with pytest.raises(ValueError, match='"full" ou "fast"'):
        start("02_cnn", mode="complet", quiet=True)
