"""Reference solution of notebook 04: transfer learning from a base the student chooses.

The notebook receives the bodies of ``build_transfer_model`` and ``unfreeze_top_layers`` as its
solution regions (see autograde/build_notebooks.py). The other functions are reference helpers
for the hidden tests and the unit tests: they inspect a built model, whoever wrote it.
"""

import keras
import numpy as np
from keras import layers

from solutions.cnn import compile_classifier

# The MobileNetV2 input sizes that have their own ImageNet weights; any other size (at least
# 32 pixels) works too, with the 224-pixel weights.
PRETRAINED_SIZES = (96, 128, 160, 192, 224)

# The reference choices of notebook 04 (the student edits them in the notebook): the base, which
# has the kit's own pretrained weights offline, and how many of its last layers fine-tuning
# unfreezes (blocks 14 to 16 and the final convolution Conv_1 of MobileNetV2).
BASE_ARCHITECTURE = "MobileNetV2"
NUM_FINE_TUNED_LAYERS = 29


def build_transfer_model(input_shape, num_classes, *, architecture="MobileNetV2", weights="imagenet", dropout_rate=0.2):
    """Build a classifier on top of the frozen pretrained base you chose, with the Functional API.

    ``architecture`` names the base: ``"MobileNetV2"``, ``"EfficientNetB0"`` or ``"ResNet50V2"``
    (your ``BASE_ARCHITECTURE``; a builder may support only the base you chose). The model takes
    raw images (pixel values 0-255, shape ``input_shape``) and:

    1. gives the base exactly the pixels that network was trained on: the same computation as its
       ``keras.applications`` ``preprocess_input``, inside the model (a ``Rescaling`` layer, or
       nothing when the base rescales its input itself), never a ``Lambda`` layer;
    2. runs them through that ``keras.applications`` network without its ImageNet classifier
       (``include_top=False``), loaded with ``weights`` ("imagenet", a weights file, or None for
       random weights) and named ``"base"``; the base is frozen (``trainable = False``) and
       called with ``training=False`` so that its BatchNormalization layers stay in inference mode;
    3. averages each feature map (GlobalAveragePooling2D), applies Dropout(``dropout_rate``)
       and a softmax Dense layer of ``num_classes`` units (computed in float32).

    Returns an uncompiled ``keras.Model``. Raises ValueError for an architecture it does not
    build or a dropout rate outside [0, 1).
    """
    if architecture not in ("MobileNetV2", "EfficientNetB0", "ResNet50V2"):
        raise ValueError(f"architecture must be MobileNetV2, EfficientNetB0 or ResNet50V2, got {architecture!r}.")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must lie in [0, 1), got {dropout_rate}.")
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if architecture in ("MobileNetV2", "ResNet50V2"):
        # Both were trained on pixels in [-1, 1]: x / 127.5 - 1, like their preprocess_input.
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocessing")(x)
    # EfficientNetB0 rescales 0-255 pixels itself: its preprocess_input leaves them as they are.
    base = getattr(keras.applications, architecture)(
        input_shape=input_shape, include_top=False, weights=weights, name="base"
    )
    base.trainable = False
    # Keep the base's BatchNormalization layers in inference mode.
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # A float32 output keeps the softmax accurate under mixed precision (full mode on a GPU).
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="transfer")


def build_concatenated_model(input_shape, num_classes, *, weights="imagenet", dropout_rate=0.2):
    """Build a classifier on the concatenated features of two frozen pretrained networks.

    Two bases see the same raw images (pixel values 0-255), each with its own preprocessing:
    ``keras.applications.MobileNetV2`` (pixels mapped to [-1, 1] by a Rescaling layer, base named
    ``"base_mobilenet"``) and ``keras.applications.EfficientNetB0`` (which rescales 0-255 pixels
    itself, base named ``"base_efficientnet"``). Both use ``include_top=False`` and ``weights``,
    are frozen and called with ``training=False``; each feature map is averaged
    (GlobalAveragePooling2D), the two vectors are concatenated, then Dropout(``dropout_rate``)
    and a float32 softmax Dense layer of ``num_classes`` units. Returns an uncompiled model.
    """
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must lie in [0, 1), got {dropout_rate}.")
    inputs = keras.Input(shape=input_shape, name="image")
    mobilenet = keras.applications.MobileNetV2(
        input_shape=input_shape, include_top=False, weights=weights, name="base_mobilenet"
    )
    efficientnet = keras.applications.EfficientNetB0(
        input_shape=input_shape, include_top=False, weights=weights, name="base_efficientnet"
    )
    branches = []
    for base, preprocessing in (
        (mobilenet, layers.Rescaling(1.0 / 127.5, offset=-1.0, name="mobilenet_preprocessing")),
        (efficientnet, None),
    ):
        base.trainable = False
        x = inputs if preprocessing is None else preprocessing(inputs)
        x = base(x, training=False)
        branches.append(layers.GlobalAveragePooling2D(name=f"{base.name}_pool")(x))
    x = layers.Concatenate(name="concatenated_features")(branches)
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="transfer_concat")


