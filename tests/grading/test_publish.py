"""`paysages release --publish DIR`: the student repository, its leak scan, its package, its set-up cell.

The quick tests publish a small hand-made release (one student notebook) against the real course
sources and solutions; the slow ones run the real release and install the published folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest

from autograde import integrity, publish
from autograde.layout import REPOSITORY_DIR, course_config, course_notebooks, kit_tag
from autograde.notebooks import hidden_test_lines
from autograde.release import add_colab_badge, colab_url
from paysages import __version__
from paysages.cli import main
from paysages.errors import PaysagesError

SOURCES = course_notebooks()
NOTEBOOK = "00_prise_en_main"
# What the published repository holds at its top, the release folder aside.
TOP_LEVEL = {"README.md", "pyproject.toml", "paysages", publish.PUBLICATION_MARKER}


def _release_folder() -> str:
    return course_config()["release_folder"].strip("/")


def _small_course(folder: Path, extra_cell: str | None = None) -> types.SimpleNamespace:
    """A course directory's two folders publish reads: the real sources, one student notebook."""
    source_dir, release_dir = folder / "source", folder / "release"
    source_dir.mkdir(parents=True)
    release_dir.mkdir()
    for path in SOURCES:
        (source_dir / path.name).write_bytes(path.read_bytes())
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Prise en main"), nbformat.v4.new_code_cell("print('bonjour')")]
    if extra_cell is not None:
        notebook.cells.append(nbformat.v4.new_code_cell(extra_cell))
    add_colab_badge(notebook, NOTEBOOK, [NOTEBOOK], "projet", course_config())
    nbformat.write(notebook, str(release_dir / f"{NOTEBOOK}.ipynb"))
    return types.SimpleNamespace(source_dir=source_dir, release_dir=release_dir)


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("publish")
    publish.publish(_small_course(folder), [NOTEBOOK], folder / "student-repository")
    return folder / "student-repository"


def test_published_tree_holds_the_student_files_and_nothing_else(published):
    """Are only the README, the pyproject, paysages/, the notebooks and the marker published?"""
    licences = {name for name in publish.LICENCE_FILES if (REPOSITORY_DIR / name).is_file()}
    assert {path.name for path in published.iterdir()} == TOP_LEVEL | licences | {_release_folder().split("/")[0]}
    files = _files(published)
    assert {name for name in files if name.endswith(".ipynb")} == {f"{_release_folder()}/{NOTEBOOK}.ipynb"}
    for name in files:
        parts = set(name.split("/"))
        assert not parts & {"solutions", "autograde", "tests", "course", "benchmarks", "tools", "__pycache__"}, name
        assert name in TOP_LEVEL | licences or name.startswith(("paysages/", f"{_release_folder()}/")), name
    assert "paysages/registry.json" in files and "paysages/cli.py" in files
    marker = json.loads((published / publish.PUBLICATION_MARKER).read_text(encoding="utf-8"))
    assert set(marker["files"]) == files
    assert marker["kit_version"] == __version__ and marker["tag"] == kit_tag() == f"v{__version__}"
    assert not list(published.parent.glob(".student-repository.publishing-*"))


def test_readme_badges_point_at_the_configured_repository(published):
    """Does the French README give each notebook its badge at course.json's repository and branch?"""
    config = course_config()
    readme = (published / "README.md").read_text(encoding="utf-8")
    owner_and_name = config["repository_url"].removeprefix("https://github.com/").removesuffix(".git")
    expected = (f"https://colab.research.google.com/github/{owner_and_name}/blob/{config['branch']}/"
                f"{_release_folder()}/{NOTEBOOK}.ipynb")
    assert colab_url(NOTEBOOK, config) == expected
    assert f"]({expected})" in readme
    for words in ("Open in Colab", "Drive", "00_prise_en_main", "Un environnement d'exécution par notebook",
                  "paysages submit --student-id", f"git+{config['repository_url']}@{kit_tag()}"):
        assert words in readme, words
    badge = nbformat.read(str(published / _release_folder() / f"{NOTEBOOK}.ipynb"), as_version=4).cells[0]
    assert expected in badge.source


