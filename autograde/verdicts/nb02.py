"""Verdicts of notebook 02 (build_cnn, compile_classifier, the trained CNN), from exported models.

Notebook 02 has no function that returns plain data: its three test cells are about models. The
kernel exports each one as a ``.keras`` archive and this process rebuilds it with
``safe_mode=True`` (:mod:`autograde.verdicts.models`), so no student code runs here:

* ``test_build_cnn``: ``build_cnn`` is called on an input shape and a number of classes drawn for
  this run (never the seven of the data set, so a builder that ignores ``num_classes`` fails).
  The model must be Functional or Sequential, take that shape and give that many outputs, chain at
  least two ``Conv2D`` and one pooling layer, rescale its pixels (``Rescaling`` or
  ``Normalization``) and end with a softmax. Any other design passes.
* ``test_compile_classifier``: ``compile_classifier(build_cnn(...), learning_rate)`` with a
  learning rate drawn for this run; the model must be compiled with Adam at that rate, the sparse
  categorical cross-entropy and the accuracy metric.
* ``test_train_classifier``: the kernel exports the run folder's saved ``cnn`` model, its history
  and the validation paths of the split file. The history must hold the four curves over
  ``num_epochs`` epochs; this process decodes those validation images itself from the grading
  data (they must be images of it, once each), predicts them with the rebuilt model (called
  directly, not through ``predict``) and requires an accuracy of at least chance + 0.15 that agrees
  with the history's last validation accuracy within 0.05. The settings are the grader's, passed
  to this process in its environment.
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import CellVerdict, Judgement, error_name, failed, is_number, passed, probe_shape
from autograde.verdicts.models import load_saved_model
from autograde.verdicts.runs import decoded_images

NOTEBOOK = "02_cnn"
# Probe sizes: a side between 40 and 80 pixels (the number of classes: cells.PROBE_NUM_CLASSES).
PROBE_SIDES = tuple(range(40, 81, 8))
LEARNING_RATES = (2e-4, 5e-4, 2e-3, 3e-3, 5e-3)
LEARNING_RATE_TOLERANCE = 1e-6
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# The saved CNN must beat chance by this margin, and agree with its history within this gap.
MARGIN_OVER_CHANCE = 0.15
HISTORY_GAP = 0.05
ACCURACY_METRICS = {"accuracy", "acc", "sparse_categorical_accuracy"}


def shape_probes(rng: np.random.Generator) -> dict:
    return probe_shape(rng, PROBE_SIDES)


def _rebuilt(export, saved, *, compile: bool = False):
    """The rebuilt model, or why not: the exception the kernel reported when it reported one."""
    model = load_saved_model(saved, compile=compile)
    if isinstance(model, Judgement) and isinstance(export, dict) and "error" in export:
        return failed(f"the function raised {error_name(export)}")
    return model


def _shapes_problem(model, probes: dict):
    expected_input, expected_output = tuple(probes["input_shape"]), (probes["num_classes"],)
    if tuple(model.input_shape[1:]) != expected_input:
        return f"the model takes images of shape {tuple(model.input_shape[1:])}, not {expected_input}"
    if tuple(model.output_shape[1:]) != expected_output:
        return f"the model gives {tuple(model.output_shape[1:])} outputs, not {expected_output}: use num_classes"
    return None


# test_build_cnn -------------------------------------------------------------------------------------
def judge_build_cnn(probes: dict, export, saved) -> Judgement:
    from keras import activations, layers

    from paysages.checks import iter_layers

    model = _rebuilt(export, saved)
    if isinstance(model, Judgement):
        return model
    if type(model).__name__ not in ("Functional", "Sequential"):
        return failed(f"build_cnn returned a {type(model).__name__}: use the Functional API or keras.Sequential")
    problem = _shapes_problem(model, probes)
    if problem:
        return failed(problem)
    every_layer = list(iter_layers(model))
    convolutions = [layer for layer in every_layer if isinstance(layer, layers.Conv2D)]
    poolings = [layer for layer in every_layer if isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D))]
    if len(convolutions) < 2 or not poolings:
        return failed("a CNN chains at least two Conv2D layers and one pooling layer")
    if not any(isinstance(layer, (layers.Rescaling, layers.Normalization)) for layer in every_layer):
        return failed("the model does not rescale the 0-255 pixels (layers.Rescaling)")
    last = model.layers[-1]
    softmax = isinstance(last, layers.Softmax) or (
        hasattr(last, "activation") and activations.serialize(last.activation) == "softmax")
    if not softmax:
        return failed("the last layer does not give probabilities (softmax activation)")
    return passed("the rebuilt model meets every constraint on this run's shape and classes")


# test_compile_classifier ------------------------------------------------------------------------------
def compile_probes(rng: np.random.Generator) -> dict:
    return {**shape_probes(rng), "learning_rate": float(rng.choice(LEARNING_RATES))}


def _metric_names(config) -> set[str]:
    """The metric names of a saved compile configuration (strings or serialised metric objects)."""
    names = set()
    for metric in (config or {}).get("metrics") or []:
        if isinstance(metric, str):
            names.add(metric.lower())
        elif isinstance(metric, dict):
            inner = metric.get("config") if isinstance(metric.get("config"), dict) else {}
            names.update(str(value).lower() for value in (metric.get("class_name"), inner.get("name")) if value)
    return {name.replace("sparsecategoricalaccuracy", "sparse_categorical_accuracy") for name in names}


def judge_compile_classifier(probes: dict, export, saved) -> Judgement:
    import keras

    model = _rebuilt(export, saved, compile=True)
    if isinstance(model, Judgement):
        return model
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, keras.optimizers.Adam):
        return failed(f"the model is compiled with {type(optimizer).__name__}, not Adam")
    learning_rate = float(np.asarray(optimizer.learning_rate))
    if abs(learning_rate - probes["learning_rate"]) > LEARNING_RATE_TOLERANCE * probes["learning_rate"]:
        return failed(f"the learning rate is {learning_rate:g}, not the learning_rate argument "
                      f"({probes['learning_rate']:g})")
    loss = model.loss if isinstance(model.loss, str) else getattr(model.loss, "name", type(model.loss).__name__)
    loss = str(loss).lower().replace("sparsecategoricalcrossentropy", "sparse_categorical_crossentropy")
    if "sparse_categorical_crossentropy" not in loss:
        return failed(f"the loss is {loss!r}: integer labels need sparse_categorical_crossentropy")
    if not _metric_names(saved.config.get("compile_config")) & ACCURACY_METRICS:
        return failed("the model is not compiled with the accuracy metric")
    return passed("Adam at the requested rate, sparse categorical cross-entropy and accuracy")


# test_train_classifier --------------------------------------------------------------------------------
def _history_problem(history, num_epochs: int):
    if not isinstance(history, dict):
        return "the export holds no history of the saved cnn"
    for key in HISTORY_KEYS:
        values = history.get(key)
        if not isinstance(values, list) or not all(is_number(value) for value in values):
            return f"the history has no {key!r} curve of numbers: pass validation_data to fit"
    if len(history["val_accuracy"]) != num_epochs:
        return f"the history has {len(history['val_accuracy'])} epochs, not num_epochs = {num_epochs}"
    return None


def judge_train_classifier(probes: dict, export, saved) -> Judgement:
    from paysages.settings import get_settings
    from solutions.evaluation import classification_scores, predict_probabilities

    if not isinstance(export, dict) or "error" in (export or {}):
        return failed(f"the saved cnn could not be exported ({error_name(export)})")
    settings = get_settings()
    problem = _history_problem(export.get("history"), settings.num_epochs)
    if problem:
        return failed(problem)
    validation = decoded_images(export.get("validation_paths"), settings)
    if isinstance(validation, str):
        return failed(validation)
    images, labels, class_names = validation
    num_classes = len(class_names)
    model = _rebuilt(export, saved)
    if isinstance(model, Judgement):
        return model
    try:
        probabilities = predict_probabilities(model, images)
    except Exception as error:  # The rebuilt model cannot read the data set's images.
        return failed(f"the saved cnn cannot predict the validation images ({type(error).__name__})")
    if probabilities.shape != (len(labels), num_classes) or not np.all(np.isfinite(probabilities)):
        return failed(f"the saved cnn gives outputs of shape {probabilities.shape}, not one probability per class")
    accuracy = classification_scores(labels, probabilities)["accuracy"]
    chance = 1.0 / num_classes
    if accuracy < chance + MARGIN_OVER_CHANCE:
        return failed(f"the saved cnn does not learn: accuracy {accuracy:.2f} on the validation images "
                      f"(chance {chance:.2f})")
    logged = float(export["history"]["val_accuracy"][-1])
    if abs(logged - accuracy) > HISTORY_GAP:
        return failed(f"the history's last validation accuracy ({logged:.3f}) is not that of the saved cnn on the "
                      f"split's validation images ({accuracy:.3f}): validation_data must be the validation set")
    return passed(f"the saved cnn reaches {accuracy:.2f} on the validation images, as its history says")


VERDICTS = (
    CellVerdict("test_build_cnn", shape_probes, judge_build_cnn, reads_model=True),
    CellVerdict("test_compile_classifier", compile_probes, judge_compile_classifier, reads_model=True),
    CellVerdict("test_train_classifier", lambda rng: {}, judge_train_classifier, reads_model=True),
)
