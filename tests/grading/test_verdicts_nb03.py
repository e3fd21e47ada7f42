"""Notebook 03's verdicts (builder, variants, callbacks, summary, class weights), judged outside a kernel.

The kernel's side is played by the hidden regions of notebook 03's test cells, run in this process
on the grader's probes (``tests/helpers/verdicts.py``), with the reference functions or broken ones.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from autograde.execute import fast_environment, patched_environment
from autograde.verdicts import nb03, registry
from solutions import regularisation
from tests.helpers.verdicts import probe_exchange

NOTEBOOK = nb03.NOTEBOOK
MODEL_IDS = {"test_build_regularised_defaults", "test_variants_one_technique"}
FUNCTION_IDS = {"test_variant_callbacks", "test_summarise_histories", "test_balanced_class_weights"}
OWN_VARIANT = {"dropout_strong": {"dropout_rate": 0.5}}


@pytest.fixture
def variants(monkeypatch):
    """The reference VARIANTS plus one variant of the student's own, as the notebook's cells leave them."""
    for name, options in OWN_VARIANT.items():
        monkeypatch.setitem(regularisation.VARIANTS, name, options)
    return regularisation.VARIANTS


def _namespace(variants, **functions) -> dict:
    namespace = {"VARIANTS": variants, "build_regularised_cnn": regularisation.build_regularised_cnn,
                 "variant_callbacks": regularisation.variant_callbacks,
                 "summarise_histories": regularisation.summarise_histories,
                 "balanced_class_weights": regularisation.balanced_class_weights}
    namespace.update(functions)
    return namespace


def _verdicts(tmp_path, seed: int, namespace: dict, grade_ids: set[str]) -> dict:
    export = probe_exchange(NOTEBOOK, seed, namespace, grade_ids, tmp_path)
    # The grader's settings, as the pipeline passes them to the trusted process.
    with patched_environment(fast_environment(tmp_path / "data", tmp_path / "run")):
        verdicts = registry.judge_notebook(NOTEBOOK, seed, export)["verdicts"]
    return {grade_id: verdict for grade_id, verdict in verdicts.items() if grade_id in grade_ids}


# Broken functions ---------------------------------------------------------------------------------------
def _fixed_rate_builder(input_shape, num_classes, *, dropout_rate=0.0, **options):
    """Dropout always at 0.5 whatever dropout_rate asks."""
    return regularisation.build_regularised_cnn(input_shape, num_classes, dropout_rate=0.5 if dropout_rate else 0.0,
                                                **options)


def _vertical_flip_builder(input_shape, num_classes, *, augmentation=False, **options):
    """The reference network behind a flip that turns landscapes upside down."""
    model = regularisation.build_regularised_cnn(input_shape, num_classes, **options)
    if not augmentation:
        return model
    inputs = keras.Input(shape=input_shape)
    flipped = layers.RandomFlip("horizontal_and_vertical")(inputs)
    return keras.Model(inputs, model(flipped))


def _normalisation_with_dropout_builder(input_shape, num_classes, *, batch_norm=False, dropout_rate=0.0, **options):
    """The batch_norm switch also adds dropout."""
    return regularisation.build_regularised_cnn(input_shape, num_classes, batch_norm=batch_norm,
                                                dropout_rate=0.3 if batch_norm else dropout_rate, **options)


def _default_dropout_builder(input_shape, num_classes, *, dropout_rate=0.2, **options):
    """Dropout even without options."""
    return regularisation.build_regularised_cnn(input_shape, num_classes, dropout_rate=dropout_rate, **options)


def _accuracy_monitor(name, settings):
    callbacks = regularisation.variant_callbacks(name, settings)
    for callback in callbacks:
        callback.monitor = "val_accuracy"
    return callbacks


def _fixed_patience(name, settings):
    """The patience of early_stopping for every variant that has one (the probe variant's is ignored)."""
    regularisation.variant_callbacks(name, settings)
    if regularisation.VARIANTS[name].get("patience") is None:
        return []
    fixed = regularisation.VARIANTS["early_stopping"]["patience"]
    return [keras.callbacks.EarlyStopping(monitor="val_loss", patience=fixed, restore_best_weights=True)]


def _no_unknown_check(name, settings):
    options = regularisation.VARIANTS.get(name, {})
    if options.get("patience") is None:
        return []
    return regularisation.variant_callbacks(name, settings)


def _zero_based_summary(histories):
    table = regularisation.summarise_histories(histories)
    table["best_epoch"] = table["best_epoch"] - 1
    return table


def _last_epoch_summary(histories):
    table = regularisation.summarise_histories(histories)
    table["best_val_accuracy"] = [float(history["val_accuracy"][-1]) for history in histories.values()]
    return table


def _inverse_frequency_weights(labels, num_classes):
    counts = np.bincount(np.asarray(labels), minlength=num_classes)
    return {index: 1.0 / count for index, count in enumerate(counts)}


# The reference --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_reference_earns_every_verdict_of_notebook_03(tmp_path, variants):
    """Do the reference functions and VARIANTS, exported the kernel's way, earn the five cells in full?"""
    verdicts = _verdicts(tmp_path, 21, _namespace(variants), MODEL_IDS | FUNCTION_IDS)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(
        MODEL_IDS | FUNCTION_IDS, 1.0), verdicts


def test_probes_differ_between_runs():
    """Are the probed shape, rate, factor and patience drawn per run?"""
    drawn = [registry.make_probes(NOTEBOOK, seed) for seed in range(30)]
    assert len({probes["test_variants_one_technique"]["dropout_rate"] for probes in drawn}) > 1
    assert len({probes["test_variants_one_technique"]["l2_factor"] for probes in drawn}) > 1
    assert len({probes["test_variant_callbacks"]["patience"] for probes in drawn}) > 2


# Faults of the builder and of VARIANTS ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("builder", "reason"), [
    (_fixed_rate_builder, "rate dropout_rate"),
    (_vertical_flip_builder, "horizontal only"),
    (_normalisation_with_dropout_builder, "the variant batch_norm holds ['batch_norm', 'dropout']"),
])
def test_a_switch_that_does_more_than_its_technique_loses_the_variants_cell(tmp_path, variants, builder, reason):
    """Does a builder whose switch ignores its setting or adds another technique score 0, naming why?"""
    verdict = _verdicts(tmp_path, 22, _namespace(variants, build_regularised_cnn=builder),
                        {"test_variants_one_technique"})["test_variants_one_technique"]
    assert verdict["fraction"] == 0.0
    assert reason in verdict["reason"]


