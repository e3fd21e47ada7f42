"""The pipeline's side of the verdict stage: probes before the kernel, the trusted process after it.

For one notebook with registered verdicts, the grader:

1. draws a seed for this run from ``os.urandom`` (:func:`new_seed`; recorded in the journal once
   the notebook is graded) and writes the probes into the folder the kernel reads them from,
   before the kernel starts (:func:`autograde.verdicts.registry.write_probes`);
2. once the kernel has ended, runs the trusted verdict process (:func:`run_verdict_process`: a
   fresh ``python -m autograde.verdicts judge``, outside the sandbox, with the repository on its
   path), which reads only the kernel's export folder and writes the verdict file at a path of
   the grader's choosing; in sandboxed grading it runs in the background
   (:class:`PendingVerdicts`) while the next notebook's kernel starts, and its export folder
   stays out of that kernel's sandbox;
3. stores ``points x verdict`` for each registered cell in the gradebook
   (:func:`autograde.records.set_auto_fractions`): what nbgrader derived from the cell's outputs
   is replaced, so a cell's own outputs never earn anything.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from pathlib import Path

from autograde.layout import REPOSITORY_DIR
from autograde.limits import log_tail, run_limited
from paysages.errors import PaysagesError

VERDICT_TIMEOUT_SECONDS = 300.0
# Variables of the verdict process: nothing of the grader's environment but what Python needs.
PASSED_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")
# Never passed, even among the settings: the gradebook's address may hold a database password,
# and the grading token marks the processes of an nbgrader run, all killed when that run ends
# (autograde/limits.py): a verdict process, which may outlive it, is not one of them.
SECRET_VARIABLES = ("PAYSAGES_GRADEBOOK_URL", "PAYSAGES_GRADING_TOKEN")


class VerdictStageError(PaysagesError):
    """The trusted verdict process failed: the registered cells of the notebook score 0."""


def new_seed() -> int:
    """A fresh seed for one notebook's probes, from the operating system's random source."""
    return int.from_bytes(os.urandom(8), "big")


def settings_variables(environment: dict) -> dict[str, str]:
    """The kit's grading settings (``PAYSAGES_*``) of an environment, without the gradebook's address."""
    return {name: str(value) for name, value in environment.items()
            if name.startswith("PAYSAGES_") and name not in SECRET_VARIABLES}


def verdict_environment(settings: dict | None = None) -> dict[str, str]:
    """Python's variables, the repository on the path, and the grader's ``PAYSAGES_*`` settings.

    ``settings`` are the grading settings a verdict may read through ``get_settings()`` (notebook
    02's decodes the validation images from the grading data): the grader's own, never the kernel's.
    """
    environment = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
    environment.update(settings_variables(settings or {}))
    environment.update({
        "PYTHONPATH": str(REPOSITORY_DIR),
        # The working folder is never importable, and no bytecode is written anywhere.
        "PYTHONSAFEPATH": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    })
    return environment


def run_verdict_process(notebook: str, seed: int, export_dir: Path, output: Path, *, log_path: Path,
                        timeout: float = VERDICT_TIMEOUT_SECONDS, settings: dict | None = None) -> dict:
    """Judge one notebook's exports in a fresh trusted process; return the verdict file's content.

    ``output`` must lie where no kernel can write (the grader's log folder): it is removed first,
    so that only this process's verdicts are ever read. ``settings``: the grader's ``PAYSAGES_*``
    variables (:func:`verdict_environment`).
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    command = [sys.executable, "-m", "autograde.verdicts", "judge", "--notebook", notebook, "--seed", str(seed),
               "--export", str(export_dir), "--output", str(output)]
    result = run_limited(command, cwd=output.parent, env=verdict_environment(settings), timeout=timeout, log_path=log_path)
    if result.timed_out or result.returncode != 0 or not output.is_file():
        raise VerdictStageError(f"the verdict process of {notebook} failed (exit {result.returncode}, "
                                f"timed out: {result.timed_out}):\n{log_tail(log_path, 1500)}")
    return json.loads(output.read_text(encoding="utf-8"))


class PendingVerdicts:
    """The trusted verdict process of one notebook, run in a background thread.

    The grader starts it as soon as the notebook's kernel has ended and goes on with the next
    notebook's kernel; :meth:`wait` returns ``(verdicts, error)`` once it ended. The thread is a
    daemon: an interrupted grader does not wait for it (its process has its own time limit).
    """

    def __init__(self, notebook: str, seed: int, export_dir: Path, output: Path, *, log_path: Path,
                 settings: dict | None = None, timeout: float = VERDICT_TIMEOUT_SECONDS):
        self.verdicts: dict | None = None
        self.error: str | None = None
        judge = functools.partial(run_verdict_process, notebook, seed, export_dir, output, log_path=log_path,
                                  settings=settings, timeout=timeout)
        self.thread = threading.Thread(target=self._run, args=(judge,), daemon=True, name=f"verdicts-{notebook}")
        self.thread.start()

    def _run(self, judge) -> None:
        try:
            self.verdicts = judge()
        except VerdictStageError as error:
            self.error = str(error)
        except Exception as error:  # The grader's own failure: the cells score 0, and the journal says why.
            self.error = f"the verdict stage failed: {type(error).__name__}: {error}"

    def wait(self) -> tuple[dict | None, str | None]:
        self.thread.join()
        return self.verdicts, self.error


def verdict_fractions(result: dict, grade_ids) -> dict[str, float]:
    """grade id -> fraction of its points, for every registered cell (0 when it has no verdict)."""
    verdicts = (result or {}).get("verdicts", {})
    return {grade_id: float(verdicts.get(grade_id, {}).get("fraction", 0.0)) for grade_id in grade_ids}


def journal_record(seed: int, result: dict | None, error: str | None = None) -> dict:
    """What the journal keeps of one notebook's verdict stage."""
    record = {"seed": str(seed), "computed_outside_kernel": True}
    if result is not None:
        record["cells"] = result.get("verdicts", {})
        record["ignored_exports"] = result.get("ignored", [])[:50]
    if error:
        record["error"] = error[:2000]
    return record
