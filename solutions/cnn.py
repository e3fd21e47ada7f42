"""Reference solution of notebook 02: a first convolutional network.

The notebooks receive these functions' bodies as their solution regions (see
autograde/build_notebooks.py): edit them here, then run ``make notebooks``.
"""

import keras
from keras import layers


def build_cnn(input_shape, num_classes):
    """Build a small CNN classifier with the Functional API.

    The network takes raw images (pixel values 0-255, shape ``input_shape``), rescales them to
    [0, 1], applies three convolution blocks (32, 64 and 128 filters of size 3x3, each followed
    by 2x2 max-pooling), a global average pooling, a dense layer of 128 units and a softmax
    output of ``num_classes`` probabilities. Returns an uncompiled ``keras.Model``.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for block, num_filters in enumerate((32, 64, 128), start=1):
        x = layers.Conv2D(num_filters, 3, padding="same", activation="relu", name=f"conv{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(128, activation="relu", name="features")(x)
    # The softmax stays in float32 even when mixed precision computes the rest in float16.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="cnn")


def compile_classifier(model, learning_rate):
    """Compile a classifier for integer labels with Adam, cross-entropy and accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train_classifier(model, data, *, num_epochs, batch_size, callbacks=()):
    """Train a compiled classifier on ``data`` and return the keras History.

    ``data`` holds ``x_train``, ``y_train``, ``x_validation`` and ``y_validation``. The
    validation set is passed as ``validation_data`` so that every epoch reports validation
    loss and accuracy, which the learning curves need.
    """
    return model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_validation, data.y_validation),
        epochs=num_epochs,
        batch_size=batch_size,
        callbacks=list(callbacks),
        verbose=2,
    )
