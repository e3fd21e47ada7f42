"""Tests of the paysages.explorer package: the standalone HTML page, its data, the 2-D reductions
(shared with the reference solution of notebook 09), the CLI, and the page in Chromium."""

from __future__ import annotations

import argparse
import base64
import gzip
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from paysages import explorer
from paysages.explorer import page as explorer_page
from paysages.explorer import reductions
from paysages.cli_explore import add_explore_command
from paysages.errors import DatasetError
from paysages.data.sample import SAMPLE_CLASS_NAMES, generate_sample_dataset
from tests.bonus import browser

MAGENTA = (255, 0, 255)
DATA_URI_PREFIX = "data:image/png;base64,"


# ---------------------------------------------------------------------------------------------
# Reading a written page back
# ---------------------------------------------------------------------------------------------


def _document_json(page: str) -> dict:
    """Return the Bokeh document JSON embedded in a page."""
    match = re.search(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', page, re.DOTALL)
    assert match is not None, "the page holds no Bokeh document JSON"
    # Bokeh escapes &, < and > to keep the JSON inert inside the page's HTML.
    return json.loads(html.unescape(match.group(1)))


def _objects(node, name: str):
    """Yield every serialised Bokeh object of a given model name, depth first."""
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("name") == name:
            yield node
        for value in node.values():
            yield from _objects(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, name)


def _decode(value):
    """Turn a serialised Bokeh value (map, ndarray, list) into plain Python or NumPy."""
    if isinstance(value, dict) and value.get("type") == "map":
        return {key: _decode(item) for key, item in value["entries"]}
    if isinstance(value, dict) and value.get("type") == "ndarray":
        array = value["array"]
        if isinstance(array, dict) and array.get("type") == "bytes":
            raw = base64.b64decode(array["data"])
            if raw[:2] == b"\x1f\x8b":
                # Bokeh compresses large buffers with gzip.
                raw = gzip.decompress(raw)
            return np.frombuffer(raw, dtype=value["dtype"]).reshape(value["shape"])
        return np.asarray(array, dtype=value["dtype"]).reshape(value["shape"])
    return value


def _page_data(path: Path) -> dict:
    """Return the explorer's point data, Select options, legends and tooltips of a written page."""
    page = path.read_text(encoding="utf-8")
    document = _document_json(page)
    sources = [
        source for source in _objects(document, "ColumnDataSource")
        if source["attributes"].get("name") == explorer_page.SOURCE_NAME
    ]
    assert len(sources) == 1, "the maps must share exactly one data source"
    (select,) = list(_objects(document, "Select"))
    (callback,) = list(_objects(document, "CustomJS"))
    figures = list(_objects(document, "Figure"))
    return {
        "page": page,
        "document": document,
        "data": _decode(sources[0]["attributes"]["data"]),
        "source_id": sources[0]["id"],
        "options": [tuple(option) for option in select["attributes"]["options"]],
        "selected": select["attributes"]["value"],
        "legends": _decode(callback["attributes"]["args"])["legends"],
        "figure_titles": [
            next(_objects(figure, "Title"))["attributes"]["text"] for figure in figures
        ],
        "tooltips": [hover["attributes"]["tooltips"] for hover in _objects(document, "HoverTool")],
        "fill_alpha": [
            renderer["attributes"]["glyph"]["attributes"]["fill_alpha"]["value"]
            for renderer in _objects(document, "GlyphRenderer")
        ],
        # The text a reader sees in the page's header and legend, tags removed.
        "text": " ".join(
            html.unescape(re.sub(r"<[^>]+>", " ", div["attributes"]["text"])) for div in _objects(document, "Div")
        ),
    }


def _uri_pixels(uri: str) -> np.ndarray:
    assert uri.startswith(DATA_URI_PREFIX)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri[len(DATA_URI_PREFIX):]))).convert("RGB"))


def _solid_images(colours, size: int = 24) -> np.ndarray:
    return np.stack([np.full((size, size, 3), colour, dtype=np.uint8) for colour in colours])


