"""Reference solution of notebook 06: the errors of the best network on the validation set.

The notebooks receive these functions' bodies as their solution regions (see
autograde/build_notebooks.py): edit them here, then run ``make notebooks``.
"""

import numpy as np
import pandas as pd
from sklearn import metrics


def misclassified_examples(labels, probabilities, class_names):
    """Return the misclassified images as a DataFrame, the most confident errors first.

    ``labels`` holds the true class index of each image (shape ``(n,)``), ``probabilities`` the
    predicted class probabilities (shape ``(n, num_classes)``) and ``class_names`` the name of
    each class. The predicted class is the most probable one (``argmax``: on a tie, the first
    class wins). An image is misclassified when its predicted class differs from its label.

    The DataFrame has one row per misclassified image and the columns ``index`` (position of
    the image in ``labels``), ``true_label`` and ``predicted_label`` (class indices),
    ``true_class`` and ``predicted_class`` (class names) and ``confidence`` (the probability of
    the predicted class). Rows are sorted by decreasing confidence, ties by increasing index;
    the row index is reset (0, 1, 2...). Raises ValueError when the shapes disagree.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    class_names = list(class_names)
    if labels.ndim != 1 or probabilities.ndim != 2 or len(labels) != len(probabilities):
        raise ValueError(
            f"Expected labels of shape (n,) and probabilities of shape (n, num_classes), "
            f"got {labels.shape} and {probabilities.shape}."
        )
    if probabilities.shape[1] != len(class_names):
        raise ValueError(
            f"probabilities has {probabilities.shape[1]} columns but there are {len(class_names)} class names."
        )
    labels = labels.astype(np.int64)
    predictions = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predictions != labels)
    confidences = probabilities[wrong, predictions[wrong]]
    # Sort by decreasing confidence; lexsort uses its last key first, so ties keep the index order.
    order = np.lexsort((wrong, -confidences))
    wrong, confidences = wrong[order], confidences[order]
    return pd.DataFrame(
        {
            "index": wrong,
            "true_label": labels[wrong],
            "predicted_label": predictions[wrong],
            "true_class": [class_names[label] for label in labels[wrong]],
            "predicted_class": [class_names[label] for label in predictions[wrong]],
            "confidence": confidences,
        }
    )


def per_class_report(labels, predictions, class_names):
    """Return the per-class precision, recall, F1-score and support as a DataFrame.

    One row per class of ``class_names`` (the row index is the class name, in the order of
    ``class_names``), with the columns ``precision``, ``recall``, ``f1`` and ``support`` (the
    number of images of that class), as computed by
    ``sklearn.metrics.precision_recall_fscore_support`` with ``labels=range(num_classes)`` and
    ``zero_division=0`` (a class never predicted gets a precision of 0). Raises ValueError when
    ``labels`` and ``predictions`` differ in length.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    class_names = list(class_names)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(
            f"labels and predictions must be 1-D arrays of the same length, got {labels.shape} and {predictions.shape}."
        )
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        labels, predictions, labels=list(range(len(class_names))), zero_division=0
    )
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index(class_names, name="class"),
    )


def most_confused_pairs(matrix, class_names, top=5):
    """Return the ``top`` most frequent confusions of a confusion matrix as a DataFrame.

    ``matrix[i, j]`` counts the images of true class ``i`` predicted as class ``j`` (the layout
    of ``sklearn.metrics.confusion_matrix``). Only off-diagonal cells with at least one image
    count. The columns are ``true_class``, ``predicted_class``, ``count`` and ``share`` (the
    fraction of the true class's images that went to that predicted class). Rows are sorted by
    decreasing count, ties by true class index then predicted class index; the row index is
    reset. Raises ValueError when the matrix is not square with one row per class or when
    ``top`` is smaller than 1.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    class_names = list(class_names)
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}.")
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(
            f"The confusion matrix must be {len(class_names)}x{len(class_names)}, got {matrix.shape}."
        )
    row_totals = matrix.sum(axis=1)
    pairs = [
        (int(matrix[true, predicted]), true, predicted)
        for true in range(len(class_names))
        for predicted in range(len(class_names))
        if true != predicted and matrix[true, predicted] > 0
    ]
    pairs.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))
    pairs = pairs[:top]
    return pd.DataFrame(
        {
            "true_class": [class_names[true] for _, true, _ in pairs],
            "predicted_class": [class_names[predicted] for _, _, predicted in pairs],
            "count": [count for count, _, _ in pairs],
            "share": [count / row_totals[true] for count, true, _ in pairs],
        },
        columns=["true_class", "predicted_class", "count", "share"],
    )
