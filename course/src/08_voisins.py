# %% [markdown]
# # 08 — Les plus proches voisins dans l'espace des caractéristiques
#
# **Objectifs**
#
# - chercher, pour une image tirée au hasard dans **tout le jeu de données**, les images **les
#   plus proches** parmi toutes les autres, dans l'espace des caractéristiques du meilleur
#   modèle, avec `sklearn.neighbors.NearestNeighbors` ;
# - traiter correctement un piège classique : l'image elle-même, et ses **doublons exacts** ;
# - mesurer, sur tout le jeu de données, la **précision des voisins** (la part des voisins de
#   même classe) et la comparer au **hasard** ;
# - en tirer ce que ces caractéristiques ont appris (et ce qu'elles n'ont pas appris).
#
# Ce notebook lit `arrays/features_all.npz` (notebook `07_tsne.ipynb`) et écrit `neighbours.json`.
# Exécutez d'abord le notebook 07 avec le même dossier de run.

# %% [code] id=bootstrap_08
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_08
import matplotlib.pyplot as plt
import numpy as np
from sklearn.neighbors import NearestNeighbors

from paysages import checks
from paysages.data import load_split_arrays
from paysages.errors import PrerequisiteError
from paysages.notebook import start
from paysages.plots import show_images

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("08_voisins", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
best = run.load_json("best")

saved = run.load_arrays("features_all")
missing = [key for key in ("features", "labels", "num_train") if key not in saved]
if missing:
    raise PrerequisiteError(
        f"arrays/features_all.npz ne contient pas {', '.join(missing)} : exécutez à nouveau le "
        "notebook 07_tsne.ipynb jusqu'au bout."
    )
# The whole dataset: the training images first, then the validation images (as notebook 07 saved them).
features = np.asarray(saved["features"], dtype=np.float32)
labels = np.asarray(saved["labels"], dtype=np.int64)
num_train = int(saved["num_train"])
if (
    features.ndim != 2
    or len(features) != len(labels)
    or num_train != len(data.y_train)
    or not np.array_equal(labels, np.concatenate([data.y_train, data.y_validation]))
):
    raise PrerequisiteError(
        "arrays/features_all.npz ne correspond pas à la séparation actuelle (a-t-elle changé ?) : "
        "exécutez à nouveau le notebook 07_tsne.ipynb."
    )


def image_at(position):
    """The image at ``position`` of the whole dataset (training images first)."""
    if position < num_train:
        return data.x_train[position]
    return data.x_validation[position - num_train]


def describe(position):
    """The record of one image of the dataset: its split, its index there, its file and class."""
    split, index = ("train", position) if position < num_train else ("validation", position - num_train)
    paths = data.train_paths if split == "train" else data.validation_paths
    return {
        "position": int(position),
        "split": split,
        "index": int(index),
        "path": paths[index],
        "class": data.class_names[labels[position]],
    }


print(
    f"Modèle : {best['name']} — {len(features)} images ({num_train} d'entraînement, "
    f"{len(features) - num_train} de validation), {features.shape[1]} caractéristiques chacune."
)

# %% [markdown]
# ## 1. Chercher les voisins d'une image
#
# Chaque image du jeu de données est un point de l'espace des caractéristiques
# (ses `D` valeurs). Ses voisins sont les points à la plus petite **distance euclidienne**
# $\|a - b\| = \sqrt{\sum_j (a_j - b_j)^2}$. On garde ici les caractéristiques **brutes**,
# celles que la dernière couche du réseau reçoit (la standardisation du notebook 07 ne servait
# qu'à la carte t-SNE).
#
# `NearestNeighbors(n_neighbors=k, metric="euclidean").fit(features)` range les points ;
# `kneighbors(requêtes)` renvoie, pour chaque requête, les distances et les indices de ses `k`
# plus proches points, triés par distance croissante. La requête fait elle-même partie des
# points rangés : elle est sa propre voisine, à distance 0. Il faut donc demander **un voisin
# de plus** et retirer la requête.
#
# Le piège : retirer « le point à distance 0 » ou « le premier résultat » est faux. Un jeu
# collecté sur le web contient des **doublons exacts** (la même photo deux fois) : le doublon
# est aussi à distance 0, il peut être renvoyé **avant** la requête, et c'est un vrai voisin
# qu'il faut garder. On retire donc la requête **par son indice**.
#
# Un détail de précision : avec beaucoup de dimensions, l'algorithme par défaut (`"brute"`)
# calcule $\|a-b\|^2 = \|a\|^2 + \|b\|^2 - 2\,a \cdot b$, rapide mais qui peut laisser une
# distance de l'ordre de $10^{-6}$ entre deux images identiques. `algorithm="ball_tree"`
# calcule chaque distance à partir des différences $a_j - b_j$ : un doublon est alors
# exactement à distance 0.
#
# Écrivez `nearest_neighbours(features, query_index, num_neighbours=3)` en suivant sa
# docstring. Renvoyez des `int` et des `float` Python (`int(...)`, `float(...)`) : ils
# s'écrivent tels quels dans un fichier JSON.

# %% [solution] id=nearest_neighbours
#| solution: solutions.neighbours.nearest_neighbours

# %% [tests] id=test_nearest_neighbours points=2
"""Vérifie nearest_neighbours sur de petits exemples, dont une image en double."""
_points = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
_found, _distances = nearest_neighbours(_points.copy(), 1, 3)
_found = checks.plain_int_array(_found, "les indices renvoyés", length=3)
_distances = checks.plain_float_array(_distances, "les distances renvoyées", shape=(3,))
if 1 in _found.tolist():
    checks.fail("La requête elle-même ne doit pas figurer parmi ses voisins : retirez-la par son indice.")
if _found.tolist() != [0, 2, 3] or not np.allclose(_distances, [1.0, 2.0, 5.0]):
    checks.fail(f"Voisins du point 1 attendus [0, 2, 3] aux distances [1, 2, 5], obtenu {_found.tolist()} et {np.round(_distances, 3).tolist()}.")
# Points 0 and 1 are exact duplicates: each is the other's nearest neighbour, at distance 0.
_twins = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
for _query, _expected in ((0, [1, 2, 3]), (1, [0, 2, 3])):
    _found, _distances = nearest_neighbours(_twins.copy(), _query, 3)
    _found = checks.plain_int_array(_found, "les indices renvoyés", length=3)
    _distances = checks.plain_float_array(_distances, "les distances renvoyées", shape=(3,))
    if _query in _found.tolist():
        checks.fail(f"La requête {_query} figure parmi ses propres voisins : retirez-la par son indice, pas par sa distance.")
    if _found.tolist() != _expected or not np.allclose(_distances, [0.0, 1.0, 5.0], atol=1e-6):
        checks.fail(f"Avec un doublon exact, les voisins de {_query} sont {_expected} aux distances [0, 1, 5] (le doublon est un vrai voisin) ; obtenu {_found.tolist()}.")
print("nearest_neighbours : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb08.py): nearest_neighbours is called on the
# grader's probes of this run (random points, a query with two exact duplicates) and on queries the
# grader drew among the run's features (notebook 07's, and the same images' features recomputed
# from the saved best model); its results and these features are exported, and the verdict
# recomputes every distance with NumPy. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes




def _exported_neighbours(points, query, count):
    try:
        _indices, _distances = nearest_neighbours(_np.array(points, dtype=_np.float64), query, count)
    except Exception as _error:
        return {"error": _probes.type_name(_error)}
    return {"indices": _probes.plain_integers(_indices), "distances": _probes.plain_floats(_distances)}


def _run_features():
    """Notebook 07's saved features and the same images' features, recomputed from the saved best model."""
    from paysages.data import load_split_arrays as _load_split_arrays
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _settings_h = _get_settings()
    _run_h = _RunFolder(_settings_h.run_dir)
    _saved_h = _run_h.load_arrays("features")
    _images_h = _np.asarray(_load_split_arrays(_settings_h).x_validation)[_np.asarray(_saved_h["indices"], dtype=_np.int64)]
    _model_h = _run_h.load_model(_run_h.load_json("best")["name"], compile=False)
    return {"saved_features": _np.asarray(_saved_h["features"], dtype=_np.float32),
            "model_features": _probes.penultimate_features(_model_h, _images_h)}


_probe = _probes.load_probes("test_nearest_neighbours")
if _probe is not None:
    _export = {"results": [[_exported_neighbours(_case["points"], _call["query"], _call["count"]) for _call in _case["calls"]]
                           for _case in _probe["cases"]]}
    try:
        _features_h = _run_features()
    except Exception as _error:
        _export["run"] = {"error": _probes.type_name(_error)}
    else:
        # The grader's queries are fractions of the number of images (unknown when it drew them).
        _export["run"] = {_key: [_exported_neighbours(_points, _position, 3)
                                 for _position in _probes.fraction_positions(_probe["run_queries"], len(_points))]
                          for _key, _points in _features_h.items()}
        _probes.export_arrays("test_nearest_neighbours", **_features_h)
    _probes.export_results("test_nearest_neighbours", _export)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Une image au hasard et ses trois voisins
#
# La cellule suivante tire une image au hasard dans tout le jeu de données (entraînement et
# validation), avec un générateur initialisé par la graine des réglages (le tirage se répète
# d'une exécution à l'autre), et cherche ses voisins parmi toutes les autres. Changez la
# graine, ou fixez vous-même `query_position` (un entier de 0 à `len(features) - 1`), pour
# explorer d'autres images : c'est le meilleur moyen de comprendre ce que le réseau juge
# « semblable ».

# %% [free]
rng = np.random.default_rng(settings.seed)
query_position = int(rng.integers(len(features)))
print(f"Image requête : position {query_position} du jeu de données.")

# %% [code] id=neighbours_08
neighbour_positions, neighbour_distances = nearest_neighbours(features, query_position, num_neighbours=3)
query_class = data.class_names[labels[query_position]]
titles = [f"requête : {query_class}"]
colours = ["black"]
for position, distance in zip(neighbour_positions, neighbour_distances):
    name = data.class_names[labels[position]]
    split = "entr." if position < num_train else "valid."
    titles.append(f"{name} ({split})\ndistance {distance:.2f}")
    colours.append("green" if name == query_class else "red")
positions = [query_position, *neighbour_positions]
figure = show_images(np.stack([image_at(position) for position in positions]), titles, num_columns=4, size=2.8, colours=colours)
figure.suptitle(f"Les 3 plus proches voisins dans l'espace des caractéristiques de « {best['name']} »", fontsize=10)
figure.tight_layout()
figure.savefig(run.figure_path("08_voisins.png"), dpi=300)
plt.show()


record = {
    "model": best["name"],
    "num_images": int(len(features)),
    "query": describe(query_position),
    "neighbours": [
        {**describe(position), "distance": float(distance)}
        for position, distance in zip(neighbour_positions, neighbour_distances)
    ],
}
run.save_json("neighbours", record)

# %% [tests] id=test_neighbours_json points=1
"""Vérifie que neighbours.json décrit la requête et ses trois plus proches voisins."""
_record = run.load_json("neighbours")
if not isinstance(_record, dict) or "query" not in _record or "neighbours" not in _record:
    checks.fail("neighbours.json doit contenir « query » et « neighbours » : exécutez la cellule précédente.")
_query = int(checks.plain_float(_record["query"]["position"], "la position de la requête"))
_positions = checks.plain_int_array([item["position"] for item in _record["neighbours"]], "les positions des voisins", length=3)
_mine, _mine_distances = nearest_neighbours(features.copy(), _query, 3)
if _positions.tolist() != checks.plain_int_array(_mine, "nearest_neighbours(...)").tolist():
    checks.fail("Les voisins enregistrés ne sont pas ceux que renvoie nearest_neighbours : relancez la cellule précédente.")
for _item in [_record["query"], *_record["neighbours"]]:
    _position = int(checks.plain_float(_item["position"], "position"))
    if _item.get("split") != describe(_position)["split"] or int(checks.plain_float(_item["index"], "index")) != describe(_position)["index"] or str(_item["class"]) != data.class_names[labels[_position]]:
        checks.fail("Chaque image de neighbours.json doit donner sa partie (train ou validation), son indice dans cette partie et sa classe (describe(position)).")
print("neighbours.json : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb08.py): neighbours.json as the kit reads it, the
# description of the data set (classes, labels, paths, training images first) and the features of
# every image recomputed from the saved best model are exported; the verdict recomputes the query's
# nearest neighbours from these features with NumPy. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes




def _neighbours_json_export():
    """What the verdict reads: neighbours.json, the data set, and the saved best model's features (or None)."""
    from paysages.data import load_split_arrays as _load_split_arrays
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    try:
        _settings_h = _get_settings()
        _run_h = _RunFolder(_settings_h.run_dir)
        _data_h = _load_split_arrays(_settings_h)
    except Exception as _error:
        return {"dataset": {"error": _probes.type_name(_error)}}, None
    try:
        _export = {"record": _run_h.load_json("neighbours")}
    except Exception as _error:
        _export = {"record": {"error": _probes.type_name(_error)}}
    _labels_h = _np.concatenate([_np.asarray(_data_h.y_train), _np.asarray(_data_h.y_validation)]).astype(_np.int64)
    _export["dataset"] = {"class_names": [str(_name) for _name in _data_h.class_names],
                          "labels": _probes.plain_integers(_labels_h), "num_train": int(len(_data_h.y_train)),
                          "train_paths": [str(_path) for _path in _data_h.train_paths],
                          "validation_paths": [str(_path) for _path in _data_h.validation_paths]}
    try:
        _model_h = _run_h.load_model(_run_h.load_json("best")["name"], compile=False)
        _features_h = _np.concatenate([_probes.penultimate_features(_model_h, _data_h.x_train),
                                       _probes.penultimate_features(_model_h, _data_h.x_validation)])
    except Exception as _error:
        _export["features"] = {"error": _probes.type_name(_error)}
        return _export, None
    return _export, _features_h


if _probes.load_probes("test_neighbours_json") is not None:
    _export, _features_h = _neighbours_json_export()
    if _features_h is not None:
        _probes.export_arrays("test_neighbours_json", features=_features_h)
    _probes.export_results("test_neighbours_json", _export)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Les voisins sont-ils de la même classe ? La précision des voisins
#
# Une image ne prouve rien. Mesurons, pour **chaque** image du jeu de données, la part de ses
# trois plus proches voisins qui sont de **sa** classe, puis faisons la moyenne : c'est la
# **précision à 3** d'un moteur de recherche d'images semblables qui utiliserait ces
# caractéristiques.
#
# Pour la juger, il faut un point de comparaison : des voisins tirés **au hasard** seraient de
# la même classe qu'une image de classe $c$ avec une probabilité $(n_c - 1)/(N - 1)$ (les
# autres images de sa classe parmi les autres images).
#
# Écrivez `neighbour_class_agreement(features, labels, num_neighbours=3)`. Rechercher les
# voisins image par image (en appelant `nearest_neighbours` N fois) fonctionne, mais
# reconstruit la structure de recherche à chaque appel : faites **une seule** recherche,
# `kneighbors(features)`, pour toutes les images à la fois (avec un voisin de plus, que vous
# retirez par son indice comme plus haut).

# %% [solution] id=neighbour_class_agreement
#| solution: solutions.neighbours.neighbour_class_agreement

# %% [tests] id=test_neighbour_class_agreement points=1
"""Vérifie neighbour_class_agreement sur un petit exemple calculé à la main."""
_points = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.3]])
_classes = np.array([0, 0, 1, 1, 1, 0])
_got = checks.plain_float_array(neighbour_class_agreement(_points.copy(), _classes.copy(), 2), "neighbour_class_agreement(...)", shape=(6,))
# Two nearest neighbours of each point: {1, 2}, {0, 2}, {1, 0}, {4, 5}, {3, 5}, {4, 3}.
_expected = np.array([0.5, 0.5, 0.0, 0.5, 0.5, 0.0])
if not np.allclose(_got, _expected):
    checks.fail(f"Précision attendue {_expected.tolist()} (voisins de même classe parmi les 2 plus proches), obtenu {np.round(_got, 3).tolist()}.")
