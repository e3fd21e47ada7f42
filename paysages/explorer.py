"""An interactive, self-contained HTML page to explore a 2-D map of images (Bokeh).

The page shows one scatter plot per 2-D embedding of the same images, side by side (for
example PCA | t-SNE | UMAP). All plots share one data source, so hovering a point highlights it
in every map and a box or lasso selection in one map selects the same images in the others.
Hovering a point shows its thumbnail and every attribute (class, prediction, licence...), and a
menu colours the points by any attribute, with a legend that follows.

The page carries Bokeh's JavaScript inline and every thumbnail as a ``data:`` URI: it works
offline, from a ``file://`` URL, and can be sent as a single file.

* :func:`thumbnail_data_uri` turns one image into a PNG data URI.
* :func:`write_explorer` writes the page from embeddings, images and an attributes table.
* :func:`explore_image_folder` does everything from an image folder (one sub-folder per class):
  features from a saved Keras model's penultimate layer (or downsampled pixels without a model),
  2-D reductions, then the page. ``paysages explore`` runs it from the command line.

Bokeh (and UMAP for the "umap" map) come with the ``bonus`` extra:
``pip install "paysages[bonus]"``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from paysages.errors import DatasetError
from paysages.files import write_text_atomic
from paysages.validation import check_integer, check_positive_number
from paysages.images import LICENCE_FOLDER_NAME, ignore_reason, load_images, scan_image_folder

# The 2-D reductions explore_image_folder knows, with the names shown above each map.
METHOD_TITLES = {
    "pca": "PCA",
    "tsne": "t-SNE",
    "umap": "UMAP",
    "pca_tsne": "PCA → t-SNE",
}

DEFAULT_THUMBNAIL_SIZE = 96
# Images are reduced to this many pixels square when they serve as features (no model given).
PIXEL_FEATURE_SIZE = 16
# Numeric attributes with at most this many distinct values are coloured as categories.
MAX_NUMERIC_CATEGORIES = 10
# A categorical legend lists at most this many values, then says how many more there are.
MAX_LEGEND_ENTRIES = 20
MISSING_COLOUR = "#c8c8c8"
MISSING_LABEL = "(missing)"
PLOT_SIZE = 420
SOURCE_NAME = "explorer_points"

_DATA_URI_PATTERN = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")


# ---------------------------------------------------------------------------------------------
# Thumbnails
# ---------------------------------------------------------------------------------------------


def _check_rgb_image(image, what: str = "image") -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"{what} must hold uint8 values (0-255), got dtype {array.dtype}.")
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{what} must have the shape (height, width, 3), got {array.shape}.")
    return array


def thumbnail_data_uri(image, size: int = DEFAULT_THUMBNAIL_SIZE) -> str:
    """Return a ``data:image/png;base64,...`` URI of a uint8 RGB image.

    The image is resized, keeping its aspect ratio, so that its longer side is ``size`` pixels
    (a smaller image is not enlarged: the page displays every thumbnail at the same width).
    """
    array = _check_rgb_image(image)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive whole number of pixels, got {size!r}.")
    picture = Image.fromarray(array, mode="RGB")
    longer_side = max(picture.size)
    if longer_side > size:
        scale = size / longer_side
        new_size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(new_size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnails(images, num_points: int) -> list[str]:
    """Return one data URI per point from an image array or a list of thumbnails."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(
                f"images must have the shape (N, height, width, 3), got {images.shape}."
            )
        if images.dtype != np.uint8:
            raise ValueError(f"images must hold uint8 values (0-255), got dtype {images.dtype}.")
        items = list(images)
    elif isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        raise ValueError(
            "images must be a (N, height, width, 3) uint8 array or a list of thumbnails "
            "(data URIs or uint8 RGB arrays)."
        )
    else:
        items = list(images)
    if len(items) != num_points:
        raise ValueError(f"There are {len(items)} images for {num_points} points.")
    uris = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            if _DATA_URI_PATTERN.fullmatch(item) is None:
                raise ValueError(
                    f"Thumbnail {position} is not a base64 image data URI "
                    "(see thumbnail_data_uri)."
                )
            uris.append(item)
        else:
            uris.append(thumbnail_data_uri(_check_rgb_image(item, f"Image {position}")))
    return uris


