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


def split_file_export(paths: list[str], labels: list[int], class_names: list[str], *, validation_fraction: float,
                      seed: int, stratified_split, split_table, file_rows: dict | None = None) -> dict:
    """What the hidden part of notebook 01's ``test_split_file`` exports, without a kernel or a data set.

    ``paths``, ``labels`` and ``class_names`` stand for the images the kit lists; split.csv holds
    ``file_rows`` (columns path, class, subset), by default the table of the given functions.
    """
    import numpy as np

    from paysages.probes import plain_integers

    classes = [class_names[label] for label in labels]
    train, validation = stratified_split(np.asarray(labels, dtype=np.int64), validation_fraction, seed)
    table = split_table(list(paths), classes, train, validation)
    if file_rows is None:
        file_rows = {column: [str(item) for item in table[column].tolist()] for column in ("path", "class", "subset")}
    return {"class_names": list(class_names), "paths": list(paths), "labels": [int(label) for label in labels],
            "validation_fraction": float(validation_fraction), "seed": int(seed), "file": file_rows,
            "split": {"type": type((train, validation)).__name__, "train": plain_integers(train),
                      "validation": plain_integers(validation)},
            "table": {column: [str(item) for item in table[column].tolist()] for column in ("path", "subset")}}