print("neighbour_class_agreement : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb08.py): neighbour_class_agreement is called on
# the grader's probes of this run (random points with an exact duplicate, random classes) and on
# the features of the whole data set saved by notebook 07; its fractions and these features are
# exported, and the verdict compares them with the reference. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes


def _exported_agreement(points, classes, count):
    try:
        _value = neighbour_class_agreement(_np.array(points, dtype=_np.float64), _np.array(classes, dtype=_np.int64), count)
    except Exception as _error:
        return {"error": _probes.type_name(_error)}
    return {"type": _probes.type_name(_value), "values": _probes.plain_floats(_value)}


_probe = _probes.load_probes("test_neighbour_class_agreement")
if _probe is not None:
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _export = {"results": [_exported_agreement(_probe["points"], _probe["classes"], _count) for _count in _probe["counts"]]}
    try:
        _saved_h = _RunFolder(_get_settings().run_dir).load_arrays("features_all")
        _features_h = _np.asarray(_saved_h["features"], dtype=_np.float32)
        _labels_h = _np.asarray(_saved_h["labels"], dtype=_np.int64)
    except Exception as _error:
        _export["run"] = {"error": _probes.type_name(_error)}
    else:
        _export["run"] = {"agreement": _exported_agreement(_features_h, _labels_h, 3)}
        _probes.export_arrays("test_neighbour_class_agreement", features=_features_h, labels=_labels_h)
    _probes.export_results("test_neighbour_class_agreement", _export)
### END HIDDEN TESTS

# %% [code] id=precision_08
agreement = neighbour_class_agreement(features, labels, num_neighbours=3)
counts = np.bincount(labels, minlength=len(data.class_names))
chance = (counts - 1) / (len(labels) - 1)
per_class = [float(agreement[labels == label].mean()) if counts[label] else 0.0 for label in range(len(data.class_names))]
overall, overall_chance = float(agreement.mean()), float(chance[labels].mean())

figure, axis = plt.subplots(figsize=(8, 4))
axis.bar(data.class_names, per_class, color=[f"C{label}" for label in range(len(data.class_names))], label="voisins de même classe")
axis.scatter(data.class_names, chance, marker="_", s=600, color="black", zorder=3, label="hasard")
axis.axhline(overall, color="grey", linestyle="--", label=f"moyenne : {overall:.2f}")
axis.set_ylim(0, 1)
axis.set_ylabel("part des 3 voisins de même classe")
axis.set_title(f"Précision des 3 plus proches voisins : {overall:.2f} (hasard : {overall_chance:.2f})")
axis.legend(fontsize="small")
figure.tight_layout()
figure.savefig(run.figure_path("08_precision_voisins.png"), dpi=300)
plt.show()

# Training images were seen by the network: the precision around validation images alone is the honest one.
validation_overall = float(agreement[num_train:].mean())
record["retrieval_precision"] = {
    "num_neighbours": 3,
    "mean": overall,
    "validation_mean": validation_overall,
    "chance": overall_chance,
    "per_class": dict(zip(data.class_names, per_class)),
}
run.save_json("neighbours", record)
for name, value, level in zip(data.class_names, per_class, chance):
    print(f"{name:>9} : {value:.2f} (hasard {level:.2f})")
print(f"Autour des seules images de validation : {validation_overall:.2f} (tout le jeu : {overall:.2f}).")

# %% [markdown]
# ## 4. Analyse
#
# Répondez dans la cellule ci-dessous (quelques phrases, chiffres à l'appui) :
#
# 1. Les trois voisins de votre image (essayez-en plusieurs) sont-ils de la même classe
#    qu'elle ? Quand ils ne le sont pas, qu'ont-ils en commun avec elle (couleurs, composition,
#    textures) ?
# 2. La précision des voisins est-elle nettement au-dessus du hasard ? Pour quelles classes
#    est-elle la plus faible, et est-ce cohérent avec la carte t-SNE et les confusions du
#    notebook 07 ?
# 3. Qu'en concluez-vous sur ce que représentent les caractéristiques apprises par le réseau ?
# 4. Les voisins viennent-ils de l'entraînement ou de la validation ? Pourquoi la précision
#    mesurée autour d'images d'entraînement est-elle optimiste ?
#
# **Pour rendre votre travail**, exécutez dans une cellule `!paysages submit --student-id <numéro>`
# (ou `from paysages.submit import submit; submit("<numéro>")`) : la commande retrouve vos
# notebooks (« Copie de ... » dans « Colab Notebooks » sur Drive) et écrit dans
# `MyDrive/paysages/rendu/` le zip et le notebook unique `<numéro>_rendu.ipynb` à envoyer.

# %% [answer] id=analysis_08 points=5
# Réponse de référence (correcteur) : le plus souvent les voisins partagent la classe de la
# requête, et la précision à 3 est nettement au-dessus du hasard (environ 1/7 à 1/5 selon la
# classe) : des images de même classe sont proches dans l'espace des caractéristiques, ce qui
# montre que le réseau a appris une représentation **sémantique** (ce que la scène contient)
# et pas seulement des pixels ; c'est aussi ce qui rend le classifieur linéaire final
# efficace. Les erreurs de voisinage concernent les classes visuellement proches (lake /
# ocean, field / road, mountain / lake...), les mêmes qui se chevauchent sur la carte t-SNE et
# que le modèle confond : les voisins « faux » partagent couleurs dominantes, ligne d'horizon,
# textures — le réseau s'appuie sur ces indices globaux. Limites à citer : un seul tirage ne
# prouve rien (d'où la précision moyenne), et en mode hors ligne / avec un modèle peu entraîné
# la précision est plus basse. Les images d'entraînement ont été vues par le réseau, qui les a
# rapprochées de leur classe : leurs voisins sont plus souvent « justes » que ceux d'images de
# validation, la précision calculée sur tout le jeu est donc optimiste (la comparer à celle de
# la seule validation est un bon réflexe). Valoriser les réponses qui
# s'appuient sur leurs propres figures et chiffres.

# %% [code] id=finish_08
#| include: finish
