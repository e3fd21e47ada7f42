"""Verdicts of notebook 03: the builder, the variants, the callbacks, the trained models, the tables.

The kernel exports what the student's functions return, models as ``.keras`` archives that this
process rebuilds with ``safe_mode=True`` (:mod:`autograde.verdicts.models`), and ``VARIANTS`` as
plain options; the checks are those of the former hidden tests, on values drawn per run:

* ``test_build_regularised_defaults``: ``build_regularised_cnn`` without options, at the grading
  settings' shape, holds no technique and has the architecture and parameter count of the
  student's CNN of notebook 02 (the run's saved ``cnn``; the reference CNN when there is none).
* ``test_variants_one_technique``: the required variants and at least one of the student's own,
  one technique each (the improved model aside); each variant's model holds exactly the techniques
  its options ask for, on the baseline's architecture; on a shape, number of classes, dropout rate
  and L2 factor drawn for this run, each switch adds its technique alone, with that rate on every
  ``Dropout`` and that factor on every penalised layer, and the augmentation (horizontal flips
  only, before the first convolution) changes images in training and leaves them at inference.
* ``test_variant_callbacks``: one ``EarlyStopping`` (validation loss, best weights restored,
  the variant's patience) exactly for the variants with a patience, including a probe variant of
  a patience drawn for this run; ValueError for an unknown name and for patiences that are not
  positive integers.
* ``test_summarise_histories``: random histories with ties and different lengths, compared with
  ``solutions.regularisation.summarise_histories``.
* ``test_balanced_class_weights``: random label arrays, compared with the reference weights.
* ``test_trained_variants``, ``test_improved_model``, ``test_variety_1`` and ``test_variety_2``:
  the kernel exports the run folder's saved models and histories and the split's paths
  (:func:`paysages.probes.export_run`); :mod:`autograde.verdicts.runs` rebuilds the models with
  ``safe_mode=True`` and decodes the images itself, and the reference checks run on them
  (``solutions.grading.check_saved_variant``: the techniques its options ask for on the student's
  baseline architecture, ``num_epochs`` epochs or fewer with early stopping, the learning rate, the
  optimiser's step count for the split's training images at ``batch_size``, the validation accuracy
  recomputed from the saved weights; ``well_formed_extra_experiments`` for the variety points). The
  first epochs of the baseline and of early stopping must coincide (same seed), and the improved
  model combines at least two techniques, each tried alone first. Those checks' reasons are in French.
"""

from __future__ import annotations

import numpy as np

from autograde.verdicts.cells import (NOTHING_EXPORTED, CellVerdict, Judgement, close_numbers, error_name,
                                      export_error, failed, is_number, judge_each_probe, passed, probe_shape,
                                      random_class_names, table_problem)
from autograde.verdicts.models import load_saved_model
from autograde.verdicts.runs import exported_run
from paysages.errors import PrerequisiteError
from solutions.regularisation import (IMPROVED_VARIANT, REQUIRED_VARIANTS, balanced_class_weights,
                                      core_signature, model_techniques, option_techniques, summarise_histories)

NOTEBOOK = "03_regularisation"
TOLERANCE = 1e-6
SUMMARY_COLUMNS = ["best_val_accuracy", "best_val_loss", "best_epoch", "epochs"]
PROBE_SIDES = (40, 48, 56)
DROPOUT_RATES = (0.15, 0.25, 0.35, 0.45)
L2_FACTORS = (5e-4, 1e-3, 3e-3)
BAD_PATIENCES = (0, -2, 2.5)


def _settings_shape():
    """The grading settings' image shape and number of classes (the grader's, from the environment)."""
    from paysages.data import class_names_of
    from paysages.settings import get_settings

    settings = get_settings()
    return tuple(settings.image_shape), len(class_names_of(settings))


def _io_problem(model, shape, num_classes, what: str):
    if tuple(model.input_shape[1:]) != tuple(shape):
        return f"{what} takes images of shape {tuple(model.input_shape[1:])}, not {tuple(shape)}"
    if tuple(model.output_shape[1:]) != (num_classes,):
        return f"{what} gives {tuple(model.output_shape[1:])} outputs, not ({num_classes},)"
    return None