def _example(num_points: int = 12, seed: int = 0):
    """Embeddings, distinct solid-colour images and attributes of every kind, for num_points."""
    rng = np.random.default_rng(seed)
    colours = [(10 * index, 255 - 10 * index, (37 * index) % 256) for index in range(num_points)]
    embeddings = {
        "PCA": rng.normal(size=(num_points, 2)),
        "t-SNE": rng.normal(size=(num_points, 2)) * 10,
        "PCA → t-SNE": rng.normal(size=(num_points, 2)),
    }
    true_class = np.array(["city", "field", "lake"])[np.arange(num_points) % 3]
    predicted = true_class.copy()
    predicted[::4] = "ocean"
    attributes = pd.DataFrame(
        {
            "true_class": true_class,
            "predicted_class": predicted,
            "correct": predicted == true_class,
            "confidence": np.linspace(0.31, 0.99, num_points),
            "licence": ["CC BY 2.0"] * (num_points - 1) + [None],
            "<b>odd name</b>": ["<script>alert(1)</script>"] * num_points,
        }
    )
    return embeddings, _solid_images(colours), attributes, colours


# ---------------------------------------------------------------------------------------------
# Unit tests: the page
# ---------------------------------------------------------------------------------------------


def test_page_is_standalone_with_one_thumbnail_per_point(tmp_path):
    """Does the page carry Bokeh inline, load nothing from the web, and hold each point's own image?"""
    embeddings, images, attributes, colours = _example()
    path = explorer.write_explorer(embeddings, images, attributes, tmp_path / "maps" / "page.html", title="Maps")
    assert path == tmp_path / "maps" / "page.html" and path.is_file()
    read = _page_data(path)
    page = read["page"]

    assert "BEGIN bokeh.min.js" in page and "BEGIN bokeh-widgets.min.js" in page
    assert not re.search(r"<script[^>]*\bsrc=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref=", page, re.IGNORECASE)
    assert "cdn.bokeh.org" not in page

    data = read["data"]
    document_text = json.dumps(read["document"])
    assert document_text.count(DATA_URI_PREFIX) == len(images)
    assert len(data["thumbnail"]) == len(images)
    for uri, colour in zip(data["thumbnail"], colours):
        pixels = _uri_pixels(uri)
        assert pixels.shape == (24, 24, 3)
        assert (pixels == colour).all(), "thumbnails must stay in the order of the points"
    for index, embedding in enumerate(embeddings.values()):
        np.testing.assert_allclose(data[f"x_{index}"], embedding[:, 0])
        np.testing.assert_allclose(data[f"y_{index}"], embedding[:, 1])
    assert read["figure_titles"] == list(embeddings)


def test_every_attribute_is_in_the_tooltip_and_the_colour_menu(tmp_path):
    """Is every column offered in the Select, shown (escaped) in each tooltip, with its values?"""
    embeddings, images, attributes, _ = _example()
    path = explorer.write_explorer(embeddings, images, attributes, tmp_path / "page.html", title="Maps")
    read = _page_data(path)

    assert [label for _key, label in read["options"]] == list(attributes.columns)
    assert read["selected"] == read["options"][0][0], "by default the first column colours the points"
    assert len(read["tooltips"]) == len(embeddings)
    for tooltip in read["tooltips"]:
        assert '<img src="@thumbnail"' in tooltip
        for key, label in read["options"]:
            assert html.escape(label) in tooltip and f"@{{{key}}}" in tooltip
        assert "<b>odd name</b>" not in tooltip

    values = {label: read["data"][key] for key, label in read["options"]}
    assert values["true_class"] == attributes["true_class"].tolist()
    assert values["correct"] == [str(value) for value in attributes["correct"]]
    assert values["confidence"][0] == "0.31"
    assert values["licence"][-1] == explorer_page.MISSING_LABEL
    assert values["<b>odd name</b>"][0] == "<script>alert(1)</script>"


