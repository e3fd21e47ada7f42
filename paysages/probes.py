"""What a grading kernel exchanges with the grader: probe inputs in, plain results out.

During automatic grading, the hidden part of a converted test cell does not decide anything: it
reads the inputs the grader chose for this run (the *probes*, written before the kernel started,
read-only in the sandbox), calls the student's functions on them and exports what they returned
as plain JSON. A separate trusted process, outside the kernel, recomputes the expected values and
writes the verdict of each test cell (``autograde/verdicts/``). Nothing this module writes is
trusted: an export is data to check, never a grade.

Outside grading (a student's own run, ``make demo``, the course execution) the two variables
below are not set: :func:`load_probes` returns None and the hidden part exports nothing.
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path

# The folders of one graded notebook, set in the kernel's environment by the grader.
PROBES_VARIABLE = "PAYSAGES_PROBES_DIR"
EXPORT_VARIABLE = "PAYSAGES_EXPORT_DIR"
# Probes and exports are named after the grade id of their test cell.
FILE_SUFFIX = ".json"
# A test cell may also export NumPy arrays (export_arrays) and a Keras model (export_model), named
# after its grade id too.
ARRAYS_SUFFIX = ".npz"
MODEL_SUFFIX = ".keras"


def arrays_filename(grade_id: str) -> str:
    """The name of a test cell's exported arrays (:func:`export_arrays`)."""
    return probe_filename(grade_id)[: -len(FILE_SUFFIX)] + ARRAYS_SUFFIX


def model_filename(grade_id: str, key: str | None = None) -> str:
    """The name of a test cell's exported model (:func:`export_model`): ``<grade id>[-<key>].keras``."""
    stem = probe_filename(grade_id)[: -len(FILE_SUFFIX)]
    if key is None:
        return stem + MODEL_SUFFIX
    if not key or not all(character.isalnum() or character == "_" for character in key):
        raise ValueError(f"{key!r} is not a model key (letters, digits and underscores only).")
    return f"{stem}-{key}{MODEL_SUFFIX}"


def probe_filename(grade_id: str) -> str:
    """The name of a test cell's probe file and of its export file."""
    if not grade_id or not all(character.isalnum() or character == "_" for character in grade_id):
        raise ValueError(f"{grade_id!r} is not a grade id (letters, digits and underscores only).")
    return grade_id + FILE_SUFFIX


def load_probes(grade_id: str) -> dict | None:
    """The grader's probe inputs for one test cell, or None outside grading."""
    folder = os.environ.get(PROBES_VARIABLE)
    if not folder:
        return None
    return json.loads((Path(folder) / probe_filename(grade_id)).read_text(encoding="utf-8"))


def export_results(grade_id: str, results: dict) -> Path | None:
    """Write one test cell's results as JSON for the grader; None outside grading.

    The file is written beside its final name, then renamed over it: a link left at that name
    is replaced, never followed.
    """
    folder = os.environ.get(EXPORT_VARIABLE)
    if not folder:
        return None
    path = Path(folder) / probe_filename(grade_id)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(results, allow_nan=False), encoding="utf-8")
    os.replace(temporary, path)
    return path


def export_arrays(grade_id: str, **arrays) -> Path | None:
    """Write one test cell's NumPy arrays as ``<grade id>.npz`` for the grader; None outside grading.

    For arrays too large for JSON (the feature vectors of a whole data set): the grader reads them
    with ``allow_pickle=False`` (``autograde/verdicts/exports.py``), so only plain kinds (booleans,
    integers, floats, text) reach a verdict. Written beside its final name, then renamed over it.
    """
    import numpy

    folder = os.environ.get(EXPORT_VARIABLE)
    if not folder:
        return None
    path = Path(folder) / arrays_filename(grade_id)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        numpy.savez_compressed(handle, **arrays)
    os.replace(temporary, path)
    return path


def export_model(grade_id: str, model=None, *, saved_path=None, key: str | None = None) -> Path | None:
    """Write a Keras model as ``<grade id>.keras`` (``<grade id>-<key>.keras``) for the grader; None outside grading.

    Give either ``model`` (saved with ``model.save``, its compilation included) or ``saved_path``,
    a ``.keras`` file already on disk (a model of the run folder), copied byte for byte. A cell
    that exports several models names each with a ``key`` (letters, digits, underscores). The
    grader opens it with ``safe_mode=True`` in its own process: a model that needs code to be
    rebuilt (a ``Lambda`` layer, a class defined in the notebook) does not load there. Written
    beside its final name, then renamed over it.
    """
    import shutil

    if (model is None) == (saved_path is None):
        raise ValueError("export_model needs either a model or the saved_path of a .keras file, not both.")
    folder = os.environ.get(EXPORT_VARIABLE)
    if not folder:
        return None
    path = Path(folder) / model_filename(grade_id, key)
    # Keras only saves to a name ending in .keras.
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp{MODEL_SUFFIX}")
    if model is not None:
        model.save(temporary)
    else:
        shutil.copyfile(saved_path, temporary)
    os.replace(temporary, path)
    return path


