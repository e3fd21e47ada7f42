"""2-D reductions of a feature space (PCA, t-SNE, UMAP, PCA then t-SNE), and their settings.

The rules here (standardised features, :func:`tsne_perplexity`, :func:`pca_components_before_tsne`)
are shared with the reference solution of notebook 09, so that the explorer's maps and the
course's maps are made the same way.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from paysages.validation import check_integer


# The 2-D reductions explore_image_folder knows, with the names shown above each map.
METHOD_TITLES = {
    "pca": "PCA",
    "tsne": "t-SNE",
    "umap": "UMAP",
    "pca_tsne": "PCA → t-SNE",
}

# Images are reduced to this many pixels square when they serve as features (no model given).
PIXEL_FEATURE_SIZE = 16


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
