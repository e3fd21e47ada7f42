"""The ``paysages explore`` command: an interactive HTML map of an image folder's feature space.

::

    paysages explore DIR --out FILE.html [--model M.keras] [--methods pca,tsne,umap,pca_tsne]
                         [--classes a,b,c] [--max-images N] [--image-size S] [--seed S]
                         [--labels FILE.csv] [--colour-by COLUMN]

``paysages.cli`` adds it with :func:`add_explore_command`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

METHOD_CHOICES = ("pca", "tsne", "umap", "pca_tsne")


def _comma_separated(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not items or any(not item for item in items):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return items


def _methods(text: str) -> list[str]:
    methods = _comma_separated(text)
    unknown = [method for method in methods if method not in METHOD_CHOICES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown reduction(s) {', '.join(unknown)}; choose among {', '.join(METHOD_CHOICES)}"
        )
    if len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(f"a reduction is repeated in {text!r}")
    return methods


def _positive_integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _command_explore(arguments) -> int:
    from paysages.explorer import explore_image_folder

    try:
        out_path = explore_image_folder(
            arguments.directory,
            arguments.out,
            class_names=arguments.classes,
            model_path=arguments.model,
            methods=arguments.methods,
            image_size=arguments.image_size,
            max_images=arguments.max_images,
            seed=arguments.seed,
            labels_path=arguments.labels,
            colour_by=arguments.colour_by,
        )
    except (ValueError, ImportError) as error:
        # Dataset errors are PaysagesError and reported by paysages.cli.main.
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Explorer written to {out_path} (open it in a web browser; it works offline).")
    return 0


def add_explore_command(subparsers) -> argparse.ArgumentParser:
    """Add the ``explore`` command to the ``paysages`` sub-command parsers; return its parser."""
    explore = subparsers.add_parser(
        "explore",
        help="write an interactive HTML map of an image folder's feature space",
        description=(
            "Reduce the images of a folder (one sub-folder per class) to 2-D maps and write a "
            "standalone HTML page: hover a point to see its image, colour the points by class, "
            "prediction or licence. Features come from a model's penultimate layer (--model), "
            "else from the downsampled pixels."
        ),
    )
    explore.add_argument("directory", type=Path, help="the folder holding one sub-folder per class")
    explore.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    explore.add_argument("--model", type=Path, default=None,
                         help="a .keras model whose penultimate layer gives the features "
                              "(loaded with safe_mode=True)")
    explore.add_argument("--methods", type=_methods, default=["pca", "tsne"],
                         help="comma-separated maps among pca, tsne, umap, pca_tsne (default pca,tsne)")
    explore.add_argument("--classes", type=_comma_separated, default=None,
                         help="comma-separated class folders, in the model's class order "
                              "(default: every sub-folder, sorted)")
    explore.add_argument("--max-images", type=_positive_integer, default=500,
                         help="show a stratified random subset of at most N images (default 500)")
    explore.add_argument("--image-size", type=_positive_integer, default=None,
                         help="load images at S x S pixels (default: the model's input size, else 64)")
    explore.add_argument("--seed", type=int, default=0, help="seed of the subset and the maps (default 0)")
    explore.add_argument("--labels", type=Path, default=None,
                         help="a CSV with a 'file' column (path inside DIR, e.g. city/city_0001.jpg) and any "
                              "other columns, each one more attribute to colour the points by")
    explore.add_argument("--colour-by", default="true_class",
                         help="the attribute that colours the points when the page opens (default true_class)")
    explore.set_defaults(handler=_command_explore)
    return explore
