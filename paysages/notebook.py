"""What the first code cell of every course notebook calls.

``start("02_cnn")`` resolves the settings, seeds everything, prints the environment check and
returns a :class:`NotebookContext` with the settings and the run folder.
"""

from __future__ import annotations

import dataclasses
import os

from paysages.runs import RunFolder
from paysages.settings import Settings, get_settings


@dataclasses.dataclass
class NotebookContext:
    name: str
    settings: Settings
    run: RunFolder


def start(name: str, *, quiet: bool = False, **overrides) -> NotebookContext:
    """Prepare a notebook: settings, seeds, run folder and the environment check."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings = get_settings(**overrides)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    from paysages.envcheck import check_environment

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
