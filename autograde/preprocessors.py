"""nbgrader preprocessors of the paysages grading pipeline (configured in nbgrader_config.py).

* :class:`GradingExecute` replaces nbgrader's ``Execute``: the kernel gets a clean environment
  (no gradebook URL, no instructor variables, the current folder not importable, a fresh private
  HOME with its own IPython, Jupyter, Matplotlib and Keras folders, no user site-packages), an integrity
  guard runs before each test cell (:mod:`autograde.kernel_guard`), outputs are capped while
  they arrive, and a kernel that dies or hangs beyond recovery costs exactly the test cells that
  did not run: each gets an error output, so nbgrader scores it 0 instead of full marks.
* :class:`RestoreLockedCells` extends nbgrader's ``OverwriteCells``: with ``add_missing_cells``
  it puts back every missing locked cell (test cells and locked set-up or training cells), each
  at its place after the closest cell still present, where nbgrader 0.9.6 fails (KeyError) when
  the cell before a missing one is a locked non-graded cell.
* :class:`SanitizeFeedback` runs in ``generate_feedback``: it removes the hidden tests from the
  test cells, reduces the outputs of each test cell to a one-line pass/fail summary (an IPython
  traceback quotes the failing hidden test's source) and gives every other code cell the outputs
  of the student's own submitted notebook (or none): what the grading re-run printed never
  reaches the student, since a submission can print anything it reads there, hidden tests
  included.
* :class:`SanitizeStudentHtml` runs last in ``autograde`` (so that formgrader shows harmless
  autograded notebooks) and in ``generate_feedback``: no JavaScript output, cleaned HTML and
  markdown (:mod:`autograde.html_safety`); images and plain text stay.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbgrader import utils as nbgrader_utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Dict, Integer, List, Unicode

from autograde.html_safety import clean_html, clean_markdown
from autograde.notebooks import remove_region

GUARD_MODULE = "_paysages_grading_guard"
GUARD_SOURCE_PATH = Path(__file__).with_name("kernel_guard.py")
# Variables the grading kernel may inherit from the grader's environment, besides PAYSAGES_*.
KERNEL_VARIABLES = (
    "PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
    "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "XLA_FLAGS",
    "TF_CPP_MIN_LOG_LEVEL", "TF_FORCE_GPU_ALLOW_GROWTH", "TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND",
    "OMP_NUM_THREADS", "PYTHONHASHSEED", "VIRTUAL_ENV", "CONDA_PREFIX", "JUPYTER_PATH",
    "NBGRADER_EXECUTION", "MPLBACKEND",
)
# Where the pipeline wants the kernels' private HOME folders (removed after each notebook).
KERNEL_HOME_ROOT_VARIABLE = "PAYSAGES_KERNEL_HOME_ROOT"
SECRET_VARIABLES = ("PAYSAGES_GRADEBOOK_URL", "PAYSAGES_INTEGRITY_LOG", KERNEL_HOME_ROOT_VARIABLE)
# The output types an instructor's page may show (once cleaned); any other, JavaScript and widget
# views included, is removed.
KEPT_OUTPUT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg",
                     "image/gif", "image/svg+xml")
BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/=\s]*$")
REMOVED_OUTPUT_TEXT = "[sortie retirée par la correction : type {types} non affiché]"
ABORTED_NAME = "GradingAborted"
KERNEL_FLUSH_WARNING = "IOStream.flush timed out"


def _append_integrity_event(event: dict) -> None:
    """Append one JSON line to the file named by PAYSAGES_INTEGRITY_LOG (set by the pipeline)."""
    path = os.environ.get("PAYSAGES_INTEGRITY_LOG")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, ensure_ascii=False) + "\n")


class GradingExecute(Execute):
    """nbgrader's Execute with a clean kernel environment, a guard, output caps and safe aborts."""

    max_output_bytes_per_cell = Integer(1_000_000, help="Outputs of one cell beyond this are dropped.").tag(config=True)
    max_output_bytes_per_notebook = Integer(10_000_000, help="Outputs beyond this are dropped.").tag(config=True)
    guard_enabled = Integer(1, help="1 to run the integrity guard before each test cell.").tag(config=True)
    guard_timeout = Integer(300, help="Seconds the guard may take (its first call imports Keras).").tag(config=True)
    kernel_environment = Dict({}, help="Variables set in the grading kernel's environment.").tag(config=True)
    sandboxed = Bool(False, help="The kernel spec starts the kernel in the sandbox, with its own "
                     "environment (autograde/sandbox.py).").tag(config=True)
    passed_variables = List(list(KERNEL_VARIABLES), help="Variables copied from the grader's environment.").tag(config=True)
    kernel_home_root = Unicode("", help="Folder of the kernels' private HOME folders (default: "
                               "$PAYSAGES_KERNEL_HOME_ROOT, else the system's temporary folder).").tag(config=True)

    # Kernel start --------------------------------------------------------------------------
    def kernel_env(self) -> dict[str, str]:
        """The grading kernel's environment: an allow-list, never the instructor's secrets.

        Each kernel gets a fresh, empty HOME (removed once the notebook ran) holding its IPython,
        Jupyter, Matplotlib and Keras folders, and no user site-packages: nothing a submission
        writes there (``~/.ipython/profile_default/startup/*.py``, ``~/.keras/keras.json``, a
        ``.pth`` file) runs in the next student's kernel.

        Sandboxed, the kernel spec starts with ``env -i`` and sets every variable itself: only
        ``PATH`` is passed (to the launcher), and no private HOME is made on the host.
        """
        if self.sandboxed:
            return {"PATH": os.environ.get("PATH", os.defpath)}
        environment = {name: os.environ[name] for name in self.passed_variables if name in os.environ}
        environment.update({name: value for name, value in os.environ.items()
                            if name.startswith("PAYSAGES_") and name not in SECRET_VARIABLES})
        environment.update({str(name): str(value) for name, value in self.kernel_environment.items()})
        # The kernel's working folder must never be importable (a numpy.py written there).
        environment["PYTHONSAFEPATH"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment.setdefault("MPLBACKEND", "Agg")
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        environment.update(self._private_home_environment(self._new_kernel_home()))
        for name in SECRET_VARIABLES:
            environment.pop(name, None)
        return environment

    def _new_kernel_home(self) -> Path:
        root = Path(self.kernel_home_root or os.environ.get(KERNEL_HOME_ROOT_VARIABLE) or tempfile.gettempdir())
        root.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix="kernel-home-", dir=root)).resolve()
        if not hasattr(self, "_paysages_homes"):
            self._paysages_homes = []
        self._paysages_homes.append(home)
        return home

    @staticmethod
    def _private_home_environment(home: Path) -> dict[str, str]:
        folders = {
            "HOME": home,
            "IPYTHONDIR": home / ".ipython",
            "JUPYTER_CONFIG_DIR": home / ".jupyter",
            "JUPYTER_DATA_DIR": home / ".local" / "share" / "jupyter",
            "MPLCONFIGDIR": home / ".config" / "matplotlib",
            "KERAS_HOME": home / ".keras",
            "XDG_CONFIG_HOME": home / ".config",
            "XDG_CACHE_HOME": home / ".cache",
            "XDG_DATA_HOME": home / ".local" / "share",
            "PYTHONUSERBASE": home / ".local",
            "TMPDIR": home / "tmp",
        }
        (home / "tmp").mkdir(exist_ok=True)
        environment = {name: str(path) for name, path in folders.items()}
        environment["PYTHONNOUSERSITE"] = "1"  # no user site-packages (a numpy.py or .pth there)
        return environment

    def remove_kernel_homes(self) -> None:
        """Delete the private HOME folders of the kernels this executor started."""
        for home in getattr(self, "_paysages_homes", []):
            shutil.rmtree(home, ignore_errors=True)
        self._paysages_homes = []

    async def async_start_new_kernel(self, **kwargs):
        kwargs["env"] = self.kernel_env()
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    # Execution -----------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        self._paysages_cell_bytes = {}
        self._paysages_notebook_bytes = 0
        self._paysages_truncated = set()
        self._paysages_current = -1
        self._paysages_guard_installed = False
        self._paysages_notebook = (resources or {}).get("nbgrader", {}).get("notebook", "")
        self._paysages_timings = []
        started = time.monotonic()
        try:
            return super().preprocess(nb, resources, km)
        except Exception as error:  # The kernel died or stopped answering: score what ran.
            self._abort(nb, error)
            return nb, resources
        finally:
            self.remove_kernel_homes()
            slowest = sorted(self._paysages_timings, key=lambda item: -item[1])[:5]
            _append_integrity_event({"event": "timing", "notebook": self._paysages_notebook,
                                     "seconds": round(time.monotonic() - started, 1),
                                     "slowest_cells": [[label, round(seconds, 1)] for label, seconds in slowest]})

    def preprocess_cell(self, cell, resources, index):
        self._paysages_current = index
        if cell.cell_type != "code":
            return cell, resources
        if self.guard_enabled and not self._paysages_guard_installed:
            self._install_guard()
        graded = nbgrader_utils.is_grade(cell)
        if graded and self.guard_enabled:
            restored = self._call_guard("before_graded_cell()")
            if restored:
                _append_integrity_event({"event": "guard", "notebook": self._paysages_notebook,
                                         "grade_id": cell.metadata.nbgrader.get("grade_id"), "restored": restored})
                self.log.warning("Integrity guard before %s: %s", cell.metadata.nbgrader.get("grade_id"), restored)
        started = time.monotonic()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            label = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"
            self._paysages_timings.append((label, time.monotonic() - started))
        if graded and self.guard_enabled:
            self._call_guard("after_graded_cell()")
        return cell, resources

    def _run_silently(self, code: str, expression: str | None = None):
        message_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False,
                                     user_expressions={"value": expression} if expression else {})
        saved_timeout = self.timeout
        self.timeout = max(int(saved_timeout or 0), int(self.guard_timeout))
        try:
            reply = self.wait_for_reply(message_id)
        finally:
            self.timeout = saved_timeout
        if reply is None:
            raise RuntimeError("the grading kernel did not answer the integrity guard")
        return reply["content"]

    def _install_guard(self) -> None:
        source = GUARD_SOURCE_PATH.read_text(encoding="utf-8")
        code = (
            "def _paysages_install_guard(source):\n"
            "    import sys, types\n"
            f"    module = types.ModuleType({GUARD_MODULE!r})\n"
            "    exec(compile(source, '<paysages-grading-guard>', 'exec'), module.__dict__)\n"
            "    sys.modules[module.__name__] = module\n"
            "    module.install()\n"
            f"_paysages_install_guard({source!r})\n"
            "del _paysages_install_guard\n"
        )
        content = self._run_silently(code)
        self._paysages_guard_installed = True
        if content.get("status") != "ok":
            self.log.warning("Integrity guard not installed: %s", content.get("evalue"))

    def _call_guard(self, call: str) -> list[str]:
        expression = f"__import__('sys').modules[{GUARD_MODULE!r}]._state['report']"
        content = self._run_silently(f"__import__('sys').modules[{GUARD_MODULE!r}].{call}", expression)
        if content.get("status") != "ok":
            # The notebook removed the guard: put it back (its new snapshot is taken now).
            self._install_guard()
            return [f"integrity guard missing ({content.get('ename')}): reinstalled"]
        value = content.get("user_expressions", {}).get("value", {})
        try:
            report = ast.literal_eval(value.get("data", {}).get("text/plain", "[]"))
        except (ValueError, SyntaxError):
            return ["integrity guard report unreadable"]
        return [str(item) for item in report] if isinstance(report, list) else []

    def _abort(self, nb, error) -> None:
        """Give every test cell that did not finish an error output, so that it scores 0."""
        reason = f"{type(error).__name__}: {error}".strip()
        message = ("La correction s'est arrêtée à cette cellule ou avant (" + reason[:300] + ") : "
                   "le noyau Python s'est arrêté ou ne répondait plus. Les cellules suivantes n'ont "
                   "pas été exécutées.")
        self.log.error("Execution aborted at cell %s: %s", self._paysages_current, reason)
        _append_integrity_event({"event": "aborted", "notebook": self._paysages_notebook,
                                 "cell_index": self._paysages_current, "reason": reason[:500]})
        for index, cell in enumerate(nb.cells):
            if index < self._paysages_current or cell.cell_type != "code":
                continue
            if index == self._paysages_current or nbgrader_utils.is_grade(cell):
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename=ABORTED_NAME, evalue=message, traceback=[f"{ABORTED_NAME}: {message}"]))

    # Outputs -------------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        if msg_type == "error":
            return super().output(outs, msg, display_id, cell_index)
        content = msg.get("content", {})
        if msg_type == "stream" and content.get("name") == "stderr" and KERNEL_FLUSH_WARNING in content.get("text", ""):
            # ipykernel's own complaint when a flood of output saturates its channel: not the
            # student's output, and nbgrader would fail a test cell for any stderr text.
            kept = [line for line in content["text"].splitlines(keepends=True) if line.strip() != KERNEL_FLUSH_WARNING]
            if not "".join(kept).strip():
                return None
            msg = {**msg, "content": {**content, "text": "".join(kept)}}
            content = msg["content"]
        if msg_type == "stream":
            size = len(content.get("text", ""))
            stream = content.get("name", "stdout")
        else:
            size = sum(len(value) if isinstance(value, str) else len(json.dumps(value))
                       for value in content.get("data", {}).values())
            stream = "stdout"
        used = self._paysages_cell_bytes.get(cell_index, 0)
        if (used + size > self.max_output_bytes_per_cell
                or self._paysages_notebook_bytes + size > self.max_output_bytes_per_notebook):
            key = (cell_index, stream)
            if key not in self._paysages_truncated:
                self._paysages_truncated.add(key)
                _append_integrity_event({"event": "output_truncated", "notebook": self._paysages_notebook,
                                         "cell_index": cell_index, "stream": stream})
                outs.append(nbformat.v4.new_output(
                    "stream", name=stream,
                    text=f"\n[... sortie tronquée par la correction automatique (plus de "
                         f"{self.max_output_bytes_per_cell} octets) ...]\n"))
            return None
        self._paysages_cell_bytes[cell_index] = used + size
        self._paysages_notebook_bytes += size
        return super().output(outs, msg, display_id, cell_index)