def test_colours_and_legends_follow_each_attribute(tmp_path):
    """Does each attribute get one colour per category (or a linear scale) and a legend with counts?"""
    embeddings, images, attributes, _ = _example(num_points=30)
    path = explorer.write_explorer(
        embeddings, images, attributes, tmp_path / "page.html", title="Maps", colour_by="predicted_class"
    )
    read = _page_data(path)
    keys = {label: key for key, label in read["options"]}
    data = read["data"]
    assert read["selected"] == keys["predicted_class"]
    assert data["colour"] == data[f"colour_{keys['predicted_class']}"]

    class_colours = data[f"colour_{keys['true_class']}"]
    colour_of = dict(zip(attributes["true_class"], class_colours))
    assert len(set(colour_of.values())) == 3
    assert class_colours == [colour_of[name] for name in attributes["true_class"]]
    assert "city (10)" in read["legends"][keys["true_class"]]

    # 30 distinct confidences: a linear scale, from the lowest to the highest value.
    confidence_colours = data[f"colour_{keys['confidence']}"]
    assert len(set(confidence_colours)) == 30
    assert "linear-gradient" in read["legends"][keys["confidence"]]
    assert "0.31" in read["legends"][keys["confidence"]] and "0.99" in read["legends"][keys["confidence"]]

    licence_colours = data[f"colour_{keys['licence']}"]
    assert licence_colours[-1] == explorer_page.MISSING_COLOUR != licence_colours[0]
    assert f"{explorer_page.MISSING_LABEL} (1)" in read["legends"][keys["licence"]]
    assert "&lt;b&gt;odd name&lt;/b&gt;" in read["legends"][keys["<b>odd name</b>"]]


def test_a_list_of_thumbnails_is_accepted(tmp_path):
    """Can the images be given as ready-made data URIs (and as arrays of different sizes)?"""
    embeddings, images, attributes, colours = _example(num_points=6)
    uris = [explorer.thumbnail_data_uri(image) for image in images[:3]]
    mixed = uris + [np.full((10 + index, 20, 3), colours[3 + index], dtype=np.uint8) for index in range(3)]
    path = explorer.write_explorer(embeddings, mixed, attributes, tmp_path / "page.html", title="Maps")
    thumbnails = _page_data(path)["data"]["thumbnail"]
    assert thumbnails[:3] == uris
    assert _uri_pixels(thumbnails[5]).shape == (12, 20, 3)


def test_thumbnail_keeps_the_aspect_ratio_and_never_enlarges():
    """Is a 200x100 image reduced to 96x48, and a 30x40 one kept as it is?"""
    wide = np.zeros((100, 200, 3), dtype=np.uint8)
    assert _uri_pixels(explorer.thumbnail_data_uri(wide)).shape == (48, 96, 3)
    small = np.full((40, 30, 3), MAGENTA, dtype=np.uint8)
    pixels = _uri_pixels(explorer.thumbnail_data_uri(small, size=96))
    assert pixels.shape == (40, 30, 3) and (pixels == MAGENTA).all()
    with pytest.raises(ValueError, match="uint8"):
        explorer.thumbnail_data_uri(small.astype("float32"))
    with pytest.raises(ValueError, match="shape"):
        explorer.thumbnail_data_uri(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="size"):
        explorer.thumbnail_data_uri(small, size=0)


