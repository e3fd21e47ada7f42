"""Reference solution of notebook 02: a first convolutional network.

The notebooks receive these functions' bodies as their solution regions (see
autograde/build_notebooks.py): edit them here, then run ``make notebooks``.
"""

import keras
from keras import layers


def build_cnn(input_shape, num_classes):
    """Build your own CNN classifier for images of shape ``input_shape`` (pixel values 0-255).

    Constraints, checked by the tests: the model starts with ``keras.Input(shape=input_shape)``,
    rescales the pixels itself (a ``layers.Rescaling`` layer), stacks at least two
    ``layers.Conv2D`` and one pooling layer, and ends with a softmax layer of ``num_classes``
    units. Everything else is your design (number of blocks, filters, kernel sizes, dense
    layers, Functional or Sequential API): justify it in the analysis. Returns an uncompiled
    ``keras.Model``.
    """
    # Reference design: three convolution blocks (32, 64 and 128 filters of size 3x3, each
    # followed by 2x2 max-pooling), a global average pooling, a dense layer of 128 units.
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