def test_pyproject_packages_the_student_package_only(published):
    """Does the published pyproject.toml build paysages/ alone, at the kit's version, without instructor extras?"""
    student = tomllib.loads((published / "pyproject.toml").read_text(encoding="utf-8"))
    kit = tomllib.loads((REPOSITORY_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    assert student["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["paysages"]
    assert student["build-system"] == kit["build-system"]
    project = student["project"]
    assert project["version"] == __version__ and project["name"] == "paysages"
    assert project["dependencies"] == kit["project"]["dependencies"]
    assert project["scripts"] == {"paysages": "paysages.cli:main"}
    assert "entry-points" not in project
    assert set(project["optional-dependencies"]) == set(kit["project"]["optional-dependencies"]) - {"instructor", "dev"}
    assert "nbgrader" not in (published / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("planted", ["marker", "hidden test", "solutions folder"])
def test_scan_tree_reports_a_planted_leak(tmp_path, planted):
    """Does the folder scan find a solution marker, a hidden-test line or an instructor folder?"""
    tree = tmp_path / "tree"
    (tree / "paysages").mkdir(parents=True)
    (tree / "README.md").write_text("# Projet\n", encoding="utf-8")
    if planted == "marker":
        (tree / "paysages" / "helpers.py").write_text("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", encoding="utf-8")
        expected = "paysages/helpers.py: contains the nbgrader marker 'BEGIN SOLUTION'"
    elif planted == "hidden test":
        line = sorted(hidden_test_lines(SOURCES, minimum_length=30))[0]
        (tree / "NOTES.md").write_text(f"Pour info :\n{line}\n", encoding="utf-8")
        expected = "NOTES.md: contains hidden-test text"
    else:
        (tree / "solutions").mkdir()
        (tree / "solutions" / "__init__.py").write_text("", encoding="utf-8")
        expected = "solutions/__init__.py: instructor file"
    findings = integrity.scan_tree(tree, source_notebooks=SOURCES, solutions_dir=REPOSITORY_DIR / "solutions")
    assert any(finding.startswith(expected) for finding in findings), findings


def test_scan_tree_accepts_a_clean_tree(published):
    """Is the published tree itself free of findings?"""
    assert integrity.scan_tree(published, source_notebooks=SOURCES, solutions_dir=REPOSITORY_DIR / "solutions") == []


def test_publish_refuses_a_leaking_release_and_writes_nothing(tmp_path):
    """Is a release notebook holding a solution region refused, with the destination left as it was?"""
    course = _small_course(tmp_path, extra_cell="### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION")
    destination = tmp_path / "student-repository"
    with pytest.raises(PaysagesError, match=r"would leak instructor material, .* left unchanged: .*BEGIN SOLUTION"):
        publish.publish(course, [NOTEBOOK], destination)
    assert not destination.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["release", "source"]


def test_publish_refuses_a_folder_that_is_not_a_publication(tmp_path, capsys):
    """Is a non-empty folder that holds no previous publication refused, by the CLI before any release?"""
    destination = tmp_path / "my-notes"
    destination.mkdir()
    (destination / "notes.txt").write_text("à garder\n", encoding="utf-8")
    with pytest.raises(PaysagesError, match="not empty and holds no previous publication"):
        publish.check_destination(destination)
    course_dir = tmp_path / "course"
    assert main(["release", "--course-dir", str(course_dir), "--publish", str(destination)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --publish") and error.count("\n") == 1
    assert not course_dir.exists()
    assert (destination / "notes.txt").read_text(encoding="utf-8") == "à garder\n"


def test_publish_replaces_a_previous_publication_and_keeps_its_git_folder(tmp_path):
    """Does a new publication replace the old files of a clone while its .git folder stays?"""
    course = _small_course(tmp_path)
    destination = tmp_path / "clone"
    (destination / ".git").mkdir(parents=True)
    (destination / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    publish.publish(course, [NOTEBOOK], destination)
    (destination / "stale.txt").write_text("from an older publication\n", encoding="utf-8")
    publish.publish(course, [NOTEBOOK], destination)
    assert (destination / ".git" / "HEAD").read_text(encoding="utf-8") == "ref: refs/heads/main\n"
    assert not (destination / "stale.txt").exists()
    assert (destination / publish.PUBLICATION_MARKER).is_file()


def _bootstrap_cell() -> str:
    notebook = nbformat.read(str(REPOSITORY_DIR / "course" / f"{NOTEBOOK}.ipynb"), as_version=4)
    return next(cell.source for cell in notebook.cells if 'importlib.metadata.version("paysages")' in cell.source)


@pytest.mark.parametrize("installed, wheel, expected", [
    (__version__, False, None),
    ("0.0.1", False, f"paysages @ git+{course_config()['repository_url']}@{kit_tag()}"),
    (None, False, f"paysages @ git+{course_config()['repository_url']}@{kit_tag()}"),
    ("0.0.1", True, f"paysages-{__version__}-py3-none-any.whl"),
])
def test_set_up_cell_installs_the_release_kit_version(tmp_path, monkeypatch, installed, wheel, expected):
    """Does the set-up cell leave the release's kit alone, and install the tag (or its wheel) otherwise?"""
    def version(name):
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    commands = []
    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(subprocess, "run", lambda command, **keywords: commands.append(command))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    monkeypatch.chdir(tmp_path)
    if wheel:
        (tmp_path / f"paysages-{__version__}-py3-none-any.whl").write_bytes(b"")
        (tmp_path / "paysages-0.0.1-py3-none-any.whl").write_bytes(b"")
    exec(_bootstrap_cell(), {"__name__": "__main__"})
    if expected is None:
        assert commands == []
    else:
        assert commands == [[sys.executable, "-m", "pip", "install", "--quiet", expected]]


@pytest.mark.slow
def test_real_release_publishes_and_installs_as_the_student_package(released_course, tmp_path):
    """Published from the real release, does the folder pip-install into a fresh venv as the student kit?

    The published folder is built by its own pyproject.toml with hatchling (`pip wheel`, no build
    isolation, offline), then installed into a fresh venv with `--no-deps` (nothing downloaded,
    TensorFlow never). Its `paysages --help` lists the student commands only, at the release's version.
    """
    pytest.importorskip("hatchling", reason="hatchling comes with the dev extra: pip install -e '.[dev]'")
    destination = tmp_path / "student-repository"
    publish.publish(released_course.layout, released_course.notebook_names, destination)
    folder = _release_folder()
    assert {name for name in _files(destination) if name.endswith(".ipynb")} == {
        f"{folder}/{name}.ipynb" for name in released_course.notebook_names}
    for name in released_course.notebook_names:
        notebook = nbformat.read(str(destination / folder / f"{name}.ipynb"), as_version=4)
        assert f"]({colab_url(name)})" in notebook.cells[0].source
        assert notebook.metadata["paysages"]["kit_version"] == __version__
        assert f"@{kit_tag()}" in "\n".join(cell.source for cell in notebook.cells)

    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--wheel-dir", str(wheels), str(destination)], check=True, timeout=300)
    [wheel] = list(wheels.glob("*.whl"))
    assert wheel.name == f"paysages-{__version__}-py3-none-any.whl"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300)
    environment = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    listing = subprocess.run([str(venv / "bin" / "paysages"), "--help"], capture_output=True, text=True,
                             timeout=120, env=environment, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    commands = set(re.findall(r"^    ([a-z]+)\s{2,}", listing.stdout, flags=re.MULTILINE))
    assert commands == {"data", "env", "explore", "submit"}
    version = subprocess.run([str(python), "-c", "import importlib.metadata as m, paysages; "
                              "print(m.version('paysages'), paysages.__version__)"],
                             capture_output=True, text=True, timeout=120, env=environment, cwd=tmp_path)
    assert version.stdout.split() == [__version__, __version__], version.stderr
    installed = subprocess.run([str(python), "-c", "import importlib.util as u; "
                                "print([n for n in ('autograde', 'solutions') if u.find_spec(n)])"],
                               capture_output=True, text=True, timeout=120, env=environment, cwd=tmp_path)
    assert installed.stdout.strip() == "[]", installed.stderr
