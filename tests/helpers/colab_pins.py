"""Colab's pinned versions, read by colab/make_constraints.py's own functions (one parser)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

REPOSITORY_DIR = Path(__file__).resolve().parents[2]
MAKE_CONSTRAINTS = REPOSITORY_DIR / "colab" / "make_constraints.py"
CONSTRAINTS_PATH = REPOSITORY_DIR / "colab" / "constraints-colab.txt"


@functools.cache
def make_constraints():
    """colab/make_constraints.py as a module (colab/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("make_constraints", MAKE_CONSTRAINTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canonical(name: str) -> str:
    return make_constraints().canonical(name)


def pinned_versions(path: Path) -> dict[str, str]:
    """``name==version`` lines of a freeze or constraints file: version by canonical name."""
    return {name: version for name, (_, version) in make_constraints().read_freeze(path).items()}
