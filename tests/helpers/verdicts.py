"""Play the kernel's side of the verdict stage in the test process (no kernel, no nbgrader).

:func:`export_like_the_kernel` runs the hidden regions of a notebook's test cells, the code a
grading kernel would run, with the student's functions given in ``namespace``, the grader's
probes in ``probes_dir`` and the export folder ``export_dir``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograde.notebooks import grade_id_of, region_lines
from paysages.probes import EXPORT_VARIABLE, PROBES_VARIABLE
from tests.helpers.sandbox import patched_environ


def export_like_the_kernel(notebook_path: Path, namespace: dict, probes_dir: Path, export_dir: Path,
                           grade_ids: set[str]) -> None:
    """Run the hidden region of each test cell in ``grade_ids``, as the grading kernel would."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    with patched_environ({PROBES_VARIABLE: str(probes_dir), EXPORT_VARIABLE: str(export_dir)}):
        for cell in notebook.cells:
            if grade_id_of(cell) in grade_ids:
                exec(compile("\n".join(region_lines(cell.source, "hidden")), grade_id_of(cell), "exec"), namespace)
