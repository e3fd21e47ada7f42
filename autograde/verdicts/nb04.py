"""Verdicts of notebook 04 (transfer learning), from exported models rebuilt with ``safe_mode=True``.

Every check of the former hidden tests runs here, on the models the kernel exported, with the
reference helpers of ``solutions.transfer``; a training step or a forward pass is Keras's own
code on a rebuilt model, never the student's:

* ``test_build_transfer_model``: ``build_transfer_model`` at a shape, number of classes and dropout
  rate drawn for this run (weights None): the student's base (one of ``TRANSFER_ARCHITECTURES``)
  without its top, frozen, called with ``training=False``, one ``Dropout`` at that rate, the
  base's own ``preprocess_input`` as the model's preprocessing (random pixels), and a training
  step that changes neither the base's weights nor its BatchNormalization statistics.
* ``test_unfreeze_top_layers``: ``unfreeze_top_layers`` with the student's count and the two counts
  of the base where an off-by-one shows (:data:`FINE_TUNING_BOUNDARIES`), at a learning rate drawn
  for this run: exactly the expected layers trainable, Adam recompiled at that rate; a training
  step with the student's count moves neither the statistics nor the first convolution.
* ``test_transfer_frozen`` and ``test_transfer_finetuned``: the run's saved models (exported with
  their histories and the split's paths, :func:`paysages.probes.export_run`): epochs, trainable
  layers, learning rates, the fine-tuning optimiser's steps, and the validation accuracy
  recomputed on images this process decodes itself (chance + 0.15 for phase 1 with ImageNet weights).
* ``test_build_concatenated_model``: two frozen bases named ``base_mobilenet`` and
  ``base_efficientnet``, each summarised by a global average pooling, concatenated, and each fed
  its own preprocessing (features recomputed branch by branch on random pixels).
"""

from __future__ import annotations

import math

import numpy as np

from autograde.verdicts.cells import CellVerdict, Judgement, error_name, export_error, failed, passed, probe_shape
from autograde.verdicts.models import load_saved_model
from autograde.verdicts.runs import exported_run

NOTEBOOK = "04_transfert"
PROBE_SIDES = (40, 48, 56)
DROPOUT_RATES = (0.25, 0.3, 0.35, 0.4, 0.45)
FINE_TUNING_RATES = (1e-2, 2e-2, 3e-2)
# The probe network of test_unfreeze_top_layers (the former hidden test's).
UNFREEZE_SHAPE, UNFREEZE_CLASSES = (48, 48, 3), 4
# solutions.transfer.fine_tuning_boundaries of each base at UNFREEZE_SHAPE (a golden test recomputes them).
FINE_TUNING_BOUNDARIES = {"MobileNetV2": [3, 2], "EfficientNetB0": [3, 2], "ResNet50V2": [4, 3]}
PREPROCESSING_TOLERANCE = 1e-4
ACCURACY_GAP = 0.03


def _exported_architecture(export):
    """The student's ``BASE_ARCHITECTURE`` from a cell's export, or the failing judgement."""
    from paysages.pretrained import TRANSFER_ARCHITECTURES

    problem = export_error(export)
    if problem:
        return problem
    architecture = export.get("architecture") if isinstance(export, dict) else None
    if architecture not in TRANSFER_ARCHITECTURES:
        return failed(f"BASE_ARCHITECTURE must be one of {', '.join(TRANSFER_ARCHITECTURES)}")
    return architecture


