"""Notebook 02's verdicts: models exported by the kernel, rebuilt with safe_mode=True by the grader.

The kernel's side is played by the hidden regions of notebook 02's test cells, run in this process
(``tests/helpers/verdicts.py``); the trusted side is :func:`autograde.verdicts.registry.judge_notebook`.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers

from autograde.execute import fast_environment, patched_environment
from autograde.verdicts import cells, nb02, registry
from autograde.verdicts.exports import MODEL_MEMBERS, load_exports
from paysages.probes import model_filename
from solutions import cnn
from tests.helpers.verdicts import export_like_the_kernel, probe_exchange

NOTEBOOK = nb02.NOTEBOOK
MODEL_IDS = {"test_build_cnn", "test_compile_classifier"}
REFERENCE = {"build_cnn": cnn.build_cnn, "compile_classifier": cnn.compile_classifier}
# The grading's quick settings: the reference CNN learns in three epochs on 60 images per class.
TRAINING_ENVIRONMENT = {"PAYSAGES_NUM_EPOCHS": "3", "PAYSAGES_SAMPLE_PER_CLASS": "60"}


def _judged(tmp_path, seed: int, namespace: dict, grade_ids=MODEL_IDS) -> dict:
    export = probe_exchange(NOTEBOOK, seed, {**REFERENCE, **namespace}, set(grade_ids), tmp_path)
    return registry.judge_notebook(NOTEBOOK, seed, export)["verdicts"]


def _fixed_output_cnn(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(7, activation="softmax")(x))


def _sigmoid_cnn(input_shape, num_classes):
    model = cnn.build_cnn(input_shape, num_classes)
    features = model.get_layer("features").output
    return keras.Model(model.input, layers.Dense(num_classes, activation="sigmoid")(features))


def _lambda_cnn(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Lambda(lambda images: images / 255.0)(inputs)
    x = layers.Rescaling(1.0)(x)
    for filters in (8, 16):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def _one_convolution_cnn(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def _own_sequential_cnn(input_shape, num_classes):
    return keras.Sequential([
        keras.Input(shape=input_shape), layers.Normalization(mean=127.5, variance=127.5 ** 2),
        layers.Conv2D(12, 5, padding="same", activation="relu"), layers.AveragePooling2D(2),
        layers.Conv2D(24, 3, activation="relu"), layers.GlobalMaxPooling2D(), layers.Dense(num_classes),
        layers.Softmax(),
    ])


def _raising_cnn(input_shape, num_classes):
    raise NotImplementedError


def _sgd_compiler(model, learning_rate):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _fixed_rate_compiler(model, learning_rate):
    return cnn.compile_classifier(model, 1e-3)


def _one_hot_loss_compiler(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _no_metric_compiler(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.SparseCategoricalCrossentropy())
    return model


# Probes ---------------------------------------------------------------------------------------------
def test_probes_never_ask_for_the_data_sets_seven_classes():
    """Are the probed shapes and class counts drawn per run, never 7 classes (a fixed output must fail)?"""
    drawn = [registry.make_probes(NOTEBOOK, seed) for seed in range(40)]
    assert {probes["test_build_cnn"]["num_classes"] for probes in drawn} <= set(cells.PROBE_NUM_CLASSES)
    assert 7 not in cells.PROBE_NUM_CLASSES
    assert len({tuple(probes["test_build_cnn"]["input_shape"]) for probes in drawn}) > 2
    assert len({probes["test_compile_classifier"]["learning_rate"] for probes in drawn}) > 2


# test_build_cnn and test_compile_classifier -------------------------------------------------------------
@pytest.mark.slow
def test_the_reference_and_an_own_design_earn_both_model_verdicts(tmp_path):
    """Do the reference builder and compiler, and another valid design, pass once rebuilt outside the kernel?"""
    assert {key: value["fraction"] for key, value in _judged(tmp_path / "reference", 3, {}).items()
            if key in MODEL_IDS} == {"test_build_cnn": 1.0, "test_compile_classifier": 1.0}
    verdicts = _judged(tmp_path / "own", 4, {"build_cnn": _own_sequential_cnn})
    assert verdicts["test_build_cnn"]["fraction"] == 1.0, verdicts["test_build_cnn"]
    assert verdicts["test_compile_classifier"]["fraction"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize(("builder", "reason"), [
    (_fixed_output_cnn, "use num_classes"),
    (_sigmoid_cnn, "softmax"),
    (_lambda_cnn, "safe_mode=True"),
    (_one_convolution_cnn, "two Conv2D"),
    (_raising_cnn, "raised NotImplementedError"),
])
def test_a_faulty_builder_loses_test_build_cnn(tmp_path, builder, reason):
    """Does each broken build_cnn score 0, with a reason naming its fault?"""
    verdict = _judged(tmp_path, 5, {"build_cnn": builder}, {"test_build_cnn"})["test_build_cnn"]
    assert verdict["fraction"] == 0.0
    assert reason in verdict["reason"]


@pytest.mark.slow
@pytest.mark.parametrize(("compiler", "reason"), [
    (_sgd_compiler, "not Adam"),
    (_fixed_rate_compiler, "learning_rate argument"),
    (_one_hot_loss_compiler, "sparse_categorical_crossentropy"),
    (_no_metric_compiler, "accuracy metric"),
])
def test_a_faulty_compiler_loses_test_compile_classifier(tmp_path, compiler, reason):
    """Does each wrong compilation score 0, with a reason naming what is wrong?"""
    verdicts = _judged(tmp_path, 6, {"compile_classifier": compiler}, {"test_compile_classifier"})
    assert verdicts["test_compile_classifier"]["fraction"] == 0.0
    assert reason in verdicts["test_compile_classifier"]["reason"]


def test_a_model_archive_with_other_members_is_not_read(tmp_path):
    """Is a .keras export holding anything but Keras's three members left unread, and the cell failed?"""
    import zipfile

    export = tmp_path / "export"
    export.mkdir()
    with zipfile.ZipFile(export / model_filename("test_build_cnn"), "w") as archive:
        for member in sorted(MODEL_MEMBERS):
            archive.writestr(member, "{}")
        archive.writestr("payload.py", "print('hello')")
    exports = load_exports(export)
    assert exports.values == {}
    assert any("not a Keras model archive" in line for line in exports.ignored)
    verdict = registry.judge_notebook(NOTEBOOK, 1, export)["verdicts"]["test_build_cnn"]
    assert verdict["fraction"] == 0.0 and "no model was exported" in verdict["reason"]


