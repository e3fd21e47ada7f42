"""A student's run as the trusted verdict process sees it: exported models, histories, and its own images.

The verdicts of trained models (notebooks 02 and 03) check what the hidden tests checked in the
kernel, with the reference helpers of ``solutions/`` (``solutions.grading.check_saved_variant``,
``well_formed_extra_experiments``), which read a run folder and the split's arrays. Here those come
from the kernel's exports and the grading data:

* :class:`ExportedRun` answers ``load_model`` (rebuilt with ``safe_mode=True``), ``load_history``
  and ``model_path(...).is_file()`` from the exported ``.keras`` archives and histories;
* :func:`decoded_images` decodes the images the split names from the grading data, with the
  grader's settings (never the kernel's): the paths must name images of it, once each.
"""

from __future__ import annotations

import dataclasses
import types

import numpy as np

from autograde.verdicts.cells import NOTHING_EXPORTED, Judgement, failed, is_number
from autograde.verdicts.exports import SavedModel
from autograde.verdicts.models import load_saved_model
from paysages.errors import PrerequisiteError


def decoded_images(paths, settings):
    """``(images, labels, class names)`` of the images ``paths`` names, decoded from the grading data, or why not."""
    from paysages.data import scan_and_decode

    if not isinstance(paths, list) or not paths or not all(type(path) is str for path in paths):
        return "the export does not list the split's images"
    if len(set(paths)) != len(paths):
        return "the split lists an image twice"
    dataset_dir, scan, result = scan_and_decode(settings, progress=False)
    row_of_name = {path.relative_to(dataset_dir).as_posix(): row for row, path in enumerate(result.paths)}
    unknown = [path for path in paths if path not in row_of_name]
    if unknown:
        return f"{len(unknown)} path(s) of the split are not images of the grading data, e.g. {unknown[0][:80]!r}"
    rows = np.array([row_of_name[path] for path in paths], dtype=np.int64)
    return np.asarray(result.images[rows]), np.asarray(result.labels)[rows], tuple(scan.class_names)


@dataclasses.dataclass(frozen=True)
class _ExportedPath:
    present: bool

    def is_file(self) -> bool:
        return self.present


class ExportedRun:
    """The part of :class:`paysages.runs.RunFolder` the reference checks read, over a kernel's exports."""

    def __init__(self, models: dict[str, SavedModel], histories: dict[str, dict]):
        self._models = dict(models)
        self._histories = dict(histories)

    def model_path(self, name: str) -> _ExportedPath:
        return _ExportedPath(name in self._models)

    def load_model(self, name: str, *, compile: bool = True):
        if name not in self._models:
            raise PrerequisiteError(f"Le modèle {name} n'a pas été sauvegardé.")
        model = load_saved_model(self._models[name], compile=compile)
        if isinstance(model, Judgement):
            raise AssertionError(f"{name} : {model.reason}")
        return model

    def load_history(self, name: str) -> dict:
        history = self._histories.get(name)
        if not isinstance(history, dict) or not all(
                isinstance(values, list) and all(is_number(value) for value in values) for values in history.values()):
            raise AssertionError(f"L'historique de {name} manque ou ne contient pas que des nombres.")
        return history


def exported_run(export, models: dict[str, SavedModel]):
    """``(run, data, settings)`` from a cell's export of the run folder, or the failing judgement.

    The export holds ``models`` (run name -> model key), ``histories`` (run name -> history) and
    ``split`` (``train`` and ``validation`` paths). ``data`` has the validation images and labels
    decoded by this process, as many training labels as the split names (their number fixes the
    optimiser's steps) and the class names.
    """
    from paysages.settings import get_settings

    if not isinstance(export, dict):
        return failed(NOTHING_EXPORTED)
    if "error" in export:
        return failed(f"the run could not be exported ({str(export['error'])[:80]})")
    names, histories, split = export.get("models"), export.get("histories"), export.get("split")
    if not isinstance(names, dict) or not isinstance(histories, dict) or not isinstance(split, dict):
        return failed("the export does not describe the run folder")
    settings = get_settings()
    validation = decoded_images(split.get("validation"), settings)
    if isinstance(validation, str):
        return failed(validation)
    train = split.get("train")
    if not isinstance(train, list) or not train or set(train) & set(split["validation"]):
        return failed("the split's training images are missing or overlap its validation images")
    training = decoded_images(train, settings)
    if isinstance(training, str):
        return failed(training)
    run = ExportedRun({name: models.get(key) for name, key in names.items() if type(key) is str and key in models},
                      histories)
    data = types.SimpleNamespace(x_validation=validation[0], y_validation=validation[1], y_train=training[1],
                                 class_names=validation[2])
    return run, data, settings


def rebuilt_saved_model(export, models: dict[str, SavedModel], name, what: str):
    """``(model, data, settings)``: the run's saved model ``name`` rebuilt here, with :func:`exported_run`'s data; or why not.

    ``name`` comes from the export (best.json's name, a notebook variable): it must name a model
    of the exported run; ``what`` says where it comes from in the failing judgement.
    """
    context = exported_run(export, models)
    if isinstance(context, Judgement):
        return context
    _run, data, settings = context
    if type(name) is not str or name not in export["models"]:
        return failed(f"{what} does not name a model saved in the run folder")
    model = load_saved_model(models.get(export["models"][name]), what=f"{what} ({name[:60]})")
    if isinstance(model, Judgement):
        return model
    return model, data, settings


def rebuilt_best_model(export, models: dict[str, SavedModel]):
    """:func:`rebuilt_saved_model` of the model best.json names (exported as ``best``, read from the disk)."""
    best = export.get("best") if isinstance(export, dict) else None
    return rebuilt_saved_model(export, models, best, "best.json (re-run notebook 05)")
