"""Colab's pinned versions (colab/constraints-colab.txt) against the kit's requirements."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement

from tests.helpers.colab_pins import CONSTRAINTS_PATH, MAKE_CONSTRAINTS, canonical, pinned_versions


def test_the_constraints_file_is_what_the_script_makes(colab_freeze):
    """Is colab/constraints-colab.txt up to date with Colab's freeze (colab/make_constraints.py --check)?"""
    completed = subprocess.run([sys.executable, str(MAKE_CONSTRAINTS), "--check"],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_student_requirements_accept_colab_versions(repository_dir):
    """Do the student dependencies and the tensorflow extra admit every version Colab pins?"""
    project = tomllib.loads((repository_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = pinned_versions(CONSTRAINTS_PATH)
    refused = []
    for text in project["dependencies"] + project["optional-dependencies"]["tensorflow"]:
        requirement = Requirement(text)
        pinned = pins.get(canonical(requirement.name))
        if pinned is not None and pinned not in requirement.specifier:
            refused.append(f"{requirement} refuses Colab's {pinned}")
    assert not refused, refused


@pytest.mark.slow
@pytest.mark.network
def test_installing_the_student_package_changes_none_of_colab_pins(repository_dir, colab_freeze, tmp_path):
    """Would `pip install paysages` keep every package of Colab's runtime at its version (pip's dry-run report)?

    pip resolves the student package (no TensorFlow: Colab's stays) with every pin of Colab's
    GPU freeze as a constraint, dependencies of dependencies included, ignoring what this machine
    has installed; it downloads metadata only. A conflict fails the resolution; the report lists
    what would be installed, each at Colab's version.
    """
    # Only name==version lines: Colab's own local builds (name @ file://...) are not on PyPI.
    pins = pinned_versions(colab_freeze)
    constraints = tmp_path / "colab-freeze-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()), encoding="utf-8")
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), "-c", str(constraints), str(repository_dir)],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    installed = {canonical(item["metadata"]["name"]): item["metadata"]["version"]
                 for item in json.loads(report.read_text(encoding="utf-8"))["install"]}
    changed = {name: (pins[name], version) for name, version in installed.items() if name in pins and pins[name] != version}
    assert not changed, changed
    assert set(installed) - set(pins) == {"paysages"}, "not in Colab: " + ", ".join(sorted(set(installed) - set(pins)))
    assert not {"tensorflow", "keras"} & set(installed)
    print("\n[colab pins] would install: " + ", ".join(f"{name}=={version}" for name, version in sorted(installed.items())))
