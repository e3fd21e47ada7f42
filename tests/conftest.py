"""Fixtures and collection rules shared by the whole test suite.

Nothing here needs anything beside the clone: the tests that read ``../shared`` (the ml5js licence
metadata, Colab's pip freeze) ask for :func:`shared_licences_dir` or :func:`colab_freeze`, which
skip them (saying why) without it, and fail them under CI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers.session_cache import build_once

REPOSITORY_DIR = Path(__file__).resolve().parents[1]
SHARED_DIR = REPOSITORY_DIR.parent / "shared"
SHARED_LICENCES_DIR = SHARED_DIR / "landscapes" / "licenses"
SHARED_COLAB_FREEZE = SHARED_DIR / "colab" / "pip-freeze.gpu.txt"

# The fixtures that execute a course or grade submissions (minutes each). Under
# `pytest -n 2 --dist loadgroup` every test that reads one goes to the same worker, which builds
# it once; the largest groups are scheduled first, and the smaller ones fill the other worker.
# The release alone (`released_course`, under a minute) is not grouped: a worker that needs it
# without the corpus builds its own, so that the Colab run and the sandboxed attacks need not
# wait behind the corpus on the same worker.
EXPENSIVE_FIXTURE_GROUPS = {
    "validated_course": "executed_course",
    "release_notebooks": "executed_course",
    "graded_course": "grading_corpus",
    "colab_run": "colab_runtime",
    "sandboxed_grading": "sandboxed_grading",
    "verdict_grading": "verdict_grading",
    "attacked_course": "attacked_course",
}

# Keep TensorFlow quiet and deterministic enough for tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark each test that reads an expensive session fixture with that fixture's xdist group."""
    for item in items:
        groups = {group for fixture, group in EXPENSIVE_FIXTURE_GROUPS.items()
                  if fixture in getattr(item, "fixturenames", ())}
        if len(groups) > 1:
            raise pytest.UsageError(f"{item.nodeid} reads fixtures of two xdist groups: {sorted(groups)}.")
        if groups:
            item.add_marker(pytest.mark.xdist_group(groups.pop()))


def pytest_collection_finish(session):
    """Refuse to run when pytest-xdist's loadgroup did not group the expensive tests.

    xdist groups a test by appending ``@<group>`` to its node id; when a pytest release stops
    that (pytest 9.1 did), every worker builds each expensive fixture itself, silently doubling
    the run's time. Failing here says so instead.
    """
    if not getattr(session.config.option, "loadgroup", False):
        return
    for item in session.items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            message = (
                f"pytest-xdist did not group {item.nodeid} (no '@<group>' in its node id), so each "
                "worker would build the expensive session fixtures again. This pytest and "
                "pytest-xdist do not work together: install the versions pyproject.toml allows."
            )
            # A worker's UsageError reaches the controller only as a crash: say why on stderr.
            sys.stderr.write(f"error: {message}\n")
            raise pytest.UsageError(message)


@pytest.fixture(scope="session")
def repository_dir() -> Path:
    return REPOSITORY_DIR


def _shared_file(path: Path, what: str) -> Path:
    """``path`` in ../shared, kept beside the project (never copied in).

    Without ../shared the test is skipped with a message; under continuous integration, which
    always has it, its absence fails the test instead, so a broken CI set-up never passes by skipping.
    """
    if path.exists():
        return path
    message = f"{path} is missing: these tests read {what}, checked out beside the project in ../shared."
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_licences_dir() -> Path:
    """The ml5js licence metadata files (../shared/landscapes/licenses)."""
    return _shared_file(SHARED_LICENCES_DIR, "the ml5js licence metadata")


@pytest.fixture(scope="session")
def colab_freeze() -> Path:
    """Colab's GPU runtime pip freeze, from googlecolab/backend-info (../shared/colab)."""
    return _shared_file(SHARED_COLAB_FREEZE, "Colab's pip freeze")


@pytest.fixture(scope="session")
def sample_dataset_dir(tmp_path_factory) -> Path:
    """A small sample dataset generated once per test run, shared by the xdist workers (read only).

    About 40 images per class; a test that changes files copies it first.
    """
    from paysages.data.sample import generate_sample_dataset

    def generate(folder: Path) -> None:
        generate_sample_dataset(folder / "sample", per_class=40, seed=7)

    return build_once(tmp_path_factory, "sample-dataset", generate) / "sample"
