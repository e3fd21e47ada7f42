"""What the first code cells of every course notebook call.

``start("02_cnn", use_drive=USE_DRIVE, mode=MODE)`` optionally moves the run folder to Google
Drive, chooses the mode, resolves the settings, seeds everything, prints the environment check and
returns a :class:`NotebookContext` with the settings and the run folder.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

from paysages.runs import RunFolder
from paysages.settings import MODES, Settings, get_settings


@dataclasses.dataclass
class NotebookContext:
    name: str
    settings: Settings
    run: RunFolder


def grading() -> bool:
    """True while nbgrader executes the notebook (autograde or validate)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def autograding() -> bool:
    """True while nbgrader grades a submission (``autograde``), not while it validates one.

    Only then is Drive left alone: a student's notebook never mounts the grader's Drive. A
    validation (the instructor's ``nbgrader validate`` of the course) runs like a student's
    notebook, so in Colab it chains the notebooks through Drive as theirs do.
    """
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


# What start() last wrote to PAYSAGES_MODE ("written"), and the value found there that start()
# did not write ("imposed": the grader's, the demo's). Re-running a set-up cell after changing
# MODE then takes the new choice, while an imposed mode stays imposed.
_mode_state: dict[str, str | None] = {"written": None, "imposed": None}


def resolve_mode(requested: str | None) -> str:
    """Return the mode a notebook runs in, and say so when the request is overridden.

    ``PAYSAGES_MODE`` in the environment wins: the grader, ``make demo`` and the tests set it to
    ``fast``. While nbgrader grades a notebook the mode is always ``fast``. Otherwise the
    notebook's own ``MODE`` choice is used, and ``fast`` when it has none.
    """
    if requested is not None and requested not in MODES:
        raise ValueError(f"MODE = {requested!r} n'existe pas : choisissez \"full\" ou \"fast\".")
    current = os.environ.get("PAYSAGES_MODE")
    if not current:
        _mode_state["imposed"] = None
    elif current != _mode_state["written"]:
        _mode_state["imposed"] = current
    imposed = _mode_state["imposed"]
    if imposed:
        if requested is not None and requested != imposed:
            print(f"Mode imposé par l'environnement (PAYSAGES_MODE={imposed}) : MODE = {requested!r} est ignoré.")
        return imposed
    if grading():
        if requested not in (None, "fast"):
            print("Correction automatique : le mode rapide (fast) est imposé.")
        return "fast"
    return requested or "fast"


def start(
    name: str, *, use_drive: bool = False, mode: str | None = None, quiet: bool = False, **overrides
) -> NotebookContext:
    """Prepare a notebook: Drive (optional), mode, settings, seeds, run folder, environment check.

    ``use_drive`` mounts Google Drive and keeps the run folder there: Colab gives each notebook
    its own runtime, so the next notebook finds this one's results only there, and a recycled
    runtime loses nothing. Without it, in Colab, a French warning says what will be lost. It is
    ignored outside Colab and while nbgrader autogrades the notebook (grading never waits for a
    Drive prompt); ``nbgrader validate`` honours it, like a student's run.

    ``mode`` is the notebook's ``MODE`` choice (``"full"`` or ``"fast"``); see :func:`resolve_mode`
    for when it is overridden. The resolved mode is written to ``PAYSAGES_MODE`` so that every
    later call of :func:`~paysages.settings.get_settings` in the same kernel agrees with it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Warnings raised inside these libraries go to stderr, and nbgrader scores a test cell that
    # wrote to stderr as failed: their internal notices must not cost a student points.
    for module in ("keras", "tensorflow", "sklearn", "umap", "numba", "pynndescent", "joblib"):
        warnings.filterwarnings("ignore", module=module)
    from paysages import colab
    from paysages.envcheck import check_environment

    if autograding():
        # Grading never waits for a Drive prompt, even when the grader itself runs in Colab.
        os.environ.pop(colab.DRIVE_FOLDER_VARIABLE, None)
    elif colab.in_colab():
        if use_drive:
            colab.use_drive_for_runs()
        else:
            colab.use_local_runtime()
    resolved_mode = resolve_mode(mode)
    os.environ["PAYSAGES_MODE"] = _mode_state["written"] = resolved_mode
    settings = get_settings(resolved_mode, **overrides)
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


def finish(context: NotebookContext | None = None) -> None:
    """The last cell of every notebook: make sure the results reached Drive, and say where they are.

    In Colab with Drive, the writes still waiting on the runtime's local disk are flushed to
    Drive (:func:`paysages.colab.flush_drive`). Elsewhere it only says where the results are.
    """
    from paysages import colab

    name = f"{context.name} : " if context is not None else ""
    if autograding():
        print(f"{name}terminé.")
        return
    print(name + colab.flush_drive(context.settings.run_dir if context is not None else None))