class RestoreLockedCells(OverwriteCells):
    """OverwriteCells that puts back every missing locked or graded cell at its place."""

    source_directory = Unicode("", help="The folder of the assignment's source notebooks.").tag(config=True)

    def preprocess(self, nb, resources):
        # DeduplicateIds leaves an empty "nbgrader" dict on every duplicate it disarms, on which
        # nbgrader 0.9.6 then fails (KeyError in add_missing_task_cells): the duplicate becomes
        # an ordinary cell instead, and the last copy stays the graded one.
        disarmed = 0
        for cell in nb.cells:
            if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
                del cell.metadata["nbgrader"]
                disarmed += 1
        if disarmed:
            _append_integrity_event({"event": "duplicates_disarmed", "notebook": resources["nbgrader"]["notebook"],
                                     "cells": disarmed})
        return super().preprocess(nb, resources)

    def _source_order(self) -> list[str]:
        path = Path(self.source_directory) / f"{self.notebook_id}.ipynb"
        if self.source_directory and path.is_file():
            notebook = nbformat.read(str(path), as_version=4)
            return [cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells
                    if cell.metadata.get("nbgrader", {}).get("grade_id")]
        notebook = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        return [cell.name for cell in notebook.source_cells]

    def _locked_cell(self, source_cell):
        notification = self.missing_cell_notification.format(cell_id=source_cell.name)
        metadata = {"deletable": False, "editable": False, "nbgrader": {
            "grade": False, "solution": False, "locked": True, "task": False,
            "grade_id": source_cell.name, "checksum": source_cell.checksum, "schema_version": 3}}
        if source_cell.cell_type == "code":
            cell = nbformat.v4.new_code_cell("# " + notification + source_cell.source, metadata=metadata)
        else:
            cell = nbformat.v4.new_markdown_cell(notification + source_cell.source, metadata=metadata)
        return cell

    def add_missing_grade_cells(self, nb, resources):
        notebook = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = {cell.name: cell for cell in notebook.source_cells}
        graded = {cell.name: cell for cell in notebook.grade_cells}
        solutions = {cell.name for cell in notebook.solution_cells}
        order = [grade_id for grade_id in self._source_order() if grade_id in source_cells]
        restored = []
        for position, grade_id in enumerate(order):
            present = {cell.metadata["nbgrader"]["grade_id"]: index for index, cell in enumerate(nb.cells)
                       if cell.metadata.get("nbgrader", {}).get("grade_id")}
            if grade_id in present:
                continue
            source_cell = source_cells[grade_id]
            if grade_id in graded:
                cell = self.missing_cell_transform(source_cell, graded[grade_id].max_score,
                                                   is_solution=grade_id in solutions)
            elif source_cell.locked and grade_id not in solutions:
                cell = self._locked_cell(source_cell)
            else:
                continue  # A missing answer cell without points is the student's own loss.
            insert_at = 0
            for previous in reversed(order[:position]):
                if previous in present:
                    insert_at = present[previous] + 1
                    break
            nb.cells.insert(insert_at, cell)
            restored.append(grade_id)
        if restored:
            self.log.warning("Missing cells restored in %s: %s", self.notebook_id, ", ".join(restored))
            _append_integrity_event({"event": "cells_restored", "notebook": self.notebook_id, "cells": restored})
        return nb, resources

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None
            if source_cell is not None:
                # A test cell's release text lacks its hidden tests: only other edits are news.
                released = {source_cell.source.strip(), remove_region(source_cell.source, "hidden").strip()}
                if cell.cell_type != source_cell.cell_type:
                    change = f"cell type changed to {cell.cell_type}"
                elif source_cell.locked and cell.source.strip() not in released:
                    change = "locked cell edited"
                else:
                    change = None
                if change:
                    _append_integrity_event({"event": "cell_changed", "notebook": self.notebook_id,
                                             "grade_id": grade_id, "attribute": change})
        return super().preprocess_cell(cell, resources, cell_index)


