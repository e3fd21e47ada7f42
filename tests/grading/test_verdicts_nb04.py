"""Notebook 04's verdicts (transfer learning), judged outside a kernel on exported models.

The kernel's side is played by the hidden regions of notebook 04's test cells, run in this process
(``tests/helpers/verdicts.py``) with the reference functions or broken ones.
"""

from __future__ import annotations

import keras
import pytest
from keras import layers

from autograde.execute import fast_environment, patched_environment
from autograde.layout import COURSE_NOTEBOOK_DIR
from autograde.verdicts import nb04, registry
from solutions import cnn, transfer
from tests.helpers.verdicts import export_like_the_kernel, probe_exchange

NOTEBOOK = nb04.NOTEBOOK
BUILT_IDS = {"test_build_transfer_model", "test_unfreeze_top_layers", "test_build_concatenated_model"}
TRAINED_IDS = {"test_transfer_frozen", "test_transfer_finetuned"}
REFERENCE = {"BASE_ARCHITECTURE": "MobileNetV2", "NUM_FINE_TUNED_LAYERS": transfer.NUM_FINE_TUNED_LAYERS,
             "build_transfer_model": transfer.build_transfer_model, "compile_classifier": cnn.compile_classifier,
             "unfreeze_top_layers": transfer.unfreeze_top_layers,
             "build_concatenated_model": transfer.build_concatenated_model}


def _verdicts(tmp_path, seed: int, grade_ids: set[str], **changes) -> dict:
    export = probe_exchange(NOTEBOOK, seed, {**REFERENCE, **changes}, grade_ids, tmp_path)
    verdicts = registry.judge_notebook(NOTEBOOK, seed, export)["verdicts"]
    return {grade_id: verdicts[grade_id] for grade_id in grade_ids}


# Broken functions ---------------------------------------------------------------------------------------
def _base_in_training_mode(input_shape, num_classes, *, architecture="MobileNetV2", weights=None, dropout_rate=0.2):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    base = keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=weights, name="base")
    base.trainable = False
    x = layers.GlobalAveragePooling2D()(base(x))
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def _unit_interval_preprocessing(input_shape, num_classes, *, architecture="MobileNetV2", weights=None, dropout_rate=0.2):
    model = transfer.build_transfer_model(input_shape, num_classes, architecture=architecture, weights=weights,
                                          dropout_rate=dropout_rate)
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = model.get_layer("base")(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def _off_by_one_unfreeze(model, num_layers, learning_rate):
    return transfer.unfreeze_top_layers(model, num_layers + 1, learning_rate)


def _fixed_rate_unfreeze(model, num_layers, learning_rate):
    return transfer.unfreeze_top_layers(model, num_layers, 1e-5)


def _same_preprocessing_concat(input_shape, num_classes, *, weights=None, dropout_rate=0.2):
    inputs = keras.Input(shape=input_shape)
    scaled = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    branches = []
    for name, architecture in (("base_mobilenet", "MobileNetV2"), ("base_efficientnet", "EfficientNetB0")):
        base = getattr(keras.applications, architecture)(input_shape=input_shape, include_top=False, weights=weights,
                                                          name=name)
        base.trainable = False
        branches.append(layers.GlobalAveragePooling2D()(base(scaled, training=False)))
    x = layers.Dropout(dropout_rate)(layers.Concatenate()(branches))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


# Tests --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_fine_tuning_boundaries_are_those_of_each_base():
    """Are the grader's off-by-one counts those solutions.transfer.fine_tuning_boundaries gives each base?"""
    for architecture, counts in nb04.FINE_TUNING_BOUNDARIES.items():
        base = getattr(keras.applications, architecture)(input_shape=nb04.UNFREEZE_SHAPE, include_top=False, weights=None)
        assert list(transfer.fine_tuning_boundaries(base)) == counts, architecture


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["MobileNetV2", "EfficientNetB0"])
def test_the_reference_earns_the_built_model_cells(tmp_path, architecture):
    """Do the reference builders and unfreeze_top_layers pass on either base, rebuilt with safe_mode=True?"""
    verdicts = _verdicts(tmp_path, 31, BUILT_IDS, BASE_ARCHITECTURE=architecture, NUM_FINE_TUNED_LAYERS=20)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(BUILT_IDS, 1.0), verdicts