def _replace(arguments: dict, **changes) -> dict:
    return {**arguments, **changes}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda arguments, points: _replace(arguments, embeddings={}), "empty"),
        (lambda arguments, points: _replace(arguments, embeddings={"PCA": np.zeros((points, 3))}), r"\(N, 2\)"),
        (lambda arguments, points: _replace(arguments, embeddings={"PCA": np.zeros(points)}), r"\(N, 2\)"),
        (lambda arguments, points: _replace(arguments, embeddings={"PCA": np.zeros((0, 2))}), "no point"),
        (lambda arguments, points: _replace(arguments, embeddings={"PCA": np.full((points, 2), np.nan)}), "NaN"),
        (lambda arguments, points: _replace(arguments, embeddings={"": np.zeros((points, 2))}), "name"),
        (
            lambda arguments, points: _replace(
                arguments, embeddings={"PCA": np.zeros((points, 2)), "UMAP": np.zeros((points - 1, 2))}
            ),
            "different numbers",
        ),
        (lambda arguments, points: _replace(arguments, images=arguments["images"][:-1]), "images for"),
        (lambda arguments, points: _replace(arguments, images=arguments["images"].astype("float32")), "uint8"),
        (lambda arguments, points: _replace(arguments, images=arguments["images"][..., :2]), "shape"),
        (lambda arguments, points: _replace(arguments, images=["http://example.org/a.png"] * points), "data URI"),
        (lambda arguments, points: _replace(arguments, attributes=arguments["attributes"].iloc[:-1]), "rows"),
        (lambda arguments, points: _replace(arguments, attributes=pd.DataFrame(index=range(points))), "no column"),
        (lambda arguments, points: _replace(arguments, attributes={"true_class": ["a"] * points}), "DataFrame"),
        (lambda arguments, points: _replace(arguments, colour_by="colour"), "not a column"),
        (lambda arguments, points: _replace(arguments, point_size=0), "point_size"),
    ],
)
def test_invalid_arguments_raise_value_error(tmp_path, change, message):
    """Is each inconsistent argument refused with a ValueError that says what is wrong, writing nothing?"""
    embeddings, images, attributes, _ = _example(num_points=6)
    arguments = change(
        {"embeddings": embeddings, "images": images, "attributes": attributes, "colour_by": None, "point_size": 9},
        6,
    )
    out_path = tmp_path / "page.html"
    with pytest.raises(ValueError, match=message):
        explorer.write_explorer(
            arguments["embeddings"], arguments["images"], arguments["attributes"], out_path,
            title="Maps", colour_by=arguments["colour_by"], point_size=arguments["point_size"],
        )
    assert not out_path.exists()


# ---------------------------------------------------------------------------------------------
# From an image folder
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory) -> Path:
    """The sample dataset at 10 images per class on average, with clutter that is no class."""
    folder = generate_sample_dataset(tmp_path_factory.mktemp("explorer") / "sample", per_class=10, seed=3)
    (folder / "__MACOSX" / "city").mkdir(parents=True)
    (folder / "__MACOSX" / "city" / "._city_0001.jpg").write_bytes(b"\x00\x05\x16\x07")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".DS_Store").write_bytes(b"Bud1")
    (folder / "city" / ".DS_Store").write_bytes(b"Bud1")
    return folder


def _image_files(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix()
        for name in SAMPLE_CLASS_NAMES
        for path in (folder / name).iterdir()
        if path.suffix == ".jpg"
    )


def test_explore_image_folder_shows_every_image_once(small_sample, tmp_path):
    """Are the points exactly the folder's images, with their class, licence and a pixel-feature note?"""
    path = explorer.explore_image_folder(small_sample, tmp_path / "sample.html", methods=("pca", "tsne"))
    read = _page_data(path)
    values = {label: read["data"][key] for key, label in read["options"]}
    files = _image_files(small_sample)

    assert sorted(values["file"]) == files
    assert len(read["data"]["thumbnail"]) == len(files)
    assert json.dumps(read["document"]).count(DATA_URI_PREFIX) == len(files)
    assert values["true_class"] == [name.split("/")[0] for name in values["file"]]
    assert set(values["true_class"]) == set(SAMPLE_CLASS_NAMES)
    assert set(values["licence"]) == {"CC0 1.0"}
    assert read["figure_titles"] == ["PCA", "t-SNE"]
    assert len(read["data"]["x_1"]) == len(files)
    assert "downsampled" in read["text"] and "no model given" in read["text"]
    assert _uri_pixels(read["data"]["thumbnail"][0]).shape == (64, 64, 3)


def test_explore_image_folder_keeps_a_stratified_subset(small_sample, tmp_path):
    """With max_images below the folder's size, is every class kept in proportion, the same for a seed?"""
    files = _image_files(small_sample)
    counts = pd.Series([name.split("/")[0] for name in files]).value_counts()
    first = explorer.explore_image_folder(small_sample, tmp_path / "a.html", methods=("pca",), max_images=21)
    second = explorer.explore_image_folder(small_sample, tmp_path / "b.html", methods=("pca",), max_images=21)
    values = {label: _page_data(first)["data"][key] for key, label in _page_data(first)["options"]}
    again = {label: _page_data(second)["data"][key] for key, label in _page_data(second)["options"]}

    assert len(values["file"]) == 21 and values["file"] == again["file"]
    assert set(values["file"]) <= set(files)
    kept = pd.Series(values["true_class"]).value_counts()
    for name in SAMPLE_CLASS_NAMES:
        assert abs(kept[name] - counts[name] * 21 / len(files)) <= 1
    assert f"a stratified subset of {len(files)} files" in _page_data(first)["text"]


