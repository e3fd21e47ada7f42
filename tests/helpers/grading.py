"""Running the real ``paysages`` entry point on a course directory, as the grading tests do."""

from __future__ import annotations

import contextlib
import dataclasses
import io

from autograde.layout import CourseLayout


@dataclasses.dataclass
class CommandRun:
    """One ``paysages ...`` call: its arguments, exit status and printed output."""

    argv: list[str]
    code: int
    output: str


def run_cli(layout: CourseLayout, *argv: str) -> CommandRun:
    """Run the real ``paysages`` entry point on the course directory, capturing what it prints."""
    from paysages.cli import main

    arguments = [*argv, "--course-dir", str(layout.root), "--db-url", layout.db_url]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        code = main(arguments)
    return CommandRun(arguments, code, buffer.getvalue())
