"""Scans that keep solutions and hidden tests away from students, and flag suspicious submissions.

* :func:`scan_bundle` and :func:`scan_tree`: the student bundle (and the wheel inside it), or the
  published student repository, holds no solution marker, no solution code (compared with the
  bodies of the ``solutions/`` functions and with every specific line of the notebooks' solution
  regions), no hidden-test text, no ``solutions`` import and no instructor file.
* :func:`scan_feedback_html`: a feedback page quotes no hidden-test line.
* :func:`suspicious_code`: patterns in a submission's own cells worth an instructor's look
  (``os._exit``, patched libraries, IPython hooks, ``solutions`` imports...). They do not change
  any grade; the report lists them.
* :func:`describe_event`: one line for an integrity event of the grading journal.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import io
import json
import re
import textwrap
import zipfile
from pathlib import Path

from autograde.notebooks import (
    hidden_test_lines,
    is_locked_cell,
    normalise_line,
    read_notebook,
    region_lines,
    remove_region,
)

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_SOLUTIONS_IMPORT = re.compile(
    r"(^|\n)\s*(from\s+solutions(\.|\s)|import\s+solutions\b)|import_module\(\s*['\"]solutions|__import__\(\s*['\"]solutions"
)
_INSTRUCTOR_PARTS = {"solutions", "autograde", "tests", "gradebook.db", "nbgrader_config.py",
                     "paysages_grading.json", "course.json"}
_WINDOW = 4
_MINIMUM_LINE = 12
# A single solution line is evidence of a leak when it is this long and not generic.
_MINIMUM_SPECIFIC_LINE = 20
_GENERIC_LINE = re.compile(
    r"^(pass|break|continue|else:|try:|finally:|return|raise|return [\w.]+,?|(import|from)\s.*"
    r"|raise NotImplementedError.*|except.*:|[)\]},;:\s]+|\w+\s*=\s*[\w.]+|[\w.]+\(\)|@[\w.]+)$")
# The student package ships in the bundle: its lines are public, never a leak by themselves.
PUBLIC_PACKAGE_DIR = Path(__file__).resolve().parents[1] / "paysages"

SUSPICIOUS_PATTERNS = (
    (r"\bsolutions\b", "mentions the instructor's solutions package"),
    (r"\b(autograde|nbgrader)\b", "mentions the grading tools"),
    (r"NBGRADER_EXECUTION", "detects grading mode"),
    (r"\bos\._exit\b|\bsys\.exit\b|\bos\.kill\b", "stops or kills the kernel"),
    (r"signal\.signal", "changes signal handlers"),
    (r"input_transformers|ast_transformers|showtraceback|set_custom_exc|\.run_cell\b", "changes IPython hooks"),
    (r"sys\.modules|sys\.meta_path|sys\.path_hooks", "changes the import system"),
    (r"\bbuiltins\b|__builtins__", "touches built-ins"),
    (r"(^|\n)\s*(np|numpy|keras|tf|tensorflow|pd|pandas|checks|sklearn|math)\.[\w.]+\s*=[^=]",
     "replaces a library attribute"),
    (r"def\s+__eq__|def\s+__ne__|def\s+__bool__|def\s+__float__", "defines comparison or conversion methods"),
    (r"safe_mode\s*=\s*False", "loads a Keras file without safe mode"),
    (r"(^|\n)\s*(len|type|isinstance|float|int|abs|sum|print|range)\s*=[^=]", "shadows a built-in"),
)


@dataclasses.dataclass
class SolutionFingerprint:
    """What identifies the reference solutions: body windows, body AST dumps, specific lines."""

    windows: dict[tuple[str, ...], str]
    bodies: dict[str, str]
    lines: dict[str, str] = dataclasses.field(default_factory=dict)


def _substantial_lines(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        normalised = normalise_line(line)
        if len(normalised) >= _MINIMUM_LINE and not normalised.startswith("#") and not normalised.startswith(('"""', "'''")):
            lines.append(normalised)
    return lines


def _body_without_docstring(function) -> list:
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body


def _trivial_statement(statement) -> bool:
    """``pass``, ``return x``, ``return None``, ``raise NotImplementedError(...)``, a bare constant."""
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Return):
        return statement.value is None or isinstance(statement.value, (ast.Name, ast.Constant, ast.Attribute))
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Constant)
    if isinstance(statement, ast.Raise):
        exception = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(exception, ast.Name) and exception.id == "NotImplementedError"
    return False