def _frozen_step_problem(model, images, labels):
    """Why a training step of ``model`` changed its base (weights or statistics), or None."""
    import keras

    from solutions.transfer import batch_norm_statistics, find_base

    base = find_base(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    statistics, weights = batch_norm_statistics(model), base.get_weights()
    model.train_on_batch(images, labels)
    if any(not np.array_equal(before, after) for before, after in zip(statistics, batch_norm_statistics(model))):
        return "a training step changed the base's BatchNormalization statistics: keep the base frozen"
    if any(not np.array_equal(before, after) for before, after in zip(weights, base.get_weights())):
        return "a training step changed the base's weights: freeze it (base.trainable = False)"
    return None


# test_build_transfer_model --------------------------------------------------------------------------
def build_probes(rng: np.random.Generator) -> dict:
    return {**probe_shape(rng, PROBE_SIDES), "dropout_rate": float(rng.choice(DROPOUT_RATES)), "images_seed": int(rng.integers(0, 2 ** 31))}


def judge_build_transfer_model(probes: dict, export, saved) -> Judgement:
    import keras
    from keras import layers

    from paysages.pretrained import preprocess_input_of
    from solutions.transfer import base_call_training_argument, find_base, preprocessing_output, same_architecture

    architecture = _exported_architecture(export)
    if isinstance(architecture, Judgement):
        return architecture
    model = load_saved_model(saved, what="build_transfer_model's model")
    if isinstance(model, Judgement):
        return model
    shape = tuple(probes["input_shape"])
    if tuple(model.input_shape[1:]) != shape or tuple(model.output_shape[1:]) != (probes["num_classes"],):
        return failed("build_transfer_model must follow input_shape and num_classes")
    try:
        base = find_base(model)
    except ValueError:
        return failed("the model has no nested base: name it \"base\"")
    if not isinstance(base, keras.Model) or not same_architecture(base, architecture, shape):
        return failed(f"the base must be {architecture} without its top (include_top=False)")
    if base.trainable_weights:
        return failed("the base must be frozen: it has trainable weights")
    rates = [round(float(layer.rate), 6) for layer in model.layers if isinstance(layer, layers.Dropout)]
    if rates != [round(probes["dropout_rate"], 6)]:
        return failed(f"one Dropout layer of rate dropout_rate ({probes['dropout_rate']}) before the output; found {rates}")
    if base_call_training_argument(model) is not False:
        return failed("call the base with training=False: x = base(x, training=False)")
    images = np.random.default_rng(probes["images_seed"]).integers(0, 256, size=(3, *shape)).astype("float32")
    images[0], images[1] = 0.0, 255.0
    expected = np.asarray(preprocess_input_of(architecture)(images.copy()), dtype=np.float64)
    received = preprocessing_output(model, images)
    if received.shape != expected.shape or np.abs(received - expected).max() > PREPROCESSING_TOLERANCE:
        return failed(f"the base must receive the pixels {architecture}'s preprocess_input gives")
    problem = _frozen_step_problem(model, images, np.arange(3) % probes["num_classes"])
    return failed(problem) if problem else passed(f"a frozen {architecture} base, fed its own preprocessing")


# test_unfreeze_top_layers ---------------------------------------------------------------------------
def unfreeze_probes(rng: np.random.Generator) -> dict:
    return {"boundaries": FINE_TUNING_BOUNDARIES, "learning_rate": float(rng.choice(FINE_TUNING_RATES)),
            "images_seed": int(rng.integers(0, 2 ** 31))}


def _expected_trainable(model, num_layers: int) -> list[str]:
    from keras import layers

    from solutions.transfer import find_base

    return [layer.name for layer in find_base(model).layers[-num_layers:]
            if layer.weights and not isinstance(layer, layers.BatchNormalization)]


def judge_unfreeze(probes: dict, export, models: dict) -> Judgement:
    import keras

    from solutions.transfer import batch_norm_statistics, find_base, first_convolution, trainable_base_layers

    architecture = _exported_architecture(export)
    if isinstance(architecture, Judgement):
        return architecture
    counts = export.get("counts")
    if (not isinstance(counts, list) or len(counts) != 3 or not all(type(count) is int and count > 0 for count in counts)
            or counts[1:] != probes["boundaries"][architecture]):
        return failed("the export does not hold the student's count and the grader's two counts")
    rebuilt = []
    for index, num_layers in enumerate(counts):
        model = load_saved_model(models.get(f"n{index}"), what=f"unfreeze_top_layers(..., {num_layers}, ...)", compile=True)
        if isinstance(model, Judgement):
            return model
        expected = _expected_trainable(model, num_layers)
        if trainable_base_layers(model) != expected:
            return failed(f"with num_layers={num_layers} the trainable layers of the base must be {expected}")
        optimizer = getattr(model, "optimizer", None)
        if not isinstance(optimizer, keras.optimizers.Adam) or abs(
                float(np.asarray(optimizer.learning_rate)) - probes["learning_rate"]) > 1e-6 * probes["learning_rate"]:
            return failed("recompile the model (compile_classifier) with the learning_rate argument")
        rebuilt.append(model)
    model = rebuilt[0]
    base = find_base(model)
    images = np.random.default_rng(probes["images_seed"]).integers(0, 256, size=(4, *UNFREEZE_SHAPE)).astype("float32")
    statistics = batch_norm_statistics(model)
    bottom = np.array(keras.ops.convert_to_numpy(first_convolution(base).kernel), copy=True)
    model.train_on_batch(images, np.arange(4) % UNFREEZE_CLASSES)
    if any(not np.array_equal(before, after) for before, after in zip(statistics, batch_norm_statistics(model))):
        return failed("the BatchNormalization statistics moved during fine-tuning: keep them frozen")
    if not np.array_equal(bottom, keras.ops.convert_to_numpy(first_convolution(base).kernel)):
        return failed("the base's first convolution moved: only the last layers may be unfrozen")
    return passed("the expected layers unfrozen, BatchNormalization frozen, recompiled at the given rate")


# test_transfer_frozen and test_transfer_finetuned (the run's saved models) -----------------------------
def _saved_transfer(export, models, name: str):
    """``(saved model, history, data, settings)`` of one exported run model, or the failing judgement."""
    from paysages.errors import PrerequisiteError

    context = exported_run(export, models)
    if isinstance(context, Judgement):
        return context
    run, data, settings = context
    try:
        return run.load_model(name), run.load_history(name), data, settings
    except (AssertionError, PrerequisiteError) as error:
        return failed(str(error))


def _recomputed_accuracy(model, data) -> float:
    from solutions.evaluation import classification_scores, predict_probabilities

    return classification_scores(data.y_validation, predict_probabilities(model, data.x_validation))["accuracy"]


def judge_frozen(probes: dict, export, models: dict) -> Judgement:
    from solutions.transfer import trainable_base_layers

    context = _saved_transfer(export, models, "transfer_frozen")
    if isinstance(context, Judgement):
        return context
    saved, history, data, settings = context
    if len(history.get("val_loss", [])) != settings.num_epochs or "val_accuracy" not in history:
        return failed(f"phase 1 must last num_epochs = {settings.num_epochs} epochs, with validation")
    if trainable_base_layers(saved):
        return failed("the saved transfer_frozen has a trainable base: it must be frozen in phase 1")
    if abs(float(np.asarray(saved.optimizer.learning_rate)) - settings.learning_rate) > 1e-9:
        return failed("phase 1 must use settings.learning_rate")
    accuracy = _recomputed_accuracy(saved, data)
    if abs(accuracy - float(history["val_accuracy"][-1])) > ACCURACY_GAP:
        return failed(f"the recomputed accuracy ({accuracy:.3f}) does not match transfer_frozen's history")
    if not settings.offline and accuracy < 1.0 / len(data.class_names) + 0.15:
        return failed(f"with ImageNet weights the head should learn (accuracy {accuracy:.2f}): check the preprocessing")
    return passed(f"the frozen base's head reaches {accuracy:.2f}, as its history says")


def judge_finetuned(probes: dict, export, models: dict) -> Judgement:
    from keras import layers

    from solutions.transfer import find_base, trainable_base_layers

    context = _saved_transfer(export, models, "transfer_finetuned")
    if isinstance(context, Judgement):
        return context
    saved, history, data, settings = context
    if len(history.get("val_loss", [])) != settings.num_epochs + settings.fine_tune_epochs:
        return failed("transfer_finetuned's history must cover both phases")
    base = find_base(saved)
    with_weights = [layer.name for layer in base.layers if layer.weights]
    if not 0 < len(trainable_base_layers(saved)) < len(with_weights):
        return failed("transfer_finetuned must have a partly unfrozen base")
    if any(layer.trainable for layer in base.layers if isinstance(layer, layers.BatchNormalization)):
        return failed("transfer_finetuned's BatchNormalization layers must stay frozen")
    if abs(float(np.asarray(saved.optimizer.learning_rate)) - settings.fine_tune_learning_rate) > 1e-12:
        return failed("phase 2 must use settings.fine_tune_learning_rate (recompile after unfreezing)")
    steps = settings.fine_tune_epochs * math.ceil(len(data.y_train) / settings.batch_size)
    if int(np.asarray(saved.optimizer.iterations)) != steps:
        return failed(f"phase 2's optimiser should have made {steps} steps: was the model recompiled, then trained?")
    accuracy = _recomputed_accuracy(saved, data)
    if abs(accuracy - float(history["val_accuracy"][-1])) > ACCURACY_GAP:
        return failed(f"the recomputed accuracy ({accuracy:.3f}) does not match transfer_finetuned's history")
    return passed("phase 2 fine-tuned the top of the base at the low rate, as its history says")


# test_build_concatenated_model ------------------------------------------------------------------------
def concat_probes(rng: np.random.Generator) -> dict:
    return {"images_seed": int(rng.integers(0, 2 ** 31))}


def _close(produced, wanted) -> bool:
    # Random-weight features are tiny and of very different scales in the two bases.
    return produced.shape == wanted.shape and np.abs(produced - wanted).max() <= 1e-3 * np.abs(wanted).max()


def judge_concatenated(probes: dict, export, saved) -> Judgement:
    import keras
    from keras import layers

    # The cell exports its model only; a JSON export is there when the builder raised.
    if isinstance(export, dict) and "error" in export:
        return failed(f"build_concatenated_model raised {error_name(export)}")
    model = load_saved_model(saved, what="build_concatenated_model's model")
    if isinstance(model, Judgement):
        return model
    try:
        mobilenet, efficientnet = model.get_layer("base_mobilenet"), model.get_layer("base_efficientnet")
    except ValueError:
        return failed("the two bases must be named base_mobilenet and base_efficientnet")
    if any(branch.trainable_weights for branch in (mobilenet, efficientnet)):
        return failed("both bases must be frozen")
    concatenations = [layer for layer in model.layers if isinstance(layer, layers.Concatenate)]
    if not concatenations or tuple(model.output_shape[1:]) != (4,):
        return failed("the two feature vectors must be concatenated (layers.Concatenate), one output per class")
    if len([layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D)]) != 2:
        return failed("each base must be summarised by a GlobalAveragePooling2D")
    images = np.random.default_rng(probes["images_seed"]).integers(0, 256, size=(2, 48, 48, 3)).astype("float32")
    expected_mobilenet = np.asarray(mobilenet(keras.applications.mobilenet_v2.preprocess_input(images.copy()),
                                              training=False)).mean(axis=(1, 2))
    expected_efficientnet = np.asarray(efficientnet(images.copy(), training=False)).mean(axis=(1, 2))
    features = np.asarray(keras.Model(model.input, concatenations[0].output)(images, training=False), dtype=np.float64)

    def matches(first, second):
        width = first.shape[1]
        return _close(features[:, :width], first) and _close(features[:, width:], second)

    if not (matches(expected_mobilenet, expected_efficientnet) or matches(expected_efficientnet, expected_mobilenet)):
        return failed("each base must receive its own preprocessing (MobileNetV2: [-1, 1]; EfficientNet: 0-255)")
    return passed("two frozen bases, each fed its own preprocessing, concatenated")


VERDICTS = (
    CellVerdict("test_build_transfer_model", build_probes, judge_build_transfer_model, reads_model=True),
    CellVerdict("test_transfer_frozen", lambda rng: {}, judge_frozen, reads_models=True),
    CellVerdict("test_unfreeze_top_layers", unfreeze_probes, judge_unfreeze, reads_models=True),
    CellVerdict("test_transfer_finetuned", lambda rng: {}, judge_finetuned, reads_models=True),
    CellVerdict("test_build_concatenated_model", concat_probes, judge_concatenated, reads_model=True),
)
