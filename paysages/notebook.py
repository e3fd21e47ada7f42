"""What the first code cells of every course notebook call.

``start("02_cnn", use_drive=USE_DRIVE)`` optionally moves the run folder to Google Drive, resolves
the settings, seeds everything, prints the environment check and returns a
:class:`NotebookContext` with the settings and the run folder.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

from paysages.runs import RunFolder
from paysages.settings import Settings, get_settings


@dataclasses.dataclass
class NotebookContext:
    name: str
    settings: Settings
    run: RunFolder


def grading() -> bool:
    """True while nbgrader executes the notebook (autograde or validate)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def start(name: str, *, use_drive: bool = False, quiet: bool = False, **overrides) -> NotebookContext:
    """Prepare a notebook: Drive (optional), settings, seeds, run folder and the environment check.

    ``use_drive`` mounts Google Drive and keeps the run folder there, so that a recycled Colab
    runtime loses no model and an interrupted training resumes. It is ignored outside Colab and
    while nbgrader grades the notebook (grading never waits for a Drive prompt).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Warnings raised inside these libraries go to stderr, and nbgrader scores a test cell that
    # wrote to stderr as failed: their internal notices must not cost a student points.
    for module in ("keras", "tensorflow", "sklearn", "umap", "numba", "pynndescent"):
        warnings.filterwarnings("ignore", module=module)
    from paysages.envcheck import check_environment, in_colab

    if use_drive and in_colab() and not grading():
        from paysages.colab import use_drive_for_runs

        use_drive_for_runs()
    settings = get_settings(**overrides)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    report = check_environment(settings)
    if not quiet:
        print(f"== {name} ==")
        print(report.format())
    if not report.ok:
        raise RuntimeError("L'environnement ne convient pas :\n" + "\n".join(report.errors))
    import tensorflow as tf

    from paysages.training import configure_mixed_precision, set_seed

    # Retracing warnings (predicting with several models in a row) are noise for students.
    tf.get_logger().setLevel("ERROR")
    set_seed(settings.seed)
    configure_mixed_precision(settings, verbose=not quiet)
    return NotebookContext(name=name, settings=settings, run=RunFolder.from_settings(settings))
