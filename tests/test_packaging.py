"""Packaging checks: pyproject.toml and environment.yml agree; the install stays student-safe."""

import re
import tomllib

import yaml
from packaging.requirements import Requirement

# pip-only names and the conda-forge package that stands for them in environment.yml.
CONDA_EQUIVALENTS = {"tensorflow-cpu": "tensorflow"}


def _pyproject(repository_dir):
    return tomllib.loads((repository_dir / "pyproject.toml").read_text(encoding="utf-8"))


def _pyproject_requirements(repository_dir) -> dict[str, str]:
    project = _pyproject(repository_dir)["project"]
    requirements = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        requirements += [item for item in items if not item.startswith("paysages[")]
    found = {}
    for text in requirements:
        requirement = Requirement(text)
        name = CONDA_EQUIVALENTS.get(requirement.name.lower(), requirement.name.lower())
        specifier = str(requirement.specifier)
        if name in found and found[name] != specifier:
            raise AssertionError(f"{name} is pinned twice in pyproject.toml: {found[name]} and {specifier}")
        found[name] = specifier
    return found


def _environment_requirements(repository_dir) -> dict[str, str]:
    environment = yaml.safe_load((repository_dir / "environment.yml").read_text(encoding="utf-8"))
    found = {}
    for item in environment["dependencies"]:
        if not isinstance(item, str) or item in ("pip",) or item.startswith("python"):
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)(.*)$", item)
        found[match.group(1).lower()] = str(Requirement("x" + match.group(2)).specifier)
    return found


def test_environment_yml_matches_pyproject(repository_dir):
    """Does environment.yml list exactly the requirements of pyproject.toml, with the same ranges?"""
    assert _environment_requirements(repository_dir) == _pyproject_requirements(repository_dir)


def test_every_pinned_dependency_is_commented(repository_dir):
    """Does every requirement line say where it is used (handson-ml3 style)?"""
    for name in ("pyproject.toml", "environment.yml"):
        for line in (repository_dir / name).read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            is_requirement = re.match(r'^(- )?"?[a-z][a-z0-9_-]*(\[[a-z,]+\])?(>=|<|==)', stripped)
            if is_requirement and not stripped.startswith(('"paysages[', "- python")):
                assert "#" in stripped, f"{name}: requirement without a comment: {stripped}"


def test_student_install_does_not_touch_tensorflow(repository_dir):
    """Would `pip install paysages` in Colab leave Colab's own TensorFlow and Keras alone?"""
    dependencies = [Requirement(text).name.lower() for text in _pyproject(repository_dir)["project"]["dependencies"]]
    assert not {"tensorflow", "tensorflow-cpu", "keras", "nbgrader"} & set(dependencies)


def test_wheel_ships_the_registry_but_no_solutions(repository_dir):
    """Does the wheel carry the dataset registry and only the student package?"""
    build = _pyproject(repository_dir)["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert build["packages"] == ["paysages"]
    assert build["force-include"] == {"datasets/registry.json": "paysages/registry.json"}


def test_instructor_commands_come_from_an_entry_point_of_the_source_checkout(repository_dir):
    """Are the instructor commands declared as a paysages.commands entry point, importable in a dev install?"""
    pyproject = _pyproject(repository_dir)
    assert pyproject["project"]["entry-points"]["paysages.commands"] == {
        "instructor": "autograde.cli:add_instructor_commands"}
    # The editable install puts the repository root on sys.path, where autograde/ lives; the
    # wheel itself packs paysages/ only (test above).
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["dev-mode-dirs"] == ["."]
    assert (repository_dir / "autograde" / "cli.py").is_file()
