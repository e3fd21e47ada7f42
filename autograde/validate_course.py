"""Validate course notebooks with nbgrader, in order, sharing one run folder (fast mode).

``python -m autograde.validate_course`` runs ``nbgrader validate`` on every source notebook:
each must pass all its tests with the reference solutions. With ``--invert`` (on release
notebooks), every graded test cell must FAIL on the student stubs: no free points. Results are
printed as JSON, one object per notebook, so tests and scripts can read them. Without
``--data-root`` and ``--run-dir`` the notebooks keep their own defaults, as a student's do: the
tests validate the course that way inside a simulated Colab, each notebook on its own runtime.

A notebook whose test cells are judged outside the kernel (:mod:`autograde.verdicts`) goes
through the same verdict stage as in grading: probes of a fresh seed are written before the
kernel starts, and after nbgrader's validation the trusted verdict process judges the exports.
Every registered cell must then earn its full verdict (or, with ``--invert``, none of it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from autograde.execute import fast_environment, patched_environment
from autograde.layout import course_notebooks
from autograde.verdicts import registry as verdict_registry
from autograde.verdicts import stage as verdict_stage
from paysages.probes import EXPORT_VARIABLE, PROBES_VARIABLE


# Fast mode trains small networks: a cell may take minutes on a loaded 2-core machine.
CELL_TIMEOUT_SECONDS = 900


def _verdict_settings(export_dir: Path) -> dict[str, str]:
    """The settings a verdict reads: this process's, or, when the notebooks chose their own, theirs.

    Validation runs the reference solutions, not a student's code: when no data root was given
    (a simulated Colab, where each notebook picks its runtime's folders), the settings the kernel
    reported with its exports (``"settings"``) stand in. Grading never does this: the grader passes
    its own settings (:func:`autograde.pipeline._run_notebook`).
    """
    if os.environ.get("PAYSAGES_DATA_ROOT"):
        return verdict_stage.settings_variables(os.environ)
    reported = {}
    for path in sorted(export_dir.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(content, dict) and isinstance(content.get("settings"), dict):
            reported.update(content["settings"])
    return {f"PAYSAGES_{key.upper()}": str(value) for key, value in reported.items()}


def validate_notebook(path: Path, *, invert: bool = False) -> dict:
    """Run nbgrader's validator, then the verdict stage; return {notebook, ok, seconds, problems}."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    config = Config()
    config.Execute.timeout = CELL_TIMEOUT_SECONDS
    validator = Validator(invert=invert, config=config)
    started = time.perf_counter()
    name = Path(path).stem
    judged = verdict_registry.registered_grade_ids(name)
    problems = []
    with tempfile.TemporaryDirectory(prefix="paysages-validate-") as folder:
        exchange = Path(folder)
        seed = verdict_stage.new_seed()
        variables = {}
        if judged:
            verdict_registry.write_probes(name, seed, exchange / "probes")
            (exchange / "export").mkdir()
            variables = {PROBES_VARIABLE: str(exchange / "probes"), EXPORT_VARIABLE: str(exchange / "export")}
        with patched_environment(variables):
            results = validator.validate(str(path))
        for key in ("type_changed", "changed", "passed", "failed"):
            for cell in results.get(key, []):
                problems.append({"kind": key, "source": cell.get("source", "")[:400],
                                 "error": cell.get("raw_error", "")[-1500:]})
        if judged:
            verdicts = verdict_stage.run_verdict_process(name, seed, exchange / "export", exchange / "verdicts.json",
                                                         log_path=exchange / "verdicts.log",
                                                         settings=_verdict_settings(exchange / "export"))
            for grade_id, verdict in sorted(verdicts["verdicts"].items()):
                if (verdict["fraction"] > 0.0) if invert else (verdict["fraction"] < 1.0):
                    problems.append({"kind": "verdict", "source": grade_id,
                                     "error": f"verdict {verdict['fraction']:g}: {verdict['reason']}"})
    return {"notebook": path.name, "ok": not problems, "seconds": round(time.perf_counter() - started, 1),
            "problems": problems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: every course notebook)")
    parser.add_argument("--data-root", type=Path,
                        help="where the datasets are decoded (default: the notebooks' own choice)")
    parser.add_argument("--run-dir", type=Path, help="the shared run folder (default: the notebooks' own choice)")
    parser.add_argument("--invert", action="store_true", help="check that stubs fail every graded test")
    parser.add_argument("--stop-on-failure", action="store_true")
    arguments = parser.parse_args(argv)
    notebooks = arguments.notebooks or course_notebooks()
    environment = fast_environment(arguments.data_root, arguments.run_dir)
    all_ok = True
    with patched_environment(environment):
        for path in notebooks:
            result = validate_notebook(Path(path).resolve(), invert=arguments.invert)
            print(json.dumps(result, ensure_ascii=False), flush=True)
            all_ok = all_ok and result["ok"]
            if not result["ok"] and arguments.stop_on_failure:
                break
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
