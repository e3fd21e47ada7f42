"""The instructor commands of the ``paysages`` tool.

``paysages/cli.py`` finds :func:`add_instructor_commands` through the entry-point group
``paysages.commands`` (declared in ``pyproject.toml``), so these commands exist only where the
instructor package is installed (a source checkout with ``pip install -e '.[instructor]'``)::

    paysages release   [--course-dir DIR] [--db-url URL] [--no-bundle] [--publish DIR]
    paysages collect   DIR [--course-dir DIR] [--db-url URL] [--pattern REGEX]
    paysages autograde [--course-dir DIR] [--db-url URL] [--student ID ...] [--force] [--jobs N]
                       [--cell-timeout S] [--notebook-timeout S] [--submission-timeout S] [--unsandboxed]
    paysages feedback  [--course-dir DIR] [--db-url URL] [--student ID ...]
    paysages export    --csv FILE [--course-dir DIR] [--db-url URL]
    paysages report    [--out FILE] [--course-dir DIR] [--db-url URL]
    paysages demo      [--out DIR]

``autograde`` runs every student kernel in the bubblewrap sandbox (``autograde/sandbox.py``); where
bubblewrap cannot run it refuses to start (status 2) unless ``--unsandboxed`` is given, and then
every report starts with a line that lists the protections that were off.

Exit status: 0 when everything went through; 2 on an error that stopped the command (see
``paysages/cli.py``); :data:`EXIT_INCOMPLETE` (3) when ``autograde`` could not grade some
submission (nbgrader failed on a notebook, a submission was rejected or marked failed) or
``feedback`` could not give some student their pages. A summary line says who.

The course directory defaults to ``build/course``; the gradebook to SQLite in it, or
``PAYSAGES_GRADEBOOK_URL`` / ``--db-url`` (any SQLAlchemy URL, PostgreSQL included). Each
command opens the course directory once (:meth:`CourseLayout.create`) and hands that layout
to the pipeline. The heavy modules (nbgrader, nbconvert) are imported when a command runs,
not when ``paysages --help`` lists the commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograde.layout import DEFAULT_COURSE_DIR, CourseLayout
from autograde.sandbox import PROTECTIONS
from paysages.errors import PaysagesError
from paysages.submit import DEFAULT_SUBMISSION_PATTERN

# Some submissions or students were not fully processed; the others were.
EXIT_INCOMPLETE = 3


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR,
                        help=f"nbgrader course directory (default {DEFAULT_COURSE_DIR})")
    parser.add_argument("--db-url", default=None,
                        help="gradebook SQLAlchemy URL (default: PAYSAGES_GRADEBOOK_URL, "
                             "else SQLite in the course directory)")


def _open_course(arguments) -> CourseLayout:
    """The course directory named on the command line, opened once for the whole command."""
    return CourseLayout.create(arguments.course_dir, db_url=arguments.db_url)


def _command_release(arguments) -> int:
    from autograde import pipeline, publish

    if arguments.publish is not None:
        # Refused before the release runs, not after it.
        publish.check_destination(arguments.publish)
    layout = _open_course(arguments)
    result = pipeline.release(layout, bundle=not arguments.no_bundle)
    print(f"Released {len(result['notebooks'])} notebook(s) to {result['release_dir']}")
    if result["bundle"]:
        print(f"Student bundle (scanned: no solution, no hidden test): {result['bundle']}")
    if arguments.publish is not None:
        published = publish.publish(layout, result["notebooks"], arguments.publish)
        print(f"Student repository (scanned: no solution, no hidden test) written to {published['destination']}; "
              f"push it to {published['repository_url']} (branch {published['branch']}) "
              f"with the tag {published['tag']} (course/README.md).")
    return 0


def _command_collect(arguments) -> int:
    from autograde import pipeline

    report = pipeline.collect(arguments.directory, _open_course(arguments), pattern=arguments.pattern)
    print(report.format())
    return 0


def _timeout_overrides(arguments) -> dict:
    """The time limits given on the command line, as grading-settings keys (saved by autograde)."""
    options = {
        "cell_timeout": "cell_timeout_seconds",
        "notebook_timeout": "notebook_timeout_seconds",
        "submission_timeout": "submission_timeout_seconds",
    }
    overrides = {}
    for option, key in options.items():
        value = getattr(arguments, option)
        if value is None:
            continue
        if value <= 0:
            raise PaysagesError(f"--{option.replace('_', '-')} must be positive, got {value}.")
        overrides[key] = value
    return overrides


def _command_autograde(arguments) -> int:
    from autograde import pipeline, sandbox
    from paysages.envcheck import require_grading_keras

    require_grading_keras()
    from autograde.records import grading_failures

    # Decided once, before anything else: where bubblewrap cannot run, grading refuses to start.
    decision = sandbox.grading_decision(unsandboxed=arguments.unsandboxed)
    overrides = _timeout_overrides(arguments)
    if arguments.jobs < 1:
        raise PaysagesError(f"--jobs must be at least 1, got {arguments.jobs}.")
    journal = pipeline.autograde(_open_course(arguments), students=arguments.student, force=arguments.force,
                                 overrides=overrides or None, jobs=arguments.jobs, decision=decision)
    considered = arguments.student or sorted(journal["students"])
    failures = grading_failures(journal, considered)
    for student, reason in failures.items():
        print(f"  NOT GRADED {student}: {reason}")
    summary = f"Autograde: {len(considered) - len(failures)} of {len(considered)} submission(s) graded, {len(failures)} not"
    if failures:
        summary += " (see the journal and logs in the course directory)"
    print(summary)
    return EXIT_INCOMPLETE if failures else 0


def _command_feedback(arguments) -> int:
    from autograde import pipeline

    result = pipeline.feedback(_open_course(arguments), students=arguments.student)
    pages = sum(len(items) for items in result.pages.values())
    summary = f"Feedback: {pages} page(s) for {len(result.pages)} student(s), {len(result.problems)} problem(s)"
    if not result.ok:
        summary += ": " + "; ".join(result.problems[:5])
    print(summary)
    return 0 if result.ok else EXIT_INCOMPLETE


def _command_export(arguments) -> int:
    from autograde import report

    rows = report.export_csv(_open_course(arguments), arguments.csv)
    print(f"Wrote {len(rows)} student row(s) to {arguments.csv}")
    return 0


def _command_report(arguments) -> int:
    from autograde import report
    from autograde.layout import source_paths
    from autograde.records import load_journal, unsandboxed_report_lines

    from autograde.points import course_points_table

    layout = _open_course(arguments)
    path = report.write_report(layout, arguments.out)
    for line in unsandboxed_report_lines(load_journal(layout)):
        print(line)
    print("Points of the assignment (from its source notebooks):")
    print(course_points_table(source_paths(layout)))
    print(f"Instructor report: {path}")
    return 0


def _command_demo(arguments) -> int:
    from autograde.demo import run_demo

    return run_demo(Path(arguments.out))


def add_instructor_commands(subparsers) -> None:
    """Register release, collect, autograde, feedback, export, report and demo."""
    release = subparsers.add_parser("release", help="generate the student release and bundle (nbgrader)")
    _common(release)
    release.add_argument("--no-bundle", action="store_true", help="skip the student bundle (zip + wheel)")
    release.add_argument("--publish", type=Path, default=None, metavar="DIR",
                         help="also write the student repository (notebooks with badges, README, the paysages "
                              "package) into DIR, ready to push to autograde/course.json's repository_url")
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
    autograde.add_argument("--unsandboxed", action="store_true",
                           help="grade without the bubblewrap sandbox (needed where it cannot run); this turns OFF "
                                + "; ".join(protection.split(" (")[0] for protection in PROTECTIONS)
                                + "; every report then says so in its first line")
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

    demo = subparsers.add_parser("demo", help="run the kit end to end on the embedded sample dataset")
    demo.add_argument("--out", default="build/demo", help="build folder (default build/demo)")
    demo.set_defaults(handler=_command_demo)
