"""Reference solution of notebook 03: generalisation techniques, one at a time, then combined.

The notebook receives the bodies of ``build_regularised_cnn``, ``variant_callbacks``,
``train_variant`` and ``summarise_histories`` as its solution regions (see
autograde/build_notebooks.py). ``VARIANTS`` and ``IMPROVED`` are the reference *choices*: the
notebook source names them (``#| definition: solutions.regularisation.VARIANTS``) and the builder
copies them into cells the student edits (settings of each technique, variants of their own, the
combination of the improved model). ``model_techniques``, ``core_signature``,
``variant_options`` and ``option_techniques`` are reference helpers for the hidden tests: they
describe a variant or a built model, whoever wrote it.
"""

import keras
import numpy as np
import pandas as pd
from keras import layers

# The hidden tests take the course's variant names from here, as from every reference helper.
from paysages.checks import IMPROVED_VARIANT, REQUIRED_VARIANTS, VARIANT_OPTIONS  # noqa: F401
from paysages.training import training_seconds
from solutions.cnn import compile_classifier

# Each variant changes exactly one thing with respect to the baseline. The values are the
# keyword arguments of build_regularised_cnn, plus "patience" for early stopping (a training
# setting, not a layer: see variant_callbacks). The settings are the student's choice; the
# notebook then asks for at least one variant of their own (the reference adds two, in the
# notebook source: a stronger dropout and a stronger L2 penalty).
VARIANTS = {
    "baseline": {},
    "augmentation": {"augmentation": True},
    "dropout": {"dropout_rate": 0.3},
    "l2": {"l2_factor": 1e-4},
    "batch_norm": {"batch_norm": True},
    "early_stopping": {"patience": 3},
}

# The improved model: the techniques that helped, combined (the student's choice, justified).
IMPROVED = {"augmentation": True, "batch_norm": True, "patience": 3}

TECHNIQUES = ("augmentation", "dropout", "l2", "batch_norm")

# The option that makes a variant use early stopping (the other options are build_regularised_cnn's).
TRAINING_OPTIONS = ("patience",)


def build_regularised_cnn(
    input_shape, num_classes, *, augmentation=False, dropout_rate=0.0, l2_factor=0.0, batch_norm=False
):
    """Build your CNN of notebook 02 with optional generalisation techniques.

    With every switch left at its default, the network is exactly your ``build_cnn`` of
    notebook 02 (same layers, same sizes). Each switch adds one technique and nothing else; where
    and how is your choice, to justify in your analysis:

    * ``augmentation``: random transformations that keep a landscape plausible (no vertical
      flip: the sky stays on top), applied to the images before the first convolution;
    * ``dropout_rate`` > 0: one or more Dropout layers, all of rate ``dropout_rate``;
    * ``l2_factor`` > 0: an L2 penalty of factor ``l2_factor`` (``kernel_regularizer``) on the
      convolutions and dense layers you choose (at least one);
    * ``batch_norm``: BatchNormalization after one or more convolutions.

    Raises ValueError for a dropout rate outside [0, 1) or a negative L2 factor.
    """
    # Reference choices: the five usual transformations with modest factors; two Dropout layers
    # (before the dense layer and before the output); the penalty on every convolution and dense
    # layer; a normalisation after every convolution (without bias, then ReLU, momentum 0.9).
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must lie in [0, 1), got {dropout_rate}.")
    if l2_factor < 0.0:
        raise ValueError(f"l2_factor must be non-negative, got {l2_factor}.")
    regulariser = keras.regularizers.L2(l2_factor) if l2_factor > 0 else None

    # Reference design (that of solutions/cnn.py): rescaling to [0, 1], three convolution blocks
    # of 32, 64 and 128 filters (3x3, ReLU) each followed by 2x2 max-pooling, global average
    # pooling, a dense layer of 128 ReLU units and a softmax output.
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if augmentation:
        # Landscapes keep the sky on top: only horizontal flips and small rotations make sense.
        x = layers.RandomFlip("horizontal", name="random_flip")(x)
        x = layers.RandomRotation(0.05, name="random_rotation")(x)
        x = layers.RandomZoom(0.1, name="random_zoom")(x)
        x = layers.RandomTranslation(0.1, 0.1, name="random_translation")(x)
        x = layers.RandomContrast(0.2, name="random_contrast")(x)
    x = layers.Rescaling(1.0 / 255, name="rescaling")(x)
    for block, num_filters in enumerate((32, 64, 128), start=1):
        if batch_norm:
            # The normalisation has its own shift (beta): a convolution bias would be redundant.
            x = layers.Conv2D(
                num_filters, 3, padding="same", use_bias=False,
                kernel_regularizer=regulariser, name=f"conv{block}",
            )(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"batch_norm{block}")(x)
            x = layers.Activation("relu", name=f"relu{block}")(x)
        else:
            x = layers.Conv2D(
                num_filters, 3, padding="same", activation="relu",
                kernel_regularizer=regulariser, name=f"conv{block}",
            )(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="dropout_features")(x)
    x = layers.Dense(128, activation="relu", kernel_regularizer=regulariser, name="features")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="dropout_predictions")(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=regulariser, dtype="float32", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name="regularised_cnn")


