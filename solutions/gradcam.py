"""Reference solution of the Grad-CAM diagnostic (bonus of notebook 06).

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of the last convolutional layer by the
average gradient of the class score with respect to them; the positive part of the weighted sum,
resized to the image, shows the regions that pushed the network towards that class.
"""

import numpy as np
import tensorflow as tf


def last_spatial_layer_index(model):
    """Return the index in ``model.layers`` of the last layer whose output is a 4-D feature map."""
    for index in range(len(model.layers) - 1, -1, -1):
        shape = model.layers[index].output.shape
        if len(shape) == 4 and shape[1] is not None and shape[1] > 1:
            return index
    raise ValueError("The model has no convolutional feature map to explain.")


def grad_cam(model, image, class_index=None):
    """Return the Grad-CAM heat-map of one image, with the image's height and width, in [0, 1].

    ``model`` must be a chain of layers (each layer feeds the next), which is the case of the
    course's CNNs and transfer models; ``image`` is one (H, W, 3) array of pixel values 0-255.
    ``class_index`` defaults to the predicted class.
    """
    image = np.asarray(image, dtype="float32")
    if image.ndim != 3:
        raise ValueError(f"image must have shape (height, width, 3), got {image.shape}.")
    target_index = last_spatial_layer_index(model)
    batch = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        activations = batch
        feature_maps = None
        for index, layer in enumerate(model.layers[1:], start=1):
            activations = layer(activations, training=False)
            if index == target_index:
                feature_maps = activations
                tape.watch(feature_maps)
        probabilities = activations
        if class_index is None:
            class_index = int(tf.argmax(probabilities[0]))
        score = probabilities[0, class_index]
    gradients = tape.gradient(score, feature_maps)
    if gradients is None:
        raise ValueError("No gradient reached the feature maps: is the model a chain of layers?")
    channel_weights = tf.reduce_mean(gradients, axis=(0, 1, 2))
    heatmap = tf.nn.relu(tf.reduce_sum(feature_maps[0] * channel_weights, axis=-1))
    heatmap = heatmap / (tf.reduce_max(heatmap) + 1e-12)
    resized = tf.image.resize(heatmap[..., None], image.shape[:2], method="bilinear")[..., 0]
    return np.clip(resized.numpy(), 0.0, 1.0)
