"""Model facts used by the notebooks."""

import keras
from keras import layers

from paysages.models import is_layer_chain
from solutions.cnn import build_cnn
from solutions.transfer import build_concatenated_model, build_transfer_model


def test_course_models_are_chains_but_a_two_branch_model_is_not():
    """Is a CNN or a single-base transfer model a chain, and the concatenated model not?"""
    assert is_layer_chain(build_cnn((32, 32, 3), 3))
    assert is_layer_chain(build_transfer_model((32, 32, 3), 3, weights=None))
    assert not is_layer_chain(build_concatenated_model((32, 32, 3), 3, weights=None))


def test_a_residual_model_is_not_a_chain():
    """Is a model with a skip connection (same layer list length) recognised as no chain?"""
    inputs = keras.Input(shape=(8,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    added = layers.Add()([inputs, hidden])
    outputs = layers.Dense(2, activation="softmax")(added)
    assert not is_layer_chain(keras.Model(inputs, outputs))
