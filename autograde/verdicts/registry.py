"""Which notebooks' test cells are judged outside the kernel, and how one notebook is judged.

A notebook is *covered* when every autograded cell of it has a registered verdict: its kernel
then needs no ``solutions`` at all. Cells without a verdict keep nbgrader's own scoring (the
cell's outputs), for now; ``autograde/README.md`` lists the covered notebooks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autograde.verdicts import nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08
from autograde.verdicts.cells import CellVerdict, Judgement, failed
from autograde.verdicts.exports import load_exports
from paysages.probes import MODEL_SUFFIX, arrays_filename, model_filename, probe_filename

REGISTERED: dict[str, tuple[CellVerdict, ...]] = {
    nb00.NOTEBOOK: nb00.VERDICTS,
    nb01.NOTEBOOK: nb01.VERDICTS,
    nb02.NOTEBOOK: nb02.VERDICTS,
    nb03.NOTEBOOK: nb03.VERDICTS,
    nb04.NOTEBOOK: nb04.VERDICTS,
    nb05.NOTEBOOK: nb05.VERDICTS,
    nb06.NOTEBOOK: nb06.VERDICTS,
    nb07.NOTEBOOK: nb07.VERDICTS,
    nb08.NOTEBOOK: nb08.VERDICTS,
}


def cell_verdicts(notebook: str) -> tuple[CellVerdict, ...]:
    """The registered verdicts of a notebook (none for a notebook not converted yet)."""
    return REGISTERED.get(notebook, ())


def registered_grade_ids(notebook: str) -> set[str]:
    return {verdict.grade_id for verdict in cell_verdicts(notebook)}


def covers(notebook: str, auto_grade_ids) -> bool:
    """True when every autograded cell of the notebook is judged outside the kernel."""
    registered = registered_grade_ids(notebook)
    return bool(registered) and set(auto_grade_ids) <= registered


def make_probes(notebook: str, seed: int) -> dict[str, dict]:
    """grade id -> the probes of that cell for this run (the same seed gives the same probes)."""
    verdicts = cell_verdicts(notebook)
    generators = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(len(verdicts))]
    return {verdict.grade_id: verdict.make_probes(rng) for verdict, rng in zip(verdicts, generators)}


def write_probes(notebook: str, seed: int, folder: Path) -> list[Path]:
    """Write each cell's probes as ``<grade id>.json`` in ``folder``; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for grade_id, probes in make_probes(notebook, seed).items():
        path = folder / probe_filename(grade_id)
        path.write_text(json.dumps(probes), encoding="utf-8")
        written.append(path)
    return written


def judge_notebook(notebook: str, seed: int, export_folder: Path) -> dict:
    """The verdict of every registered cell from what the kernel exported, and what was ignored."""
    exports = load_exports(export_folder)
    probes = make_probes(notebook, seed)
    verdicts, read = {}, set()
    for verdict in cell_verdicts(notebook):
        name = probe_filename(verdict.grade_id)
        read.add(name)
        arguments = [probes[verdict.grade_id], exports.values.get(name)]
        if verdict.reads_arrays:
            read.add(arrays_filename(verdict.grade_id))
            arguments.append(exports.values.get(arrays_filename(verdict.grade_id)))
        if verdict.reads_model:
            read.add(model_filename(verdict.grade_id))
            arguments.append(exports.values.get(model_filename(verdict.grade_id)))
        if verdict.reads_models:
            prefix, suffix = model_filename(verdict.grade_id)[: -len(MODEL_SUFFIX)] + "-", MODEL_SUFFIX
            keyed = {name[len(prefix): -len(suffix)]: value for name, value in exports.values.items()
                     if name.startswith(prefix) and name.endswith(suffix)}
            read.update(prefix + key + suffix for key in keyed)
            arguments.append(keyed)
        try:
            judgement = verdict.judge(*arguments)
        except Exception as error:  # A malformed export that trips the comparison earns nothing.
            judgement = failed(f"the export could not be judged ({type(error).__name__})")
        if not isinstance(judgement, Judgement):
            raise TypeError(f"The verdict of {notebook}/{verdict.grade_id} returned {judgement!r}, not a Judgement.")
        verdicts[verdict.grade_id] = {"fraction": judgement.fraction, "reason": judgement.reason}
    ignored = list(exports.ignored)
    ignored += [f"{ascii(name)[1:-1]}: read, but no verdict uses it"
                for name in sorted(exports.values) if name not in read]
    return {"notebook": notebook, "verdicts": verdicts, "ignored": ignored}
