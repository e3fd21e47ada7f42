"""The student path works without instructor tools: a fresh virtual environment with the bundle.

The environment is made with ``python -m venv`` (no system site packages). The wheel found in the
released student bundle (what `paysages release` hands out) is installed into it with pip,
offline. Its light dependencies (NumPy, pandas, Matplotlib...) are not downloaded again: the
installed copies of the test environment are linked in through a ``.pth`` file, one distribution
at a time, following the wheel's ``Requires-Dist`` (without extras). nbgrader and the instructor
packages are never linked. TensorFlow and Keras are linked only into a second environment, which
stands for Google Colab (where they are preinstalled): there the release notebooks' set-up cells
are run for real.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from autograde.layout import REPOSITORY_DIR
from autograde.wheel import build_wheel

pytestmark = pytest.mark.slow


def _requirement_name(requirement: str) -> str | None:
    if ";" in requirement and "extra" in requirement.split(";", 1)[1]:
        return None
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1) if match else None


def _dependency_closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    seen, queue, found = set(), list(requirements), []
    while queue:
        name = _requirement_name(queue.pop())
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(distribution)
        queue.extend(distribution.requires or [])
    return found


def _link_distributions(distributions, target: Path) -> None:
    """Symlink each distribution's top-level files and its metadata folder into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for distribution in distributions:
        root = Path(distribution.locate_file(""))
        tops = {Path(str(item)).parts[0] for item in distribution.files or []}
        for top in tops:
            source = root / top
            if top in ("..", "bin") or not source.exists() or (target / top).exists():
                continue
            (target / top).symlink_to(source)


def _make_venv(folder: Path, wheel: Path, extra_requirements=()) -> dict:
    """A fresh venv with ``wheel`` installed and its dependencies (plus ``extra_requirements``) linked."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(name for name in archive.namelist() if name.endswith("/METADATA"))).decode()
    requirements = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        check=True, capture_output=True, text=True).stdout.strip())
    dependencies = folder / "dependencies"
    _link_distributions(_dependency_closure(requirements + list(extra_requirements)), dependencies)
    (site_packages / "_paysages_test_dependencies.pth").write_text(str(dependencies) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, timeout=300)
    return {"python": python, "venv": venv, "folder": folder, "wheel": wheel}


@pytest.fixture(scope="module")
def bundle_wheel(tmp_path_factory, released_course):
    """The wheel inside the released student bundle, extracted as a student would."""
    folder = tmp_path_factory.mktemp("student_bundle")
    with zipfile.ZipFile(released_course.bundle) as archive:
        wheels = [name for name in archive.namelist() if name.endswith(".whl")]
        assert len(wheels) == 1, f"the bundle should hold one wheel, it holds {wheels}"
        archive.extract(wheels[0], folder)
    return folder / wheels[0]


@pytest.fixture(scope="module")
def student_venv(tmp_path_factory, bundle_wheel):
    return _make_venv(tmp_path_factory.mktemp("student_venv"), bundle_wheel)


@pytest.fixture(scope="module")
def colab_like_venv(tmp_path_factory, bundle_wheel):
    """The bundle's wheel beside what Colab preinstalls (TensorFlow, Keras, IPython, Bokeh, UMAP); no nbgrader."""
    return _make_venv(tmp_path_factory.mktemp("colab_like_venv"), bundle_wheel, ("tensorflow-cpu", "tensorflow", "keras", "ipython", "bokeh", "umap-learn"))


