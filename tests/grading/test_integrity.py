"""The scans and the in-kernel guard, checked without running nbgrader."""

from __future__ import annotations

import email
import html
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from autograde import integrity
from autograde.layout import REPOSITORY_DIR, course_notebooks
from autograde.notebooks import hidden_test_lines, region_lines
from autograde.wheel import build_wheel

SOURCES = course_notebooks()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(REPOSITORY_DIR, tmp_path_factory.mktemp("wheel"))


def _first_solution_function():
    """A (notebook path, solution cell source) pair from the course."""
    for path in SOURCES:
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                if len(region_lines(cell.source, "solution")) >= 4:
                    return path, cell.source
    pytest.skip("no solution cell of four lines or more in the course")


def _bundle(tmp_path: Path, members: dict[str, str]) -> Path:
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def _notebook_text(source: str) -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]))


def test_wheel_ships_only_the_student_package(wheel):
    """Does the wheel hold paysages/ and its metadata, never solutions/, autograde/ or tests?"""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(name for name in names if name.endswith("/METADATA"))).decode()
        entry_points = archive.read(next(name for name in names if name.endswith("entry_points.txt"))).decode()
    assert names and all(name.startswith(("paysages/", "paysages-0")) for name in names)
    assert "paysages/registry.json" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    requirements = [Requirement(line) for line in email.message_from_string(metadata).get_all("Requires-Dist")]
    assert any(requirement.name == "numpy" and requirement.marker is None for requirement in requirements)
    assert any(requirement.name == "nbgrader" and requirement.marker.evaluate({"extra": "instructor"})
               for requirement in requirements if requirement.marker is not None)
    assert "paysages = paysages.cli:main" in entry_points


def test_the_wheel_passes_the_scan(tmp_path, wheel):
    """Does the student wheel pass the bundle scan: no solution code in the student library?"""
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(wheel, f"top/{wheel.name}")
        archive.writestr("top/LISEZMOI.md", "# Lisez-moi\n")
    findings = integrity.scan_bundle(path, source_notebooks=SOURCES, solutions_dir=REPOSITORY_DIR / "solutions")
    assert findings == []


def test_scan_finds_a_solution_pasted_into_a_notebook(tmp_path):
    """Is a solution body found in a notebook of the bundle, even without markers?"""
    _, source = _first_solution_function()
    leaked = "\n".join(line for line in source.splitlines() if "### " not in line)
    bundle = _bundle(tmp_path, {"top/00_leak.ipynb": _notebook_text(leaked)})
    findings = integrity.scan_bundle(bundle, source_notebooks=SOURCES, solutions_dir=REPOSITORY_DIR / "solutions")
    assert any("solution code of solutions." in finding or "has the body of solutions." in finding
               for finding in findings), findings


