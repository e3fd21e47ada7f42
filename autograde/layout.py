"""Where everything lives in an nbgrader course directory, and the grading settings.

The course directory (default ``build/course``, outside git) is laid out as follows::

    <course_dir>/
      nbgrader_config.py        copied from autograde/nbgrader_config.py (do not edit the copy)
      paysages_grading.json     grading settings (timeouts, output caps, PAYSAGES_* environment)
      gradebook.db              SQLite gradebook (unless PAYSAGES_GRADEBOOK_URL / --db-url)
      source/<assignment>/      the course notebooks, synchronised from course/
      release/<assignment>/     student versions, with an "Open in Colab" badge
      bundle/                   the student bundle zip and the paysages wheel
      submitted/<student>/<assignment>/   the notebooks as submitted (never modified after collect)
      collected/<student>/      what collect received: original files, student_run/, collect.json
      autograded/<student>/<assignment>/  the grading-mode re-run, with its fresh _grading_run/
      feedback/<student>/<assignment>/    HTML feedback with hidden tests removed
      grading/                  journal.json, logs/, the pre-generated data, kernel spec
      reports/                  grades.csv, report.html
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from pathlib import Path

from paysages import __version__
from paysages.errors import PaysagesError
from paysages.files import write_bytes_atomic, write_text_atomic

REPOSITORY_DIR = Path(__file__).resolve().parents[1]
COURSE_NOTEBOOK_DIR = REPOSITORY_DIR / "course"
COURSE_CONFIG_PATH = REPOSITORY_DIR / "autograde" / "course.json"
CONFIG_TEMPLATE = REPOSITORY_DIR / "autograde" / "nbgrader_config.py"
DEFAULT_COURSE_DIR = Path("build") / "course"
GRADEBOOK_URL_VARIABLE = "PAYSAGES_GRADEBOOK_URL"
SETTINGS_FILENAME = "paysages_grading.json"
GRADING_RUN_DIRNAME = "_grading_run"
# The release's stubs are in French, like the instructions around them (nbgrader's are English).
CODE_STUB = "# VOTRE CODE ICI\nraise NotImplementedError()"
TEXT_STUB = "VOTRE RÉPONSE ICI"
KERNEL_NAME = "paysages-grading"
STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NOTEBOOK_NAME_PATTERN = re.compile(r"^[0-9][0-9]_[A-Za-z0-9_]+$")

# The grading settings; paysages_grading.json in the course directory overrides any of them.
DEFAULT_GRADING_SETTINGS = {
    # Per-cell limit: the longest fast-mode cell (a training) takes well under a minute on
    # two CPU cores; five minutes leaves room for a slower machine.
    "cell_timeout_seconds": 300,
    # Wall-clock limits, enforced by killing the nbgrader process and its kernel.
    "notebook_timeout_seconds": 900,
    "submission_timeout_seconds": 2400,
    # Outputs beyond these caps are dropped while the notebook runs (errors are always kept).
    "max_output_bytes_per_cell": 1_000_000,
    "max_output_bytes_per_notebook": 10_000_000,
    "max_output_lines": 1000,
    "max_traceback_lines": 100,
    # The PAYSAGES_* settings of grading mode (the data root and run folder are added per student).
    "environment": {
        "PAYSAGES_MODE": "fast",
        "PAYSAGES_DATASET": "sample",
        "PAYSAGES_OFFLINE": "1",
    },
    # Size of the sample dataset generated once per course directory (None: the mode's default).
    "sample_per_class": None,
    "seed": 42,
}

# The limits of `paysages collect` on what one student sends (autograde/collect.py). Sizes are
# counted while the files are extracted, never taken from an archive's own index alone.
COLLECT_MAX_MEMBERS_PER_ARCHIVE = 2000
COLLECT_MAX_BYTES_PER_ARCHIVE = 500 * 1024 * 1024
# All the files of one student together (bare notebooks and every archive's extracted members):
# ten archives just under the per-archive cap do not pass.
COLLECT_MAX_BYTES_PER_STUDENT = 1024 * 1024 * 1024
COLLECT_MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
# Linux refuses a file name longer than 255 bytes (NAME_MAX); a member path longer than 512
# bytes leaves the course directory's own depth well within PATH_MAX (4096 bytes).
COLLECT_MAX_NAME_BYTES = 255
COLLECT_MAX_PATH_BYTES = 512

# The quickest grading settings that keep the hidden tests meaningful: fewer epochs, a smaller
# sample dataset and t-SNE subset than grading mode's fast-mode defaults. The corpus tests check
# that the reference still earns every point with them and each broken case loses exactly its
# cells; `make demo` and the tests use them. Real grading keeps the fast-mode defaults, which an
# honest but weaker model may need.
QUICK_GRADING_OVERRIDES = {
    "environment": {"PAYSAGES_NUM_EPOCHS": "3", "PAYSAGES_FINE_TUNE_EPOCHS": "1", "PAYSAGES_TSNE_SAMPLES": "150"},
    "sample_per_class": 60,
}


def course_config() -> dict:
    """The course settings of autograde/course.json (course id, assignment, repository)."""
    try:
        return json.loads(COURSE_CONFIG_PATH.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PaysagesError(f"Cannot read the course settings {COURSE_CONFIG_PATH}: {error}") from error


def kit_tag(version: str = __version__) -> str:
    """The git tag of the published student repository that holds this version of the kit.

    The notebooks' set-up cell installs ``paysages @ git+<repository_url>@<tag>``, so that a
    release's notebooks always get the kit they were released with.
    """
    return f"v{version}"


@dataclasses.dataclass(frozen=True)
class BonusSettings:
    """Which graded cells are bonus points: they add to a grade, never to the maximum."""

    notebooks: frozenset[str]
    cells: dict[str, frozenset[str]]

    def is_bonus(self, notebook: str, grade_id: str) -> bool:
        return notebook in self.notebooks or grade_id in self.cells.get(notebook, frozenset())


def bonus_settings(config: dict | None = None) -> BonusSettings:
    """``bonus_notebooks`` (every graded cell of them) and ``bonus_cells`` (notebook -> grade ids)."""
    config = course_config() if config is None else config
    notebooks = config.get("bonus_notebooks", [])
    cells = config.get("bonus_cells", {})
    if not isinstance(notebooks, list) or not all(isinstance(name, str) for name in notebooks):
        raise PaysagesError(f"bonus_notebooks must be a list of notebook names in {COURSE_CONFIG_PATH}.")
    if not isinstance(cells, dict) or not all(
            isinstance(ids, list) and all(isinstance(item, str) for item in ids) for ids in cells.values()):
        raise PaysagesError(f"bonus_cells must map notebook names to lists of grade ids in {COURSE_CONFIG_PATH}.")
    return BonusSettings(frozenset(notebooks), {name: frozenset(ids) for name, ids in cells.items()})


def check_student_id(student_id: str) -> str:
    """Return ``student_id`` if it is safe as a folder name, else raise ValueError."""
    if not isinstance(student_id, str) or not STUDENT_ID_PATTERN.match(student_id) or ".." in student_id:
        raise ValueError(
            f"Invalid student id {student_id!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit."
        )
    return student_id


def course_notebooks(notebook_dir: Path = COURSE_NOTEBOOK_DIR) -> list[Path]:
    """The numbered course notebooks (``NN_name.ipynb``), in order."""
    return sorted(path for path in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")
                  if NOTEBOOK_NAME_PATTERN.match(path.stem))


@dataclasses.dataclass(frozen=True)
class CourseLayout:
    """The paths of one nbgrader course directory."""

    root: Path
    assignment: str
    course_id: str
    db_url_override: str | None = None

    @classmethod
    def open(cls, course, *, db_url: str | None = None) -> "CourseLayout":
        """``course`` itself when it is already a layout (opened once, handed down), else create one.

        The pipeline's public functions take either, so that a command opens the course
        directory once and a notebook or a test may still pass a path.
        """
        if isinstance(course, CourseLayout):
            if db_url is not None and db_url != course.db_url:
                raise ValueError(f"db_url {db_url!r} differs from the layout's {course.db_url!r}: "
                                 "pass one or the other.")
            return course
        return cls.create(course, db_url=db_url)

    @classmethod
    def create(cls, course_dir=None, *, db_url: str | None = None) -> "CourseLayout":
        config = course_config()
        root = Path(course_dir if course_dir is not None else DEFAULT_COURSE_DIR).expanduser().resolve()
        assignment = config.get("assignment", "projet")
        if not isinstance(assignment, str) or not re.match(r"^[A-Za-z0-9_-]+$", assignment):
            raise PaysagesError(f"Invalid assignment name {assignment!r} in {COURSE_CONFIG_PATH}.")
        return cls(root=root, assignment=assignment, course_id=config.get("course_id", "paysages"),
                   db_url_override=db_url)

    # Database ------------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        """--db-url, else PAYSAGES_GRADEBOOK_URL, else SQLite in the course directory."""
        return (self.db_url_override or os.environ.get(GRADEBOOK_URL_VARIABLE)
                or f"sqlite:///{self.root / 'gradebook.db'}")

    # nbgrader folders ------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "nbgrader_config.py"

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILENAME

    @property
    def source_dir(self) -> Path:
        return self.root / "source" / self.assignment

    @property
    def release_dir(self) -> Path:
        return self.root / "release" / self.assignment

    def submitted_dir(self, student_id: str) -> Path:
        return self.root / "submitted" / check_student_id(student_id) / self.assignment

    def autograded_dir(self, student_id: str) -> Path:
        return self.root / "autograded" / check_student_id(student_id) / self.assignment

    def feedback_dir(self, student_id: str) -> Path:
        return self.root / "feedback" / check_student_id(student_id) / self.assignment

    def grading_run_dir(self, student_id: str) -> Path:
        return self.autograded_dir(student_id) / GRADING_RUN_DIRNAME

    # Kit folders -----------------------------------------------------------------------------
    def collected_dir(self, student_id: str) -> Path:
        return self.root / "collected" / check_student_id(student_id)

    @property
    def bundle_dir(self) -> Path:
        return self.root / "bundle"

    @property
    def grading_dir(self) -> Path:
        return self.root / "grading"

    @property
    def journal_path(self) -> Path:
        return self.grading_dir / "journal.json"

    @property
    def pristine_data_dir(self) -> Path:
        """The sample dataset generated once; each student gets a fresh copy of it."""
        return self.grading_dir / "data"

    def work_dir(self, student_id: str) -> Path:
        return self.grading_dir / "work" / check_student_id(student_id)

    @property
    def logs_dir(self) -> Path:
        """The grader's logs: ``<student>/`` holds each notebook's verdict file and journal logs."""
        return self.grading_dir / "logs"

    def log_dir(self, student_id: str) -> Path:
        return self.logs_dir / check_student_id(student_id)

    @property
    def jupyter_dir(self) -> Path:
        """JUPYTER_PATH of grading: holds the grading kernel spec."""
        return self.grading_dir / "jupyter"

    @property
    def jupyter_config_dir(self) -> Path:
        """An empty JUPYTER_CONFIG_DIR, so that no personal Jupyter configuration applies."""
        return self.grading_dir / "jupyter_config"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def students_submitted(self) -> list[str]:
        folder = self.root / "submitted"
        if not folder.is_dir():
            return []
        return sorted(path.name for path in folder.iterdir()
                      if path.is_dir() and STUDENT_ID_PATTERN.match(path.name)
                      and (path / self.assignment).is_dir())

    def relative(self, path: Path) -> str:
        """A path relative to the course directory, for reports."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def load_grading_settings(layout: CourseLayout) -> dict:
    """The defaults updated with the course directory's paysages_grading.json."""
    settings = json.loads(json.dumps(DEFAULT_GRADING_SETTINGS))
    if layout.settings_path.is_file():
        try:
            stored = json.loads(layout.settings_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise PaysagesError(f"{layout.settings_path} is not valid JSON: {error}") from error
        environment = dict(settings["environment"])
        environment.update(stored.get("environment", {}))
        settings.update(stored)
        settings["environment"] = environment
    for key in ("cell_timeout_seconds", "notebook_timeout_seconds", "submission_timeout_seconds",
                "max_output_bytes_per_cell", "max_output_bytes_per_notebook"):
        value = settings[key]
        if not isinstance(value, (int, float)) or value <= 0:
            raise PaysagesError(f"{key} must be a positive number in {layout.settings_path}, got {value!r}.")
    return settings


def write_grading_settings(layout: CourseLayout, overrides: dict | None = None) -> dict:
    """Write paysages_grading.json (keeping what is already there) and return the settings."""
    layout.root.mkdir(parents=True, exist_ok=True)
    stored = {}
    if layout.settings_path.is_file():
        stored = json.loads(layout.settings_path.read_text(encoding="utf-8"))
    stored.update({
        "course_id": layout.course_id,
        "assignment": layout.assignment,
        "repository_dir": str(REPOSITORY_DIR),
        "kernel_name": KERNEL_NAME,
        "grading_run_dirname": GRADING_RUN_DIRNAME,
    })
    for key, value in (overrides or {}).items():
        if key == "environment":
            environment = dict(stored.get("environment", {}))
            environment.update({name: str(item) for name, item in value.items()})
            stored["environment"] = environment
        else:
            stored[key] = value
    for key, value in DEFAULT_GRADING_SETTINGS.items():
        stored.setdefault(key, value)
    write_text_atomic(layout.settings_path, json.dumps(stored, indent=2, sort_keys=True) + "\n")
    return load_grading_settings(layout)


# Course directory set-up ------------------------------------------------------------------------
def kernel_spec_path(layout: CourseLayout) -> Path:
    """Where the grading kernel spec lives (in the course directory's own Jupyter folder)."""
    return layout.jupyter_dir / "kernels" / KERNEL_NAME / "kernel.json"


def kernel_spec_bytes() -> bytes:
    """The grading kernel spec: the grader's own Python."""
    return (json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "paysages grading (the grader's Python)",
        "language": "python",
        "metadata": {"debugger": False},
    }, indent=2) + "\n").encode("utf-8")