# ---------------------------------------------------------------------------------------------
# Colours and legends
# ---------------------------------------------------------------------------------------------


def _format_value(value) -> str:
    """Return an attribute value as the text shown in tooltips and legends."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return MISSING_LABEL
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _categorical_palette(num_colours: int) -> list[str]:
    from bokeh import palettes

    if num_colours <= 10:
        return list(palettes.Category10[10][:num_colours])
    if num_colours <= 20:
        return list(palettes.Category20[20][:num_colours])
    return list(palettes.turbo(num_colours))


def _is_continuous(series: pd.Series) -> bool:
    """True for numeric columns with many distinct values, coloured on a linear scale."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return False
    return series.dropna().nunique() > MAX_NUMERIC_CATEGORIES


def _category_order(series: pd.Series) -> list:
    """Return the distinct non-missing values in a stable, natural order."""
    present = pd.unique(series.dropna())
    if isinstance(series.dtype, pd.CategoricalDtype):
        present_set = set(present)
        return [value for value in series.cat.categories if value in present_set]
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=lambda value: str(value))


def _swatch(colour: str) -> str:
    return (
        f'<span style="display:inline-block;width:11px;height:11px;border-radius:50%;'
        f'background:{colour};margin-right:6px;vertical-align:middle;"></span>'
    )


def _categorical_colours(series: pd.Series, name: str) -> tuple[list[str], str]:
    """Return one colour per point and the legend HTML of a categorical attribute."""
    categories = _category_order(series)
    palette = _categorical_palette(len(categories))
    colour_of = {value: palette[index] for index, value in enumerate(categories)}
    missing = series.isna().to_numpy()
    colours = [
        MISSING_COLOUR if is_missing else colour_of[value]
        for value, is_missing in zip(series.tolist(), missing)
    ]
    counts = series.value_counts(dropna=True)
    lines = [f"<b>{html.escape(name)}</b>"]
    for value in categories[:MAX_LEGEND_ENTRIES]:
        label = html.escape(_format_value(value))
        lines.append(f"{_swatch(colour_of[value])}{label} ({int(counts[value])})")
    if len(categories) > MAX_LEGEND_ENTRIES:
        lines.append(f"… and {len(categories) - MAX_LEGEND_ENTRIES} more values")
    if missing.any():
        lines.append(f"{_swatch(MISSING_COLOUR)}{MISSING_LABEL} ({int(missing.sum())})")
    return colours, "<br>".join(lines)


def _continuous_colours(series: pd.Series, name: str) -> tuple[list[str], str]:
    """Return one colour per point (linear Viridis scale) and the legend HTML."""
    from bokeh import palettes

    palette = palettes.Viridis256
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    low, high = float(np.min(values[finite])), float(np.max(values[finite]))
    span = high - low if high > low else 1.0
    positions = np.zeros(len(values), dtype=np.int64)
    positions[finite] = np.clip(
        np.round((values[finite] - low) / span * (len(palette) - 1)), 0, len(palette) - 1
    ).astype(np.int64)
    colours = [
        palette[position] if is_finite else MISSING_COLOUR
        for position, is_finite in zip(positions, finite)
    ]
    stops = ", ".join(palette[index] for index in range(0, 256, 32)) + f", {palette[-1]}"
    lines = [
        f"<b>{html.escape(name)}</b>",
        f'<div style="width:170px;height:12px;background:linear-gradient(to right, {stops});"></div>'
        f'<div style="width:170px;display:flex;justify-content:space-between;">'
        f"<span>{_format_value(low)}</span><span>{_format_value((low + high) / 2)}</span>"
        f"<span>{_format_value(high)}</span></div>",
    ]
    if not finite.all():
        lines.append(f"{_swatch(MISSING_COLOUR)}{MISSING_LABEL} ({int((~finite).sum())})")
    return colours, "<br>".join(lines)


def _colours_and_legend(series: pd.Series, name: str) -> tuple[list[str], str]:
    if series.notna().sum() == 0:
        return [MISSING_COLOUR] * len(series), (
            f"<b>{html.escape(name)}</b><br>{_swatch(MISSING_COLOUR)}{MISSING_LABEL} ({len(series)})"
        )
    if _is_continuous(series):
        return _continuous_colours(series, name)
    return _categorical_colours(series, name)


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