def test_explore_image_folder_with_explicit_classes_and_bad_arguments(small_sample, tmp_path):
    """Are explicit classes honoured, and bad methods, sizes and missing folders refused clearly?"""
    path = explorer.explore_image_folder(
        small_sample, tmp_path / "two.html", class_names=["lake", "ocean"], methods="pca", max_images=500
    )
    values = {label: _page_data(path)["data"][key] for key, label in _page_data(path)["options"]}
    assert set(values["true_class"]) == {"lake", "ocean"}

    with pytest.raises(ValueError, match="Unknown reduction"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", methods=("pca", "lda"))
    with pytest.raises(ValueError, match="max_images"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", max_images=3)
    with pytest.raises(DatasetError, match="does not exist"):
        explorer.explore_image_folder(tmp_path / "nowhere", tmp_path / "x.html")
    with pytest.raises(DatasetError, match="No folder for the class"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", class_names=["lake", "Ocean"])
    with pytest.raises(ValueError, match=".keras"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", model_path=tmp_path / "model.h5")
    assert not (tmp_path / "x.html").exists()


def test_discovered_classes_leave_out_clutter(small_sample):
    """Are __MACOSX, hidden folders and licenses/ left out of the discovered classes?"""
    assert explorer.discover_class_names(small_sample) == SAMPLE_CLASS_NAMES


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_features_come_from_the_models_penultimate_layer(small_sample, tmp_path):
    """With a saved model, are features its penultimate layer and predictions shown per image?"""
    keras = pytest.importorskip("keras")
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    hidden = layers.Rescaling(1.0 / 255)(inputs)
    hidden = layers.Conv2D(4, 3, activation="relu")(hidden)
    hidden = layers.GlobalAveragePooling2D()(hidden)
    hidden = layers.Dense(8, activation="relu", name="features")(hidden)
    outputs = layers.Dense(len(SAMPLE_CLASS_NAMES), activation="softmax", name="classifier")(hidden)
    model_path = tmp_path / "tiny.keras"
    keras.Model(inputs, outputs).save(model_path)

    path = explorer.explore_image_folder(small_sample, tmp_path / "model.html", model_path=model_path, methods=("pca",))
    read = _page_data(path)
    values = {label: read["data"][key] for key, label in read["options"]}
    assert "penultimate layer of tiny.keras (the output of 'features'" in read["text"]
    assert "8 values" in read["text"]
    assert set(values) >= {"predicted_class", "correct", "confidence"}
    assert set(values["predicted_class"]) <= set(SAMPLE_CLASS_NAMES)
    assert values["correct"] == [
        str(predicted == true) for predicted, true in zip(values["predicted_class"], values["true_class"])
    ]
    # Images are loaded at the model's input size.
    assert _uri_pixels(read["data"]["thumbnail"][0]).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="expects 32x32"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", model_path=model_path, image_size=64)


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paysages")
    commands = parser.add_subparsers(dest="command", required=True)
    add_explore_command(commands)
    return parser


def test_explore_command_writes_the_page(small_sample, tmp_path, capsys):
    """Does `paysages explore DIR --out FILE --methods pca --classes ... --max-images N` write the page?"""
    out_path = tmp_path / "cli.html"
    arguments = _parser().parse_args(
        ["explore", str(small_sample), "--out", str(out_path), "--methods", "pca",
         "--classes", "city,forest", "--max-images", "8"]
    )
    assert arguments.methods == ["pca"] and arguments.classes == ["city", "forest"]
    assert arguments.handler(arguments) == 0
    assert str(out_path) in capsys.readouterr().out
    values = {label: _page_data(out_path)["data"][key] for key, label in _page_data(out_path)["options"]}
    assert len(values["file"]) == 8 and set(values["true_class"]) == {"city", "forest"}

    refused = _parser().parse_args(["explore", str(small_sample), "--out", str(tmp_path / "x.html"), "--model", "m.h5"])
    assert refused.handler(refused) == 2
    assert "error: " in capsys.readouterr().err and not (tmp_path / "x.html").exists()


def test_any_label_column_from_a_csv_colours_the_points(small_sample, tmp_path, capsys):
    """Does `--labels FILE.csv --colour-by COLUMN` add a labelling of one's own, keyed by file?"""
    files = _image_files(small_sample)
    # A labelling that is not the folder's: the parity of the image number, for all files but one.
    seasons = {name: ("hiver" if int(name.rsplit("_", 1)[1].split(".")[0]) % 2 else "été") for name in files[1:]}
    labels_path = tmp_path / "labels.csv"
    pd.DataFrame({"file": list(seasons), "season": list(seasons.values())}).to_csv(labels_path, index=False)
    out_path = tmp_path / "labels.html"
    arguments = _parser().parse_args(
        ["explore", str(small_sample), "--out", str(out_path), "--methods", "pca",
         "--labels", str(labels_path), "--colour-by", "season"]
    )
    assert arguments.handler(arguments) == 0, capsys.readouterr().err
    read = _page_data(out_path)
    values = {label: read["data"][key] for key, label in read["options"]}
    assert dict(read["options"])[read["selected"]] == "season"
    for name, season in zip(values["file"], values["season"]):
        assert season == seasons.get(name, explorer_page.MISSING_LABEL), name
    assert values["season"].count(explorer_page.MISSING_LABEL) == 1

    pd.DataFrame({"path": files, "season": "x"}).to_csv(tmp_path / "no_file.csv", index=False)
    with pytest.raises(ValueError, match="needs a 'file' column"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", methods="pca",
                                      labels_path=tmp_path / "no_file.csv")
    pd.DataFrame({"file": files, "true_class": "x"}).to_csv(tmp_path / "clash.csv", index=False)
    with pytest.raises(ValueError, match="repeats the page's own column"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", methods="pca",
                                      labels_path=tmp_path / "clash.csv")
    with pytest.raises(ValueError, match="colour_by='weather'"):
        explorer.explore_image_folder(small_sample, tmp_path / "x.html", methods="pca",
                                      labels_path=labels_path, colour_by="weather")
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    "extra", [["--methods", "pca,lda"], ["--methods", "pca,pca"], ["--max-images", "0"], ["--classes", "a,,b"]]
)
def test_explore_command_rejects_bad_options(tmp_path, capsys, extra):
    """Are unknown or repeated methods and non-positive sizes refused by the parser?"""
    # argparse exits with status 2 on a bad option.
    with pytest.raises(SystemExit, match="^2$") as raised:
        _parser().parse_args(["explore", str(tmp_path), "--out", str(tmp_path / "x.html"), *extra])
    assert raised.value.code == 2
    assert "error" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The page in a real browser
# ---------------------------------------------------------------------------------------------


def test_missing_browser_skips_locally_and_fails_under_ci(monkeypatch, tmp_path):
    """Is a missing Chromium a skip with the install command, but a failure when CI=true?"""
    monkeypatch.setenv("CHROMIUM_BINARY", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        browser.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium chromium-driver"):
        browser.require_browser()


def _hex_to_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[index:index + 2], 16) for index in (1, 3, 5)], dtype=float)


def _marker_mask(image: np.ndarray, colours, opacity: float) -> np.ndarray:
    """Pixels of a marker's fill: one of ``colours`` laid over the white plot at ``opacity``."""
    pixels = image.astype(np.int16)
    mask = np.zeros(image.shape[:2], dtype=bool)
    for colour in colours:
        blend = np.round(_hex_to_rgb(colour) * opacity + 255.0 * (1.0 - opacity)).astype(np.int16)
        mask |= (np.abs(pixels - blend) <= 10).all(axis=2)
    return mask


def _crop(array: np.ndarray, rect: dict) -> np.ndarray:
    """The part of a screenshot (or of a mask) inside a bounding rectangle."""
    top, left = int(rect["top"]), int(rect["left"])
    return array[top:top + int(rect["height"]), left:left + int(rect["width"])]


def _magenta_mask(image: np.ndarray) -> np.ndarray:
    return (image[..., 0] >= 240) & (image[..., 1] <= 15) & (image[..., 2] >= 240)


def _dark_mask(image: np.ndarray) -> np.ndarray:
    return (image < 60).all(axis=2)


@pytest.mark.slow
def test_page_in_chromium_shows_points_thumbnail_on_hover_and_recolours(tmp_path):
    """In headless Chromium: are the points drawn, does hovering show the image, and does the menu recolour?"""
    browser.require_browser()
    from selenium.webdriver.support.ui import Select

    num_points = 40
    rng = np.random.default_rng(1)
    embeddings = {"PCA": rng.normal(size=(num_points, 2)), "t-SNE": rng.normal(size=(num_points, 2))}
    attributes = pd.DataFrame(
        {
            "true_class": np.array(["city", "lake", "road"])[np.arange(num_points) % 3],
            "score": np.linspace(0.0, 1.0, num_points),
        }
    )
    images = _solid_images([MAGENTA] * num_points, size=48)
    page_path = explorer.write_explorer(embeddings, images, attributes, tmp_path / "page.html", title="Browser test")
    read = _page_data(page_path)
    keys = {label: key for key, label in read["options"]}
    class_colours = sorted(set(read["data"][f"colour_{keys['true_class']}"]))
    score_colours = sorted(set(read["data"][f"colour_{keys['score']}"]))
    opacity = read["fill_alpha"][0]

    with browser.headless_chromium(width=1400, height=900) as driver:
        browser.open_file(driver, page_path)
        canvases = browser.wait_until(
            lambda: [canvas for canvas in browser.deep_query(driver, "canvas") if canvas.size["width"] > 100],
            message="the plots' canvases",
        )
        # Bokeh stacks several canvases per plot; one rectangle per map remains.
        rects = sorted({(rect["left"], rect["top"], rect["width"], rect["height"]) for rect in
                        (browser.bounding_rect(driver, canvas) for canvas in canvases)})
        rects = [dict(zip(("left", "top", "width", "height"), rect)) for rect in rects]
        assert len(rects) == 2

        def drawn_points():
            image = browser.screenshot(driver)
            masks = [_marker_mask(_crop(image, rect), class_colours, opacity) for rect in rects]
            return (image, masks[0]) if min(mask.sum() for mask in masks) >= num_points * 15 else None

        before, mask = browser.wait_until(drawn_points, message="the points to be drawn")
        Image.fromarray(before).save(tmp_path / "before_hover.png")
        assert not _magenta_mask(before).any(), "no thumbnail may show before hovering"

        # The centre of a marker near the left edge of the first map, so that the tooltip
        # (drawn to its right) stays inside the first map.
        first = rects[0]
        core = mask.copy()
        for shift_y in range(-2, 3):
            for shift_x in range(-2, 3):
                core &= np.roll(mask, (shift_y, shift_x), axis=(0, 1))
        candidates = [(x, y) for y, x in zip(*np.nonzero(core)) if x < 130 and y > 50]
        assert candidates, "no marker found near the left edge of the first map"
        x, y = candidates[0]
        browser.move_mouse(driver, first["left"] + x, first["top"] + y)

        def thumbnail_shown():
            image = browser.screenshot(driver)
            return image if _magenta_mask(image).sum() > 60 * 60 else None

        hovered = browser.wait_until(thumbnail_shown, timeout=10, message="the hover thumbnail")
        Image.fromarray(hovered).save(tmp_path / "hover.png")
        rows, columns = np.nonzero(_magenta_mask(hovered))
        height, width = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
        assert height >= 90 and width >= 90, "the thumbnail is shown 96 pixels wide"
        block = hovered[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
        assert (block == MAGENTA).all(), "the thumbnail is one solid, opaque block (no point shows through)"
        shown = [
            image for image in browser.deep_query(driver, "img")
            if (image.get_attribute("src") or "").startswith(DATA_URI_PREFIX) and image.is_displayed()
        ]
        assert len(shown) == 1
        box = browser.bounding_rect(driver, shown[0])
        assert abs(box["left"] - columns.min()) <= 3 and abs(box["top"] - rows.min()) <= 3
        tooltip_text = driver.execute_script("return arguments[0].parentElement.textContent;", shown[0])
        assert "true_class" in tooltip_text and "score" in tooltip_text

        # The maps share one source: the hovered image is outlined in the second map too.
        second = rects[1]
        assert _dark_mask(_crop(hovered, second)).sum() >= _dark_mask(_crop(before, second)).sum() + 15

        # Colour by the score: the class colours give way to the linear scale, and the legend follows.
        browser.move_mouse(driver, 5, 5)
        (menu,) = browser.deep_query(driver, "select")
        Select(menu).select_by_visible_text("score")
        browser.wait_until(
            lambda: "<b>score</b>" in driver.execute_script(
                "return Bokeh.documents[0].get_model_by_name('legend').text;"
            ),
            message="the legend to follow the menu",
        )

        def recoloured():
            image = browser.screenshot(driver)
            counts = [int(_marker_mask(_crop(image, rect), class_colours, opacity).sum()) for rect in rects]
            return image if max(counts) == 0 else None

        after = browser.wait_until(recoloured, timeout=10, message="the points to be recoloured")
        Image.fromarray(after).save(tmp_path / "coloured_by_score.png")
        for rect in rects:
            assert _marker_mask(_crop(after, rect), score_colours, opacity).sum() >= num_points * 15



def test_three_maps_fit_a_laptop_screen_without_scrolling_sideways(tmp_path):
    """In headless Chromium at 1366 x 768: do the three maps of notebook 09 fit, side bar included?"""
    browser.require_browser()
    num_points = 30
    rng = np.random.default_rng(2)
    embeddings = {name: rng.normal(size=(num_points, 2)) for name in ("PCA", "t-SNE", "UMAP")}
    attributes = pd.DataFrame({"true_class": np.array(["city", "lake", "road"])[np.arange(num_points) % 3]})
    images = _solid_images([MAGENTA] * num_points, size=32)
    page_path = explorer.write_explorer(embeddings, images, attributes, tmp_path / "page.html", title="Laptop")

    with browser.headless_chromium(width=explorer_page.LAPTOP_WIDTH, height=768) as driver:
        browser.open_file(driver, page_path)
        canvases = browser.wait_until(
            lambda: [canvas for canvas in browser.deep_query(driver, "canvas") if canvas.size["width"] > 100],
            message="the plots' canvases",
        )
        lefts = {round(browser.bounding_rect(driver, canvas)["left"]) for canvas in canvases}
        assert len(lefts) == 3, "one map per reduction"
        viewport_width = driver.execute_script("return document.documentElement.clientWidth;")
        page_width = driver.execute_script("return document.documentElement.scrollWidth;")
        assert page_width <= viewport_width, f"the page is {page_width} px wide in a {viewport_width} px window"
        rights = [browser.bounding_rect(driver, canvas) for canvas in canvases]
        assert max(rect["left"] + rect["width"] for rect in rights) <= viewport_width


# ---------------------------------------------------------------------------------------------
# The 2-D reductions, shared with the reference solution of notebook 09
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_points", [5, 6, 12, 16, 61, 200])
def test_tsne_perplexity_stays_below_the_number_of_points(num_points):
    """Is the perplexity a third of the other points, between 2 and 30, and always valid for t-SNE?"""
    perplexity = reductions.tsne_perplexity(num_points)
    assert 2.0 <= perplexity <= 30.0 and perplexity < num_points
    assert perplexity == min(30.0, max(2.0, (num_points - 1) / 3))


@pytest.mark.parametrize("method", ["pca", "tsne", "pca_tsne"])
def test_explorer_maps_equal_the_reference_solution_maps(method):
    """On 12 points (where the two perplexity floors once differed), are both maps identical?"""
    from solutions.reductions import reduce_features

    points = np.random.default_rng(0).normal(size=(12, 6))

    explorer_map = reductions.reduce_to_2d(points, method, seed=0)
    reference_map = reduce_features(points, method, seed=0)

    np.testing.assert_allclose(explorer_map, reference_map, rtol=1e-6, atol=1e-6)