def _run(student_venv, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(student_venv["python"]), "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "MPLBACKEND": "Agg"})


def test_instructor_tools_are_not_importable(student_venv, tmp_path):
    """Are nbgrader, solutions and autograde absent, and paysages present, in the student's environment?"""
    result = _run(student_venv, """
        import importlib.util, json
        print(json.dumps({name: importlib.util.find_spec(name) is not None
                          for name in ("paysages", "nbgrader", "solutions", "autograde", "tensorflow", "keras")}))
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found == {"paysages": True, "nbgrader": False, "solutions": False, "autograde": False,
                     "tensorflow": False, "keras": False}


def test_release_notebooks_set_up_imports_succeed(student_venv, released_course, tmp_path):
    """Do the paysages imports of the release notebooks work for a student (Keras parts skipped)?"""
    import ast

    import nbformat

    statements = set()
    for name in released_course.notebook_names:
        notebook = nbformat.read(str(released_course.layout.release_dir / f"{name}.ipynb"), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("locked"):
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("paysages"):
                    statements.add(ast.unparse(node))
                elif isinstance(node, ast.Import) and any(alias.name.startswith("paysages") for alias in node.names):
                    statements.add(ast.unparse(node))
    assert statements, "the release notebooks import nothing from paysages"
    result = _run(student_venv, f"""
        import json
        outcome = {{}}
        for statement in {sorted(statements)!r}:
            try:
                exec(statement, {{}})
                outcome[statement] = "ok"
            except ModuleNotFoundError as error:
                outcome[statement] = "missing:" + str(error.name)
        print(json.dumps(outcome))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout)
    skipped = {statement: status for statement, status in outcome.items() if status != "ok"}
    for statement, status in skipped.items():
        missing = status.split(":", 1)[1]
        assert missing.split(".")[0] in ("tensorflow", "keras"), f"{statement}: {status}"
    if skipped:
        print(f"\n[student venv] TensorFlow is absent: {len(skipped)} import(s) that need it were skipped: "
              + "; ".join(sorted(skipped)))
    assert any(status == "ok" for status in outcome.values())


def test_bootstrap_cell_installs_nothing_when_the_kit_is_there(student_venv, released_course, tmp_path):
    """Does the release's install cell leave an environment that already has paysages alone?"""
    import nbformat

    name = released_course.notebook_names[0]
    notebook = nbformat.read(str(released_course.layout.release_dir / f"{name}.ipynb"), as_version=4)
    bootstrap = next(cell.source for cell in notebook.cells if "importlib.metadata.version(\"paysages\")" in cell.source)
    result = _run(student_venv, f"""
        import subprocess
        def refuse(*arguments, **keywords):
            raise SystemExit("the bootstrap cell tried to run " + repr(arguments))
        subprocess.run = refuse
        exec({bootstrap!r}, {{}})
        print("nothing installed")
    """, tmp_path)
    assert result.returncode == 0 and "nothing installed" in result.stdout, result.stderr + result.stdout


def test_submit_works_without_instructor_tools(student_venv, released_course, tmp_path):
    """Can a student pack their work with `python -m paysages.submit` in that environment?"""
    import shutil

    for path in released_course.layout.release_dir.glob("*.ipynb"):
        shutil.copyfile(path, tmp_path / path.name)
    (tmp_path / "paysages_run").mkdir()
    (tmp_path / "paysages_run" / "split.csv").write_text("path,class,subset\n", encoding="utf-8")
    result = subprocess.run([str(student_venv["python"]), "-m", "paysages.submit", "--student-id", "22001234",
                             "--out", "22001234_rendu.zip"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "Rendu écrit" in result.stdout
    with zipfile.ZipFile(tmp_path / "22001234_rendu.zip") as archive:
        names = archive.namelist()
    assert "run/split.csv" in names and len([name for name in names if name.endswith(".ipynb")]) == len(
        released_course.notebook_names)


def test_release_set_up_cells_run_in_a_colab_like_environment(colab_like_venv, released_course, tmp_path):
    """With the bundle's wheel and TensorFlow (no nbgrader), do the release notebooks' set-up cells run?

    The sample dataset and the split are made first with the student's own `paysages data split`.
    Every notebook's cells up to its set-up cell then run (install cell, settings cell, set-up):
    each either succeeds or stops on a French message naming the notebook to run first.
    """
    import nbformat

    environment = {"PATH": f"{colab_like_venv['venv'] / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
                   "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3", "PAYSAGES_MODE": "fast",
                   "PAYSAGES_SAMPLE_PER_CLASS": "12", "PAYSAGES_DATA_ROOT": str(tmp_path / "datasets"),
                   "PAYSAGES_RUN_DIR": str(tmp_path / "paysages_run")}
    split = subprocess.run([str(colab_like_venv["python"]), "-m", "paysages", "data", "split"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=600, env=environment)
    assert split.returncode == 0, split.stdout[-2000:] + split.stderr[-2000:]
    cells_by_notebook = {}
    for name in released_course.notebook_names:
        notebook = nbformat.read(str(released_course.layout.release_dir / f"{name}.ipynb"), as_version=4)
        sources = []
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            sources.append(cell.source)
            if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("setup_"):
                break
        else:
            raise AssertionError(f"{name} has no set-up cell")
        cells_by_notebook[name] = sources
    script = textwrap.dedent(f"""
        import json
        from paysages.errors import PrerequisiteError
        outcome = {{}}
        for name, sources in {cells_by_notebook!r}.items():
            namespace = {{"__name__": "__main__", "get_ipython": lambda: None}}
            try:
                for source in sources:
                    exec(compile(source, name, "exec"), namespace)
                outcome[name] = "ok: " + namespace["settings"].mode
            except PrerequisiteError as error:
                outcome[name] = "prerequisite: " + str(error)
        print(json.dumps(outcome))
    """)
    result = subprocess.run([str(colab_like_venv["python"]), "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(outcome) == list(released_course.notebook_names)
    print("\n[colab-like venv] " + "\n[colab-like venv] ".join(f"{name}: {status[:90]}" for name, status in outcome.items()))
    # Notebooks 00 to 04 need only the dataset and the split: their set-up runs, in fast mode.
    for name in released_course.notebook_names[:5]:
        assert outcome[name] == "ok: fast", (name, outcome[name])
    for name, status in outcome.items():
        if status.startswith("prerequisite: "):
            assert re.search(r"\b\d\d_[a-z]+", status) and "exécutez" in status.lower(), (name, status)