def _require_bokeh():
    try:
        import bokeh
    except ImportError as error:
        raise ImportError(
            'The feature-space explorer needs Bokeh: pip install "paysages[bonus]" '
            '(or pip install "bokeh>=3.3,<4").'
        ) from error
    return bokeh


def _check_embeddings(embeddings) -> dict[str, np.ndarray]:
    if not isinstance(embeddings, Mapping):
        raise ValueError("embeddings must be a dictionary {map name: (N, 2) array}.")
    if not embeddings:
        raise ValueError("embeddings is empty: give at least one (N, 2) embedding.")
    checked = {}
    for name, embedding in embeddings.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Every embedding needs a non-empty name, got {name!r}.")
        try:
            array = np.asarray(embedding, dtype="float64")
        except (TypeError, ValueError) as error:
            raise ValueError(f"Embedding {name!r} is not a numeric array: {error}") from error
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError(f"Embedding {name!r} must have the shape (N, 2), got {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError(f"Embedding {name!r} holds NaN or infinite coordinates.")
        checked[name] = array
    sizes = {name: len(array) for name, array in checked.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"The embeddings have different numbers of points: {sizes}.")
    if next(iter(sizes.values())) == 0:
        raise ValueError("The embeddings hold no point.")
    return checked


def _check_attributes(attributes, num_points: int) -> pd.DataFrame:
    if not isinstance(attributes, pd.DataFrame):
        raise ValueError("attributes must be a pandas DataFrame with one row per point.")
    if len(attributes) != num_points:
        raise ValueError(f"attributes has {len(attributes)} rows for {num_points} points.")
    if attributes.shape[1] == 0:
        raise ValueError("attributes has no column: give at least one (the class, for example).")
    names = [str(column) for column in attributes.columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"attributes repeats the column name(s): {', '.join(duplicates)}.")
    frame = attributes.reset_index(drop=True)
    frame.columns = names
    return frame



def _tooltip_template(labels: Sequence[str], keys: Sequence[str]) -> str:
    rows = "".join(
        f'<tr><th style="text-align:left;padding-right:8px;color:#555;font-weight:normal;">'
        f"{html.escape(label)}</th><td>@{{{key}}}</td></tr>"
        for label, key in zip(labels, keys)
    )
    return (
        '<div style="max-width:280px;">'
        f'<img src="@thumbnail" alt="" style="display:block;width:{DEFAULT_THUMBNAIL_SIZE}px;'
        'height:auto;margin:2px 0 6px 0;border:1px solid #bbb;">'
        f'<table style="border-collapse:collapse;font-size:12px;">{rows}</table></div>'
    )


def _page_template():
    """Bokeh's page template, with tooltips drawn opaque (Bokeh's 95 % lets points show through)."""
    from bokeh.core import templates

    return templates.get_env().from_string(
        '{% extends "file.html.jinja" %}'
        "{% block postamble %}<style>.bk-Tooltip { opacity: 1 !important; }</style>{% endblock %}"
    )



def write_explorer(
    embeddings: Mapping[str, np.ndarray],
    images,
    attributes: pd.DataFrame,
    out_path: str | os.PathLike,
    *,
    title: str,
    subtitle: str = "",
    colour_by: str | None = None,
    point_size: float = 9,
) -> Path:
    """Write a standalone HTML page to explore 2-D maps of images; return its path.

    Args:
        embeddings: ``{map name: (N, 2) array}``, one scatter plot each, side by side, in order.
        images: the N images, as a ``(N, height, width, 3)`` uint8 array, or a list of
            thumbnails (data URIs from :func:`thumbnail_data_uri`, or uint8 RGB arrays).
        attributes: a DataFrame of N rows; every column is shown when a point is hovered and
            can colour the points (e.g. ``true_class``, ``predicted_class``, ``correct``).
        out_path: the HTML file to write (its folder is created if needed).
        title: the page's heading; ``subtitle``: text below it (one paragraph per line).
        colour_by: the column that colours the points when the page opens (default: the
            first column).
        point_size: the markers' diameter in screen pixels.

    Numeric columns with more than ten distinct values are coloured on a linear scale, other
    columns as categories; missing values are grey.

    Raises:
        ValueError: an empty or non-(N, 2) embedding, a number of images or rows that differs
            from the number of points, an unknown ``colour_by``, a non-positive ``point_size``.
    """
    _require_bokeh()
    from bokeh import embed, layouts, models, plotting, resources

    checked = _check_embeddings(embeddings)
    num_points = len(next(iter(checked.values())))
    frame = _check_attributes(attributes, num_points)
    if not isinstance(title, str):
        raise ValueError(f"title must be a string, got {title!r}.")
    if not isinstance(subtitle, str):
        raise ValueError(f"subtitle must be a string, got {subtitle!r}.")
    point_size = check_positive_number("point_size", point_size)
    names = list(frame.columns)
    if colour_by is None:
        colour_by = names[0]
    elif colour_by not in names:
        raise ValueError(f"colour_by={colour_by!r} is not a column of attributes ({', '.join(names)}).")
    thumbnails = _thumbnails(images, num_points)

    # Attribute columns get neutral keys, so that any column name is safe in the page.
    keys = [f"attribute_{index}" for index in range(len(names))]
    data: dict[str, object] = {"thumbnail": thumbnails}
    legends = {}
    for key, name in zip(keys, names):
        series = frame[name]
        data[key] = [_format_value(value) for value in series.tolist()]
        data[f"colour_{key}"], legends[key] = _colours_and_legend(series, name)
    selected_key = keys[names.index(colour_by)]
    data["colour"] = list(data[f"colour_{selected_key}"])
    for index, embedding in enumerate(checked.values()):
        data[f"x_{index}"] = embedding[:, 0]
        data[f"y_{index}"] = embedding[:, 1]
    source = models.ColumnDataSource(data=data, name=SOURCE_NAME)

    tooltip = _tooltip_template(names, keys)
    figures = []
    for index, map_name in enumerate(checked):
        figure = plotting.figure(
            title=map_name,
            width=PLOT_SIZE,
            height=PLOT_SIZE,
            tools="pan,wheel_zoom,box_select,lasso_select,tap,reset,save",
            toolbar_location="above",
            name=f"map_{index}",
        )
        renderer = figure.scatter(
            x=f"x_{index}",
            y=f"y_{index}",
            source=source,
            size=point_size,
            fill_color="colour",
            fill_alpha=0.85,
            line_color="#333333",
            line_alpha=0.35,
            line_width=0.5,
            hover_fill_color="colour",
            hover_fill_alpha=1.0,
            hover_line_color="black",
            hover_line_width=2.5,
            hover_line_alpha=1.0,
            nonselection_fill_alpha=0.12,
            nonselection_line_alpha=0.08,
            name="points",
        )
        figure.add_tools(models.HoverTool(renderers=[renderer], tooltips=tooltip))
        figure.toolbar.logo = None
        figure.xaxis.major_label_text_font_size = "8pt"
        figure.yaxis.major_label_text_font_size = "8pt"
        figure.grid.grid_line_alpha = 0.4
        figures.append(figure)

    paragraphs = "".join(
        f'<p style="margin:2px 0;color:#444;">{html.escape(line)}</p>'
        for line in subtitle.splitlines()
        if line.strip()
    )
    header = models.Div(
        text=(
            f'<h2 style="margin:4px 0;">{html.escape(title)}</h2>{paragraphs}'
            '<p style="margin:2px 0;color:#777;font-size:12px;">Hover a point to see its image; '
            "select points with the box or lasso tool to select the same images in every map.</p>"
        ),
        width=max(PLOT_SIZE * len(figures), 600),
    )
    select = models.Select(
        title="Colour by",
        value=selected_key,
        options=list(zip(keys, names)),
        width=200,
        name="colour_by",
    )
    legend = models.Div(text=legends[selected_key], width=210, name="legend")
    select.js_on_change(
        "value",
        models.CustomJS(
            args=dict(source=source, legend=legend, legends=legends),
            code="""
                const key = cb_obj.value;
                const data = Object.assign({}, source.data);
                data["colour"] = Array.from(source.data["colour_" + key]);
                source.data = data;
                legend.text = legends[key];
            """,
        ),
    )
    page = layouts.column(header, layouts.row(layouts.column(select, legend), *figures))

    out_path = Path(out_path).expanduser()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    document = embed.file_html(page, resources=resources.INLINE, title=title, template=_page_template())
    write_text_atomic(out_path, document)
    return out_path


# ---------------------------------------------------------------------------------------------
# Features and reductions
# ---------------------------------------------------------------------------------------------


def _check_methods(methods) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = [part.strip() for part in methods.split(",") if part.strip()]
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods is empty: choose among " + ", ".join(METHOD_TITLES) + ".")
    unknown = [method for method in methods if method not in METHOD_TITLES]
    if unknown:
        raise ValueError(
            f"Unknown reduction(s) {', '.join(map(repr, unknown))}: use " + ", ".join(METHOD_TITLES) + "."
        )
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods repeats a reduction: {methods}.")
    return methods


def tsne_perplexity(num_points: int) -> float:
    """Return the t-SNE perplexity the kit uses for ``num_points`` points.

    A third of the other points, between 2 and 30: scikit-learn's default of 30 on large sets,
    and always below the number of points (t-SNE refuses a perplexity that is not), from the
    explorer's 5-point minimum up. The reference solution of notebook 09 uses the same rule.
    """
    num_points = check_integer("num_points", num_points, minimum=3)
    return float(min(30.0, max(2.0, (num_points - 1) / 3)))


def pca_components_before_tsne(num_points: int, num_features: int) -> int:
    """Return how many principal components "pca_tsne" keeps before t-SNE: 50 at most."""
    return int(min(50, num_features, num_points - 1))


def reduce_to_2d(features, method: str, seed: int = 0) -> np.ndarray:
    """Return the ``(N, 2)`` map of ``features`` by "pca", "tsne", "umap" or "pca_tsne".

    Features are standardised first. t-SNE's perplexity is ``(N - 1) / 3``, capped at 30;
    "pca_tsne" runs t-SNE on the first 50 principal components (faster, often cleaner).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    (method,) = _check_methods([method])
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2 or features.shape[1] < 2:
        raise ValueError(f"features must have the shape (N, D) with D >= 2, got {features.shape}.")
    if len(features) < 5:
        raise ValueError(f"A 2-D map needs at least 5 points, got {len(features)}.")
    if not np.isfinite(features).all():
        raise ValueError("features hold NaN or infinite values.")
    features = StandardScaler().fit_transform(features)
    perplexity = tsne_perplexity(len(features))
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    if method == "umap":
        try:
            import umap
        except ImportError as error:
            raise ImportError(
                'The "umap" map needs umap-learn: pip install "paysages[bonus]".'
            ) from error
        reducer = umap.UMAP(
            n_components=2, random_state=seed, n_neighbors=min(15, len(features) - 1), n_jobs=1
        )
        return np.asarray(reducer.fit_transform(features), dtype="float64")
    if method == "pca_tsne":
        num_components = pca_components_before_tsne(len(features), features.shape[1])
        features = PCA(n_components=num_components, random_state=seed).fit_transform(features)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(features)


def pixel_features(images: np.ndarray, size: int = PIXEL_FEATURE_SIZE) -> np.ndarray:
    """Return each image reduced to ``size`` x ``size`` pixels, flattened, in [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be a (N, height, width, 3) uint8 array, got {images.shape} {images.dtype}.")
    size = min(size, images.shape[1], images.shape[2])
    small = [
        np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BOX))
        for image in images
    ]
    return np.stack(small).reshape(len(images), -1).astype("float32") / 255.0


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


# ---------------------------------------------------------------------------------------------
# From an image folder
# ---------------------------------------------------------------------------------------------


def discover_class_names(folder: str | os.PathLike) -> tuple[str, ...]:
    """Return the class sub-folders of an image folder, sorted, leaving out known clutter.

    ``__MACOSX``, hidden folders, ``.ipynb_checkpoints`` and the ``licenses`` metadata folder
    are never classes (as in :func:`paysages.images.scan_image_folder`). Prefer explicit class
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
            :func:`paysages.images.scan_image_folder` and unreadable files are skipped.
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
