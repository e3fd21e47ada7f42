"""Reference solution of notebook 07: the feature space of the best model and its t-SNE map.

The notebooks receive these functions' bodies as their solution regions (see
autograde/build_notebooks.py): edit them here, then run ``make notebooks``. The bodies may only
use the names notebook 07's set-up cell imports: ``keras``, ``layers``, ``np``, ``TSNE`` and
``StandardScaler``.
"""

import keras
import numpy as np
from keras import layers
from sklearn.manifold import TSNE
from sklearn.preprocessing import StandardScaler


def stratified_subset(labels, num_samples, seed):
    """Choose ``num_samples`` indices of ``labels`` that keep every class's proportion.

    Each class receives ``num_samples * class_count / len(labels)`` indices, rounded by the
    largest-remainder method so that the total is exactly ``num_samples``; every class keeps at
    least one index. Within a class the indices are drawn without replacement by a NumPy
    generator seeded with ``seed``, so the same seed always gives the same subset. Returns the
    chosen indices as a sorted int64 array. Raises ValueError when ``num_samples`` is larger
    than the number of labels or smaller than the number of classes.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError("labels must be a one-dimensional array of integer class indices.")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise ValueError(f"num_samples must be an integer, got {num_samples!r}.")
    classes, counts = np.unique(labels, return_counts=True)
    if not len(classes) <= num_samples <= len(labels):
        raise ValueError(
            f"num_samples must lie between the number of classes ({len(classes)}) and the "
            f"number of labels ({len(labels)}), got {num_samples}."
        )
    # Each class's exact share, then the largest-remainder rounding to whole images.
    quotas = counts * num_samples / len(labels)
    sizes = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - sizes), kind="stable")
    for position in order[: num_samples - sizes.sum()]:
        sizes[position] += 1
    # A very rare class may round to zero: it takes one image from the most over-served class.
    for position in np.flatnonzero(sizes == 0):
        donors = np.flatnonzero(sizes > 1)
        donor = donors[np.argmax((sizes - quotas)[donors])]
        sizes[donor] -= 1
        sizes[position] = 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == label), size=size, replace=False)
        for label, size in zip(classes, sizes)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def feature_extractor(model):
    """Return a Functional model from ``model``'s input to its penultimate representation.

    The representation is the input of the final classification layer (the last ``Dense``
    layer): the ``features`` layer of a plain CNN, or the pooled (and dropped-out) output of
    a transfer model's base. When a ``Dropout`` layer feeds the classifier, the extractor
    stops at the Dropout's input: Dropout changes nothing at inference, and stopping before it
    keeps the features deterministic even if the extractor were called with training=True.
    Raises ValueError when the model has no Dense layer.
    """
    dense_layers = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    if not dense_layers:
        raise ValueError("The model has no Dense classification layer to take features from.")
    features = dense_layers[-1].input
    # Walk back through any Dropout layers that feed the classifier.
    dropout_of_output = {
        id(layer.output): layer for layer in model.layers if isinstance(layer, layers.Dropout)
    }
    while id(features) in dropout_of_output:
        features = dropout_of_output[id(features)].input
    return keras.Model(model.input, features, name="feature_extractor")


def extract_features(model, images, batch_size=64):
    """Return the penultimate representation of ``images`` as a float32 array (N, D).

    The extractor comes from :func:`feature_extractor`; ``predict`` runs it on ``images`` by
    batches of ``batch_size`` images (the whole array at once could exhaust the memory).
    """
    extractor = feature_extractor(model)
    features = extractor.predict(images, batch_size=batch_size, verbose=0)
    return np.asarray(features, dtype=np.float32).reshape(len(images), -1)


def tsne_embedding(features, seed, perplexity=30.0):
    """Map ``features`` (N, D) to 2-D with t-SNE; return a float64 array (N, 2).

    The features are first standardised (zero mean, unit variance per dimension) so that a
    few dimensions with large activations do not dominate the Euclidean distances t-SNE
    starts from; constant dimensions (dead ReLU units) stay at zero. t-SNE starts from a PCA
    initialisation and uses ``random_state=seed``, so the same seed gives the same map.
    Raises ValueError when ``perplexity`` is not smaller than the number of samples: the
    perplexity is a soft number of neighbours, and it cannot exceed the points available.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array (N, D), got shape {features.shape}.")
    if not 0 < perplexity < len(features):
        raise ValueError(
            f"perplexity must be positive and smaller than the number of samples "
            f"({len(features)}), got {perplexity}: use more samples or a smaller perplexity."
        )
    standardised = StandardScaler().fit_transform(features)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return np.asarray(tsne.fit_transform(standardised), dtype=np.float64)