def _exported_variants(export):
    """``[(name, options)]`` from the export's ``variants``, or the failing judgement."""
    variants = export.get("variants") if isinstance(export, dict) else None
    if not isinstance(variants, list) or not all(
            isinstance(item, list) and len(item) == 2 and type(item[0]) is str and isinstance(item[1], dict)
            for item in variants):
        return failed("VARIANTS is not a dict of option dicts")
    for name, options in variants:
        if any(isinstance(value, dict) for value in options.values()):
            return failed(f"the options of {name} hold values that are not plain settings")
        try:
            option_techniques(options)
        except (ValueError, TypeError) as error:
            return failed(f"the options of {name}: {error}")
    return [(name, options) for name, options in variants]


# test_build_regularised_defaults ---------------------------------------------------------------------
def judge_build_defaults(probes: dict, export, models: dict) -> Judgement:
    from solutions.cnn import build_cnn

    # The cell exports its models only; a JSON export is there when the builder raised.
    if isinstance(export, dict) and "error" in export:
        return failed(f"build_regularised_cnn raised {error_name(export)}")
    shape, num_classes = _settings_shape()
    model = load_saved_model(models.get("default"), what="build_regularised_cnn without options")
    if isinstance(model, Judgement):
        return model
    problem = _io_problem(model, shape, num_classes, "build_regularised_cnn without options")
    if problem:
        return failed(problem)
    if model_techniques(model):
        return failed(f"without options, the model already holds {sorted(model_techniques(model))}")
    if "baseline" in models:
        baseline = load_saved_model(models["baseline"], what="the saved cnn of notebook 02")
        if isinstance(baseline, Judgement):
            return baseline
        origin = "your CNN of notebook 02"
    else:
        baseline, origin = build_cnn(shape, num_classes), "the reference CNN (notebook 02 saved none)"
    if core_signature(model) != core_signature(baseline):
        return failed(f"without options, the architecture is not that of {origin}")
    if int(model.count_params()) != int(baseline.count_params()):
        return failed(f"without options, the parameter count is not that of {origin}")
    return passed(f"no technique, and the architecture of {origin}")


# test_variants_one_technique ---------------------------------------------------------------------------
def variants_probes(rng: np.random.Generator) -> dict:
    return {**probe_shape(rng, PROBE_SIDES), "dropout_rate": float(rng.choice(DROPOUT_RATES)), "l2_factor": float(rng.choice(L2_FACTORS)),
            "images_seed": int(rng.integers(0, 2 ** 31))}


def probe_arguments(probes: dict) -> dict[str, dict]:
    """The options the kernel passes for each technique, at the probe's settings."""
    return {"augmentation": {"augmentation": True}, "dropout": {"dropout_rate": probes["dropout_rate"]},
            "l2": {"l2_factor": probes["l2_factor"]}, "batch_norm": {"batch_norm": True}}


def _required_problem(variants):
    names = [name for name, _ in variants]
    missing = [name for name in REQUIRED_VARIANTS if name not in names]
    if missing:
        return f"VARIANTS lacks {', '.join(missing)}"
    if not [name for name in names if name not in REQUIRED_VARIANTS and name != IMPROVED_VARIANT]:
        return "VARIANTS holds none of your own variants"
    options = dict(variants)
    for name in REQUIRED_VARIANTS:
        expected = set() if name == "baseline" else {name}
        if option_techniques(options[name]) != expected:
            return f"the variant {name} must use {sorted(expected) or 'no technique'}"
    if list(options["early_stopping"]) != ["patience"]:
        return "early_stopping has only its patience"
    for name, variant_options in variants:
        if len(option_techniques(variant_options)) > 1 and name != IMPROVED_VARIANT:
            return f"the variant {name} combines several techniques"
    return None


def _variant_models_problem(variants, models, shape, num_classes):
    base = load_saved_model(models.get("base"), what="build_regularised_cnn without options")
    if isinstance(base, Judgement):
        return base.reason
    for index, (name, options) in enumerate(variants):
        model = load_saved_model(models.get(f"v{index}"), what=f"the variant {name}")
        if isinstance(model, Judgement):
            return model.reason
        problem = _io_problem(model, shape, num_classes, f"the variant {name}")
        if problem:
            return problem
        asked = option_techniques(options) - {"early_stopping"}
        if model_techniques(model) != asked:
            return f"the variant {name} holds {sorted(model_techniques(model))}, its options ask for {sorted(asked)}"
        if core_signature(model) != core_signature(base):
            return f"the variant {name} changes more than its technique in the baseline's architecture"
    return None


