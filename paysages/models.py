"""Small facts about Keras models that several notebooks need."""

from __future__ import annotations

import numpy as np


def is_layer_chain(model) -> bool:
    """True when applying the model's layers one after the other reproduces the model.

    The course's CNNs and single-base transfer models are such chains; a model with two
    branches (the concatenation bonus of notebook 04) is not. Checked by running a probe image
    through the layers in order and comparing with the model's own output.
    """
    input_shape = tuple(model.input_shape[1:])
    if any(size is None for size in input_shape):
        return False
    probe = np.random.default_rng(0).uniform(0, 255, size=(1, *input_shape)).astype("float32")
    activations = probe
    try:
        for layer in model.layers[1:]:
            activations = layer(activations, training=False)
    except (TypeError, ValueError):
        return False
    expected = np.asarray(model(probe, training=False), dtype=np.float64)
    produced = np.asarray(activations, dtype=np.float64)
    return produced.shape == expected.shape and bool(np.allclose(produced, expected, atol=1e-5))