@pytest.mark.slow
def test_a_default_model_with_dropout_loses_the_defaults_cell(tmp_path, variants):
    """Does a builder that adds dropout without options lose test_build_regularised_defaults?"""
    verdict = _verdicts(tmp_path, 23, _namespace(variants, build_regularised_cnn=_default_dropout_builder),
                        {"test_build_regularised_defaults"})["test_build_regularised_defaults"]
    assert verdict["fraction"] == 0.0 and "already holds ['dropout']" in verdict["reason"]


@pytest.mark.slow
@pytest.mark.parametrize(("changes", "reason"), [
    ({"dropout": {"dropout_rate": 0.3, "l2_factor": 1e-4}}, "must use ['dropout']"),
    ({"dropout_strong": None}, "none of your own variants"),
    ({"mixed": {"dropout_rate": 0.3, "batch_norm": True}}, "combines several techniques"),
])
def test_malformed_variants_lose_the_variants_cell(tmp_path, monkeypatch, variants, changes, reason):
    """Does VARIANTS without an own variant, or with a variant of two techniques, score 0?"""
    for name, options in changes.items():
        if options is None:
            monkeypatch.delitem(variants, name)
        else:
            monkeypatch.setitem(variants, name, options)
    verdict = _verdicts(tmp_path, 24, _namespace(variants), {"test_variants_one_technique"})
    assert verdict["test_variants_one_technique"]["fraction"] == 0.0
    assert reason in verdict["test_variants_one_technique"]["reason"]