def _augmentation_problem(model, probes: dict):
    from keras import layers

    from paysages.checks import iter_layers

    order = [type(layer).__name__ for layer in iter_layers(model)]
    randoms = [index for index, name in enumerate(order) if name.startswith("Random")]
    if "Conv2D" in order and randoms and order.index("Conv2D") < max(randoms):
        return "the augmentation must transform the images before the first convolution"
    if any(str(layer.mode) != "horizontal" for layer in iter_layers(model) if isinstance(layer, layers.RandomFlip)):
        return "a landscape keeps its sky on top: RandomFlip must be horizontal only"
    shape = tuple(probes["input_shape"])
    images = np.random.default_rng(probes["images_seed"]).integers(0, 256, size=(4, *shape)).astype("float32")
    first = np.asarray(model(images, training=False), dtype=np.float64)
    second = np.asarray(model(images, training=False), dtype=np.float64)
    trained = np.asarray(model(images, training=True), dtype=np.float64)
    if np.abs(first - second).max() > 1e-6:
        return "at inference (training=False) the augmentation must change nothing"
    if np.abs(trained - first).max() < 1e-5:
        return "in training (training=True) the augmentation must transform the images"
    return None


def _probe_models_problem(probes: dict, models: dict):
    from keras import layers

    from paysages.checks import iter_layers

    base = load_saved_model(models.get("p_base"), what="build_regularised_cnn on this run's shape")
    if isinstance(base, Judgement):
        return base.reason
    for technique in probe_arguments(probes):
        model = load_saved_model(models.get(f"p_{technique}"), what=f"the {technique} switch on this run's shape")
        if isinstance(model, Judgement):
            return model.reason
        problem = _io_problem(model, probes["input_shape"], probes["num_classes"], f"the {technique} switch")
        if problem:
            return problem
        if model_techniques(model) != {technique}:
            return f"the {technique} switch gives {sorted(model_techniques(model))}, not {technique} alone"
        if core_signature(model) != core_signature(base):
            return f"the {technique} switch changes more than its technique in the architecture"
        if technique == "dropout":
            rates = [round(float(layer.rate), 6) for layer in iter_layers(model) if isinstance(layer, layers.Dropout)]
            if not rates or any(rate != round(probes["dropout_rate"], 6) for rate in rates):
                return f"every Dropout layer must have the rate dropout_rate ({probes['dropout_rate']}), found {rates}"
        if technique == "l2":
            penalised = [layer for layer in iter_layers(model) if getattr(layer, "kernel_regularizer", None) is not None]
            factors = [float(layer.kernel_regularizer.get_config().get("l2", -1.0)) for layer in penalised]
            if not factors or any(abs(factor - probes["l2_factor"]) > 1e-9 for factor in factors):
                return f"every penalised layer must have the factor l2_factor ({probes['l2_factor']}), found {factors}"
        if technique == "augmentation":
            problem = _augmentation_problem(model, probes)
            if problem:
                return problem
    return None


def judge_variants(probes: dict, export, models: dict) -> Judgement:
    problem = export_error(export, "building the variants")
    if problem:
        return problem
    variants = _exported_variants(export)
    if isinstance(variants, Judgement):
        return variants
    problem = _required_problem(variants)
    if problem:
        return failed(problem)
    shape, num_classes = _settings_shape()
    problem = _variant_models_problem(variants, models, shape, num_classes) or _probe_models_problem(probes, models)
    return failed(problem) if problem else passed("each variant holds its technique alone, on the baseline's network")


# test_variant_callbacks --------------------------------------------------------------------------------
def callbacks_probes(rng: np.random.Generator) -> dict:
    return {"unknown_name": f"technique_{int(rng.integers(100, 1000))}", "patience": int(rng.integers(2, 10)),
            "bad_patiences": list(BAD_PATIENCES) + [-int(rng.integers(3, 10))]}


def _stoppers(result):
    """The exported EarlyStopping descriptions of one call, or None when it did not return a list."""
    if not isinstance(result, dict) or result.get("type") != "list" or not isinstance(result.get("callbacks"), list):
        return None
    return [callback for callback in result["callbacks"] if isinstance(callback, dict) and callback.get("early_stopping")]


def _well_set(stopper, patience) -> bool:
    return (stopper.get("monitor") == "val_loss" and stopper.get("restore_best_weights") is True
            and is_number(stopper.get("patience")) and stopper["patience"] == patience)


