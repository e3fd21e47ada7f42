"""Running ``python -m autograde.validate_course`` from the tests, and reading its results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY_DIR = Path(__file__).resolve().parents[2]


def validation_environment(changes=None) -> dict[str, str]:
    """This process's variables with ``changes`` applied (a ``None`` value removes the variable).

    nbgrader runs ``alembic`` (its database migrations) by name: the venv's bin goes first on PATH.
    """
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name, value in (changes or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


def validate(notebooks, data_root=None, run_dir=None, *, invert=False, environment=None) -> list[dict]:
    """Validate ``notebooks`` in one process; one result dict per notebook.

    Without ``data_root`` and ``run_dir`` the notebooks keep their own defaults (inside a
    simulated Colab: the run folder on the fake Drive). ``environment`` changes variables
    (see :func:`validation_environment`).
    """
    command = [sys.executable, "-m", "autograde.validate_course", *map(str, notebooks)]
    if data_root is not None:
        command += ["--data-root", str(data_root)]
    if run_dir is not None:
        command += ["--run-dir", str(run_dir)]
    if invert:
        command.append("--invert")
    completed = subprocess.run(command, cwd=REPOSITORY_DIR, capture_output=True, text=True, timeout=1800,
                               env=validation_environment(environment))
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    if len(results) != len(notebooks):
        raise AssertionError(f"validation crashed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return results