@pytest.mark.slow
@pytest.mark.parametrize(("grade_id", "changes", "reason"), [
    ("test_build_transfer_model", {"build_transfer_model": _base_in_training_mode}, "training=False"),
    ("test_build_transfer_model", {"build_transfer_model": _unit_interval_preprocessing}, "preprocess_input"),
    ("test_unfreeze_top_layers", {"unfreeze_top_layers": _off_by_one_unfreeze}, "the trainable layers of the base"),
    ("test_unfreeze_top_layers", {"unfreeze_top_layers": _fixed_rate_unfreeze}, "learning_rate argument"),
    ("test_build_concatenated_model", {"build_concatenated_model": _same_preprocessing_concat}, "own preprocessing"),
])
def test_a_faulty_transfer_function_loses_its_cell(tmp_path, grade_id, changes, reason):
    """Does each broken builder or unfreezing score 0, with a reason naming the fault?"""
    verdict = _verdicts(tmp_path, 32, {grade_id}, **changes)[grade_id]
    assert verdict["fraction"] == 0.0
    assert reason in verdict["reason"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run folder with transfer_frozen and transfer_finetuned trained as notebook 04 trains them (offline base)."""
    from paysages.data import load_split_arrays, prepare_split
    from paysages.pretrained import transfer_weights
    from paysages.runs import RunFolder
    from paysages.settings import get_settings

    folder = tmp_path_factory.mktemp("nb04")
    environment = {**fast_environment(folder / "data", folder / "run"), "PAYSAGES_NUM_EPOCHS": "2",
                   "PAYSAGES_FINE_TUNE_EPOCHS": "1", "PAYSAGES_SAMPLE_PER_CLASS": "30"}
    with patched_environment(environment):
        settings = get_settings()
        prepare_split(settings, progress=False)
        data = load_split_arrays(settings, progress=False)
        run = RunFolder(settings.run_dir)
        keras.utils.set_random_seed(settings.seed)
        model = transfer.build_transfer_model(settings.image_shape, len(data.class_names),
                                              weights=transfer_weights(settings.offline).weights)
        model = cnn.compile_classifier(model, settings.learning_rate)
        validation = (data.x_validation, data.y_validation)
        frozen = model.fit(data.x_train, data.y_train, validation_data=validation, epochs=settings.num_epochs,
                           batch_size=settings.batch_size, verbose=0)
        run.save_model(model, "transfer_frozen", history=frozen)
        model = transfer.unfreeze_top_layers(model, transfer.NUM_FINE_TUNED_LAYERS, settings.fine_tune_learning_rate)
        finetuned = model.fit(data.x_train, data.y_train, validation_data=validation,
                              epochs=settings.fine_tune_epochs, batch_size=settings.batch_size, verbose=0)
        both = {key: list(frozen.history[key]) + list(finetuned.history[key]) for key in finetuned.history}
        run.save_model(model, "transfer_finetuned", history=both)
    return environment


def _judge_run(environment, tmp_path, *, swap_models=False) -> dict:
    """Export the run the kernel's way (``swap_models``: each cell's model file replaced by the other's), then judge it."""
    import shutil

    from paysages.probes import model_filename

    probes, export = tmp_path / "probes", tmp_path / "export"
    registry.write_probes(NOTEBOOK, 5, probes)
    export.mkdir()
    with patched_environment(environment):
        export_like_the_kernel(COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb", {}, probes, export, TRAINED_IDS)
        if swap_models:
            frozen = export / model_filename("test_transfer_frozen", "m0")
            finetuned = export / model_filename("test_transfer_finetuned", "m0")
            shutil.move(frozen, tmp_path / "frozen.keras")
            shutil.move(finetuned, frozen)
            shutil.move(tmp_path / "frozen.keras", finetuned)
        verdicts = registry.judge_notebook(NOTEBOOK, 5, export)["verdicts"]
    return {grade_id: verdicts[grade_id] for grade_id in TRAINED_IDS}


@pytest.mark.slow
def test_the_trained_transfer_models_earn_their_cells(trained_run, tmp_path):
    """Do the saved frozen and fine-tuned models agree with their histories, rebuilt outside the kernel?"""
    verdicts = _judge_run(trained_run, tmp_path)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(
        TRAINED_IDS, 1.0), verdicts


@pytest.mark.slow
def test_swapped_transfer_models_lose_both_cells(trained_run, tmp_path):
    """Does a kernel that exports the fine-tuned model as the frozen one, and back, lose both cells?"""
    verdicts = _judge_run(trained_run, tmp_path, swap_models=True)
    assert verdicts["test_transfer_frozen"]["fraction"] == 0.0
    assert "trainable base" in verdicts["test_transfer_frozen"]["reason"]
    assert verdicts["test_transfer_finetuned"]["fraction"] == 0.0
    assert "partly unfrozen base" in verdicts["test_transfer_finetuned"]["reason"]
