"""Google Colab helpers, guarded so the same notebook runs locally and under the grader.

Colab gives each notebook its own runtime: ``/content`` is not shared between notebooks and is
wiped when the runtime is recycled. So, inside Colab and with ``USE_DRIVE = True`` (the default):

* the run folder lives on Google Drive (``MyDrive/paysages/run``), where every notebook finds
  what the previous ones wrote;
* the verified dataset archive is kept once on Drive (``MyDrive/paysages/archives/``): a new
  runtime copies it (seconds) instead of downloading it, then checks its SHA-256;
* the images are decoded on the runtime's fast local disk (``/content/datasets``);
* the last cell of each notebook calls :func:`paysages.notebook.finish`, which flushes what is
  still waiting on the local disk to Drive (:func:`flush_drive`).

Outside Colab none of this happens. ``PAYSAGES_COLAB_CONTENT`` replaces ``/content`` (the tests
simulate a runtime with it). This module imports nothing else from the kit but its leaves, so
that the data modules, the run folder and the environment check can all call it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from paysages.files import sha256_of_file, write_text_atomic

# The folder of Drive that holds the kit's files, under MyDrive.
DRIVE_SUBFOLDER = "paysages"

# Set by use_drive_for_runs() to the Drive folder in use, so that later calls (the dataset,
# finish()) know that Drive is mounted and where.
DRIVE_FOLDER_VARIABLE = "PAYSAGES_DRIVE_FOLDER"

# The suffix of the file that records the SHA-256 of an archive kept on Drive. It is written
# after the archive, so an archive without it was not copied completely.
FINGERPRINT_SUFFIX = ".sha256"


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "COLAB_RELEASE_TAG" in os.environ or "google.colab" in sys.modules


def content_dir() -> Path:
    """The runtime's local folder, ``/content`` in Colab (``PAYSAGES_COLAB_CONTENT`` overrides it)."""
    return Path(os.environ.get("PAYSAGES_COLAB_CONTENT") or "/content")


def mount_point() -> Path:
    """Where Colab mounts Google Drive."""
    return content_dir() / "drive"


def my_drive() -> Path:
    """The root of the student's Drive once mounted (``/content/drive/MyDrive``)."""
    return mount_point() / "MyDrive"


def drive_mounted() -> bool:
    """True when Drive is mounted on this runtime (by this process or by the notebook's kernel)."""
    return in_colab() and my_drive().is_dir()


def colab_notebooks_dir() -> Path:
    """Where Colab saves the notebooks opened from a badge (``MyDrive/Colab Notebooks``)."""
    return my_drive() / "Colab Notebooks"


def local_data_root() -> Path:
    """The data root on the runtime's local disk, where images are decoded."""
    return content_dir() / "datasets"


def local_run_dir() -> Path:
    """The run folder of a runtime without Drive (lost when the runtime is recycled)."""
    return content_dir() / "paysages_run"


def drive_folder() -> Path | None:
    """The kit's folder on Drive when this kernel mounted Drive, else None."""
    folder = os.environ.get(DRIVE_FOLDER_VARIABLE)
    return Path(folder) if folder and in_colab() else None


def drive_archives_dir() -> Path | None:
    """Where verified dataset archives are kept on Drive, or None without Drive."""
    folder = drive_folder()
    return None if folder is None else folder / "archives"


def mount_drive(subfolder: str = DRIVE_SUBFOLDER) -> Path | None:
    """Mount Google Drive and return ``MyDrive/<subfolder>``, or None outside Colab or on failure.

    Saving the run folder on Drive means a recycled Colab runtime loses nothing: models and
    histories written there survive, and BackupAndRestore resumes an interrupted training.
    """
    if not in_colab():
        print("Hors de Colab : Google Drive n'est pas monté, le dossier local est utilisé.")
        return None
    from google.colab import drive  # Only importable inside Colab.

    try:
        drive.mount(str(mount_point()))
    except Exception as error:  # Colab raises plain exceptions on mount time-outs.
        print(f"Le montage de Google Drive a échoué ({error}) : le dossier local est utilisé.")
        return None
    folder = my_drive() / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def use_drive_for_runs(subfolder: str = DRIVE_SUBFOLDER) -> Path | None:
    """Mount Drive and point ``PAYSAGES_RUN_DIR`` there when possible; return the run folder."""
    folder = mount_drive(subfolder)
    if folder is None:
        use_local_runtime("le montage de Google Drive a échoué")
        return None
    run_dir = folder / "run"
    os.environ["PAYSAGES_RUN_DIR"] = str(run_dir)
    os.environ[DRIVE_FOLDER_VARIABLE] = str(folder)
    # The images stay on the runtime's fast local disk; the archive comes back from Drive.
    os.environ.setdefault("PAYSAGES_DATA_ROOT", str(local_data_root()))
    print(f"Dossier de run sur Google Drive : {run_dir}")
    return run_dir


def use_local_runtime(cause: str = "USE_DRIVE = False") -> None:
    """Keep the run folder and the data on the runtime's local disk, and say what that costs."""
    os.environ.pop(DRIVE_FOLDER_VARIABLE, None)
    # A run folder left on Drive by an earlier set-up cell of this kernel is not used any more.
    if os.environ.get("PAYSAGES_RUN_DIR", "").startswith(str(mount_point())):
        os.environ["PAYSAGES_RUN_DIR"] = str(local_run_dir())
    os.environ.setdefault("PAYSAGES_RUN_DIR", str(local_run_dir()))
    os.environ.setdefault("PAYSAGES_DATA_ROOT", str(local_data_root()))
    print(declined_drive_message(cause))