def test_scan_finds_markers_hidden_tests_imports_and_instructor_files(tmp_path):
    """Are solution markers, hidden-test text, solutions imports and instructor files each reported?"""
    hidden = sorted(hidden_test_lines(SOURCES))[0]
    bundle = _bundle(tmp_path, {
        "top/a.ipynb": _notebook_text("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
        "top/b.py": f"{hidden}\n",
        "top/c.py": "from solutions.cnn import build_cnn\n",
        "top/solutions/__init__.py": "",
        "top/gradebook.db": "",
    })
    findings = "\n".join(integrity.scan_bundle(bundle, source_notebooks=SOURCES,
                                               solutions_dir=REPOSITORY_DIR / "solutions"))
    assert "BEGIN SOLUTION" in findings
    assert "b.py: contains hidden-test text" in findings
    assert "c.py: imports the instructor's solutions package" in findings
    assert "top/solutions/__init__.py: instructor file" in findings
    assert "top/gradebook.db: instructor file" in findings


def test_feedback_scan_ignores_what_the_student_wrote():
    """Is a hidden-test line reported in a page, unless the student's own code holds it?"""
    line = sorted(hidden_test_lines(SOURCES))[0]
    page = f"<html><body><pre><span>{html.escape(line[:10])}</span>{html.escape(line[10:])}</pre></body></html>"
    assert integrity.scan_feedback_html(page, {line}) != []
    assert integrity.scan_feedback_html(page, {line}, student_text=line) == []


def test_suspicious_code_is_flagged_in_editable_cells_only():
    """Are os._exit, library patches and solutions imports flagged in editable cells only?"""
    editable = nbformat.v4.new_code_cell("import os\nnp.allclose = lambda *a: True\nos._exit(0)\nimport solutions")
    locked = nbformat.v4.new_code_cell("os._exit(0)")
    locked.metadata["nbgrader"] = {"locked": True, "grade_id": "x", "grade": False, "solution": False}
    flags = integrity.suspicious_code(nbformat.v4.new_notebook(cells=[locked, editable]))
    text = " ".join(flags)
    assert "replaces a library attribute" in text and "stops or kills the kernel" in text
    assert "mentions the instructor's solutions package" in text
    assert integrity.suspicious_code(nbformat.v4.new_notebook(cells=[locked])) == []


GUARD_SCRIPT = textwrap.dedent('''
    import json, sys, types
    source = open(sys.argv[1], encoding="utf-8").read()
    guard = types.ModuleType("_paysages_grading_guard")
    exec(compile(source, "<guard>", "exec"), guard.__dict__)
    sys.modules[guard.__name__] = guard
    guard.install()
    import builtins
    import numpy as np
    import keras
    original_allclose, original_len = np.allclose, builtins.len
    # Point the hidden tests' get_settings() at a folder of forged results, and add an import hook.
    import os
    exec("import os; os.environ['PAYSAGES_RUN_DIR'] = '/tmp/forged'; os.environ['PAYSAGES_SEED'] = '1'",
         {"__name__": "__main__"})
    exec("class Finder:\\n    def find_spec(self, name, path=None, target=None):\\n        return None\\n"
         "import sys; sys.meta_path.insert(0, Finder())", {"__name__": "__main__"})
    exec("np.allclose = lambda *a, **k: True", {"np": np, "__name__": "__main__"})
    exec("keras.Model.predict = lambda self, x: 'forged'", {"keras": keras, "__name__": "__main__"})
    exec("import builtins; builtins.len = lambda value: 0", {"__name__": "__main__"})
    restored = guard.before_graded_cell()
    print(json.dumps({
        "restored": restored,
        "allclose": np.allclose is original_allclose,
        "len": builtins.len is original_len,
        "predict": "predict" not in vars(keras.Model),
        "run_dir": os.environ.get("PAYSAGES_RUN_DIR"),
        "seed": os.environ.get("PAYSAGES_SEED"),
        "hooks": [type(finder).__name__ for finder in sys.meta_path],
        "again": guard.before_graded_cell(),
    }))
''')


@pytest.mark.slow
def test_kernel_guard_undoes_library_patches(tmp_path):
    """Does the guard undo patched libraries and import hooks, and give the grader's PAYSAGES_* settings back?"""
    script = tmp_path / "guard_check.py"
    script.write_text(GUARD_SCRIPT, encoding="utf-8")
    guard_source = REPOSITORY_DIR / "autograde" / "kernel_guard.py"
    environment = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPOSITORY_DIR),
                   "PAYSAGES_RUN_DIR": str(tmp_path / "grading-run")}
    # The guard takes the working folder off sys.path: run it from elsewhere than the repository.
    result = subprocess.run([sys.executable, str(script), str(guard_source)], capture_output=True, text=True,
                            timeout=300, env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["allclose"] and outcome["len"] and outcome["predict"]
    assert "numpy.allclose restored" in outcome["restored"]
    assert "builtins.len restored" in outcome["restored"]
    # The grader's run folder is back, the added variable is gone, the notebook's import hook too.
    assert outcome["run_dir"] == str(tmp_path / "grading-run") and outcome["seed"] is None
    assert "os.environ['PAYSAGES_RUN_DIR'] restored" in outcome["restored"]
    assert "os.environ['PAYSAGES_SEED'] (set by the notebook) removed" in outcome["restored"]
    assert "Finder" not in outcome["hooks"]
    assert "an import hook defined by the notebook was removed from sys.meta_path" in outcome["restored"]
    assert outcome["again"] == []


def _solution_function(module: str, name: str):
    import ast

    source = (REPOSITORY_DIR / "solutions" / f"{module}.py").read_text(encoding="utf-8")
    function = next(node for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.FunctionDef) and node.name == name)
    return source, function


def _scan(tmp_path, members):
    return integrity.scan_bundle(_bundle(tmp_path, members), source_notebooks=SOURCES,
                                 solutions_dir=REPOSITORY_DIR / "solutions")


def test_scan_finds_a_leaked_one_line_solution(tmp_path):
    """Is the one-statement body of trainable_base_layers found, pasted as is in a notebook?"""
    source, function = _solution_function("transfer", "trainable_base_layers")
    body = source.splitlines()[function.body[-1].lineno - 1]
    findings = _scan(tmp_path, {"top/04_leak.ipynb": _notebook_text(f"def my_layers(model):\n{body}")})
    text = "\n".join(findings)
    assert "contains a solution line of solutions.transfer.trainable_base_layers" in text, findings
    assert "has the body of solutions.transfer.trainable_base_layers" in text, findings


def test_scan_finds_a_reformatted_one_statement_solution(tmp_path):
    """Is train_classifier's single statement found once reformatted onto one line (no line in common)?"""
    import ast

    _, function = _solution_function("cnn", "train_classifier")
    one_line = ast.unparse(function.body[-1])
    assert "\n" not in one_line
    findings = _scan(tmp_path, {"top/02_leak.ipynb": _notebook_text(f"def fit_it(model, data):\n    {one_line}")})
    assert any("function fit_it has the body of solutions.cnn.train_classifier" in finding for finding in findings), findings


def test_scan_finds_one_specific_line_of_a_solution_region(tmp_path):
    """Is one specific line of a notebook's solution region found on its own, and generic lines not?"""
    from autograde.notebooks import normalise_line

    lines = [normalise_line(line) for line in integrity.solution_regions(SOURCES)]
    visible = "\n".join(nbformat.read(str(path), as_version=4).cells[0].source for path in SOURCES)
    fingerprint = integrity.solution_fingerprint(REPOSITORY_DIR / "solutions", visible,
                                                 solution_lines=[(line, "region") for line in lines])
    line = next(line for line in sorted(fingerprint.lines) if fingerprint.lines[line] == "region")
    findings = _scan(tmp_path, {"top/notes.md": f"Indice :\n    {line}\n"})
    assert any("contains a solution line of" in finding for finding in findings), (line, findings)
    generic = "\n".join(["return model", "pass", "import numpy as np", "from keras import layers", "x = inputs",
                         "model.summary()", "return history"])
    assert _scan(tmp_path, {"top/generic.py": generic + "\n"}) == []
