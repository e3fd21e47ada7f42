"""Reference solution of notebook 09: several 2-D reductions of one feature space, measured.

Quality is measured two ways: scikit-learn's ``trustworthiness`` (are a point's 2-D neighbours
also its neighbours in feature space?) and the accuracy of a k-nearest-neighbour classifier in the
2-D map (do classes stay together?), each with the time the reduction took.
"""

import time

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler


def reduce_features(features, method, seed=0):
    """Return the (N, 2) embedding of ``features`` by "pca", "tsne", "umap" or "pca_tsne"."""
    # The perplexity and the number of components are the kit's rules, shared with its explorer.
    from paysages.explorer.reductions import pca_components_before_tsne, tsne_perplexity

    features = StandardScaler().fit_transform(np.asarray(features, dtype="float64"))
    perplexity = tsne_perplexity(len(features))
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    if method == "tsne":
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    if method == "pca_tsne":
        num_components = pca_components_before_tsne(len(features), features.shape[1])
        reduced = PCA(n_components=num_components, random_state=seed).fit_transform(features)
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(features) - 1)).fit_transform(features)
    raise ValueError(f"Unknown reduction {method!r}: use pca, tsne, umap or pca_tsne.")


def knn_accuracy_2d(embedding, labels, num_neighbours=5, seed=0):
    """Cross-validated accuracy of a k-NN classifier in the 2-D map (5 folds)."""
    classifier = KNeighborsClassifier(n_neighbors=num_neighbours)
    scores = cross_val_score(classifier, np.asarray(embedding), np.asarray(labels), cv=5)
    return float(np.mean(scores))


def compare_reductions(features, labels, methods=("pca", "tsne", "umap", "pca_tsne"), seed=0, num_neighbours=5):
    """Run each reduction; return (table, embeddings) with trustworthiness, k-NN accuracy and time."""
    features = np.asarray(features, dtype="float64")
    rows, embeddings = [], {}
    for method in methods:
        started = time.perf_counter()
        embedding = reduce_features(features, method, seed)
        seconds = time.perf_counter() - started
        embeddings[method] = embedding
        rows.append(
            {
                "method": method,
                "trustworthiness": float(trustworthiness(features, embedding, n_neighbors=num_neighbours)),
                "knn_accuracy": knn_accuracy_2d(embedding, labels, num_neighbours, seed),
                "seconds": float(seconds),
            }
        )
    return pd.DataFrame(rows), embeddings