def declined_drive_message(cause: str = "USE_DRIVE = False") -> str:
    """The French warning for a Colab notebook that runs without Drive (``cause`` says why)."""
    return (
        f"ATTENTION : Google Drive n'est pas utilisé ({cause}). Le dossier de run "
        f"({local_run_dir()}) reste sur cette machine Colab : les autres notebooks, qui ont chacun "
        "leur propre machine, ne le verront pas, et il sera effacé quand Colab recyclera la "
        "machine (séparation, modèles, historiques perdus). Pour l'activer : mettez "
        "USE_DRIVE = True dans la cellule des réglages, puis ré-exécutez le notebook depuis le début."
    )


def prerequisite_advice() -> str:
    """What to add to a missing-prerequisite message in Colab (empty elsewhere)."""
    if not in_colab():
        return ""
    return (
        " Sur Colab, chaque notebook a sa propre machine : ce notebook et celui qui écrit ce "
        "résultat doivent tous les deux garder USE_DRIVE = True (dossier de run sur Google Drive, "
        f"MyDrive/{DRIVE_SUBFOLDER}/run)."
    )


def flush_drive(run_dir: str | os.PathLike | None = None) -> str:
    """Make sure every write reached Google Drive; return the French sentence that says so.

    Colab writes to Drive through the runtime's local disk and uploads in the background;
    ``drive.flush_and_unmount()`` waits until everything is uploaded. Outside Colab, or without
    Drive, nothing is flushed and the sentence says where the results are.
    """
    folder = drive_folder()
    if folder is None:
        run_dir = run_dir or os.environ.get("PAYSAGES_RUN_DIR", "paysages_run")
        if in_colab():
            return (
                f"Résultats écrits dans {run_dir}, sur cette machine Colab seulement. "
                + declined_drive_message()
            )
        return f"Résultats écrits dans {run_dir}."
    from google.colab import drive  # Only importable inside Colab.

    drive.flush_and_unmount()
    os.environ.pop(DRIVE_FOLDER_VARIABLE, None)
    return (
        f"Tout est enregistré sur Google Drive ({folder / 'run'}) : vous pouvez fermer ce notebook "
        "et ouvrir le suivant. Drive est maintenant démonté : pour ré-exécuter une cellule ici, "
        "ré-exécutez d'abord la cellule de démarrage (start), qui le remonte."
    )


# Archives kept on Drive ------------------------------------------------------------------------


def _fingerprint_path(kept: Path) -> Path:
    return kept.with_name(kept.name + FINGERPRINT_SUFFIX)


def _forget_kept_archive(kept: Path) -> None:
    kept.unlink(missing_ok=True)
    _fingerprint_path(kept).unlink(missing_ok=True)


def restore_kept_archive(archive: Path, kept_folder: Path, expected_sha256: str | None) -> bool:
    """Copy the archive kept in ``kept_folder`` to ``archive`` when it is absent; True if copied.

    The copy is checked against ``expected_sha256`` (the registry's) or, when the registry has
    none, against the fingerprint recorded beside the kept archive. A kept archive that is
    half-copied (no fingerprint file) or corrupt (another SHA-256) is reported and removed from
    Drive, and False tells the caller to download a fresh one.
    """
    archive, kept = Path(archive), Path(kept_folder) / Path(archive).name
    if archive.is_file() or not kept.is_file():
        return False
    fingerprint = _fingerprint_path(kept)
    recorded = fingerprint.read_text(encoding="utf-8").strip() if fingerprint.is_file() else None
    expected = (expected_sha256 or recorded or "").lower()
    if not expected:
        print(
            f"L'archive gardée sur Google Drive ({kept}) n'a pas d'empreinte : sa copie a été "
            "interrompue. Elle est supprimée et l'archive est téléchargée à nouveau.",
            flush=True,
        )
        _forget_kept_archive(kept)
        return False
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".from-drive")
    print(f"Copie de l'archive gardée sur Google Drive ({kept}) sur cette machine ...", flush=True)
    shutil.copyfile(kept, partial)
    found = sha256_of_file(partial)
    if found != expected:
        partial.unlink()
        print(
            f"L'archive gardée sur Google Drive ({kept}) est incomplète ou abîmée (SHA-256 "
            f"{found} au lieu de {expected}) : elle est supprimée de Drive et l'archive est "
            "téléchargée à nouveau.",
            flush=True,
        )
        _forget_kept_archive(kept)
        return False
    os.replace(partial, archive)
    print(f"Archive copiée depuis Google Drive et vérifiée (SHA-256 {found}).", flush=True)
    return True


def keep_archive(archive: Path, kept_folder: Path, sha256: str) -> bool:
    """Keep a verified ``archive`` in ``kept_folder`` (once); True if it was copied now.

    The archive is copied under a temporary name and renamed, then its SHA-256 is written beside
    it: a copy interrupted at any point is recognised by :func:`restore_kept_archive`.
    """
    archive, kept = Path(archive), Path(kept_folder) / Path(archive).name
    fingerprint = _fingerprint_path(kept)
    if kept.is_file() and fingerprint.is_file():
        if fingerprint.read_text(encoding="utf-8").strip() == sha256.lower():
            return False
    kept.parent.mkdir(parents=True, exist_ok=True)
    fingerprint.unlink(missing_ok=True)
    partial = kept.with_name(kept.name + ".part")
    shutil.copyfile(archive, partial)
    os.replace(partial, kept)
    write_text_atomic(fingerprint, sha256.lower() + "\n")
    print(f"Archive vérifiée gardée sur Google Drive ({kept}) : une nouvelle machine la copiera "
          "au lieu de la télécharger.", flush=True)
    return True
