"""Which notebooks' test cells are judged outside the kernel, and how one notebook is judged.

A notebook is *covered* when every autograded cell of it has a registered verdict: its kernel
then needs no ``solutions`` at all. Cells without a verdict keep nbgrader's own scoring (the
cell's outputs), for now; ``autograde/README.md`` lists the covered notebooks.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np

from autograde.verdicts.cells import CellVerdict, Judgement, failed
from autograde.verdicts.exports import load_exports
from paysages.probes import MODEL_SUFFIX, arrays_filename, model_filename, probe_filename

# The verdicts of notebook ``NN_name`` are the ``VERDICTS`` of ``autograde/verdicts/nbNN.py``, whose
# ``NOTEBOOK`` names it. A module is imported only when its notebook is probed or judged: some import
# Keras (03, 07), and the verdict process of another notebook need not load TensorFlow.
MODULE_PATTERN = "autograde.verdicts.nb{number}"


def _verdict_module(notebook: str):
    """The verdict module of ``notebook``, or None when the notebook has none."""
    number, separator = notebook[:2], notebook[2:3]
    if not (number.isdigit() and number.isascii() and separator == "_"):
        return None
    name = MODULE_PATTERN.format(number=number)
    if importlib.util.find_spec(name) is None:
        return None
    module = importlib.import_module(name)
    return module if module.NOTEBOOK == notebook else None


def cell_verdicts(notebook: str) -> tuple[CellVerdict, ...]:
    """The registered verdicts of a notebook (none for a notebook not converted yet)."""
    module = _verdict_module(notebook)
    return module.VERDICTS if module is not None else ()


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