def migration_marker_path(layout: CourseLayout) -> Path:
    """jupyter_core's "already migrated" marker: without it, every nbgrader process would copy the
    instructor's ~/.ipython configuration into the grading JUPYTER_CONFIG_DIR."""
    return layout.jupyter_config_dir / "migrated"


MIGRATION_MARKER = b"paysages: nothing is migrated from ~/.ipython into the grading configuration\n"


def prepare_course_dir(layout: CourseLayout, overrides: dict | None = None) -> dict:
    """Write the nbgrader configuration, the grading settings and the grading kernel spec."""
    layout.root.mkdir(parents=True, exist_ok=True)
    settings = write_grading_settings(layout, overrides)
    write_bytes_atomic(layout.config_path, CONFIG_TEMPLATE.read_bytes())
    write_bytes_atomic(kernel_spec_path(layout), kernel_spec_bytes())
    write_bytes_atomic(migration_marker_path(layout), MIGRATION_MARKER)
    return settings


def require_released(layout: CourseLayout) -> None:
    """Refuse a course directory that ``paysages release`` never prepared (nothing is written in it)."""
    if not layout.config_path.is_file():
        raise PaysagesError(f"{layout.root} is not a released course directory: run `paysages release` first.")


def notebook_names(layout: CourseLayout) -> list[str]:
    """The assignment's notebooks, from the synchronised source folder."""
    names = sorted(path.stem for path in layout.source_dir.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        raise PaysagesError(f"No source notebook in {layout.source_dir}: run `paysages release` first.")
    return names


def source_paths(layout: CourseLayout) -> list[Path]:
    return [layout.source_dir / f"{name}.ipynb" for name in notebook_names(layout)]