class SanitizeFeedback(NbGraderPreprocessor):
    """Feedback without hidden tests and without anything the grading re-run printed.

    * test cells (graded code cells, or any cell holding hidden tests): hidden tests removed;
      outputs replaced by one line, "passed" or "failed" with the last line of the error; for a
      cell judged by the verdict stage (:mod:`autograde.verdicts`), the line follows the trusted
      verdict, not the cell's own outputs (a forged or silent cell shows "failed", with the
      verdict's reason when its outputs hold no error of their own);
    * every other code cell: the outputs of the same cell in the student's own submitted
      notebook (matched by cell id, else by nbgrader grade id), or none.
    """

    max_message_length = Integer(300, help="Longest error message kept in a test cell.").tag(config=True)
    submitted_directory = Unicode("", help="The course's submitted/ folder "
                                  "(submitted/<student>/<assignment>/<notebook>.ipynb).").tag(config=True)
    verdicts_directory = Unicode("", help="The grader's log folder (grading/logs/<student>/<notebook>"
                                 ".verdicts.json, written by the trusted verdict process).").tag(config=True)
    passed_message = Unicode("Test réussi.", help="The summary of a test cell without error.").tag(config=True)
    failed_message = Unicode("Test échoué", help="The start of a failed test cell's summary.").tag(config=True)
    verdict_note = Unicode("(résultat vérifié hors de votre noyau)",
                           help="Added to the summary of a cell judged by the verdict stage.").tag(config=True)

    def preprocess(self, nb, resources):
        self._paysages_submitted = self._submitted_outputs(resources)
        self._paysages_verdicts = self._verdicts(resources)
        return super().preprocess(nb, resources)

    def _verdicts(self, resources) -> dict[str, dict]:
        """Grade id -> {"fraction", "reason"} from the trusted verdict file, or {} when there is none."""
        info = (resources or {}).get("nbgrader", {})
        if not self.verdicts_directory or not all(info.get(key) for key in ("student", "notebook")):
            return {}
        path = Path(self.verdicts_directory) / info["student"] / f"{info['notebook']}.verdicts.json"
        try:
            verdicts = json.loads(path.read_text(encoding="utf-8")).get("verdicts", {})
        except (OSError, ValueError, AttributeError):  # No verdict stage for this notebook.
            return {}
        return verdicts if isinstance(verdicts, dict) else {}

    def _submitted_outputs(self, resources) -> dict[str, list]:
        """Cell id (and "grade:<grade id>") -> outputs of the student's submitted notebook."""
        info = (resources or {}).get("nbgrader", {})
        if not self.submitted_directory or not all(info.get(key) for key in ("student", "assignment", "notebook")):
            return {}
        path = Path(self.submitted_directory) / info["student"] / info["assignment"] / f"{info['notebook']}.ipynb"
        try:
            notebook = nbformat.read(str(path), as_version=4)
        except Exception:  # An unreadable submission: no outputs at all.
            return {}
        outputs = {}
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id:
                outputs.setdefault(f"grade:{grade_id}", cell.get("outputs", []))
            if cell.get("id"):
                outputs.setdefault(f"id:{cell['id']}", cell.get("outputs", []))
        return outputs

    def _summary(self, outputs, verdict: dict | None = None) -> list:
        errors = [output for output in outputs if output.get("output_type") == "error"]
        note = f" {self.verdict_note}" if verdict is not None else ""
        verdict_passed = verdict is not None and float(verdict.get("fraction", 0.0)) >= 1.0
        if verdict_passed or (verdict is None and not errors):
            return [nbformat.v4.new_output("stream", name="stdout", text=self.passed_message + note + "\n")]
        if errors:
            error = errors[-1]
            lines = [line for line in str(error.get("evalue", "")).strip().splitlines() if line.strip()]
            message = lines[-1][: self.max_message_length] if lines else ""
            name = str(error.get("ename", "Error"))[:80]
        else:
            # The cell's outputs show no error, but the trusted verdict says it failed.
            message = str(verdict.get("reason", ""))[: self.max_message_length]
            name = "Verdict"
        text = f"{self.failed_message}{note} — {name}: {message}" if message else f"{self.failed_message}{note} — {name}"
        return [nbformat.v4.new_output("error", ename=name, evalue=message, traceback=[text])]

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        metadata = cell.get("metadata", {}).get("nbgrader", {})
        is_test = (nbgrader_utils.is_grade(cell) and not metadata.get("solution")) or "HIDDEN TESTS" in cell.source
        if is_test:
            cell.source = remove_region(cell.source, "hidden")
            verdict = self._paysages_verdicts.get(metadata.get("grade_id")) if metadata.get("grade_id") else None
            cell.outputs = self._summary(cell.get("outputs", []), verdict if isinstance(verdict, dict) else None)
        else:
            submitted = self._paysages_submitted
            grade_id = metadata.get("grade_id")
            outputs = submitted.get(f"id:{cell.get('id')}")
            if outputs is None and grade_id:
                outputs = submitted.get(f"grade:{grade_id}")
            cell.outputs = [nbformat.from_dict(output) for output in (outputs or [])]
        if "execution_count" in cell:
            cell.execution_count = None
        return cell, resources


