"""Validate course notebooks with nbgrader, in order, sharing one run folder (fast mode).

``python -m autograde.validate_course`` runs ``nbgrader validate`` on every source notebook:
each must pass all its tests with the reference solutions. With ``--invert`` (on release
notebooks), every graded test cell must FAIL on the student stubs: no free points. Results are
printed as JSON, one object per notebook, so tests and scripts can read them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from autograde.execute import fast_environment, patched_environment
from autograde.layout import course_notebooks


# Fast mode trains small networks: a cell may take minutes on a loaded 2-core machine.
CELL_TIMEOUT_SECONDS = 900


def validate_notebook(path: Path, *, invert: bool = False) -> dict:
    """Run nbgrader's validator on one notebook; return {notebook, ok, seconds, problems}."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    config = Config()
    config.Execute.timeout = CELL_TIMEOUT_SECONDS
    validator = Validator(invert=invert, config=config)
    started = time.perf_counter()
    results = validator.validate(str(path))
    problems = []
    for key in ("type_changed", "changed", "passed", "failed"):
        for cell in results.get(key, []):
            problems.append({"kind": key, "source": cell.get("source", "")[:400],
                             "error": cell.get("raw_error", "")[-1500:]})
    return {"notebook": path.name, "ok": not problems, "seconds": round(time.perf_counter() - started, 1),
            "problems": problems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: every course notebook)")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
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
