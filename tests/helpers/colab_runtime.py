"""A virtual environment with Google Colab's versions, and a Jupyter kernel that runs in it.

Colab's GPU runtime pins its own packages (colab/constraints-colab.txt, made from the pip freeze
of googlecolab/backend-info). :func:`colab_runtime_venv` builds, with this machine's Python, a
virtual environment holding exactly those packages at Colab's versions, their own dependencies
resolved against Colab's whole freeze, downloaded from PyPI (about a minute and 2 GB). It is kept
under ``build/colab-runtime/<digest>``: the digest covers both files and the Python version, so a
refreshed freeze builds a new one and a second test run reuses it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from paysages.files import sha256_of_bytes
from tests.helpers.colab_pins import CONSTRAINTS_PATH, REPOSITORY_DIR, canonical, pinned_versions

RUNTIMES_DIR = REPOSITORY_DIR / "build" / "colab-runtime"
COMPLETE_STAMP = ".complete"


def _pin_lines(versions: dict[str, str]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in sorted(versions.items()))


def colab_runtime_venv(freeze: Path, runtimes_dir: Path = RUNTIMES_DIR) -> Path:
    """The folder of a virtual environment with Colab's versions of the kit's packages (built once).

    What is installed is every package of colab/constraints-colab.txt, each at Colab's version;
    pip resolves their dependencies with every ``name==version`` line of Colab's ``freeze`` as a
    constraint, so those land at Colab's versions too. Raises ``RuntimeError`` with pip's own
    message when the resolution or a download fails.
    """
    runtime_pins = _pin_lines(pinned_versions(CONSTRAINTS_PATH))
    freeze_pins = _pin_lines(pinned_versions(freeze))
    python_version = ".".join(map(str, sys.version_info[:3]))
    digest = sha256_of_bytes((runtime_pins + freeze_pins + python_version).encode())[:16]
    venv = runtimes_dir / digest
    if (venv / COMPLETE_STAMP).is_file():
        return venv
    # A folder without the stamp is a build that was interrupted: start again.
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    (venv / "colab-runtime.txt").write_text(runtime_pins, encoding="utf-8")
    (venv / "colab-freeze-constraints.txt").write_text(freeze_pins, encoding="utf-8")
    completed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(venv / "colab-freeze-constraints.txt"), "-r", str(venv / "colab-runtime.txt")],
        capture_output=True, text=True, timeout=1800,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"could not build the Colab-versions environment {venv}:\n{completed.stderr[-4000:]}")
    (venv / COMPLETE_STAMP).write_text(python_version + "\n", encoding="utf-8")
    return venv


def installed_versions(venv: Path) -> dict[str, str]:
    """Every distribution of ``venv`` with its version (``pip list``), by canonical name."""
    completed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return {canonical(item["name"]): item["version"] for item in json.loads(completed.stdout)}


def write_kernel_spec(venv: Path, jupyter_dir: Path, name: str = "colab-runtime") -> str:
    """Write a kernel spec that starts ``venv``'s own ipykernel under ``jupyter_dir``; return its name.

    Point ``JUPYTER_PATH`` at ``jupyter_dir`` for the Jupyter client to find it.
    """
    spec_dir = jupyter_dir / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Colab's versions)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return name
