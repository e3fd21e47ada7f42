"""The course executed once per session, as a student runs it in Colab, for every test that reads it.

:func:`validated_course` validates each source notebook (reference solutions, hidden tests, fast
mode, sample dataset) with nbgrader on its own simulated Colab runtime: a fresh, empty content
folder and a new kernel per notebook, the stand-in ``google.colab`` of tests/helpers/colab.py,
and the notebooks' default settings, so the run folder lives on the fake Drive and is the only
thing that chains the notebooks. A snapshot of that run folder is kept after each notebook.
"""

from __future__ import annotations

import shutil

import pytest

from autograde.execute import course_notebooks
from tests.helpers.colab import KIT_VARIABLES, SimulatedColab
from tests.helpers.course_validation import validate


@pytest.fixture(scope="session")
def validated_course(tmp_path_factory):
    """Validate every source notebook in order, one simulated Colab runtime each; snapshot the run folder."""
    root = tmp_path_factory.mktemp("course")
    simulated = SimulatedColab(root / "colab")
    run_dir, snapshots, data_root = simulated.kit_folder / "run", root / "snapshots", root / "data"
    snapshots.mkdir()
    (snapshots / "before_00").mkdir()
    # Nothing of this test process's own settings reaches the kernels: only the simulated Colab's.
    environment = {name: None for name in KIT_VARIABLES}
    environment.update(simulated.environment())
    results, local_files = {}, {}
    for notebook in course_notebooks():
        content = simulated.new_runtime()
        copy = content / notebook.name
        shutil.copyfile(notebook, copy)
        (result,) = validate([copy], environment=environment)
        results[notebook.name] = result
        local_files[notebook.stem] = sorted(path.relative_to(content).as_posix()
                                            for path in content.rglob("*") if path.is_file())
        if (content / "datasets").is_dir() and not data_root.exists():
            # The decoded sample, kept for the stub run (each runtime's own copy is wiped).
            shutil.copytree(content / "datasets", data_root)
        if run_dir.is_dir():
            shutil.copytree(run_dir, snapshots / f"after_{notebook.name[:2]}")
        else:
            (snapshots / f"after_{notebook.name[:2]}").mkdir()
    return {"root": root, "colab": simulated, "data_root": data_root, "run_dir": run_dir,
            "snapshots": snapshots, "results": results, "local_files": local_files}
