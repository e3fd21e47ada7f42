"""``make demo``: the whole kit end to end on the embedded sample dataset, in fast mode.

1. generate, verify, split and load the sample dataset;
2. execute every course notebook (00-11) with the reference solutions, in order, sharing one run
   folder; executed copies with their outputs go to ``<out>/notebooks/`` (outside git), each
   kernel's own messages (TensorFlow's start-up lines...) to ``<out>/logs/``;
3. print the results table of notebook 05 and the defence pack of notebook 11;
4. autograde the reference and the blank submissions with nbgrader and print their grades
   (:func:`run_demo_grading`: release, collect, autograde, export, with one course layout).

Step 4 runs in a thread while steps 2-3 run: the two use one core each.

``paysages demo`` (an instructor command, ``autograde/cli.py``) runs :func:`run_demo`.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import nbformat

from autograde import pipeline, sandbox
from autograde.execute import EXECUTED_FOLDER, KERNEL_LOG_FOLDER, execute_course
from autograde.layout import QUICK_GRADING_OVERRIDES, CourseLayout, course_notebooks, notebook_names
from autograde.notebooks import reference_notebook
from autograde.report import export_csv
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
    import pandas as pd

    from paysages.runs import RunFolder

    _heading(f"5. Execute the course notebooks (executed copies in {out_dir / EXECUTED_FOLDER}, "
             f"kernel messages in {out_dir / KERNEL_LOG_FOLDER})")
    run_dir = out_dir / "run"
    results = execute_course(out_dir, course_notebooks(), data_root=out_dir / "datasets", run_dir=run_dir)
    failed = [result for result in results if result.error is not None]
    if failed:
        print(f"\n{failed[0].notebook.name} failed; its executed copy is {failed[0].output} "
              f"and its kernel's messages are in {failed[0].kernel_log}:")
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


class BackgroundGrading:
    """Step 8 in a thread, beside the course run: each uses one core of a 2-core machine.

    The grading reads nothing the course run writes (it releases from ``course/`` and grades in
    its own folder, with its own environment for every nbgrader process), so the two can overlap.
    Its messages are kept and printed after the course's, so that each step reads in order. The
    thread is a daemon: an interrupted demo does not wait for it.
    """

    def __init__(self, out_dir: Path):
        self.messages: list[str] = []
        self.grades: dict | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(out_dir,), name="demo-grading", daemon=True)

    def _run(self, out_dir: Path) -> None:
        try:
            # One submission at a time: the course run has the other core.
            self.grades = run_demo_grading(out_dir, jobs=1, echo=self.messages.append)
        except BaseException as error:  # Reported by finish(), in the main thread.
            self.error = error

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> bool:
        """Wait for the grading, print what it said; raise its error, if any."""
        self.thread.join()
        _heading("8. Autograde the reference and blank submissions (nbgrader, grading mode)")
        for message in self.messages:
            print(message)
        if self.error is not None:
            raise self.error
        return bool(self.grades)


def run_demo(out_dir: Path) -> int:
    """Run every step; return a process exit code."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print("== paysages demo (fast mode, embedded sample dataset) ==")
    run_data_steps(out_dir)
    grading = BackgroundGrading(out_dir / "grading")
    grading.start()
    course_ok = run_course(out_dir)
    grading_ok = grading.finish()
    if not (course_ok and grading_ok):
        return 1
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s; everything is in {out_dir}")
    return 0


# Grading the reference and the blank submissions -------------------------------------------------
def write_reference_submissions(layout: CourseLayout, out_dir: Path, *, reference_id: str = "reference",
                                blank_id: str = "blank") -> list[Path]:
    """Write the reference (solutions put back) and blank (release as is) submissions as LMS files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in notebook_names(layout):
        release_notebook = nbformat.read(str(layout.release_dir / f"{name}.ipynb"), as_version=4)
        source_notebook = nbformat.read(str(layout.source_dir / f"{name}.ipynb"), as_version=4)
        reference = reference_notebook(release_notebook, source_notebook)
        for student_id, notebook in ((reference_id, reference), (blank_id, release_notebook)):
            path = out_dir / f"{student_id}_{name}.ipynb"
            nbformat.write(notebook, str(path))
            written.append(path)
    return written


def run_demo_grading(out_dir, *, quick: bool = True, jobs: int = 2, echo=print) -> dict:
    """Release, then autograde the reference and the blank submissions and print their grades.

    Called by ``make demo``; everything goes under ``out_dir`` (course directory ``course/``).
    ``quick`` grades with :data:`QUICK_GRADING_OVERRIDES` (about 5 minutes on 2 cores) instead
    of the fast-mode defaults of real grading. The kernels run in the sandbox where bubblewrap
    works; elsewhere the demo grades without it and says why (:func:`autograde.sandbox.demo_decision`).
    """
    decision, message = sandbox.demo_decision()
    out_dir = Path(out_dir).resolve()
    course_dir = out_dir / "course"
    layout = CourseLayout.create(course_dir, db_url=f"sqlite:///{course_dir / 'gradebook.db'}")
    echo("== Grading demo: release, collect, autograde (reference and blank submissions) ==")
    echo("Student kernels run in the bubblewrap sandbox." if decision.sandboxed else message)
    pipeline.release(layout, bundle=False, overrides=QUICK_GRADING_OVERRIDES if quick else None)
    submissions = out_dir / "submissions"
    if submissions.exists():
        shutil.rmtree(submissions)
    write_reference_submissions(layout, submissions)
    echo(pipeline.collect(submissions, layout).format())
    pipeline.autograde(layout, force=True, jobs=jobs, echo=echo, decision=decision)
    grades = export_csv(layout, out_dir / "grades.csv")
    for row in grades:
        echo(f"{row['student']}: autograded {row['auto_total']:g} / {row['auto_max']:g} points, "
             f"bonus {row['bonus_total']:g} (written answers to grade by hand: {row['manual_max']:g} points)")
    return {row["student"]: row for row in grades}
