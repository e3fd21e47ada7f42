"""Google Colab helpers, guarded so the same notebook runs locally and under the grader."""

from __future__ import annotations

import os
from pathlib import Path

from paysages.envcheck import in_colab


def mount_drive(subfolder: str = "paysages", mount_point: str = "/content/drive") -> Path | None:
    """Mount Google Drive and return ``MyDrive/<subfolder>``, or None outside Colab.

    Saving the run folder on Drive means a recycled Colab runtime loses nothing: models and
    histories written there survive, and BackupAndRestore resumes an interrupted training.
    """
    if not in_colab():
        print("Hors de Colab : Google Drive n'est pas monté, le dossier local est utilisé.")
        return None
    from google.colab import drive  # Only importable inside Colab.

    try:
        drive.mount(mount_point)
    except Exception as error:  # Colab raises plain exceptions on mount time-outs.
        print(f"Le montage de Google Drive a échoué ({error}) : le dossier local est utilisé.")
        return None
    folder = Path(mount_point) / "MyDrive" / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def use_drive_for_runs(subfolder: str = "paysages") -> Path | None:
    """Mount Drive and point ``PAYSAGES_RUN_DIR`` (and the data root) there when possible."""
    folder = mount_drive(subfolder)
    if folder is None:
        return None
    os.environ["PAYSAGES_RUN_DIR"] = str(folder / "run")
    # The images stay on the runtime's fast local disk; a lost runtime downloads them again.
    os.environ.setdefault("PAYSAGES_DATA_ROOT", "/content/datasets")
    print(f"Dossier de run sur Google Drive : {folder / 'run'}")
    return folder