def plain_options(options) -> dict | None:
    """A dict of plain settings (text keys; booleans, numbers, text or None) as JSON values, or None.

    A value of another kind is described by its type name (``{"type": "..."}``), for the grader to refuse.
    """
    if not isinstance(options, dict):
        return None
    plain = {}
    for key, value in options.items():
        if value is None or isinstance(value, (bool, str)):
            plain[str(key)] = value if not isinstance(value, str) else str.__str__(value)
        elif plain_number(value) is not None:
            plain[str(key)] = plain_number(value)
        else:
            plain[str(key)] = {"type": type_name(value)}
    return plain


def plain_variants(variants) -> list | None:
    """Notebook 03's ``VARIANTS`` as ``[[name, plain options], ...]`` (:func:`plain_options`), or None."""
    if not isinstance(variants, dict):
        return None
    return [[str(name), plain_options(options)] for name, options in variants.items()]


def export_run(grade_id: str, model_names, **results) -> Path | None:
    """Export models and histories of the run folder, and the split's paths, with ``results``; None outside grading.

    For a verdict that judges trained models (``autograde/verdicts/runs.py``): each model of
    ``model_names`` saved in the run folder is copied as ``<grade id>-m<i>.keras``, and the JSON
    export holds ``models`` (name -> key), ``histories`` (name -> history) and ``split`` (the
    ``train`` and ``validation`` paths of the split file), read from the disk, never from the
    notebook's variables. A failure is exported as its exception's name.
    """
    from paysages.data import require_split
    from paysages.runs import RunFolder
    from paysages.settings import get_settings

    if not os.environ.get(EXPORT_VARIABLE):
        return None
    export = dict(results)
    try:
        settings = get_settings()
        run = RunFolder(settings.run_dir)
        split = require_split(settings)
        models, histories = {}, {}
        for index, name in enumerate(dict.fromkeys(model_names)):
            if run.model_path(name).is_file():
                models[name] = f"m{index}"
                export_model(grade_id, saved_path=run.model_path(name), key=models[name])
            if run.history_path(name).is_file():
                histories[name] = run.load_history(name)
        export.update(models=models, histories=histories, split={
            subset: [str(path) for path in split.loc[split["subset"] == subset, "path"]]
            for subset in ("train", "validation")})
    except Exception as error:
        export = {**results, "error": type_name(error)}
    return export_results(grade_id, export)


def plain_number(value):
    """A built-in int or float equal to ``value`` when it is a real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def plain_integers(value):
    """The elements of ``value`` as built-in ints when it is a 1-D array, list or tuple of integers, else None.

    An empty list or tuple is an empty list of integers (NumPy would read it as floats).
    """
    import numpy

    if not isinstance(value, (numpy.ndarray, list, tuple)):
        return None
    if isinstance(value, (list, tuple)) and not value:
        return []
    try:
        array = numpy.array(value, copy=True)
    except (TypeError, ValueError, OverflowError):
        return None
    if array.dtype.kind not in "iu" or array.ndim != 1:
        return None
    return [int(item) for item in array.tolist()]


def type_name(value) -> str:
    """The name of ``value``'s exact type, as the grader compares it."""
    return type(value).__name__


def plain_floats(value):
    """The elements of ``value`` as built-in floats when it is a 1-D array, list or tuple of finite numbers, else None.

    Integers count as numbers (a support column may hold them); booleans, text and objects do not.
    """
    import numpy

    if not isinstance(value, (numpy.ndarray, list, tuple)):
        return None
    if isinstance(value, (list, tuple)) and not value:
        return []
    if isinstance(value, (list, tuple)) and any(isinstance(item, (bool, numpy.bool_)) for item in value):
        return None
    try:
        array = numpy.array(value, copy=True)
    except (TypeError, ValueError, OverflowError):
        return None
    if array.dtype.kind not in "iuf" or array.ndim != 1:
        return None
    array = array.astype(numpy.float64)
    if not numpy.all(numpy.isfinite(array)):
        return None
    return [float(item) for item in array.tolist()]


def _items(values):
    """The items of a list, tuple or 1-D array as a list, or None for anything else."""
    import numpy

    if isinstance(values, numpy.ndarray):
        return values.tolist() if values.ndim == 1 else None
    return list(values) if isinstance(values, (list, tuple)) else None


def plain_optional_numbers(values):
    """The items of a list, tuple or 1-D array as built-in numbers, None for a missing one (None, NaN) or text; or None.

    For a column that may hold empty cells, such as a training time that was not measured.
    """
    items = _items(values)
    return None if items is None else [plain_number(item) for item in items]