def variant_callbacks(name, settings):
    """Return the extra Keras callbacks of the variant ``name`` (a key of ``VARIANTS``).

    A variant whose options hold ``"patience"`` gets an EarlyStopping that watches the
    validation loss, stops after ``patience`` epochs without improvement and puts back the
    weights of the best epoch; every other variant gets an empty list. Raises ValueError for an
    unknown variant, or a patience that is not a positive integer. (A patience of as many epochs
    as the training, or more, is allowed: early stopping then never stops it.)
    """
    if name not in VARIANTS:
        raise ValueError(f"Unknown variant {name!r}: choose one of {', '.join(VARIANTS)}.")
    patience = VARIANTS[name].get("patience")
    if patience is None:
        return []
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"The patience of {name!r} must be a positive integer, got {patience!r}.")
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True, verbose=1
    )
    return [early_stopping]


def train_variant(name, data, settings, run):
    """Build, compile, train and save the variant ``name``; return ``(model, history)``.

    The random seed is reset to ``settings.seed`` first, so that every variant starts from the
    same initial weights and sees the batches in the same order: the only difference between
    two variants is then their technique. The model is built from the variant's options (all
    but ``"patience"``, which goes to ``variant_callbacks``), compiled with
    ``compile_classifier``, trained for ``settings.num_epochs`` epochs (early stopping may stop
    sooner) with the validation set as ``validation_data`` and the run folder's callbacks, then
    saved as ``reg_<name>`` with its history and training time. Raises ValueError for an
    unknown variant.
    """
    if name not in VARIANTS:
        raise ValueError(f"Unknown variant {name!r}: choose one of {', '.join(VARIANTS)}.")
    # "patience" is a training setting (variant_callbacks); the other options build the network.
    architecture = {key: value for key, value in VARIANTS[name].items() if key != "patience"}
    keras.utils.set_random_seed(seed=settings.seed)
    model = compile_classifier(
        build_regularised_cnn(settings.image_shape, len(data.class_names), **architecture),
        settings.learning_rate,
    )
    callbacks = run.training_callbacks(f"reg_{name}") + variant_callbacks(name, settings)
    validation = (data.x_validation, data.y_validation)
    history = model.fit(
        data.x_train, data.y_train, validation_data=validation,
        batch_size=settings.batch_size, epochs=settings.num_epochs,
        callbacks=callbacks, verbose=2,
    )
    run.save_model(
        model, f"reg_{name}", history=history, training_seconds=training_seconds(callbacks), variant=name
    )
    return model, history


