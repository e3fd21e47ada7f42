"""nbgrader configuration of the paysages course.

``paysages release`` (and every other instructor command) copies this file into the course
directory as ``nbgrader_config.py``; nbgrader reads it from there because the commands run
nbgrader with the course directory as working folder. Edit this template, not the copy.
The values it reads come from ``paysages_grading.json`` beside the copy (timeouts, output caps,
the grading kernel) and from the environment:

* ``PAYSAGES_GRADEBOOK_URL``: any SQLAlchemy URL (for example
  ``postgresql://grader@db.example.org/paysages``); default SQLite ``gradebook.db`` in the course
  directory. The grading kernels never see this variable.
* ``PAYSAGES_KERNEL_HOME_ROOT``: where each grading kernel gets its private HOME (set by the
  pipeline per student; the kernels never see it).
* ``PAYSAGES_SANDBOX_RUNTIME_DIR``: set by the pipeline when the kernels run in the sandbox
  (``autograde/sandbox.py``): the kernel manager then uses IPC sockets in that folder.

A grading kernel can write this file (it runs as the same user): the pipeline writes it again
from the template before every notebook it grades.
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (traitlets provides get_config when it loads this file)

course_dir = Path(__file__).resolve().parent
settings_path = course_dir / "paysages_grading.json"
settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.is_file() else {}
repository_dir = settings.get("repository_dir", "")
if repository_dir and repository_dir not in sys.path:
    sys.path.insert(0, repository_dir)

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograde import sandbox  # noqa: E402
from autograde.layout import CODE_STUB, TEXT_STUB, CourseLayout  # noqa: E402
from autograde.preprocessors import GradingExecute, RestoreLockedCells, SanitizeFeedback, SanitizeStudentHtml  # noqa: E402

assignment = settings.get("assignment", "projet")

# Course directory and gradebook (SQLite by default, any SQLAlchemy URL by configuration).
c.CourseDirectory.root = str(course_dir)
c.CourseDirectory.course_id = settings.get("course_id", "paysages")
c.CourseDirectory.db_url = os.environ.get("PAYSAGES_GRADEBOOK_URL") or f"sqlite:///{course_dir / 'gradebook.db'}"
# The grading run folder and student run folders are never copied from one step to the next.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            settings.get("grading_run_dirname", "_grading_run"), "student_run"]

# The release's stubs are in French, like the instructions around them (autograde/layout.py).
c.ClearSolutions.code_stub = {"python": CODE_STUB}
c.ClearSolutions.text_stub = TEXT_STUB

# Autograde: restore locked and missing cells, then run with the paysages executor.
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    RestoreLockedCells,
    CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    GradingExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
    # Last, once the grades are saved: formgrader shows these notebooks in the instructor's browser.
    SanitizeStudentHtml,
]
c.OverwriteCells.add_missing_cells = True
c.RestoreLockedCells.add_missing_cells = True
c.RestoreLockedCells.source_directory = str(course_dir / "source" / assignment)

# Execution in grading mode: a per-cell limit sized for fast-mode training, the grading kernel
# spec (the grader's own Python), capped outputs.
c.Execute.timeout = int(settings.get("cell_timeout_seconds", 300))
c.Execute.startup_timeout = 180
c.Execute.iopub_timeout = 30
c.Execute.interrupt_on_timeout = True
# Grading keeps nothing of a kernel once its notebook ran: stop it at once (saves seconds each).
c.Execute.shutdown_kernel = "immediate"
c.Execute.kernel_name = settings.get("kernel_name", "paysages-grading")
c.GradingExecute.max_output_bytes_per_cell = int(settings.get("max_output_bytes_per_cell", 1_000_000))
c.GradingExecute.max_output_bytes_per_notebook = int(settings.get("max_output_bytes_per_notebook", 10_000_000))
if sandbox.configure_kernel_manager(c):
    # Sandboxed grading (the pipeline set PAYSAGES_SANDBOX_RUNTIME_DIR): the kernel spec found first
    # on JUPYTER_PATH starts the kernel under bubblewrap, with its own environment, and the grader
    # talks to it over Unix sockets. The instructor's solutions/ is never bound there.
    c.GradingExecute.sandboxed = True
    c.GradingExecute.kernel_environment = {}
else:
    # Unsandboxed grading (--unsandboxed): the kernel imports the kit from the repository.
    c.GradingExecute.kernel_environment = {"PYTHONPATH": repository_dir} if repository_dir else {}
c.LimitOutput.max_lines = int(settings.get("max_output_lines", 1000))
c.LimitOutput.max_traceback = int(settings.get("max_traceback_lines", 100))

# Feedback: hidden tests and the tracebacks that quote them are removed; test cells show one
# pass/fail line and the other cells the outputs of the student's own submitted notebook, with no
# script and cleaned HTML (SanitizeStudentHtml).
c.GenerateFeedback.preprocessors = [GetGrades, SanitizeFeedback, SanitizeStudentHtml, CSSHTMLHeaderPreprocessor]
c.SanitizeFeedback.submitted_directory = str(course_dir / "submitted")
# The trusted verdicts decide what a judged test cell's feedback line says (autograde/verdicts/).
c.SanitizeFeedback.verdicts_directory = str(CourseLayout(root=course_dir, assignment=assignment,
                                                         course_id=c.CourseDirectory.course_id).logs_dir)
