"""The explorer from an image folder: features, reductions, attributes, then the page.

:func:`explore_image_folder` takes a folder of class sub-folders, computes features from a saved
Keras model's penultimate layer (or downsampled pixels without a model), reduces them to 2-D and
writes the page; ``paysages explore`` runs it from the command line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from paysages.data.loading import load_images
from paysages.data.scan import LICENCE_FOLDER_NAME, ignore_reason, scan_image_folder
from paysages.errors import DatasetError
from paysages.explorer.page import MISSING_LABEL, write_explorer
from paysages.explorer.reductions import (
    METHOD_TITLES,
    PIXEL_FEATURE_SIZE,
    _check_methods,
    pixel_features,
    reduce_to_2d,
)
from paysages.validation import check_integer


def _load_keras_model(model_path: Path):
    if model_path.suffix != ".keras":
        raise ValueError(
            f"{model_path} is not a .keras file: only the Keras 3 format is loaded (with "
            "safe_mode=True), because older formats can run code when they are loaded."
        )
    if not model_path.is_file():
        raise DatasetError(f"The model file {model_path} does not exist.")
    try:
        import keras
    except ImportError as error:
        raise ImportError(
            'Features from a model need Keras and TensorFlow: pip install "paysages[tensorflow]".'
        ) from error
    try:
        return keras.saving.load_model(model_path, safe_mode=True)
    except Exception as error:
        raise ValueError(f"{model_path} could not be loaded as a Keras model: {error}") from error


def _model_input_size(model) -> int | None:
    """Return the square input size of an image model, or None when it is not fixed."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ValueError("The model has several inputs; the explorer needs a model with one image input.")
    if len(shape) != 4 or shape[3] != 3:
        raise ValueError(f"The model's input must be (height, width, 3) images, got {shape[1:]}.")
    height, width = shape[1], shape[2]
    if height is None or width is None:
        return None
    if height != width:
        raise ValueError(f"The explorer loads square images; the model expects {height}x{width}.")
    return int(height)


def _penultimate_model(model):
    """Return a model from the input to (the input of the last Dense layer, the output)."""
    import keras

    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense_layers:
        raise ValueError("The model has no Dense layer: its penultimate features are undefined.")
    last_dense = dense_layers[-1]
    features = last_dense.input
    producers = [layer.name for layer in model.layers if layer.output is features]
    description = (
        f"the output of {producers[0]!r}, input of the last Dense layer {last_dense.name!r}"
        if producers
        else f"the input of the last Dense layer {last_dense.name!r}"
    )
    return keras.Model(model.inputs, [features, model.outputs[0]]), description


def _probabilities(outputs: np.ndarray) -> np.ndarray:
    """Return class probabilities, applying a softmax when the outputs are logits."""
    outputs = np.asarray(outputs, dtype="float64")
    if (outputs >= 0).all() and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return outputs
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def discover_class_names(folder: str | os.PathLike) -> tuple[str, ...]:
    """Return the class sub-folders of an image folder, sorted, leaving out known clutter.

    ``__MACOSX``, hidden folders, ``.ipynb_checkpoints`` and the ``licenses`` metadata folder
    are never classes (as in :func:`paysages.data.scan.scan_image_folder`). Prefer explicit class
    names when you know them: any other stray folder would become a class.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetError(f"The image folder {root} does not exist or is not a folder.")
    names = sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir() and ignore_reason(entry.name, is_folder=True, at_root=True) is None
    )
    if not names:
        raise DatasetError(f"{root} holds no class sub-folder (one folder of images per class).")
    return tuple(names)


def _stratified_indices(labels: np.ndarray, max_images: int, seed: int) -> np.ndarray:
    """Return sorted indices of at most ``max_images`` labels, keeping each class's share."""
    if len(labels) <= max_images:
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    if max_images < len(classes):
        raise ValueError(f"max_images={max_images} is smaller than the number of classes ({len(classes)}).")
    quotas = counts * max_images / len(labels)
    sizes = np.maximum(np.floor(quotas).astype(np.int64), 1)
    # Largest remainders first, then take back from the largest classes if the minimum of one overshot.
    order = np.argsort(-(quotas - np.floor(quotas)), kind="stable")
    position = 0
    while sizes.sum() < max_images:
        candidate = order[position % len(order)]
        if sizes[candidate] < counts[candidate]:
            sizes[candidate] += 1
        position += 1
    while sizes.sum() > max_images:
        sizes[np.argmax(sizes)] -= 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == label), size=size, replace=False)
        for label, size in zip(classes, sizes)
    ]
    return np.sort(np.concatenate(chosen))


