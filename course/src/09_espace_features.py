# %% [markdown]
# # 09 — Explorer l'espace des caractéristiques (bonus)
#
# **Objectifs**
#
# - réduire **les mêmes caractéristiques** (celles du meilleur modèle, notebook 07) en 2-D par
#   quatre méthodes : ACP (PCA), t-SNE, UMAP, et ACP puis t-SNE ;
# - **mesurer** la qualité de chaque carte au lieu de la juger à l'œil : la *trustworthiness*
#   (les voisins d'un point sur la carte sont-ils ses voisins dans l'espace d'origine ?) et
#   l'exactitude d'un classifieur des k plus proches voisins **dans la carte 2-D** (les classes
#   restent-elles groupées ?), avec le **temps** de calcul ;
# - produire une **page interactive** (Bokeh) : la vignette de l'image au survol, les points
#   colorés au choix par la vraie classe, la classe prédite, la justesse ou la licence.
#
# Ce notebook est un **bonus**. Il utilise `arrays/features.npz` (notebook 07).

# %% [code] id=bootstrap_09
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_09
# UMAP n'est pas installé par défaut sur Colab : on l'ajoute si besoin.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("umap") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "umap-learn"], check=True)

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from paysages import checks
from paysages.data import load_split_arrays
from paysages.explorer import licence_column, write_explorer
from paysages.notebook import start

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("09_espace_features", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
saved = run.load_arrays("features")
features, labels, indices = saved["features"], saved["labels"], saved["indices"]
best = run.load_json("best")
print(f"{len(labels)} images de validation, {features.shape[1]} caractéristiques (modèle « {best['name']} »)")

# %% [markdown]
# ## 1. Quatre réductions
#
# - **ACP** : projection linéaire sur les deux directions de plus grande variance. Rapide et
#   fidèle aux grandes distances, mais elle écrase les structures non linéaires.
# - **t-SNE** : préserve les voisinages locaux (perplexité ≈ nombre de voisins effectifs) ;
#   les distances entre groupes n'ont pas de sens.
# - **UMAP** : même idée que t-SNE, souvent plus rapide et plus fidèle à la structure globale.
# - **ACP puis t-SNE** : réduire d'abord à 50 dimensions enlève le bruit et accélère t-SNE.
#
# Les caractéristiques sont d'abord **standardisées** (moyenne 0, écart-type 1 par colonne) :
# sinon quelques neurones de grande amplitude dominent toutes les distances.
#
# Écrivez `reduce_features(features, method, seed)` puis `knn_accuracy_2d(embedding, labels,
# num_neighbours, seed)` (validation croisée à 5 plis) et enfin `compare_reductions(...)` qui
# renvoie le tableau (colonnes `method`, `trustworthiness`, `knn_accuracy`, `seconds`) et le
# dictionnaire des cartes.

# %% [solution] id=reduce_features
#| solution: solutions.reductions.reduce_features

# %% [solution] id=knn_accuracy_2d
#| solution: solutions.reductions.knn_accuracy_2d

# %% [solution] id=compare_reductions
#| solution: solutions.reductions.compare_reductions

# %% [tests] id=test_reduce_features points=1
"""Vérifie que reduce_features renvoie une carte 2-D par méthode et refuse une méthode inconnue."""
_points = np.random.default_rng(0).normal(size=(60, 12))
for _method in ("pca", "tsne", "pca_tsne"):
    _map = checks.plain_float_array(reduce_features(_points, _method, 0), f"reduce_features(..., {_method!r})", shape=(60, 2))
try:
    reduce_features(_points, "lda", 0)
except ValueError:
    pass
else:
    checks.fail("Une méthode inconnue doit lever ValueError.")
print("reduce_features : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb09.py): reduce_features is called on points the grader
# drew for this run and on a made-up method; only the maps are exported. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes


def _exported_map(points_h, method_h, seed_h):
    try:
        _value = _np.asarray(reduce_features(_np.asarray(points_h, dtype=_np.float64), method_h, seed_h))
    except Exception as _error:
        return {"error": _probes.type_name(_error), "value_error": isinstance(_error, ValueError)}
    if _value.ndim != 2:
        return {"rows": None}
    return {"rows": [_probes.plain_floats(_row) for _row in _value]}


_probe = _probes.load_probes("test_reduce_features")
if _probe is not None:
    _probes.export_results("test_reduce_features", {
        "maps": {_method: _exported_map(_probe["points"], _method, _probe["seed"]) for _method in ("pca", "tsne", "pca_tsne")},
        "refusal": _exported_map(_probe["points"], _probe["unknown_method"], _probe["seed"]),
    })
### END HIDDEN TESTS

# %% [code] id=compare_09
methods = ("pca", "tsne", "umap", "pca_tsne")
table, embeddings = compare_reductions(features, labels, methods=methods, seed=settings.seed)
run.save_json("reductions", table.to_dict("records"))
display(table.round(3))

# %% [tests] id=test_compare_reductions points=2
"""Vérifie que le tableau compare les quatre méthodes avec des mesures recalculables."""
if not isinstance(table, pd.DataFrame) or list(table["method"]) != list(methods):
    checks.fail("Le tableau doit avoir une ligne par méthode, dans l'ordre : pca, tsne, umap, pca_tsne.")
for _column in ("trustworthiness", "knn_accuracy", "seconds"):
    if _column not in table.columns:
        checks.fail(f"Il manque la colonne « {_column} ».")
print("compare_reductions : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb09.py): the table, its maps and the features and labels
# they come from are exported; the grader recomputes each measure from its map. Nothing here decides the grade.
import numpy as _np
import pandas as _pd
from paysages import probes as _probes

if _probes.load_probes("test_compare_reductions") is not None:
    _columns_h = ["method", "trustworthiness", "knn_accuracy", "seconds"]
    _export_h = {"methods": _probes.plain_strings(list(methods))}
    try:
        _export_h["table"] = _probes.plain_table(table[_columns_h] if isinstance(table, _pd.DataFrame) else table, {
            "method": "strings", "trustworthiness": "floats", "knn_accuracy": "floats", "seconds": "floats"})
    except Exception as _error:
        _export_h["table"] = {"error": _probes.type_name(_error)}
    try:
        _arrays_h = {"features": _np.asarray(features, dtype=_np.float64), "labels": _np.asarray(labels, dtype=_np.int64)}
        for _position, _method in enumerate(methods):
            # A map that is missing or not numbers is left out: the verdict names its method.
            try:
                _arrays_h[f"map_{_position}"] = _np.asarray(embeddings[_method], dtype=_np.float64)
            except Exception:
                pass
        _probes.export_arrays("test_compare_reductions", **_arrays_h)
    except Exception as _error:
        _export_h["error"] = _probes.type_name(_error)
    _probes.export_results("test_compare_reductions", _export_h)
### END HIDDEN TESTS

# %% [code] id=maps_09
class_names = list(data.class_names)
figure, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods), 4.2))
for axis, row in zip(axes, table.itertuples()):
    embedding = embeddings[row.method]
    for index, name in enumerate(class_names):
        chosen = labels == index
        axis.scatter(embedding[chosen, 0], embedding[chosen, 1], s=8, color=f"C{index}", label=name)
    axis.set_title(f"{row.method}\nconfiance {row.trustworthiness:.2f}, k-NN {row.knn_accuracy:.2f}, {row.seconds:.1f} s", fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])