def plain_strings(values):
    """The items of a list, tuple or 1-D array as built-in strs (None for an item that is not text), or None."""
    items = _items(values)
    return None if items is None else [str.__str__(item) if isinstance(item, str) else None for item in items]


def plain_table(frame, kinds: dict[str, str]) -> dict:
    """A table's type, column names, row labels and the columns named in ``kinds`` as plain lists.

    ``kinds`` maps a column name to ``"integers"``, ``"floats"``, ``"strings"`` or ``"optional
    numbers"``: the column is exported through :func:`plain_integers`, :func:`plain_floats`,
    :func:`plain_strings` or :func:`plain_optional_numbers` (None when it does not convert, absent
    when the table has no such column). Nothing is checked here: the grader decides what the
    values mean.
    """
    import pandas

    result = {"type": type_name(frame), "dataframe": isinstance(frame, pandas.DataFrame)}
    if not result["dataframe"]:
        return result
    converters = {"integers": plain_integers, "floats": plain_floats, "strings": plain_strings,
                  "optional numbers": plain_optional_numbers}
    columns = pandas.DataFrame.to_dict(frame, orient="list")
    result["columns"] = [str(column) for column in frame.columns]
    result["index"] = plain_strings([str(label) for label in frame.index])
    result["values"] = {str(name): converters[kind](columns[name]) for name, kind in kinds.items() if name in columns}
    return result


def sort_keys(key_function, rows) -> list:
    """The plain sort key of each row (a dict: ``model`` and the measures), or ``{"error": ...}`` for a row.

    Each row becomes a pandas Series in the dict's order, as notebook 05 hands one row of its
    table to a student's ``selection_key``; the key is a list of built-in floats and strs
    (:func:`paysages.checks.sort_key_of`). Nothing is compared here: the grader orders the keys.
    """
    import pandas

    from paysages.checks import sort_key_of

    keys = []
    for row in rows:
        try:
            keys.append(list(sort_key_of(key_function, pandas.Series(dict(row), dtype=object))))
        except Exception as error:
            keys.append({"error": type_name(error)})
    return keys


def fraction_positions(fractions, count: int) -> list[int]:
    """The positions among ``count`` items that the grader's ``fractions`` (each in [0, 1)) pick.

    The grader draws its probes before it knows how many images a run has: it gives fractions,
    and the kernel and the verdict turn them into the same positions.
    """
    return [min(int(float(fraction) * count), count - 1) for fraction in fractions]


def plain_name(value):
    """``value`` as a built-in str when it is text (a subclass cannot bring its own ``__eq__``), else None."""
    return str.__getitem__(value, slice(None)) if isinstance(value, str) else None


def saved_best_name():
    """The name best.json records in the run folder, as a built-in str; None when there is none."""
    from paysages.runs import RunFolder
    from paysages.settings import get_settings

    try:
        record = RunFolder(get_settings().run_dir).load_json("best")
    except Exception:  # A missing or unreadable best.json: the verdict says best.json names no model.
        return None
    return plain_name(record.get("name")) if isinstance(record, dict) else None


def best_model_validation_export(**results) -> dict:
    """The validation labels and the saved best model's predictions, recomputed from the run folder.

    Each keyword names a further entry and gives the function that computes it (called here, so
    that its failure is reported like the rest). Any failure gives ``{"error": <its type name>}``:
    the verdict then fails the cell, naming it.
    """
    import numpy as np

    from paysages.data import load_split_arrays
    from paysages.runs import RunFolder
    from paysages.settings import get_settings

    try:
        settings = get_settings()
        run = RunFolder(settings.run_dir)
        model = run.load_model(run.load_json("best")["name"])
        data = load_split_arrays(settings)
        images = np.asarray(data.x_validation)
        probabilities = np.concatenate([
            np.array(model(images[start:start + 64], training=False), dtype=np.float64)
            for start in range(0, len(images), 64)
        ])
        return {"class_names": [str(name) for name in data.class_names],
                "labels": plain_integers(np.asarray(data.y_validation, dtype=np.int64)),
                "predictions": plain_integers(probabilities.argmax(axis=1)),
                **{key: convert() for key, convert in results.items()}}
    except Exception as error:
        return {"error": type_name(error)}


def penultimate_features(model, images):
    """The input of ``model``'s last Dense layer (a Dropout before it skipped), float32, by batches of 32."""
    import keras
    import numpy as np

    output = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1].input
    dropouts = {id(layer.output): layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    while id(output) in dropouts:
        output = dropouts[id(output)].input
    extractor = keras.Model(model.input, output)
    values = extractor.predict(np.asarray(images), batch_size=32, verbose=0)
    return np.asarray(values, dtype=np.float32).reshape(len(images), -1)