def licence_column(root: Path, class_names: Sequence[str], paths: Sequence[Path]) -> list[str] | None:
    """Return each image's licence from ml5js-style metadata, or None when there is none.

    The Landscapes layout keeps ``licenses/<class>_photos_info.json`` beside the class folders;
    unreadable metadata is ignored (the column is then left out).
    """
    folder = root / LICENCE_FOLDER_NAME
    if not folder.is_dir():
        return None
    try:
        from paysages.registry import get_dataset_spec

        licence_names = {key: value.name for key, value in get_dataset_spec("landscapes").licences.items()}
    except Exception:
        licence_names = {}
    licence_of = {}
    for class_name in class_names:
        try:
            entries = json.loads((folder / f"{class_name}_photos_info.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(entries, dict):
            continue
        for file_name, entry in entries.items():
            if isinstance(entry, dict) and "license" in entry:
                licence_id = str(entry["license"])
                licence_of[(class_name, file_name)] = licence_names.get(licence_id, f"licence {licence_id}")
    if not licence_of:
        return None
    column = []
    for path in paths:
        class_name = path.relative_to(root).parts[0]
        column.append(licence_of.get((class_name, path.name), MISSING_LABEL))
    return column


def explore_image_folder(
    folder: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    model_path: str | os.PathLike | None = None,
    methods: Sequence[str] = ("pca", "tsne"),
    image_size: int | None = None,
    max_images: int = 500,
    seed: int = 0,
    title: str | None = None,
    labels_path: str | os.PathLike | None = None,
    colour_by: str = "true_class",
) -> Path:
    """Write the explorer page of an image folder (one sub-folder per class); return its path.

    Args:
        folder: the dataset, ``folder/<class>/<image files>``; clutter is ignored as in
            :func:`paysages.data.scan.scan_image_folder` and unreadable files are skipped.
        out_path: the HTML file to write.
        class_names: the class folders to use, in the model's class order (default: every
            sub-folder, sorted, as ``keras.utils.image_dataset_from_directory`` does).
        model_path: a ``.keras`` model (loaded with ``safe_mode=True``) whose penultimate layer
            (the input of its last Dense layer) gives the features, fed with 0-255 images as the
            kit's models are; its predictions add ``predicted_class``, ``correct`` and
            ``confidence`` columns. Without a model the features are the downsampled pixels.
        methods: the maps to draw, among "pca", "tsne", "umap" and "pca_tsne".
        image_size: the size images are loaded at (default: the model's input size, else 64).
        max_images: a stratified random subset of at most this many images is shown.
        seed: the seed of the subset and of the reductions.
        title: the page's heading (default: "Feature space of <folder name>").
        labels_path: a CSV file with a ``file`` column (the image's path inside ``folder``, with
            forward slashes, as ``city/city_0001.jpg``) and any other columns: each becomes an
            attribute that can colour the points (a photographer, a season, a second labelling).
            Images the CSV does not list get "(missing)".
        colour_by: the attribute that colours the points when the page opens.

    Raises:
        DatasetError: the folder (or the model file) does not exist, or no image can be read.
        ValueError: invalid arguments, or a model the explorer cannot use.
    """
    methods = _check_methods(methods)
    max_images = check_integer("max_images", max_images, minimum=5)
    seed = check_integer("seed", seed, minimum=0)
    if image_size is not None:
        image_size = check_integer("image_size", image_size, minimum=8)
    root = Path(folder).expanduser()
    names = discover_class_names(root) if class_names is None else tuple(class_names)

    model = None
    if model_path is not None:
        model_path = Path(model_path).expanduser()
        model = _load_keras_model(model_path)
        model_size = _model_input_size(model)
        if image_size is not None and model_size is not None and image_size != model_size:
            raise ValueError(f"image_size={image_size} but the model expects {model_size}x{model_size} images.")
        image_size = image_size or model_size
    image_size = image_size or 64

    scan = scan_image_folder(root, names)
    if scan.missing_classes:
        raise DatasetError(
            f"No folder for the class(es) {', '.join(scan.missing_classes)} in {root} "
            f"(its class folders: {', '.join(discover_class_names(root))})."
        )
    if not scan.files:
        raise DatasetError(f"No image file found in the class folders of {root} ({', '.join(names)}).")
    chosen = _stratified_indices(scan.labels, max_images, seed)
    loaded = load_images([scan.files[index] for index in chosen], image_size, labels=scan.labels[chosen])
    if len(loaded.paths) < 5:
        raise DatasetError(
            f"Only {len(loaded.paths)} readable image(s) in {root}: a map needs at least 5 "
            "(run paysages data verify to see why files were skipped)."
        )

    attributes = pd.DataFrame(
        {
            "file": [path.relative_to(root).as_posix() for path in loaded.paths],
            "true_class": [names[label] for label in loaded.labels],
        }
    )
    if model is None:
        size = min(PIXEL_FEATURE_SIZE, image_size)
        features = pixel_features(loaded.images)
        feature_note = (
            f"Features: the pixels, downsampled to {size}x{size}x3 = {features.shape[1]} values "
            "(no model given, so the maps show how the images look, not what a network learned)."
        )
    else:
        extractor, layer_description = _penultimate_model(model)
        features, outputs = extractor.predict(loaded.images.astype("float32"), batch_size=64, verbose=0)
        features = np.asarray(features, dtype="float64").reshape(len(features), -1)
        feature_note = (
            f"Features: the penultimate layer of {model_path.name} ({layer_description}): "
            f"{features.shape[1]} values."
        )
        outputs = np.asarray(outputs)
        if outputs.ndim == 2 and outputs.shape[1] == len(names):
            probabilities = _probabilities(outputs)
            predicted = probabilities.argmax(axis=1)
            attributes["predicted_class"] = [names[index] for index in predicted]
            attributes["correct"] = predicted == loaded.labels
            attributes["confidence"] = probabilities.max(axis=1).round(3)
        else:
            feature_note += (
                f" Its output has shape {outputs.shape[1:]}, not one value per class "
                f"({len(names)}): no predictions are shown."
            )
    licences = licence_column(root, names, loaded.paths)
    if licences is not None:
        attributes["licence"] = licences
    if labels_path is not None:
        attributes = _merge_label_columns(attributes, Path(labels_path).expanduser())
    if colour_by not in attributes.columns:
        raise ValueError(
            f"colour_by={colour_by!r} is not an attribute of this page; choose among {', '.join(attributes.columns)}."
        )

    embeddings = {METHOD_TITLES[method]: reduce_to_2d(features, method, seed) for method in methods}
    counts = pd.Series(attributes["true_class"]).value_counts()
    class_summary = ", ".join(f"{name} {int(counts.get(name, 0))}" for name in names)
    lines = [
        f"{len(loaded.paths)} images of {len(names)} classes from the folder "
        f"{root.resolve().name!r} ({class_summary}), "
        f"loaded at {image_size}x{image_size}"
        + (f", a stratified subset of {len(scan.files)} files." if len(scan.files) > len(chosen) else "."),
        feature_note,
    ]
    if loaded.skipped:
        lines.append(f"{len(loaded.skipped)} unreadable file(s) skipped (paysages data verify lists them).")
    return write_explorer(
        embeddings,
        loaded.images,
        attributes,
        out_path,
        title=title or f"Feature space of {root.resolve().name}",
        subtitle="\n".join(lines),
        colour_by=colour_by,
    )


def _merge_label_columns(attributes: pd.DataFrame, labels_path: Path) -> pd.DataFrame:
    """Add the columns of a labels CSV (keyed by ``file``) to the page's attributes."""
    if not labels_path.is_file():
        raise DatasetError(f"The labels file {labels_path} does not exist.")
    try:
        labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{labels_path} is not a readable CSV file: {error}") from error
    if "file" not in labels.columns:
        raise ValueError(
            f"{labels_path} needs a 'file' column (each image's path inside the folder, e.g. "
            f"city/city_0001.jpg); its columns are {', '.join(labels.columns)}."
        )
    clashes = sorted(set(labels.columns) & set(attributes.columns) - {"file"})
    if clashes:
        raise ValueError(f"{labels_path} repeats the page's own column(s) {', '.join(clashes)}: rename them.")
    repeated = labels["file"][labels["file"].duplicated()].tolist()
    if repeated:
        raise ValueError(f"{labels_path} lists {repeated[0]!r} more than once.")
    extra = [column for column in labels.columns if column != "file"]
    if not extra:
        raise ValueError(f"{labels_path} has no column besides 'file': nothing to colour the points by.")
    merged = attributes.merge(labels, on="file", how="left")
    merged[extra] = merged[extra].fillna(MISSING_LABEL)
    return merged