# test_train_classifier --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A fast-mode run folder whose cnn is the reference CNN trained three epochs, and its settings."""
    from paysages.data import load_split_arrays, prepare_split
    from paysages.runs import RunFolder
    from paysages.settings import get_settings

    folder = tmp_path_factory.mktemp("nb02")
    environment = {**fast_environment(folder / "data", folder / "run"), **TRAINING_ENVIRONMENT}
    with patched_environment(environment):
        settings = get_settings()
        prepare_split(settings, progress=False)
        data = load_split_arrays(settings, progress=False)
        keras.utils.set_random_seed(settings.seed)
        model = cnn.compile_classifier(cnn.build_cnn(settings.image_shape, len(data.class_names)), 1e-3)
        history = cnn.train_classifier(model, data, num_epochs=settings.num_epochs, batch_size=settings.batch_size)
        RunFolder(settings.run_dir).save_model(model, "cnn", history=history, training_seconds=1.0)
    return {"folder": folder, "environment": environment, "settings": settings}


def _judge_training(trained_run, tmp_path, *, edit_export=None) -> dict:
    """Export the run's cnn the kernel's way, let ``edit_export`` change the export, then judge it."""
    from autograde.layout import COURSE_NOTEBOOK_DIR

    probes, export = tmp_path / "probes", tmp_path / "export"
    registry.write_probes(NOTEBOOK, 9, probes)
    export.mkdir()
    with patched_environment(trained_run["environment"]):
        export_like_the_kernel(COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb", {}, probes, export, {"test_train_classifier"})
        if edit_export is not None:
            path = export / "test_train_classifier.json"
            path.write_text(json.dumps(edit_export(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
        # The grader's settings, as the pipeline passes them to the trusted process.
        return registry.judge_notebook(NOTEBOOK, 9, export)["verdicts"]["test_train_classifier"]


@pytest.mark.slow
def test_the_trained_reference_cnn_earns_test_train_classifier(trained_run, tmp_path):
    """Does the saved reference CNN, predicted on the images the grader decodes itself, agree with its history?"""
    verdict = _judge_training(trained_run, tmp_path)
    assert verdict["fraction"] == 1.0, verdict["reason"]


@pytest.mark.slow
def test_a_typed_history_loses_test_train_classifier(trained_run, tmp_path):
    """Does a history whose last validation accuracy was typed (1.0) disagree with the saved model?"""
    def typed(export):
        export["history"]["val_accuracy"][-1] = 1.0
        return export

    verdict = _judge_training(trained_run, tmp_path, edit_export=typed)
    assert verdict["fraction"] == 0.0
    assert "validation_data must be the validation set" in verdict["reason"]


@pytest.mark.slow
def test_validation_paths_outside_the_grading_data_lose_test_train_classifier(trained_run, tmp_path):
    """Does an export naming images the grading data does not hold earn nothing?"""
    def elsewhere(export):
        export["validation_paths"] = ["../../../etc/passwd"] + export["validation_paths"][1:]
        return export

    verdict = _judge_training(trained_run, tmp_path, edit_export=elsewhere)
    assert verdict["fraction"] == 0.0 and "are not images of the grading data" in verdict["reason"]


@pytest.mark.slow
def test_an_untrained_saved_cnn_loses_test_train_classifier(trained_run, tmp_path):
    """Does a saved cnn that never trained fail, though the history it is saved with is the trained one's?"""
    from paysages.runs import RunFolder

    settings = trained_run["settings"]
    run = RunFolder(settings.run_dir)
    history = run.load_history("cnn")
    trained = settings.run_dir / "models" / "cnn.keras"
    kept = trained.read_bytes()
    untrained = cnn.compile_classifier(cnn.build_cnn(settings.image_shape, 7), 1e-3)
    # A constant output: the untrained network's accuracy is that of one class, near chance.
    predictions = untrained.get_layer("predictions")
    predictions.set_weights([np.zeros_like(weights) for weights in predictions.get_weights()])
    try:
        run.save_model(untrained, "cnn", history=history, training_seconds=1.0)
        verdict = _judge_training(trained_run, tmp_path)
    finally:
        trained.write_bytes(kept)
    assert verdict["fraction"] == 0.0 and "does not learn" in verdict["reason"]