def judge_callbacks(probes: dict, export) -> Judgement:
    if export is None:
        return failed(NOTHING_EXPORTED)
    variants = _exported_variants(export)
    if isinstance(variants, Judgement):
        return variants
    results = export.get("results")
    if not isinstance(results, list) or len(results) != len(variants):
        return failed("the export does not hold one result per variant")
    options = dict(variants)
    if "early_stopping" not in options:
        return failed("VARIANTS lacks early_stopping")
    patience = options["early_stopping"].get("patience")
    if type(patience) is not int or patience < 1:
        return failed(f"the patience of early_stopping ({patience!r}) must be an integer of at least 1")
    probe_variant = ("probe variant", {"patience": probes["patience"]}, export.get("probe"))
    for name, variant_options, result in [*zip(options, options.values(), results), probe_variant]:
        stoppers = _stoppers(result)
        if stoppers is None:
            return failed(f"variant_callbacks for {name} did not return a list ({error_name(result)})")
        if variant_options.get("patience") is None and stoppers:
            return failed(f"the variant {name} has no patience: it must get no EarlyStopping")
        if variant_options.get("patience") is not None and (
                len(stoppers) != 1 or not _well_set(stoppers[0], variant_options["patience"])):
            return failed(f"the variant {name} must get one EarlyStopping on val_loss, with restore_best_weights=True "
                          f"and its patience {variant_options['patience']}")
    if error_name(export.get("unknown")) != "ValueError":
        return failed(f"an unknown variant name must raise ValueError, not {error_name(export.get('unknown'))}")
    bad = export.get("bad_patiences")
    if not isinstance(bad, list) or len(bad) != len(probes["bad_patiences"]):
        return failed("the export does not hold one result per invalid patience")
    for value, result in zip(probes["bad_patiences"], bad):
        if error_name(result) != "ValueError":
            return failed(f"a patience of {value} must raise ValueError, not {error_name(result)}")
    return passed("EarlyStopping exactly where a patience is set, well configured; invalid inputs refused")


# test_summarise_histories ---------------------------------------------------------------------------
def summary_probes(rng: np.random.Generator) -> dict:
    """Histories of random lengths; quantised values make ties on the best accuracy and the lowest loss."""
    cases = []
    for _ in range(3):
        case = {}
        for name in random_class_names(rng, int(rng.integers(2, 6))):
            epochs = int(rng.integers(1, 9))
            case[name] = {"val_accuracy": [float(value) for value in np.round(rng.uniform(0, 1, epochs), 1)],
                          "val_loss": [float(value) for value in np.round(rng.uniform(0.2, 2.0, epochs), 1)]}
        cases.append(case)
    return {"cases": cases}


def _summary_problem(case: dict, result):
    problem = table_problem(result, SUMMARY_COLUMNS, "summarise_histories")
    if problem:
        return problem
    if result.get("index") != list(case):
        return "the rows are not the variants, in order"
    expected = summarise_histories(case)
    for column in SUMMARY_COLUMNS:
        if not close_numbers(result["values"][column], expected[column].to_numpy(), TOLERANCE):
            return f"wrong {column}"
    return None


def judge_summary(probes: dict, export) -> Judgement:
    return judge_each_probe(export, probes["cases"], _summary_problem)


# test_balanced_class_weights ---------------------------------------------------------------------------
def class_weights_probes(rng: np.random.Generator) -> dict:
    """Label arrays where every class has images, some of them much rarer than others."""
    cases = []
    for _ in range(3):
        num_classes = int(rng.integers(2, 9))
        counts = rng.integers(1, 60, size=num_classes)
        labels = np.repeat(np.arange(num_classes), counts)
        cases.append({"labels": [int(label) for label in rng.permutation(labels)], "num_classes": num_classes})
    return {"cases": cases}


def _class_weights_problem(case: dict, result):
    if not isinstance(result, dict) or "error" in result:
        return f"balanced_class_weights raised {error_name(result)}"
    expected = balanced_class_weights(np.asarray(case["labels"], dtype=np.int64), case["num_classes"])
    if result.get("type") != "dict" or result.get("keys") != list(expected):
        return "not a dict {class index: weight} over every class, in order"
    if not close_numbers(result.get("values"), list(expected.values()), 1e-9):
        return "the weights are not N / (K * n_c)"
    return None


def judge_class_weights(probes: dict, export) -> Judgement:
    return judge_each_probe(export, probes["cases"], _class_weights_problem)


# The trained variants, the improved model and the extra experiments (saved models) -------------------
def _trusted_run(export, models):
    """``(run, data, settings, variants, baseline signature)`` of a cell's run export, or the failing judgement."""
    from solutions.grading import student_baseline_cnn

    context = exported_run(export, models)
    if isinstance(context, Judgement):
        return context
    variants = _exported_variants(export)
    if isinstance(variants, Judgement):
        return variants
    run, data, settings = context
    try:
        baseline, _origin = student_baseline_cnn(run, settings.image_shape, len(data.class_names))
    except AssertionError as error:
        return failed(str(error))
    return run, data, settings, variants, core_signature(baseline)


