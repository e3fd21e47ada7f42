"""Figures shared by the notebooks (written once, imported everywhere)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def _history_dict(history):
    return getattr(history, "history", history)


def plot_histories(histories: Mapping[str, object], metrics: Sequence[str] = ("loss", "accuracy"), *, title=None):
    """Overlay the training (dashed) and validation (solid) curves of several trainings."""
    figure, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for index, (name, history) in enumerate(histories.items()):
            values = _history_dict(history)
            colour = f"C{index % 10}"
            if metric in values:
                axis.plot(values[metric], linestyle="--", color=colour, alpha=0.7, label=f"{name} (train)")
            if f"val_{metric}" in values:
                axis.plot(values[f"val_{metric}"], color=colour, label=f"{name} (validation)")
        axis.set_xlabel("époque")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def show_images(images, titles=None, *, num_columns: int = 6, size: float = 2.2, colours=None):
    """Show a grid of uint8 images with optional titles (and title colours)."""
    images = list(images)
    num_rows = max(1, int(np.ceil(len(images) / num_columns)))
    figure, axes = plt.subplots(num_rows, num_columns, figsize=(size * num_columns, size * num_rows), squeeze=False)
    for index, axis in enumerate(axes.ravel()):
        axis.axis("off")
        if index >= len(images):
            continue
        axis.imshow(np.asarray(images[index]).astype("uint8"))
        if titles is not None:
            colour = colours[index] if colours is not None else "black"
            axis.set_title(titles[index], fontsize=8, color=colour)
    figure.tight_layout()
    return figure


def plot_class_balance(counts: Mapping[str, int], *, title="Répartition des classes"):
    """Bar chart of images per class."""
    figure, axis = plt.subplots(figsize=(7, 3.5))
    names = list(counts)
    values = [counts[name] for name in names]
    bars = axis.bar(names, values, color=[f"C{index}" for index in range(len(names))])
    axis.bar_label(bars)
    axis.margins(y=0.12)
    axis.set_ylabel("images")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix, class_names, *, normalise=True, title="Matrice de confusion"):
    """Heat-map of a confusion matrix (rows: true class, columns: predicted class)."""
    import seaborn as sns

    matrix = np.asarray(matrix, dtype=float)
    if normalise:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(matrix, annot=True, fmt=".2f" if normalise else ".0f", cmap="Blues",
                xticklabels=class_names, yticklabels=class_names, ax=axis, cbar=False)
    axis.set_xlabel("classe prédite")
    axis.set_ylabel("vraie classe")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def scatter_embedding(embedding, labels, class_names, *, title="t-SNE", markers=None):
    """2-D scatter of an embedding, one colour per class."""
    embedding = np.asarray(embedding)
    labels = np.asarray(labels)
    figure, axis = plt.subplots(figsize=(7, 6))
    for index, name in enumerate(class_names):
        chosen = labels == index
        axis.scatter(embedding[chosen, 0], embedding[chosen, 1], s=12, alpha=0.8, label=name, color=f"C{index}")
    axis.legend(markerscale=2, fontsize="small")
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    figure.tight_layout()
    return figure


def overlay_heatmap(image, heatmap, alpha=0.45):
    """Blend a heat-map in [0, 1] (jet colours) over a uint8 image; returns a uint8 RGB array."""
    import matplotlib

    colours = matplotlib.colormaps["jet"](np.clip(np.asarray(heatmap), 0.0, 1.0))[..., :3] * 255.0
    blended = (1 - alpha) * np.asarray(image, dtype="float32") + alpha * colours
    return np.clip(blended, 0, 255).astype("uint8")


def plot_signatures(signatures_by_layer: Mapping[str, object], table, *, title="Signatures d'activation"):
    """Draw one heat-map of cluster signatures (groups x neurons) per layer, in network order.

    ``signatures_by_layer`` maps a layer name to its (K, units) array of mean activations;
    ``table`` holds one row per layer with ``layer``, ``k`` and ``ari`` (from
    ``separation_by_layer``) for the panel titles.
    """
    rows = {str(row["layer"]): row for row in table.to_dict("records")}
    figure, axes = plt.subplots(1, len(signatures_by_layer), figsize=(5 * len(signatures_by_layer), 3), squeeze=False)
    for axis, (name, signatures) in zip(axes[0], signatures_by_layer.items()):
        image = axis.imshow(np.asarray(signatures, dtype=float), aspect="auto", cmap="viridis")
        row = rows.get(name, {})
        axis.set_title(f"{name} : K = {row.get('k', '?')}, ARI = {float(row.get('ari', float('nan'))):.2f}")
        axis.set_xlabel("neurone")
        axis.set_ylabel("groupe")
        figure.colorbar(image, ax=axis)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def separation_verdicts(table) -> list[str]:
    """One French sentence per layer saying whether it separates the classes better than the last."""
    sentences = []
    for row in table.to_dict("records"):
        layer, ari = row["layer"], float(row["ari"])
        adds = row.get("adds_separation")
        if adds is None or (isinstance(adds, float) and adds != adds):
            sentences.append(f"{layer} : première couche étudiée, ARI = {ari:.2f} (point de départ).")
        elif adds:
            sentences.append(f"{layer} : ARI = {ari:.2f}, la couche sépare mieux les classes que la précédente.")
        else:
            sentences.append(f"{layer} : ARI = {ari:.2f}, pas de séparation supplémentaire : la couche recode l'information.")
    return sentences