def _body_dump(function) -> str | None:
    """The AST of a function's body (docstring excluded), None when the body is trivial."""
    body = _body_without_docstring(function)
    if not body or (len(body) == 1 and _trivial_statement(body[0])):
        return None
    return "\n".join(ast.dump(statement, annotate_fields=False) for statement in body)


def specific_line(line: str) -> bool:
    """Whether a normalised code line identifies the code it comes from (not ``return x``...)."""
    return (len(line) >= _MINIMUM_SPECIFIC_LINE and not line.startswith(("#", '"', "'"))
            and "SOLUTION" not in line and not _GENERIC_LINE.match(line))


def _public_text(folder: Path) -> tuple[str, set[str]]:
    """All text of the public package's Python files, and its function body dumps."""
    texts, bodies = [], set()
    for path in sorted(Path(folder).rglob("*.py")) if Path(folder).is_dir() else []:
        source = path.read_text(encoding="utf-8", errors="replace")
        texts.append(source)
        for function in _python_functions(source):
            dump = _body_dump(function)
            if dump:
                bodies.add(dump)
    return "\n".join(texts), bodies


def solution_fingerprint(solutions_dir: Path, allowed_text: str = "", *, solution_lines=(),
                         public_bodies: set[str] = frozenset()) -> SolutionFingerprint:
    """Fingerprint the function bodies of ``solutions/`` and the specific ``solution_lines``.

    ``solution_lines`` are (line, label) pairs. Windows and lines found in ``allowed_text`` (the
    visible notebooks, the public package) are ignored, and so are bodies in ``public_bodies``.
    """
    allowed_lines = _substantial_lines(allowed_text)
    allowed_windows = {tuple(allowed_lines[index:index + _WINDOW]) for index in range(len(allowed_lines))}
    allowed_set = set(allowed_lines)
    windows, bodies, lines = {}, {}, {}
    for line, label in solution_lines:
        line = normalise_line(line)
        if specific_line(line) and line not in allowed_set:
            lines.setdefault(line, label)
    for path in sorted(Path(solutions_dir).glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            label = f"solutions.{path.stem}.{node.name}"
            dump = _body_dump(node)
            if dump and dump not in public_bodies:
                bodies[dump] = label
            statements = _body_without_docstring(node)
            if not statements:
                continue
            segment = "\n".join(source.splitlines()[statements[0].lineno - 1:node.end_lineno])
            body_lines = _substantial_lines(segment)
            for index in range(len(body_lines) - _WINDOW + 1):
                window = tuple(body_lines[index:index + _WINDOW])
                if window not in allowed_windows:
                    windows.setdefault(window, label)
            for line in body_lines:
                if specific_line(line) and line not in allowed_set:
                    lines.setdefault(line, label)
    return SolutionFingerprint(windows=windows, bodies=bodies, lines=lines)


def _code_of_notebook(data: bytes) -> tuple[str, str]:
    """(all text, code only) of a notebook file."""
    notebook = json.loads(data.decode("utf-8"))
    texts, code = [], []
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        texts.append(source)
        if cell.get("cell_type") == "code":
            code.append(source)
        for output in cell.get("outputs", []):
            texts.append(json.dumps(output, ensure_ascii=False))
    texts.append(json.dumps(notebook.get("metadata", {}), ensure_ascii=False))
    return "\n".join(texts), "\n".join(code)


def _python_functions(code: str):
    try:
        tree = ast.parse(code)
    except SyntaxError:
        # Notebook code may hold IPython magics: keep the lines that parse, cell by cell.
        return []
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def scan_text(name: str, text: str, code: str | None, fingerprint: SolutionFingerprint,
              hidden_lines: set[str]) -> list[str]:
    """Problems found in one file's text (``code``: its Python code, when it has some)."""
    problems = []
    for marker in MARKERS:
        if marker in text:
            problems.append(f"{name}: contains the nbgrader marker '{marker}'")
    if _SOLUTIONS_IMPORT.search(text):
        problems.append(f"{name}: imports the instructor's solutions package")
    normalised_text = "\n".join(normalise_line(line) for line in text.splitlines())
    for line in sorted(hidden_lines):
        if line in normalised_text:
            problems.append(f"{name}: contains hidden-test text: {line[:80]!r}")
            break
    lines = _substantial_lines(text)
    for index in range(len(lines) - _WINDOW + 1):
        label = fingerprint.windows.get(tuple(lines[index:index + _WINDOW]))
        if label:
            problems.append(f"{name}: contains solution code of {label}: {lines[index][:80]!r}")
            break
    for line in lines:
        label = fingerprint.lines.get(line)
        if label:
            problems.append(f"{name}: contains a solution line of {label}: {line[:80]!r}")
            break
    if code is not None:
        for function in _python_functions(code):
            label = fingerprint.bodies.get(_body_dump(function) or "")
            if label:
                problems.append(f"{name}: function {function.name} has the body of {label}")
    return problems


def _archive_members(archive: zipfile.ZipFile, prefix: str = ""):
    for info in archive.infolist():
        if info.is_dir():
            continue
        data = archive.read(info)
        name = prefix + info.filename
        yield name, data
        if info.filename.endswith((".whl", ".zip")):
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                yield from _archive_members(inner, prefix=name + "!/")


def _instructor_file(name: str) -> bool:
    parts = re.split(r"[/!]+", name)
    return any(part in _INSTRUCTOR_PARTS for part in parts)


def _leak_references(source_notebooks, solutions_dir: Path,
                     public_package_dir: Path | None) -> tuple[SolutionFingerprint, set[str]]:
    """The solution fingerprint and the hidden-test lines that student material must not hold."""
    allowed, solution_lines = [], []
    for path in source_notebooks:
        for cell in read_notebook(path).cells:
            visible = remove_region(remove_region(cell.source, "solution"), "hidden")
            allowed.append(visible)
            label = f"{Path(path).stem} solution region"
            solution_lines += [(line, label) for line in region_lines(cell.source, "solution")]
    public_bodies: set[str] = set()
    if public_package_dir is not None:
        public_text, public_bodies = _public_text(public_package_dir)
        allowed.append(public_text)
    fingerprint = solution_fingerprint(solutions_dir, "\n".join(allowed), solution_lines=solution_lines,
                                       public_bodies=public_bodies)
    return fingerprint, hidden_test_lines(source_notebooks, minimum_length=30)


def _scan_member(name: str, data: bytes, fingerprint: SolutionFingerprint, hidden: set[str]) -> list[str]:
    """Problems of one file handed to students (``name``: its path, ``!/`` inside an archive)."""
    problems = []
    if _instructor_file(name):
        problems.append(f"{name}: instructor file in the student material")
    if "!/" in name:
        inner = name.split("!/")[-1]
        if not (inner.startswith("paysages/") or re.match(r"^paysages-[^/]+\.dist-info/", inner)):
            problems.append(f"{name}: unexpected file in the wheel (only paysages/ may ship)")
    if name.endswith((".whl", ".zip", ".png", ".jpg", ".keras", ".npz", ".h5")):
        return problems
    try:
        if name.endswith(".ipynb"):
            text, code = _code_of_notebook(data)
        else:
            text = data.decode("utf-8")
            code = text if name.endswith(".py") else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return problems + [f"{name}: unreadable file in the student material"]
    return problems + scan_text(name, text, code, fingerprint, hidden)


def scan_bundle(bundle_path: Path, *, source_notebooks, solutions_dir: Path,
                public_package_dir: Path | None = PUBLIC_PACKAGE_DIR) -> list[str]:
    """Every problem of a student bundle; an empty list means it is safe to hand out.

    Solution code is found by comparing with the bodies of the ``solutions/`` functions: any
    four consecutive substantial lines of a body, a function whose whole body (one non-trivial
    statement is enough) is a solution's, or any one specific line of a body or of a
    notebook's solution region (20 characters or more, not ``return x``, ``pass``, an import or
    another generic line). Lines and bodies that also appear in the notebooks' visible text or
    in the student package (``public_package_dir``, shipped in the bundle) do not count.
    Hidden-test text is any line of 30 characters or more that appears only inside hidden-test
    regions.
    """
    fingerprint, hidden = _leak_references(source_notebooks, solutions_dir, public_package_dir)
    problems = []
    with zipfile.ZipFile(bundle_path) as archive:
        for name, data in _archive_members(archive):
            problems.extend(_scan_member(name, data, fingerprint, hidden))
    return problems


def scan_tree(folder: Path, *, source_notebooks, solutions_dir: Path,
              public_package_dir: Path | None = PUBLIC_PACKAGE_DIR) -> list[str]:
    """Every problem of a folder handed to students (the published repository), as :func:`scan_bundle`.

    Every file under ``folder`` is scanned, hidden ones included, and so is every member of an
    archive found there; a link is a problem in itself (its target is not scanned).
    """
    fingerprint, hidden = _leak_references(source_notebooks, solutions_dir, public_package_dir)
    folder = Path(folder)
    problems = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            problems.append(f"{name}: a link in the student material")
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        problems.extend(_scan_member(name, data, fingerprint, hidden))
        if name.endswith((".whl", ".zip")):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for member, member_data in _archive_members(archive, prefix=name + "!/"):
                        problems.extend(_scan_member(member, member_data, fingerprint, hidden))
            except zipfile.BadZipFile:
                problems.append(f"{name}: unreadable archive in the student material")
    return problems


def html_text(page: str) -> str:
    """The visible text of an HTML page (tags, scripts and styles removed)."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", "", page)
    return html.unescape(page)


def scan_feedback_html(page: str, hidden_lines: set[str], student_text: str = "") -> list[str]:
    """Hidden-test lines (or markers) visible in a feedback page, except those the student wrote."""
    text = "\n".join(normalise_line(line) for line in html_text(page).splitlines())
    own = "\n".join(normalise_line(line) for line in student_text.splitlines())
    problems = [f"marker '{marker}'" for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS") if marker in text]
    problems += [f"hidden-test line {line[:80]!r}" for line in sorted(hidden_lines)
                 if line in text and line not in own]
    return problems


def student_text(notebook) -> str:
    """The text of a submitted notebook's cells that the student may edit."""
    return "\n".join(cell.source for cell in notebook.cells if not is_locked_cell(cell))


def suspicious_code(notebook) -> list[str]:
    """Patterns worth a look in the cells a student may edit (never changes a grade)."""
    flags = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or is_locked_cell(cell):
            continue
        source = cell.source
        for pattern, meaning in SUSPICIOUS_PATTERNS:
            match = re.search(pattern, source)
            if match:
                snippet = textwrap.shorten(source[max(0, match.start() - 20):match.end() + 40].strip(), 90)
                flags.append(f"{meaning}: {snippet}")
    return sorted(set(flags))


def solution_regions(source_notebooks) -> list[str]:
    """All solution-region lines of the source notebooks (used by tests)."""
    lines = []
    for path in source_notebooks:
        for cell in read_notebook(path).cells:
            lines.extend(region_lines(cell.source, "solution"))
    return lines


def describe_event(event: dict) -> str | None:
    """One line for an integrity event of the journal (None for timings)."""
    kind = event.get("event")
    notebook = event.get("notebook", "")
    if kind == "guard":
        return f"{notebook}/{event.get('grade_id')}: restored {', '.join(event.get('restored', []))}"
    if kind == "aborted":
        return f"{notebook}: execution aborted ({str(event.get('reason', ''))[:120]})"
    if kind == "output_truncated":
        return f"{notebook}: output of cell {event.get('cell_index')} truncated"
    if kind == "cells_restored":
        return f"{notebook}: missing cells restored: {', '.join(event.get('cells', []))}"
    if kind == "cell_changed":
        return f"{notebook}/{event.get('grade_id')}: {event.get('attribute')} changed, restored"
    if kind == "duplicates_disarmed":
        return f"{notebook}: {event.get('cells')} duplicated graded cell(s) disarmed"
    if kind == "gradebook_restored":
        others = f" (graded at the same time: {', '.join(event['in_flight'])})" if event.get("in_flight") else ""
        changes = "; ".join(event.get("changes", [])[:3])
        return (f"{notebook}: the gradebook was changed during this notebook's grading{others}; "
                f"{event.get('rows', 0)} row(s) of {', '.join(event.get('students', [])) or '?'} restored: {changes}")
    if kind == "grading_files_restored":
        return f"{notebook}: grading files changed during this notebook's grading, restored: " + ", ".join(
            event.get("files", []))
    if kind == "grading_data_restored":
        return f"grading data ({event.get('when', '')}): {event.get('details', '')}"
    if kind == "timing":
        return None
    return f"{notebook}: {kind}"