# Faults of the pure functions ------------------------------------------------------------------------------
@pytest.mark.parametrize(("grade_id", "functions", "reason"), [
    ("test_variant_callbacks", {"variant_callbacks": _accuracy_monitor}, "one EarlyStopping on val_loss"),
    ("test_variant_callbacks", {"variant_callbacks": _fixed_patience}, "the variant probe variant must get"),
    ("test_variant_callbacks", {"variant_callbacks": _no_unknown_check}, "unknown variant name"),
    ("test_summarise_histories", {"summarise_histories": _zero_based_summary}, "wrong best_epoch"),
    ("test_summarise_histories", {"summarise_histories": _last_epoch_summary}, "wrong best_val_accuracy"),
    ("test_balanced_class_weights", {"balanced_class_weights": _inverse_frequency_weights}, "N / (K * n_c)"),
])
def test_a_wrong_function_loses_its_cell(tmp_path, variants, grade_id, functions, reason):
    """Does each wrong function score 0 on this run's probes, with a reason naming the fault?"""
    # A run whose probe patience is not early_stopping's (3): a patience ignored then shows.
    seed = next(seed for seed in range(25, 100)
                if registry.make_probes(NOTEBOOK, seed)["test_variant_callbacks"]["patience"] != 3)
    verdict = _verdicts(tmp_path, seed, _namespace(variants, **functions), {grade_id})[grade_id]
    assert verdict["fraction"] == 0.0
    assert reason in verdict["reason"]


def test_no_export_earns_nothing(tmp_path):
    """Does every notebook 03 cell registered here score 0 when the kernel exported nothing?"""
    (tmp_path / "export").mkdir()
    result = registry.judge_notebook(NOTEBOOK, 3, tmp_path / "export")["verdicts"]
    assert all(result[grade_id]["fraction"] == 0.0 for grade_id in MODEL_IDS | FUNCTION_IDS)



