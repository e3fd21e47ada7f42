"""The published release on Colab's own versions: installed from the student repository, run 00-08.

A virtual environment is built with Colab's versions (tests/helpers/colab_runtime.py: TensorFlow
2.20, Keras 3.13, ipykernel 6.17... from PyPI). The student repository that `paysages release
--publish` writes is built into a wheel and pip-installed there, as a student's set-up cell
does from the published repository; pip's report and the environment's package list before and
after prove that no package of Colab's is upgraded, downgraded or added. Then release notebooks
00 to 08, with the reference solutions put back in their solution cells, run in fast mode in a
kernel of that environment, each on its own simulated Colab runtime (tests/helpers/colab.py):
only the fake Drive chains them. The grader's repository is on no path of those kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograde import publish
from autograde.execute import execute_notebook, fast_environment
from autograde.layout import course_config
from autograde.notebooks import reference_notebook
from paysages import __version__
from tests.helpers.colab import FAKE_COLAB_PATH, KIT_VARIABLES, SimulatedColab
from tests.helpers.colab_pins import CONSTRAINTS_PATH, pinned_versions
from tests.helpers.colab_runtime import colab_runtime_venv, installed_versions, write_kernel_spec

pytestmark = [pytest.mark.slow, pytest.mark.network]

# Notebooks 00 to 08: the brief's eight steps (09-11 are the bonus and the defence pack).
STEPS = 9


def _published_wheel(released_course, folder: Path) -> Path:
    """Publish the real release into ``folder`` and build the student repository's wheel from it."""
    pytest.importorskip("hatchling", reason="hatchling comes with the dev extra: pip install -e '.[dev]'")
    repository = folder / "student-repository"
    publish.publish(released_course.layout, released_course.notebook_names, repository)
    wheels = folder / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--wheel-dir", str(wheels), str(repository)], check=True, timeout=300)
    [wheel] = list(wheels.glob("*.whl"))
    return wheel


def _install_with_report(venv: Path, wheel: Path, report: Path) -> None:
    """pip-install ``wheel`` into ``venv``, dependencies resolved from PyPI as Colab's pip would."""
    python = str(venv / "bin" / "python")
    # A run before this one may have left the kit installed in the (reused) environment.
    subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "paysages"],
                   capture_output=True, text=True, timeout=300)
    completed = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                "--report", str(report), str(wheel)],
                               capture_output=True, text=True, timeout=900)
    if completed.returncode != 0:
        pytest.fail(f"pip could not install the published package in Colab's versions:\n{completed.stderr[-3000:]}")


@pytest.fixture(scope="module")
def colab_run(released_course, colab_freeze, tmp_path_factory):
    """Install the published package into Colab's versions, then run release 00-08 there, one runtime each."""
    root = tmp_path_factory.mktemp("colab_runtime")
    try:
        venv = colab_runtime_venv(colab_freeze)
    except RuntimeError as error:
        pytest.fail(str(error))
    wheel = _published_wheel(released_course, root)
    before = installed_versions(venv)
    before.pop("paysages", None)
    report = root / "pip-report.json"
    _install_with_report(venv, wheel, report)
    after = installed_versions(venv)

    kernel_name = write_kernel_spec(venv, root / "jupyter")
    simulated = SimulatedColab(root / "colab")
    names = released_course.notebook_names[:STEPS]
    published_release = root / "student-repository" / course_config()["release_folder"].strip("/")
    results, outputs = {}, {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root / "jupyter"))
        for name in KIT_VARIABLES:
            patch.delenv(name, raising=False)
        environment = {
            **fast_environment(None, None),
            **simulated.environment(),
            # Only the stand-in google.colab: neither this repository nor the test's own paths.
            "PYTHONPATH": str(FAKE_COLAB_PATH),
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(root / "home"),
        }
        for name in names:
            content = simulated.new_runtime()
            release = nbformat.read(str(published_release / f"{name}.ipynb"), as_version=4)
            source = nbformat.read(str(released_course.layout.source_dir / f"{name}.ipynb"), as_version=4)
            copy = content / f"{name}.ipynb"
            nbformat.write(reference_notebook(release, source), str(copy))
            results[name] = execute_notebook(copy, copy, environment, timeout=900, kernel_name=kernel_name)
            outputs[name] = "\n".join(output.get("text", "")
                                      for cell in nbformat.read(str(copy), as_version=4).cells
                                      if cell.cell_type == "code" for output in cell.get("outputs", []))
            print(f"[colab versions] {name}: {results[name].seconds:.0f} s, "
                  f"{'ok' if results[name].error is None else 'FAILED'}", flush=True)
    return {"venv": venv, "wheel": wheel, "before": before, "after": after,
            "report": json.loads(report.read_text(encoding="utf-8")), "results": results, "outputs": outputs,
            "colab": simulated, "names": names}


def test_installing_the_published_package_changes_no_colab_package(colab_run):
    """Does pip install only paysages, leaving every package of Colab's versions as it was?"""
    installed = {item["metadata"]["name"]: item["metadata"]["version"] for item in colab_run["report"]["install"]}
    assert installed == {"paysages": __version__}, installed
    after = dict(colab_run["after"])
    assert after.pop("paysages") == __version__
    assert after == colab_run["before"]
    # The environment really is Colab's: each constraint at its version.
    pins = pinned_versions(CONSTRAINTS_PATH)
    differing = {name: (version, after.get(name)) for name, version in pins.items() if after.get(name) != version}
    assert not differing, differing


def test_release_notebooks_run_on_colab_versions(colab_run):
    """Do release notebooks 00-08, reference solutions filled in, run to the end on Colab's versions?"""
    failed = {name: result.error[-1500:] for name, result in colab_run["results"].items() if result.error}
    assert not failed, failed
    assert len(colab_run["results"]) == STEPS
    # Each runtime mounted Drive once and flushed it once; the results chained through Drive alone.
    calls = [call["call"] for call in colab_run["colab"].calls()]
    assert calls == ["mount", "flush_and_unmount"] * STEPS
    run_dir = colab_run["colab"].kit_folder / "run"
    for produced in ("split.csv", "models/cnn.keras", "results.json", "best.json"):
        assert (run_dir / produced).is_file(), f"{produced} is not on Drive"


def test_environment_check_sees_colab_versions_without_a_warning(colab_run):
    """Does 00's environment check report Colab's TensorFlow and Keras as tested, with no version warning?"""
    pins = pinned_versions(CONSTRAINTS_PATH)
    first = colab_run["outputs"][colab_run["names"][0]]
    assert f"tensorflow {pins['tensorflow']} (testé" in first
    assert f"keras {pins['keras']} (testé" in first
    for name, text in colab_run["outputs"].items():
        assert "diffère des versions testées" not in text, name
