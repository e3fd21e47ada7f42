"""``make demo``: the whole kit end to end on the embedded sample dataset, in fast mode.

1. generate, verify, split and load the sample dataset;
2. execute every course notebook (00-11) with the reference solutions, in order, sharing one run
   folder; executed copies with their outputs go to ``<out>/notebooks/`` (outside git);
3. print the results table of notebook 05 and the defence pack of notebook 11;
4. autograde the reference and the blank submissions with nbgrader and print their grades.

Steps 2-4 need a source checkout of the kit (``course/`` and ``autograde/``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from paysages.errors import PaysagesError
from paysages.settings import get_settings


def _heading(text: str) -> None:
    print(f"\n-- {text}", flush=True)


def run_data_steps(out_dir: Path, *, sample_per_class: int | None = None):
    """Generate, verify, split and load the sample dataset; return the settings used.

    ``sample_per_class`` (default: the fast mode's) makes the sample smaller, for a quick test.
    """
    from paysages.data import ensure_dataset, load_split_arrays, prepare_split
    from paysages.data.report import verify_image_folder
    from paysages.registry import get_dataset_spec
    from paysages.split import split_summary

    settings = get_settings(
        "fast", environ={}, dataset="sample", data_root=out_dir / "datasets", run_dir=out_dir / "data-check",
        sample_per_class=sample_per_class,
    )
    print(settings.describe())
    _heading("1. Generate the sample dataset")
    dataset_dir = ensure_dataset(settings)
    print(f"Sample dataset in {dataset_dir}")

    _heading("2. Verify it")
    report = verify_image_folder(dataset_dir, get_dataset_spec("sample").class_names)
    print(report.format())
    if not report.ok:
        raise PaysagesError("The sample dataset did not verify.")

    _heading("3. Split it once (stratified 80/20)")
    frame = prepare_split(settings, overwrite=True)
    print(split_summary(frame).to_string())

    _heading("4. Load the arrays through the split file")
    print(load_split_arrays(settings).describe())
    return settings


def run_course(out_dir: Path) -> bool:
    """Execute every course notebook; print the results table and the defence pack."""
    try:
        from autograde.execute import course_notebooks, execute_course
    except ImportError as error:
        raise PaysagesError(
            "The course part of the demo needs a source checkout of the kit (course/ and autograde/): "
            f"{error}"
        ) from error
    import pandas as pd

    from paysages.runs import RunFolder

    _heading(f"5. Execute the course notebooks (executed copies in {out_dir / 'notebooks'})")
    run_dir = out_dir / "run"
    results = execute_course(out_dir, course_notebooks(), data_root=out_dir / "datasets", run_dir=run_dir)
    failed = [result for result in results if result.error is not None]
    if failed:
        print(f"\n{failed[0].notebook.name} failed; its executed copy is {failed[0].output}:")
        print(failed[0].error[-3000:])
        return False

    run = RunFolder(run_dir)
    _heading("6. Results table (notebook 05, validation set)")
    table = pd.DataFrame(run.load_json("results"))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    best = run.load_json("best")
    print(f"Best model: {best['name']} ({best.get('rule', '')})")

    _heading("7. Defence pack (notebook 11)")
    pack_dir = run_dir / "soutenance"
    expected = [pack_dir / "soutenance.slides.html", pack_dir / "soutenance.pdf", pack_dir / "soutenance.json"]
    missing_files = [path for path in expected if not path.is_file()]
    if missing_files:
        print(f"Notebook 11 did not write {', '.join(str(path) for path in missing_files)}.")
        return False
    summary = json.loads((pack_dir / "soutenance.json").read_text(encoding="utf-8"))
    for path in expected:
        print(f"  {path}")
    if summary.get("missing"):
        print("Sections missing from the pack: " + "; ".join(summary["missing"]))
        return False
    return True


def run_grading(out_dir: Path) -> bool:
    """Autograde the reference and blank submissions; print their grades."""
    from autograde.pipeline import run_demo_grading

    _heading("8. Autograde the reference and blank submissions (nbgrader, grading mode)")
    return bool(run_demo_grading(out_dir / "grading"))


def run_demo(out_dir: Path) -> int:
    """Run every step; return a process exit code."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print("== paysages demo (fast mode, embedded sample dataset) ==")
    run_data_steps(out_dir)
    if not run_course(out_dir):
        return 1
    if not run_grading(out_dir):
        return 1
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s; everything is in {out_dir}")
    return 0