axes[0].legend(fontsize="x-small", markerscale=2)
figure.tight_layout()
figure.savefig(run.figure_path("09_reductions.png"), dpi=300)
plt.show()

# %% [markdown]
# ## 2. La page interactive
#
# La page ci-dessous fonctionne hors ligne (un seul fichier HTML). Survolez un point pour voir
# l'image ; changez la couleur des points avec la liste déroulante. Elle marche pour n'importe
# quel dossier d'images : `paysages explore DOSSIER --out page.html [--model modele.keras]`.

# %% [code] id=explorer_09
best_model = run.load_model(best["name"])
images = data.x_validation[indices]
probabilities = best_model.predict(images, batch_size=settings.batch_size, verbose=0)
predicted = probabilities.argmax(axis=1)
attributes = pd.DataFrame({
    "true_class": [class_names[label] for label in labels],
    "predicted_class": [class_names[label] for label in predicted],
    "correct": np.where(predicted == labels, "oui", "non"),
    "confidence": probabilities.max(axis=1).round(3),
    "file": [data.validation_paths[index] for index in indices],
})
# Each photo's licence, from the dataset's licence metadata (left out when there is none).
licences = licence_column(settings.dataset_dir, class_names, [settings.dataset_dir / data.validation_paths[index] for index in indices])
if licences is not None:
    attributes["licence"] = licences
print(f"Attributs pour colorer les points : {', '.join(attributes.columns)}")
page = write_explorer(
    embeddings, images, attributes, run.path / "explorateur.html",
    title=f"Espace des caractéristiques — {best['name']}",
    subtitle="Survolez un point pour voir l'image ; la liste déroulante change la couleur des points.",
)
print(f"Page interactive : {page}")

# %% [answer] id=analysis_09 points=2
# Réponse de référence (correcteur) : t-SNE et ACP-puis-t-SNE ont la meilleure trustworthiness
# et la meilleure exactitude k-NN en 2-D (voisinages locaux préservés) ; l'ACP est la plus
# rapide mais mélange les classes ; UMAP est proche de t-SNE. Les mesures confirment ou
# contredisent l'impression visuelle ; la page montre que les erreurs (correct = non) se
# situent aux frontières lac/océan et champ/route.

# %% [code] id=finish_09
#| include: finish