def _checked(check, *arguments):
    """None when ``check(*arguments)`` passes, else its message (the reference checks raise AssertionError)."""
    try:
        check(*arguments)
    except (AssertionError, PrerequisiteError) as error:
        return str(error)
    return None


def _first_epochs_coincide(run):
    baseline, early = run.load_history("reg_baseline"), run.load_history("reg_early_stopping")
    if abs(float(baseline["loss"][0]) - float(early["loss"][0])) > 5e-3 or abs(
            float(baseline["val_loss"][0]) - float(early["val_loss"][0])) > 5e-3:
        raise AssertionError("reg_baseline and reg_early_stopping have the same network and seed: their first "
                             "epoch must coincide (keras.utils.set_random_seed(settings.seed) before each build)")


def judge_trained_variants(probes: dict, export, models: dict) -> Judgement:
    from solutions.grading import check_saved_variant

    context = _trusted_run(export, models)
    if isinstance(context, Judgement):
        return context
    run, data, settings, variants, signature = context
    options = dict(variants)
    missing = [name for name in REQUIRED_VARIANTS if name not in options]
    if missing:
        return failed(f"VARIANTS lacks {', '.join(missing)}")
    for name, variant_options in variants:
        problem = _checked(check_saved_variant, run, data, settings, name, variant_options, signature)
        if problem:
            return failed(problem)
    problem = _checked(_first_epochs_coincide, run)
    return failed(problem) if problem else passed("every saved variant is trained and saved as its options say")


def judge_improved_model(probes: dict, export, models: dict) -> Judgement:
    from solutions.grading import check_saved_variant

    context = _trusted_run(export, models)
    if isinstance(context, Judgement):
        return context
    run, data, settings, variants, signature = context
    improved = export.get("improved")
    if not isinstance(improved, dict) or any(isinstance(value, dict) for value in improved.values()):
        return failed("IMPROVED is not a dict of plain options")
    try:
        combined = option_techniques(improved)
    except (ValueError, TypeError) as error:
        return failed(f"IMPROVED: {error}")
    if len(combined) < 2:
        return failed(f"the improved model must combine at least two techniques, it has {sorted(combined)}")
    tried_alone = set()
    for name, options in variants:
        if name != IMPROVED_VARIANT and len(option_techniques(options)) == 1:
            tried_alone |= option_techniques(options)
    if not combined <= tried_alone:
        return failed(f"the improved model uses {sorted(combined - tried_alone)} without trying it alone first")
    problem = _checked(check_saved_variant, run, data, settings, IMPROVED_VARIANT, improved, signature)
    return failed(problem) if problem else passed(f"{', '.join(sorted(combined))}, each tried alone first")


def _judge_variety(export, models: dict, required: int) -> Judgement:
    from solutions.grading import well_formed_extra_experiments

    context = _trusted_run(export, models)
    if isinstance(context, Judgement):
        return context
    run, data, settings, variants, _signature = context
    accepted, refused = well_formed_extra_experiments(run, data, settings, dict(variants))
    if len(accepted) < required:
        return failed(f"{len(accepted)} well-formed extra experiment(s), {required} needed; refused: "
                      f"{'; '.join(refused) or 'none'}")
    return passed(f"well-formed extra experiments: {', '.join(accepted)}")


VERDICTS = (
    CellVerdict("test_build_regularised_defaults", lambda rng: {}, judge_build_defaults, reads_models=True),
    CellVerdict("test_variants_one_technique", variants_probes, judge_variants, reads_models=True),
    CellVerdict("test_variant_callbacks", callbacks_probes, judge_callbacks),
    CellVerdict("test_summarise_histories", summary_probes, judge_summary),
    CellVerdict("test_balanced_class_weights", class_weights_probes, judge_class_weights),
    CellVerdict("test_trained_variants", lambda rng: {}, judge_trained_variants, reads_models=True),
    CellVerdict("test_improved_model", lambda rng: {}, judge_improved_model, reads_models=True),
    CellVerdict("test_variety_1", lambda rng: {}, lambda probes, export, models: _judge_variety(export, models, 2),
                reads_models=True),
    CellVerdict("test_variety_2", lambda rng: {}, lambda probes, export, models: _judge_variety(export, models, 3),
                reads_models=True),
)