# The trained models: a run trained with the reference functions ------------------------------------------
TRAINED_IDS = {"test_trained_variants", "test_improved_model", "test_variety_1", "test_variety_2"}
TRAINING_ENVIRONMENT = {"PAYSAGES_NUM_EPOCHS": "2", "PAYSAGES_SAMPLE_PER_CLASS": "40"}
OWN_VARIANTS = {"dropout_strong": {"dropout_rate": 0.5}, "l2_strong": {"l2_factor": 1e-3}}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run folder trained as the reference notebook trains it: the CNN, every variant, improved, class weights."""
    from paysages.data import load_split_arrays, prepare_split
    from paysages.runs import RunFolder
    from paysages.settings import get_settings
    from solutions import cnn

    folder = tmp_path_factory.mktemp("nb03")
    environment = {**fast_environment(folder / "data", folder / "run"), **TRAINING_ENVIRONMENT}
    variants = {**regularisation.VARIANTS, **OWN_VARIANTS, regularisation.IMPROVED_VARIANT: dict(regularisation.IMPROVED)}
    with patched_environment(environment), pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(regularisation, "VARIANTS", variants)
        settings = get_settings()
        prepare_split(settings, progress=False)
        data = load_split_arrays(settings, progress=False)
        run = RunFolder(settings.run_dir)
        keras.utils.set_random_seed(settings.seed)
        model = cnn.compile_classifier(cnn.build_cnn(settings.image_shape, len(data.class_names)), settings.learning_rate)
        run.save_model(model, "cnn", history=cnn.train_classifier(model, data, num_epochs=settings.num_epochs,
                                                                  batch_size=settings.batch_size))
        for name in variants:
            regularisation.train_variant(name, data, settings, run)
        keras.utils.set_random_seed(settings.seed)
        weighted = cnn.compile_classifier(regularisation.build_regularised_cnn(settings.image_shape, len(data.class_names)),
                                          settings.learning_rate)
        history = weighted.fit(data.x_train, data.y_train, validation_data=(data.x_validation, data.y_validation),
                               epochs=settings.num_epochs, batch_size=settings.batch_size, verbose=0,
                               class_weight=regularisation.balanced_class_weights(data.y_train, len(data.class_names)))
        run.save_model(weighted, "reg_class_weights", history=history)
    return {"environment": environment, "variants": variants}


def _judge_run(trained_run, tmp_path, grade_ids, *, edit=None) -> dict:
    """Export the trained run the kernel's way (``edit`` may change each JSON export), then judge it."""
    import json

    from autograde.layout import COURSE_NOTEBOOK_DIR
    from tests.helpers.verdicts import export_like_the_kernel

    probes, export = tmp_path / "probes", tmp_path / "export"
    registry.write_probes(NOTEBOOK, 8, probes)
    export.mkdir()
    namespace = {"VARIANTS": dict(trained_run["variants"]), "IMPROVED": dict(regularisation.IMPROVED)}
    with patched_environment(trained_run["environment"]):
        export_like_the_kernel(COURSE_NOTEBOOK_DIR / f"{NOTEBOOK}.ipynb", namespace, probes, export, set(grade_ids))
        for grade_id in grade_ids:
            path = export / f"{grade_id}.json"
            if edit is not None:
                path.write_text(json.dumps(edit(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
        verdicts = registry.judge_notebook(NOTEBOOK, 8, export)["verdicts"]
    return {grade_id: verdicts[grade_id] for grade_id in grade_ids}


@pytest.mark.slow
def test_the_reference_run_earns_the_trained_model_cells(trained_run, tmp_path):
    """Do the reference's saved variants, improved model and three extra experiments pass, rebuilt outside the kernel?"""
    verdicts = _judge_run(trained_run, tmp_path, TRAINED_IDS)
    assert {grade_id: verdict["fraction"] for grade_id, verdict in verdicts.items()} == dict.fromkeys(
        TRAINED_IDS, 1.0), verdicts


def _swap_models(first: str, second: str):
    def edit(export):
        export["models"][first], export["models"][second] = export["models"][second], export["models"][first]
        return export
    return edit


def _typed_accuracy(name: str):
    def edit(export):
        export["histories"][name]["val_accuracy"] = [0.99] * len(export["histories"][name]["val_accuracy"])
        return export
    return edit


def _other_first_epoch(export):
    export["histories"]["reg_early_stopping"]["loss"][0] += 0.5
    return export


def _one_technique_improved(export):
    export["improved"] = {"dropout_rate": 0.3}
    return export


@pytest.mark.slow
@pytest.mark.parametrize(("grade_id", "edit", "reason"), [
    ("test_trained_variants", _swap_models("reg_dropout", "reg_l2"), "reg_dropout contient ['l2']"),
    ("test_trained_variants", _typed_accuracy("reg_l2"), "ne correspond pas à l'historique"),
    ("test_trained_variants", _other_first_epoch, "first epoch must coincide"),
    ("test_improved_model", _one_technique_improved, "at least two techniques"),
    ("test_variety_2", _swap_models("reg_dropout_strong", "reg_batch_norm"), "2 well-formed extra experiment(s), 3 needed"),
])
def test_a_forged_run_export_loses_its_cell(trained_run, tmp_path, grade_id, edit, reason):
    """Does a run export with swapped models, a typed history or a one-technique IMPROVED score 0, naming why?"""
    verdict = _judge_run(trained_run, tmp_path, {grade_id}, edit=edit)[grade_id]
    assert verdict["fraction"] == 0.0
    assert reason in verdict["reason"]
