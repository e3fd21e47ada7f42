"""Instructor commands of the ``paysages`` tool (and the student's ``submit``).

``add_instructor_commands(subparsers)`` registers, on the sub-parsers of ``paysages``::

    paysages release   [--course-dir DIR] [--db-url URL] [--no-bundle]
    paysages collect   DIR [--course-dir DIR] [--db-url URL] [--pattern REGEX]
    paysages autograde [--course-dir DIR] [--db-url URL] [--student ID ...] [--force] [--jobs N]
                       [--cell-timeout S] [--notebook-timeout S] [--submission-timeout S]
    paysages feedback  [--course-dir DIR] [--db-url URL] [--student ID ...]
    paysages export    --csv FILE [--course-dir DIR] [--db-url URL]
    paysages report    [--out FILE] [--course-dir DIR] [--db-url URL]
    paysages submit    --student-id ID [--notebooks DIR] [--run-dir DIR] --out FILE.zip

Exit status: 0 when everything went through; 2 on an error that stopped the command;
:data:`EXIT_INCOMPLETE` (3) when ``autograde`` could not grade some submission (nbgrader
failed on a notebook, a submission was rejected or marked failed) or ``feedback`` could not
give some student their pages. A summary line says who.

The course directory defaults to ``build/course``; the gradebook to SQLite in it, or
``PAYSAGES_GRADEBOOK_URL`` / ``--db-url`` (any SQLAlchemy URL, PostgreSQL included). The
instructor commands need a source checkout of the kit with the ``instructor`` extra
(``pip install -e '.[instructor]'``): they live in its ``autograde/`` package, which the
student wheel does not ship.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from paysages.errors import PaysagesError
from paysages.submit import DEFAULT_SUBMISSION_PATTERN, add_submit_command

DEFAULT_COURSE_DIR = Path("build") / "course"
EXIT_ERROR = 2
# Some submissions or students were not fully processed; the others were.
EXIT_INCOMPLETE = 3


def _instructor_module(name: str):
    """Import ``autograde.<name>``, explaining what to install when it is absent."""
    try:
        return importlib.import_module(f"autograde.{name}")
    except ModuleNotFoundError as error:
        if error.name and (error.name == "autograde" or error.name.startswith(("nbgrader", "nbconvert"))):
            raise PaysagesError(
                "Instructor commands need a source checkout of the kit with the instructor tools: "
                "`git clone ...; pip install -e '.[instructor]'` (missing module: "
                f"{error.name})."
            ) from error
        raise


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR,
                        help=f"nbgrader course directory (default {DEFAULT_COURSE_DIR})")
    parser.add_argument("--db-url", default=None,
                        help="gradebook SQLAlchemy URL (default: PAYSAGES_GRADEBOOK_URL, "
                             "else SQLite in the course directory)")


def _command_release(arguments) -> int:
    pipeline = _instructor_module("pipeline")
    result = pipeline.release(arguments.course_dir, db_url=arguments.db_url, bundle=not arguments.no_bundle)
    print(f"Released {len(result['notebooks'])} notebook(s) to {result['release_dir']}")
    if result["bundle"]:
        print(f"Student bundle (scanned: no solution, no hidden test): {result['bundle']}")
    return 0


def _command_collect(arguments) -> int:
    pipeline = _instructor_module("pipeline")
    report = pipeline.collect(arguments.directory, arguments.course_dir, db_url=arguments.db_url,
                              pattern=arguments.pattern)
    print(report.format())
    return 0


def _command_autograde(arguments) -> int:
    pipeline = _instructor_module("pipeline")
    overrides = {}
    for option, key in (("cell_timeout", "cell_timeout_seconds"), ("notebook_timeout", "notebook_timeout_seconds"),
                        ("submission_timeout", "submission_timeout_seconds")):
        value = getattr(arguments, option)
        if value is not None:
            if value <= 0:
                raise PaysagesError(f"--{option.replace('_', '-')} must be positive, got {value}.")
            overrides[key] = value
    if arguments.jobs < 1:
        raise PaysagesError(f"--jobs must be at least 1, got {arguments.jobs}.")
    journal = pipeline.autograde(arguments.course_dir, db_url=arguments.db_url, students=arguments.student,
                                 force=arguments.force, overrides=overrides or None, jobs=arguments.jobs)
    considered = arguments.student or sorted(journal["students"])
    failures = pipeline.grading_failures(journal, considered)
    for student, reason in failures.items():
        print(f"  NOT GRADED {student}: {reason}")
    print(f"Autograde: {len(considered) - len(failures)} of {len(considered)} submission(s) graded, "
          f"{len(failures)} not" + (" (see the journal and logs in the course directory)" if failures else ""))
    return EXIT_INCOMPLETE if failures else 0


def _command_feedback(arguments) -> int:
    pipeline = _instructor_module("pipeline")
    result = pipeline.feedback(arguments.course_dir, db_url=arguments.db_url, students=arguments.student)
    pages = sum(len(items) for items in result.pages.values())
    print(f"Feedback: {pages} page(s) for {len(result.pages)} student(s), {len(result.problems)} problem(s)"
          + ("" if result.ok else ": " + "; ".join(result.problems[:5])))
    return 0 if result.ok else EXIT_INCOMPLETE


def _command_export(arguments) -> int:
    report = _instructor_module("report")
    rows = report.export_csv(arguments.course_dir, arguments.csv, db_url=arguments.db_url)
    print(f"Wrote {len(rows)} student row(s) to {arguments.csv}")
    return 0


def _command_report(arguments) -> int:
    report = _instructor_module("report")
    path = report.write_report(arguments.course_dir, arguments.out, db_url=arguments.db_url)
    print(f"Instructor report: {path}")
    return 0


def add_instructor_commands(subparsers) -> None:
    """Register release, collect, autograde, feedback, export, report and submit."""
    release = subparsers.add_parser("release", help="generate the student release and bundle (nbgrader)")
    _common(release)
    release.add_argument("--no-bundle", action="store_true", help="skip the student bundle (zip + wheel)")
    release.set_defaults(handler=_command_release)

    collect = subparsers.add_parser("collect", help="import a folder of submissions (LMS export or paysages submit zips)")
    collect.add_argument("directory", type=Path, help="folder holding the submitted files")
    _common(collect)
    collect.add_argument("--pattern", default=DEFAULT_SUBMISSION_PATTERN,
                         help="regular expression a file name must match, with a (?P<student>...) group "
                              "(default: '<studentid>_<anything>.ipynb|.zip')")
    collect.set_defaults(handler=_command_collect)

    autograde = subparsers.add_parser("autograde", help="grade the collected submissions in grading mode")
    _common(autograde)
    autograde.add_argument("--student", action="append", default=None, help="grade only this student (repeatable)")
    autograde.add_argument("--force", action="store_true", help="grade again students already graded")
    autograde.add_argument("--jobs", type=int, default=1,
                           help="submissions graded at once (default 1; 2 suits a 2-core machine)")
    autograde.add_argument("--cell-timeout", type=float, default=None,
                           help="seconds allowed to one cell (saved in <course-dir>/paysages_grading.json)")
    autograde.add_argument("--notebook-timeout", type=float, default=None,
                           help="wall-clock seconds for one notebook (saved)")
    autograde.add_argument("--submission-timeout", type=float, default=None,
                           help="wall-clock seconds for one submission (saved)")
    autograde.set_defaults(handler=_command_autograde)

    feedback = subparsers.add_parser("feedback", help="HTML feedback per student, hidden tests removed")
    _common(feedback)
    feedback.add_argument("--student", action="append", default=None, help="only this student (repeatable)")
    feedback.set_defaults(handler=_command_feedback)

    export = subparsers.add_parser("export", help="grades CSV: per-notebook autograded and manual scores, totals")
    _common(export)
    export.add_argument("--csv", type=Path, required=True, help="CSV file to write")
    export.set_defaults(handler=_command_export)

    report = subparsers.add_parser("report", help="HTML instructor report (totals, pass rates, distribution)")
    _common(report)
    report.add_argument("--out", type=Path, default=None, help="HTML file (default <course-dir>/reports/report.html)")
    report.set_defaults(handler=_command_report)

    add_submit_command(subparsers)


def build_instructor_parser() -> argparse.ArgumentParser:
    """A stand-alone parser with only these commands (``python -m paysages.cli_instructor``)."""
    parser = argparse.ArgumentParser(prog="paysages", description="paysages instructor commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_instructor_commands(commands)
    return parser


def main(argv=None) -> int:
    import sys

    arguments = build_instructor_parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments) or 0)
    except PaysagesError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
