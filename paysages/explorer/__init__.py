"""An interactive, self-contained HTML page to explore a 2-D map of images (Bokeh).

The page shows one scatter plot per 2-D embedding of the same images, side by side (for
example PCA | t-SNE | UMAP). All plots share one data source, so hovering a point highlights it
in every map and a box or lasso selection in one map selects the same images in the others.
Hovering a point shows its thumbnail and every attribute (class, prediction, licence...), and a
menu colours the points by any attribute, with a legend that follows.

The page carries Bokeh's JavaScript inline and every thumbnail as a ``data:`` URI: it works
offline, from a ``file://`` URL, and can be sent as a single file.

Its three parts: :mod:`~paysages.explorer.page` (the HTML page), :mod:`~paysages.explorer.reductions` (the 2-D maps) and :mod:`~paysages.explorer.folder`
(from an image folder to the page).

* :func:`thumbnail_data_uri` turns one image into a PNG data URI.
* :func:`write_explorer` writes the page from embeddings, images and an attributes table.
* :func:`explore_image_folder` does everything from an image folder (one sub-folder per class):
  features from a saved Keras model's penultimate layer (or downsampled pixels without a model),
  2-D reductions, then the page. ``paysages explore`` runs it from the command line.

Bokeh (and UMAP for the "umap" map) come with the ``bonus`` extra:
``pip install "paysages[bonus]"``.
"""

from paysages.explorer.folder import discover_class_names, explore_image_folder, licence_column
from paysages.explorer.page import thumbnail_data_uri, write_explorer
from paysages.explorer.reductions import METHOD_TITLES, pixel_features, reduce_to_2d, tsne_perplexity


__all__ = [
    "METHOD_TITLES",
    "discover_class_names",
    "explore_image_folder",
    "licence_column",
    "pixel_features",
    "reduce_to_2d",
    "thumbnail_data_uri",
    "tsne_perplexity",
    "write_explorer",
]
