"""The run folder: how notebooks hand results on, safely and resumably."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from paysages.errors import PrerequisiteError
from paysages.runs import RunFolder, producer_of
from paysages.training import TrainingTimer, training_seconds


def _tiny_model():
    inputs = keras.Input(shape=(8,))
    outputs = layers.Dense(3, activation="softmax")(layers.Dense(4, activation="relu")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_model_round_trip_with_record(tmp_path):
    """Does a saved model load back with the same predictions and a record of its training?"""
    run = RunFolder(tmp_path)
    model = _tiny_model()
    history = {"loss": [1.2, 0.9], "val_loss": [1.3, 1.0], "accuracy": [0.3, 0.5], "val_accuracy": [0.2, 0.4]}
    run.save_model(model, "cnn", history=history, training_seconds=12.5, image_size=64)
    probe = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    loaded = run.load_model("cnn")
    np.testing.assert_allclose(loaded.predict(probe, verbose=0), model.predict(probe, verbose=0), rtol=1e-6)
    meta = run.model_meta("cnn")
    assert meta["num_params"] == model.count_params() and meta["epochs"] == 2
    assert meta["training_seconds"] == 12.5 and meta["image_size"] == 64
    assert run.load_history("cnn") == history
    assert run.model_names() == ["cnn"]


def test_code_carrying_models_are_refused(tmp_path):
    """Does loading refuse a model whose file carries Python code (a Lambda layer)?"""
    inputs = keras.Input(shape=(4,))
    outputs = layers.Lambda(lambda tensor: tensor * 2)(inputs)
    run = RunFolder(tmp_path)
    run.save_model(keras.Model(inputs, outputs), "cnn")
    with pytest.raises(ValueError, match="(?i)lambda|unsafe|safe_mode"):
        run.load_model("cnn")


def test_missing_results_name_the_notebook_to_run_first(tmp_path):
    """Is a missing model, history or result reported in French with its producing notebook?"""
    run = RunFolder(tmp_path)
    with pytest.raises(PrerequisiteError, match="02_cnn"):
        run.load_model("cnn")
    with pytest.raises(PrerequisiteError, match="03_regularisation"):
        run.load_history("reg_dropout")
    with pytest.raises(PrerequisiteError, match="05_comparaison"):
        run.load_json("best")
    assert producer_of("transfer_frozen") == "04_transfert"


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/b", "", ".hidden"])
def test_result_names_cannot_escape_the_run_folder(tmp_path, name):
    """Are names with path separators or leading dots refused?"""
    with pytest.raises(ValueError, match="Invalid result name"):
        RunFolder(tmp_path).save_json(name, {})


def test_json_and_arrays_round_trip(tmp_path):
    """Do JSON results (with NumPy values) and arrays come back unchanged?"""
    run = RunFolder(tmp_path)
    run.save_json("results", {"accuracy": np.float32(0.5), "counts": np.arange(3)})
    assert run.load_json("results") == {"accuracy": 0.5, "counts": [0, 1, 2]}
    features = np.random.default_rng(1).normal(size=(4, 3))
    run.save_arrays("features", features=features, labels=np.arange(4))
    loaded = run.load_arrays("features")
    np.testing.assert_array_equal(loaded["features"], features)
    assert json.loads((tmp_path / "results.json").read_text())["counts"] == [0, 1, 2]


class _Disconnect(keras.callbacks.Callback):
    """Simulates a Colab runtime lost in the middle of an epoch."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("runtime disconnected")


def test_training_resumes_after_a_disconnection(tmp_path):
    """After an interrupted fit, does fitting again with the run's callbacks resume where it stopped?"""
    keras.utils.set_random_seed(0)
    features = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    labels = (features[:, 0] > 0).astype("int64")
    run = RunFolder(tmp_path)
    model = _tiny_model()
    callbacks = run.training_callbacks("cnn")
    with pytest.raises(RuntimeError, match="disconnected"):
        model.fit(features, labels, validation_data=(features, labels), epochs=5, verbose=0,
                  callbacks=callbacks + [_Disconnect(at_epoch=3)])
    assert (tmp_path / "backup" / "cnn").is_dir()
    fresh_model = _tiny_model()
    seen_epochs = []
    recorder = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen_epochs.append(epoch))
    fresh_callbacks = run.training_callbacks("cnn")
    history = fresh_model.fit(features, labels, validation_data=(features, labels), epochs=5, verbose=0,
                              callbacks=fresh_callbacks + [recorder])
    assert seen_epochs == [3, 4]
    # The returned history holds all five epochs, the three before the disconnection included.
    assert history.epoch == [0, 1, 2, 3, 4]
    assert len(history.history["val_loss"]) == 5 and all(value == value for value in history.history["loss"])
    assert not (tmp_path / "backup" / "cnn").exists()
    assert not list((tmp_path / "backup").glob("*.epochs.json"))
    assert isinstance(fresh_callbacks[0], TrainingTimer)
    assert training_seconds(fresh_callbacks) > 0
