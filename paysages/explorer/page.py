"""The explorer's page: one self-contained HTML file with a Bokeh scatter plot per 2-D map.

The page shows one scatter plot per 2-D embedding of the same images, side by side (for
example PCA | t-SNE | UMAP). All plots share one data source, so hovering a point highlights it
in every map and a box or lasso selection in one map selects the same images in the others.
Hovering a point shows its thumbnail and every attribute (class, prediction, licence...), and a
menu colours the points by any attribute, with a legend that follows.

The page carries Bokeh's JavaScript inline and every thumbnail as a ``data:`` URI: it works
offline, from a ``file://`` URL, and can be sent as a single file.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from paysages.files import write_text_atomic
from paysages.validation import check_positive_number


DEFAULT_THUMBNAIL_SIZE = 96

# Numeric attributes with at most this many distinct values are coloured as categories.
MAX_NUMERIC_CATEGORIES = 10

# A categorical legend lists at most this many values, then says how many more there are.
MAX_LEGEND_ENTRIES = 20

MISSING_COLOUR = "#c8c8c8"

MISSING_LABEL = "(missing)"

# The page fits a laptop screen (1366 pixels wide, the most common) without scrolling sideways:
# the maps share what the side bar and the margins leave, up to MAX_PLOT_SIZE pixels each.
LAPTOP_WIDTH = 1366
SIDEBAR_WIDTH = 210
PAGE_MARGINS = 40
MAX_PLOT_SIZE = 420

SOURCE_NAME = "explorer_points"

_DATA_URI_PATTERN = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")


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


def plot_size_for(num_maps: int) -> int:
    """The side of each square map, in pixels, so that ``num_maps`` maps fit a laptop screen."""
    available = LAPTOP_WIDTH - SIDEBAR_WIDTH - PAGE_MARGINS
    return min(MAX_PLOT_SIZE, available // max(1, num_maps))


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
    plot_size = plot_size_for(len(checked))
    figures = []
    for index, map_name in enumerate(checked):
        figure = plotting.figure(
            title=map_name,
            width=plot_size,
            height=plot_size,
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
        width=max(plot_size * len(figures), 600),
    )
    select = models.Select(
        title="Colour by",
        value=selected_key,
        options=list(zip(keys, names)),
        width=SIDEBAR_WIDTH - 10,
        name="colour_by",
    )
    legend = models.Div(text=legends[selected_key], width=SIDEBAR_WIDTH, name="legend")
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
