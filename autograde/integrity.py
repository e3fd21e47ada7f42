"""Scans that keep solutions and hidden tests away from students, and flag suspicious submissions.

* :func:`scan_bundle`: the student bundle (and the wheel inside it) holds no solution marker, no
  solution code (compared with the bodies of the ``solutions/`` functions), no hidden-test text,
  no ``solutions`` import and no instructor file.
* :func:`scan_feedback_html`: a feedback page quotes no hidden-test line.
* :func:`suspicious_code`: patterns in a submission's own cells worth an instructor's look
  (``os._exit``, patched libraries, IPython hooks, ``solutions`` imports...). They do not change
  any grade; the report lists them.
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
    """What identifies the reference solutions: body windows and body AST dumps."""

    windows: dict[tuple[str, ...], str]
    bodies: dict[str, str]


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


def _body_dump(function) -> str | None:
    body = _body_without_docstring(function)
    if len(body) < 2:
        return None
    return "\n".join(ast.dump(statement, annotate_fields=False) for statement in body)


def solution_fingerprint(solutions_dir: Path, allowed_text: str = "") -> SolutionFingerprint:
    """Fingerprint the function bodies of ``solutions/``; windows found in ``allowed_text`` are ignored."""
    allowed_lines = _substantial_lines(allowed_text)
    allowed_windows = {tuple(allowed_lines[index:index + _WINDOW]) for index in range(len(allowed_lines))}
    windows, bodies = {}, {}
    for path in sorted(Path(solutions_dir).glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            label = f"solutions.{path.stem}.{node.name}"
            dump = _body_dump(node)
            if dump:
                bodies[dump] = label
            statements = _body_without_docstring(node)
            if not statements:
                continue
            segment = "\n".join(source.splitlines()[statements[0].lineno - 1:node.end_lineno])
            lines = _substantial_lines(segment)
            for index in range(len(lines) - _WINDOW + 1):
                window = tuple(lines[index:index + _WINDOW])
                if window not in allowed_windows:
                    windows.setdefault(window, label)
    return SolutionFingerprint(windows=windows, bodies=bodies)


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


def scan_bundle(bundle_path: Path, *, source_notebooks, solutions_dir: Path) -> list[str]:
    """Every problem of a student bundle; an empty list means it is safe to hand out.

    Solution code is found by comparing with the bodies of the ``solutions/`` functions: any
    four consecutive substantial lines of a body (ignoring those that also appear in the
    notebooks' visible text), or a function whose whole body is a solution's. Hidden-test text is
    any line of 30 characters or more that appears only inside hidden-test regions.
    """
    allowed = []
    for path in source_notebooks:
        for cell in read_notebook(path).cells:
            visible = remove_region(remove_region(cell.source, "solution"), "hidden")
            allowed.append(visible)
    fingerprint = solution_fingerprint(solutions_dir, "\n".join(allowed))
    hidden = hidden_test_lines(source_notebooks, minimum_length=30)
    problems = []
    with zipfile.ZipFile(bundle_path) as archive:
        for name, data in _archive_members(archive):
            if _instructor_file(name):
                problems.append(f"{name}: instructor file in the student bundle")
            if "!/" in name:
                inner = name.split("!/")[-1]
                if not (inner.startswith("paysages/") or re.match(r"^paysages-[^/]+\.dist-info/", inner)):
                    problems.append(f"{name}: unexpected file in the wheel (only paysages/ may ship)")
            if name.endswith((".whl", ".zip", ".png", ".jpg", ".keras", ".npz")):
                continue
            try:
                if name.endswith(".ipynb"):
                    text, code = _code_of_notebook(data)
                else:
                    text = data.decode("utf-8")
                    code = text if name.endswith(".py") else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                problems.append(f"{name}: unreadable file in the student bundle")
                continue
            problems.extend(scan_text(name, text, code, fingerprint, hidden))
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