def unfreeze_top_layers(model, num_layers, learning_rate):
    """Unfreeze the last ``num_layers`` layers of the model's base for fine-tuning; return it.

    The base is the layer named ``"base"``. Its last ``num_layers`` layers become trainable and
    all the others stay frozen; every BatchNormalization layer of the base stays frozen, so its
    ImageNet statistics are kept. Because a change of ``trainable`` only takes effect at the
    next ``compile``, the model is recompiled with ``compile_classifier`` and the (low)
    ``learning_rate``. Raises ValueError when ``num_layers`` is not between 1 and the number
    of layers of the base.
    """
    base = model.get_layer("base")
    if not 1 <= num_layers <= len(base.layers):
        raise ValueError(f"num_layers must lie between 1 and {len(base.layers)}, got {num_layers}.")
    base.trainable = True
    # Each layer is set explicitly, so that calling this again (a re-run cell, another count)
    # gives the same result: Keras does not reset sub-layers when the base is already trainable.
    first_unfrozen = len(base.layers) - num_layers
    for position, layer in enumerate(base.layers):
        layer.trainable = position >= first_unfrozen and not isinstance(layer, layers.BatchNormalization)
    return compile_classifier(model, learning_rate)


# Reference helpers for the hidden tests and the unit tests (not exercises).

def find_base(model):
    """Return the pretrained base of a transfer model: the layer named "base", else the first nested model."""
    for layer in model.layers:
        if layer.name == "base":
            return layer
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ValueError("The model has no nested base model (name it 'base').")


def preprocessing_output(model, images):
    """Apply the layers that come before the base (the model's own preprocessing) to ``images``.

    The layers between the input and the base are applied in order, in inference mode; the
    result is what the base receives, as a float64 NumPy array.
    """
    base = find_base(model)
    x = keras.ops.convert_to_tensor(np.asarray(images, dtype="float32"))
    for layer in model.layers:
        if layer is base:
            return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)
        if isinstance(layer, keras.layers.InputLayer):
            continue
        x = layer(x, training=False)
    raise ValueError("The base was not found among the model's layers.")


def base_call_training_argument(model):
    """Return the ``training`` argument the base was called with when the model was built (None if absent)."""
    base = find_base(model)
    for node in getattr(base, "_inbound_nodes", []):
        arguments = getattr(node, "arguments", None)
        if arguments is not None and "training" in arguments.kwargs:
            return arguments.kwargs["training"]
    return None


def batch_norm_statistics(model):
    """Copies of the moving means and variances of every BatchNormalization layer of the base."""
    statistics = []
    for layer in find_base(model).layers:
        if isinstance(layer, layers.BatchNormalization):
            statistics.append(np.array(keras.ops.convert_to_numpy(layer.moving_mean), dtype=np.float64))
            statistics.append(np.array(keras.ops.convert_to_numpy(layer.moving_variance), dtype=np.float64))
    return statistics


def same_architecture(base, architecture, input_shape):
    """True when ``base`` has the layers of ``keras.applications.<architecture>`` without its top."""
    reference = getattr(keras.applications, architecture)(input_shape=input_shape, include_top=False, weights=None)
    return [type(layer).__name__ for layer in base.layers] == [type(layer).__name__ for layer in reference.layers]


def first_convolution(base):
    """The first convolution of a base: the layer fine-tuning must leave untouched."""
    return next(layer for layer in base.layers if isinstance(layer, layers.Conv2D))


def fine_tuning_boundaries(base):
    """Two layer counts where an off-by-one in ``unfreeze_top_layers`` changes the trainable layers.

    The first ``n`` makes the ``n``-th last layer (the first unfrozen one) a layer with weights;
    the second makes the layer just below the boundary one (BatchNormalization aside, as it stays
    frozen anyway).
    """
    def counts(layer):
        return bool(layer.weights) and not isinstance(layer, layers.BatchNormalization)
    first_unfrozen = next(n for n in range(2, len(base.layers)) if counts(base.layers[-n]))
    just_below = next(n for n in range(2, len(base.layers)) if counts(base.layers[-(n + 1)]))
    return first_unfrozen, just_below


def trainable_base_layers(model):
    """Names of the base's layers that have trainable weights (in the model's current state)."""
    return [layer.name for layer in find_base(model).layers if layer.trainable_weights]
