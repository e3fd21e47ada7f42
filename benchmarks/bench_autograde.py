"""Wall time to autograde one full reference submission in grading mode.

Usage::

    .venv/bin/python benchmarks/bench_autograde.py [--out build/bench_autograde] [--environment KEY=VALUE ...]

It releases the course into a fresh course directory, collects the reference submission (the
release notebooks with the reference solutions put back), autogrades it with the real nbgrader
and prints the total wall time, the time of each notebook and its five slowest cells. The goal
is under 5 minutes on 2 CPU cores. ``--environment PAYSAGES_NUM_EPOCHS=3`` (repeatable) grades
with other fast-mode settings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPOSITORY_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_DIR))

GOAL_SECONDS = 300


def main(argv=None) -> int:
    from autograde import pipeline
    from autograde.demo import write_reference_submissions
    from autograde.guards import prepare_grading_data
    from autograde.layout import CourseLayout, load_grading_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPOSITORY_DIR / "build" / "bench_autograde")
    parser.add_argument("--environment", action="append", default=[], metavar="KEY=VALUE",
                        help="a PAYSAGES_* grading setting (repeatable)")
    arguments = parser.parse_args(argv)
    environment = dict(item.split("=", 1) for item in arguments.environment)

    out = arguments.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    course_dir = out / "course"
    layout = CourseLayout.create(course_dir, db_url=f"sqlite:///{course_dir / 'gradebook.db'}")
    started = time.perf_counter()
    pipeline.release(layout, bundle=False, overrides={"environment": environment} if environment else None)
    write_reference_submissions(layout, out / "submissions")
    for path in (out / "submissions").glob("blank_*.ipynb"):
        path.unlink()
    pipeline.collect(out / "submissions", layout)
    # The sample dataset is generated once per course directory: not part of a submission's time.
    prepare_grading_data(layout, load_grading_settings(layout))
    setup_seconds = time.perf_counter() - started

    started = time.perf_counter()
    journal = pipeline.autograde(layout, students=["reference"], echo=lambda message: None)
    seconds = time.perf_counter() - started

    entry = journal["students"]["reference"]
    timings = {event["notebook"]: event for event in entry["integrity"] if event.get("event") == "timing"}
    print(f"Release and collect (once per course): {setup_seconds:.0f} s")
    print(f"{'notebook':<24} {'status':<8} {'seconds':>8} {'points':>7}  slowest cells")
    for name, record in entry["notebooks"].items():
        slowest = ", ".join(f"{label} {value:.0f} s" for label, value in timings.get(name, {}).get("slowest_cells", [])[:3])
        print(f"{name:<24} {record['status']:<8} {record['seconds']:>8.1f} {record['auto_score']:>7g}  {slowest}")
    from autograde.integrity import describe_event

    # The reference should trip no guard: any event here is a false alarm worth a look.
    for event in entry["integrity"]:
        description = describe_event(event)
        if description:
            print(f"integrity event: {description}")
    total_points = sum(record["auto_score"] for record in entry["notebooks"].values())
    verdict = "within" if seconds <= GOAL_SECONDS else "OVER"
    print(f"Autograde of one full reference submission: {seconds:.0f} s ({seconds / 60:.1f} min), "
          f"{total_points:g} autograded points; {verdict} the {GOAL_SECONDS // 60}-minute goal.")
    (out / "bench.json").write_text(json.dumps({"seconds": seconds, "notebooks": entry["notebooks"]}, indent=2),
                                    encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