class SanitizeStudentHtml(NbGraderPreprocessor):
    """Nothing a student wrote or printed can run in the instructor's (or the student's) browser.

    * outputs: JavaScript, widget views and any type outside ``KEPT_OUTPUT_TYPES`` are removed
      (an output left with nothing says so in one line); HTML and markdown outputs are cleaned;
      an SVG image becomes an ``<img>`` of itself (no script runs in an image); a PNG, JPEG or GIF
      that is not base64 text is removed;
    * markdown cells: cleaned when their rendering is not harmless (else left as written), and
      attachments other than images removed;
    * the notebook's saved widget state (which a page renders with the widgets' own scripts) is
      removed.

    Plain text, error tracebacks and images stay as they are.
    """

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            cell.source = clean_markdown(cell.source)
            attachments = cell.get("attachments") or {}
            for name in list(attachments):
                bundle = attachments[name] or {}
                attachments[name] = {kind: value for kind, value in bundle.items() if kind.startswith("image/")
                                     and kind != "image/svg+xml" and BASE64_TEXT.match(str(value))}
        elif cell.cell_type == "code":
            cell.outputs = [self._clean_output(output) for output in cell.get("outputs", [])]
        return cell, resources

    @staticmethod
    def _clean_output(output):
        if "data" not in output:
            return output  # stream and error outputs: text, escaped by every page.
        data = dict(output["data"])
        removed = sorted(kind for kind in data if kind not in KEPT_OUTPUT_TYPES)
        data = {kind: value for kind, value in data.items() if kind in KEPT_OUTPUT_TYPES}
        for kind in ("image/png", "image/jpeg", "image/gif"):
            if kind in data and not BASE64_TEXT.match(str(data[kind])):
                removed.append(kind)
                del data[kind]
        if "image/svg+xml" in data:
            svg = data.pop("image/svg+xml")
            svg = "".join(svg) if isinstance(svg, list) else str(svg)
            encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
            data.setdefault("text/html", f'<img src="data:image/svg+xml;base64,{encoded}">')
        if "text/html" in data:
            value = data["text/html"]
            data["text/html"] = clean_html("".join(value) if isinstance(value, list) else str(value))
        if "text/markdown" in data:
            value = data["text/markdown"]
            data["text/markdown"] = clean_markdown("".join(value) if isinstance(value, list) else str(value))
        if not data:
            data["text/plain"] = REMOVED_OUTPUT_TEXT.format(types=", ".join(removed))
        output["data"] = data
        metadata = output.get("metadata") or {}
        for kind in removed:
            metadata.pop(kind, None)
        return output