def summarise_histories(histories):
    """Summarise training histories as a table, one row per variant.

    ``histories`` maps a variant name to a history dict (lists ``val_accuracy`` and
    ``val_loss``, one value per epoch). The returned pandas DataFrame is indexed by the variant
    names, in the same order, with the columns ``best_val_accuracy`` (highest validation
    accuracy), ``best_val_loss`` (lowest validation loss), ``best_epoch`` (the epoch, counted
    from 1, of the lowest validation loss) and ``epochs`` (number of epochs run).
    """
    rows = {}
    for name, history in histories.items():
        validation_losses = np.asarray(history["val_loss"], dtype=float)
        validation_accuracies = np.asarray(history["val_accuracy"], dtype=float)
        rows[name] = {
            "best_val_accuracy": float(validation_accuracies.max()),
            "best_val_loss": float(validation_losses.min()),
            "best_epoch": int(validation_losses.argmin()) + 1,
            "epochs": int(len(validation_losses)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def balanced_class_weights(labels, num_classes):
    """Return ``{class index: weight}`` with weight = N / (num_classes * count of the class).

    Passed to ``fit(class_weight=...)``, these weights make every class count as much in the
    loss as if the classes were balanced: a rare class's images weigh more. A class absent from
    ``labels`` gets weight 0 (it has no image to weigh). Raises ValueError for empty labels or
    a label outside [0, num_classes).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        raise ValueError("labels is empty.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"Labels must lie in [0, {num_classes}).")
    counts = np.bincount(labels, minlength=num_classes)
    return {
        int(index): (float(len(labels) / (num_classes * count)) if count else 0.0)
        for index, count in enumerate(counts)
    }


# Reference helpers for the hidden tests and the unit tests (not exercises).

def _iter_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _iter_layers(layer)


def model_techniques(model):
    """Return the set of generalisation techniques found in a built model.

    ``"augmentation"``: a random preprocessing layer (RandomFlip, RandomRotation...);
    ``"dropout"``: a Dropout layer (or subclass) with a positive rate; ``"l2"``: a layer with a
    kernel, bias or activity regulariser; ``"batch_norm"``: a BatchNormalization layer.
    """
    found = set()
    for layer in _iter_layers(model):
        if type(layer).__name__.startswith("Random"):
            found.add("augmentation")
        if isinstance(layer, layers.Dropout) and float(layer.rate) > 0:
            found.add("dropout")
        if isinstance(layer, (layers.BatchNormalization, layers.GroupNormalization, layers.LayerNormalization)):
            found.add("batch_norm")
        for attribute in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if getattr(layer, attribute, None) is not None:
                found.add("l2")
    return found


def core_signature(model):
    """Describe a model's architecture without its generalisation techniques or layer names.

    Returns a list, in network order, of tuples for the rescaling, convolution, pooling and
    dense layers (type and sizes, plus the dense activations). Two models with the same
    signature have the same network once dropout, normalisation, augmentation and penalties
    are taken away; the convolutions' activation and bias are left out because a careful batch
    normalisation moves the ReLU after the normalisation and drops the bias.
    """
    signature = []
    for layer in _iter_layers(model):
        if isinstance(layer, layers.Rescaling):
            signature.append(("Rescaling", round(float(np.asarray(layer.scale)), 8), round(float(np.asarray(layer.offset)), 8)))
        elif isinstance(layer, layers.Conv2D):
            signature.append(("Conv2D", int(layer.filters), tuple(int(size) for size in layer.kernel_size), str(layer.padding)))
        elif isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
            signature.append((type(layer).__name__, tuple(int(size) for size in layer.pool_size)))
        elif isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D, layers.Flatten)):
            signature.append((type(layer).__name__,))
        elif isinstance(layer, layers.Dense):
            signature.append(("Dense", int(layer.units), keras.activations.serialize(layer.activation)))
    return signature


def option_techniques(options):
    """Return the techniques a variant's options ask for: build switches, and "early_stopping".

    ``augmentation`` (truthy), ``dropout_rate`` > 0, ``l2_factor`` > 0, ``batch_norm`` (truthy)
    and ``patience`` (present and not None). Raises ValueError for an option the notebook does
    not know, naming it.
    """
    known = set(VARIANT_OPTIONS)
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise ValueError(f"Unknown variant options {unknown}: expected some of {sorted(known)}.")
    found = set()
    if options.get("augmentation"):
        found.add("augmentation")
    if float(options.get("dropout_rate", 0.0) or 0.0) > 0:
        found.add("dropout")
    if float(options.get("l2_factor", 0.0) or 0.0) > 0:
        found.add("l2")
    if options.get("batch_norm"):
        found.add("batch_norm")
    if options.get("patience") is not None:
        found.add("early_stopping")
    return found


def architecture_options(options):
    """The options of a variant that build_regularised_cnn takes (all but the training ones)."""
    return {key: value for key, value in options.items() if key not in TRAINING_OPTIONS}


def evaluated_epoch(history, restores_best_weights):
    """The epoch index (from 0) whose weights a saved variant holds.

    A variant trained with ``restore_best_weights`` (early stopping) keeps the weights of its
    lowest validation loss (the first one, on ties); every other variant keeps those of its last
    epoch.
    """
    validation_losses = np.asarray(history["val_loss"], dtype=float)
    if restores_best_weights:
        return int(validation_losses.argmin())
    return len(validation_losses) - 1
