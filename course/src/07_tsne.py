# %% [markdown]
# # 07 — L'espace des caractéristiques vu par t-SNE
#
# **Objectifs**
#
# - comprendre ce qu'est l'**espace des caractéristiques** d'un réseau : la représentation que
#   sa dernière couche transforme en probabilités ;
# - construire, avec l'API fonctionnelle, un **extracteur de caractéristiques** qui partage les
#   poids du meilleur modèle (notebook 05), qu'il s'agisse d'un CNN maison ou d'un modèle de
#   transfert ;
# - choisir un **sous-ensemble stratifié** de quelques centaines d'images de validation ;
# - projeter ces caractéristiques en 2-D avec **t-SNE**, et savoir ce qu'une carte t-SNE permet
#   de conclure… et ce qu'elle ne permet pas de conclure.
#
# Ce notebook lit `best.json` et le modèle retenu (notebook `05_comparaison.ipynb`), et écrit
# `arrays/features.npz` (caractéristiques, étiquettes, indices, carte 2-D) et
# `arrays/features_all.npz` (les caractéristiques de tout le jeu de données, pour le
# notebook 08). Exécutez d'abord les notebooks 01 à 05 avec le même dossier de run.

# %% [code] id=bootstrap_07
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_07
import collections

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import layers
from sklearn.manifold import TSNE, trustworthiness
from sklearn.preprocessing import StandardScaler

from paysages import checks
from paysages.data import load_split_arrays
from paysages.errors import PrerequisiteError
from paysages.notebook import start
from paysages.plots import scatter_embedding

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("07_tsne", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
print(data.describe())

best = run.load_json("best")
if best.get("name") not in run.model_names():
    raise PrerequisiteError(
        f"best.json désigne le modèle {best.get('name')!r}, absent de {run.path / 'models'} : "
        "exécutez à nouveau le notebook 05_comparaison.ipynb jusqu'au bout."
    )
model = run.load_model(best["name"], compile=False)
print(f"Meilleur modèle (notebook 05) : {best['name']} — règle : {best.get('rule')}")
if settings.offline and best["name"].startswith("transfer_"):
    print(
        "ATTENTION : mode hors ligne, ce modèle de transfert est parti de la base du kit "
        "(pré-entraînée sur d'autres scènes synthétiques, PAS sur ImageNet) : son espace de "
        "caractéristiques n'est pas celui d'un vrai transfert depuis ImageNet."
    )

# %% [markdown]
# ## 1. Quelques centaines d'images, dans les mêmes proportions que la validation
#
# t-SNE compare chaque image à toutes les autres : son coût croît bien plus vite que le nombre
# d'images, et une carte de milliers de points devient illisible. On se contente donc de
# `settings.tsne_samples` images de **validation** (des images que le réseau n'a pas apprises :
# on veut voir comment il représente des images **nouvelles**).
#
# Tirer ces images au hasard parmi toutes ne suffit pas : une petite classe (`city`) pourrait
# n'avoir que deux ou trois points, et l'on ne pourrait rien dire de sa place sur la carte. On
# tire donc un sous-ensemble **stratifié** : chaque classe y garde sa proportion, arrondie à
# l'image près, et y figure au moins une fois.
#
# Écrivez `stratified_subset(labels, num_samples, seed)` en suivant sa docstring. La méthode du
# **plus fort reste** : chaque classe reçoit d'abord la partie entière de sa part exacte
# (`num_samples * effectif / total`), puis les images restantes vont, une par une, aux classes
# dont la partie décimale est la plus grande. Le tirage dans chaque classe utilise
# `np.random.default_rng(seed)` : même graine, même sous-ensemble.

# %% [solution] id=stratified_subset
#| solution: solutions.features.stratified_subset

# %% [tests] id=test_stratified_subset points=1
"""Vérifie que stratified_subset respecte les proportions des classes et se répète à l'identique."""
_labels = checks.plain_int_array(data.y_validation, "data.y_validation")
_num_samples = min(50, len(_labels))
_subset = checks.plain_int_array(stratified_subset(_labels.copy(), _num_samples, settings.seed), "stratified_subset(...)", length=_num_samples)
if len(np.unique(_subset)) != _num_samples or _subset.min() < 0 or _subset.max() >= len(_labels):
    checks.fail("stratified_subset doit renvoyer des indices distincts, valides pour labels.")
if not np.array_equal(_subset, np.sort(_subset)):
    checks.fail("stratified_subset doit renvoyer les indices triés (np.sort).")
_counts = np.bincount(_labels[_subset], minlength=len(data.class_names))
_quotas = np.bincount(_labels, minlength=len(data.class_names)) * _num_samples / len(_labels)
if np.any(_counts == 0):
    checks.fail("Chaque classe doit figurer au moins une fois dans le sous-ensemble.")
if np.any(np.abs(_counts - _quotas) >= 1.0 + 1e-9):
    checks.fail(f"Les effectifs par classe {_counts.tolist()} s'écartent de plus d'une image des parts exactes {np.round(_quotas, 2).tolist()}.")
_again = checks.plain_int_array(stratified_subset(_labels.copy(), _num_samples, settings.seed), "stratified_subset(...)")
if not np.array_equal(_subset, _again):
    checks.fail("Deux appels avec la même graine doivent donner le même sous-ensemble (np.random.default_rng(seed)).")
print("stratified_subset : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb07.py): stratified_subset is called on the
# grader's probes of this run (random labels, sizes and seeds, and sizes it must refuse), and only
# the indices it returned are exported; nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes


def _exported_subset(labels, num_samples, seed):
    try:
        _value = stratified_subset(_np.asarray(labels, dtype=_np.int64), num_samples, seed)
    except Exception as _error:
        return {"error": _probes.type_name(_error), "value_error": isinstance(_error, ValueError)}
    return {"type": _probes.type_name(_value), "indices": _probes.plain_integers(_value)}


_probe = _probes.load_probes("test_stratified_subset")
if _probe is not None:
    _results = [{"first": _exported_subset(_case["labels"], _case["num_samples"], _case["seed"]),
                 "again": _exported_subset(_case["labels"], _case["num_samples"], _case["seed"]),
                 "other_seed": _exported_subset(_case["labels"], _case["num_samples"], _case["other_seed"])}
                for _case in _probe["cases"]]
    _refusals = [_exported_subset(_probe["labels"], _size, _probe["seed"]) for _size in _probe["too_many"]]
    _probes.export_results("test_stratified_subset", {"results": _results, "refusals": _refusals})
### END HIDDEN TESTS

# %% [markdown]
# ## 2. L'espace des caractéristiques
#
# Un classifieur profond se lit en deux parties. Tout ce qui précède la **dernière couche**
# transforme une image en un vecteur de caractéristiques ; la dernière couche, une `Dense` à
# `softmax`, n'est qu'un classifieur **linéaire** sur ce vecteur. Pour que ce classifieur
# réussisse, l'entraînement a dû apprendre une représentation où les classes sont (presque)
# séparables par des hyperplans : c'est cet **espace des caractéristiques** qu'on veut
# regarder. Dans le CNN du notebook 02 c'est la sortie de la couche `features` (128 valeurs) ;
# dans un modèle de transfert, c'est la sortie du *pooling* qui suit la base MobileNetV2
# (1280 valeurs).
#
# Avec l'API fonctionnelle, l'extracteur est un **nouveau modèle** qui relie l'entrée du modèle
# à un tenseur intermédiaire : `keras.Model(model.input, tenseur)`. Il **partage les couches
# et les poids** du modèle entraîné (rien n'est recopié ni ré-entraîné). Le tenseur voulu est
# l'**entrée** de la dernière couche `Dense` (`couche.input`), qui fonctionne pour les deux
# familles de modèles.
#
# Un détail : dans un modèle de transfert, un `Dropout` précède souvent la dernière couche. On
# s'arrête **avant** lui (à son `input`) : en inférence il ne change rien, mais l'inclure ferait
# dépendre les caractéristiques du mode `training` (des valeurs mises à zéro au hasard si
# quelqu'un appelait l'extracteur avec `training=True`). La représentation, c'est ce que le
# Dropout reçoit, pas le bruit qu'il ajoute pendant l'entraînement.
#
# Écrivez `feature_extractor(model)` puis `extract_features(model, images, batch_size)`, qui
# renvoie un tableau `float32` de forme `(N, D)` (utilisez `predict` avec `batch_size`).

# %% [solution] id=feature_extractor
#| solution: solutions.features.feature_extractor

# %% [solution] id=extract_features
#| solution: solutions.features.extract_features

# %% [tests] id=test_feature_extractor points=2
"""Vérifie que l'extracteur renvoie la représentation que la dernière couche du meilleur modèle classe."""
_extractor = checks.keras_model(feature_extractor(model), "feature_extractor(model)")
if tuple(_extractor.input_shape[1:]) != tuple(model.input_shape[1:]):
    checks.fail("L'extracteur doit prendre la même entrée que le modèle (keras.Model(model.input, ...)).")
if len(_extractor.output_shape) != 2:
    checks.fail(f"L'extracteur doit sortir un vecteur par image (forme (None, D)), pas {_extractor.output_shape}.")
_images = data.x_validation[:8]
_features = extract_features(model, _images, 4)
if not isinstance(_features, np.ndarray) or _features.dtype != np.float32:
    checks.fail("extract_features doit renvoyer un tableau NumPy float32 (np.asarray(..., dtype=np.float32)).")
_features = checks.plain_float_array(_features, "extract_features(...)", shape=(8, _extractor.output_shape[-1]))
# The final Dense layer (and what follows it) applied to the features must give back the probabilities.
_last_dense = max(_index for _index, _layer in enumerate(model.layers) if isinstance(_layer, layers.Dense))
_from_features = _features.astype("float32")
for _layer in model.layers[_last_dense:]:
    _from_features = _layer(_from_features)
_from_features = np.asarray(keras.ops.convert_to_numpy(_from_features), dtype=np.float64)
_probabilities = np.asarray(model.predict(_images, verbose=0), dtype=np.float64)
if _from_features.shape != _probabilities.shape or np.max(np.abs(_from_features - _probabilities)) > 5e-3:
    checks.fail("La dernière couche Dense appliquée à vos caractéristiques ne redonne pas les probabilités du modèle : prenez l'entrée de cette couche.")
print(f"feature_extractor : OK ({_features.shape[1]} caractéristiques par image)")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb07.py): two small classifiers are built from the
# grader's drawn settings (a CNN, and convolutions in a nested base as in transfer learning, each with
# a Dropout before its last Dense layer); each model, the student's extractor of it and
# extract_features on the grader's pixels are exported, and likewise for the saved best model on
# validation images the grader drew. The grader rebuilds the models with safe_mode=True and compares
# the features with the input of the last Dense layer. Nothing here decides the grade.
import keras as _keras
import numpy as _np
from keras import layers as _layers
from paysages import probes as _probes

_probe = _probes.load_probes("test_feature_extractor")


def _probe_classifier(spec):
    """The classifier the grader's settings describe (its weights drawn from the settings' seed)."""
    _keras.utils.set_random_seed(spec["seed"])
    _inputs = _keras.Input((32, 32, 3))
    _hidden = _layers.Rescaling(1.0 / 255)(_inputs)
    if spec["kind"] == "nested_base":
        _base_inputs = _keras.Input(_hidden.shape[1:])
        _base_outputs = _layers.Conv2D(spec["filters"], 3, activation="relu")(_base_inputs)
        _base_outputs = _layers.Conv2D(spec["filters"], 3, activation="relu")(_base_outputs)
        _hidden = _keras.Model(_base_inputs, _base_outputs, name="base")(_hidden, training=False)
    else:
        _hidden = _layers.Conv2D(spec["filters"], 3, activation="relu")(_hidden)
    _hidden = _layers.GlobalAveragePooling2D()(_hidden)
    _hidden = _layers.Dense(spec["units"], activation="relu")(_hidden)
    _hidden = _layers.Dropout(spec["dropout"])(_hidden)
    return _keras.Model(_inputs, _layers.Dense(spec["num_classes"], activation="softmax")(_hidden))


def _export_extraction(model_h, images_h, key, arrays_h, failures_h):
    """Export the student's extractor of model_h (key e<key>) and keep extract_features' array (f<key>)."""
    try:
        _probes.export_model("test_feature_extractor", feature_extractor(model_h), key=f"e{key}")
        arrays_h[f"f{key}"] = _np.asarray(extract_features(model_h, images_h.copy(), _probe["batch_size"]))
    except Exception as _error:
        failures_h[key] = _probes.type_name(_error)


if _probe is not None:
    from paysages.data import load_split_arrays as _load_split_arrays
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _arrays_h, _failures_h = {}, {}
    _pixels_h = _np.asarray(_probe["images"], dtype="float32")
    for _number, _spec in enumerate(_probe["models"]):
        _model_h = _probe_classifier(_spec)
        _probes.export_model("test_feature_extractor", _model_h, key=f"p{_number}")
        _export_extraction(_model_h, _pixels_h, str(_number), _arrays_h, _failures_h)
    _settings_h = _get_settings()
    _best_h = _probes.saved_best_name()
    try:
        _data_h = _load_split_arrays(_settings_h, progress=False)
        _positions_h = _probes.fraction_positions(_probe["run_images"], len(_data_h.y_validation))
        _best_model_h = _RunFolder(_settings_h.run_dir).load_model(_best_h, compile=False)
        _export_extraction(_best_model_h, _data_h.x_validation[_positions_h], "b", _arrays_h, _failures_h)
    except Exception as _error:
        _failures_h["b"] = _probes.type_name(_error)
    _probes.export_arrays("test_feature_extractor", **{
        _key: _value for _key, _value in _arrays_h.items() if _value.dtype.kind in "biuf"})
    _probes.export_run("test_feature_extractor", [_best_h] if _best_h else [], best=_best_h, failures=_failures_h)
### END HIDDEN TESTS

# %% [markdown]
# Calculons maintenant le sous-ensemble et ses caractéristiques. En mode rapide la validation
# compte moins de `settings.tsne_samples` images : on les prend alors toutes (le sous-ensemble
# reste « stratifié », trivialement).

# %% [code] id=features_07
num_samples = min(settings.tsne_samples, len(data.y_validation))
indices = stratified_subset(data.y_validation, num_samples, settings.seed)
labels = data.y_validation[indices]
features = extract_features(model, data.x_validation[indices], settings.batch_size)
print(f"{len(indices)} images de validation, {features.shape[1]} caractéristiques par image.")
print("Images par classe :", dict(zip(data.class_names, np.bincount(labels, minlength=len(data.class_names)).tolist())))
dead = int(np.sum(np.all(features == 0, axis=0)))
print(f"Caractéristiques toujours nulles (unités ReLU « mortes ») : {dead} sur {features.shape[1]}.")

# %% [markdown]
# ## 3. t-SNE
#
# t-SNE (*t-distributed Stochastic Neighbor Embedding*) place chaque image sur un plan en
# cherchant à **conserver ses voisins** :
#
# 1. dans l'espace des caractéristiques, il transforme les distances en probabilités d'être
#    voisins (une gaussienne autour de chaque point). La largeur de chaque gaussienne est réglée
#    par la **perplexité**, à peu près le **nombre de voisins effectifs** que chaque point
#    regarde (30 par défaut) ; elle doit donc rester inférieure au nombre de points ;
# 2. dans le plan, il place les points pour que des probabilités analogues (calculées avec une
#    loi de Student, à queues lourdes) ressemblent le plus possible aux premières, en
#    minimisant une divergence de Kullback-Leibler par descente de gradient.
#
# Les distances de départ sont euclidiennes : une caractéristique qui prend de grandes valeurs
# pèserait bien plus que les autres. On **standardise** donc chaque caractéristique (moyenne
# nulle, écart-type 1, `StandardScaler`) pour que toutes comptent autant ; les unités mortes
# (toujours nulles, écart-type 0) restent à zéro au lieu de provoquer une division par zéro.
#
# Écrivez `tsne_embedding(features, seed, perplexity=30.0)` avec
# `TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)`. L'initialisation
# par ACP (`init="pca"`) rend la carte plus stable qu'une initialisation aléatoire et conserve
# mieux la structure d'ensemble. Si la perplexité n'est pas strictement inférieure au nombre
# d'images, levez une `ValueError` qui le dit (plutôt que de changer la perplexité en silence :
# c'est un réglage qu'on interprète).

# %% [solution] id=tsne_embedding
#| solution: solutions.features.tsne_embedding

# %% [tests] id=test_tsne_embedding points=1
"""Vérifie que tsne_embedding renvoie une carte 2-D, identique d'un appel à l'autre avec la même graine."""
_points = np.random.default_rng(0).normal(size=(60, 10))
_first = checks.plain_float_array(tsne_embedding(_points.copy(), 0), "tsne_embedding(...)", shape=(60, 2))
_second = checks.plain_float_array(tsne_embedding(_points.copy(), 0), "tsne_embedding(...)", shape=(60, 2))
if not np.allclose(_first, _second, atol=1e-6):
    checks.fail("Deux appels avec la même graine doivent donner la même carte (random_state=seed, init='pca').")
if np.std(_first) < 1e-6:
    checks.fail("La carte est dégénérée (tous les points au même endroit).")
print("tsne_embedding : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb07.py): tsne_embedding is called on the grader's
# probes of this run (clusters hidden behind dimensions of huge noise, and perplexities it must
# refuse), and only the map it returned is exported; nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes


def _exported_map(points, seed, **keywords):
    try:
        _value = tsne_embedding(_np.asarray(points, dtype=_np.float64), seed, **keywords)
    except Exception as _error:
        return {"error": _probes.type_name(_error), "value_error": isinstance(_error, ValueError)}
    _result = {"type": _probes.type_name(_value)}
    if isinstance(_value, (_np.ndarray, list, tuple)):
        _array = _np.array(_value, dtype=_np.float64)
        if _array.ndim == 2:
            _result["rows"] = [_probes.plain_floats(_row) for _row in _array]
    return _result


_probe = _probes.load_probes("test_tsne_embedding")
if _probe is not None:
    _probes.export_results("test_tsne_embedding", {
        "map": _exported_map(_probe["points"], _probe["seed"]),
        "refusals": [_exported_map(_case["points"], 0, perplexity=_case["perplexity"]) for _case in _probe["bad_cases"]],
    })
### END HIDDEN TESTS

# %% [code] id=tsne_07
embedding = tsne_embedding(features, settings.seed)
run.save_arrays("features", features=features, labels=labels, indices=indices, embedding=embedding)
figure = scatter_embedding(
    embedding, labels, data.class_names,
    title=f"t-SNE des caractéristiques de « {best['name']} » ({len(labels)} images de validation)",
)
figure.savefig(run.figure_path("07_tsne.png"), dpi=300)
plt.show()

# %% [tests] id=test_features_saved points=2
"""Vérifie que arrays/features.npz contient les caractéristiques du meilleur modèle et leur carte t-SNE."""
_saved = run.load_arrays("features")
for _key in ("features", "labels", "indices", "embedding"):
    if _key not in _saved:
        checks.fail(f"arrays/features.npz ne contient pas « {_key} » : exécutez la cellule de sauvegarde.")
_num_samples = min(settings.tsne_samples, len(data.y_validation))
_indices = checks.plain_int_array(_saved["indices"], "indices", length=_num_samples)
if not np.array_equal(_indices, checks.plain_int_array(stratified_subset(data.y_validation.copy(), _num_samples, settings.seed), "stratified_subset(...)")):
    checks.fail("Les indices sauvegardés ne sont pas ceux de stratified_subset(data.y_validation, num_samples, settings.seed).")
if not np.array_equal(checks.plain_int_array(_saved["labels"], "labels"), data.y_validation[_indices]):
    checks.fail("Les étiquettes sauvegardées doivent être data.y_validation[indices].")
_saved_features = checks.plain_float_array(_saved["features"], "features", shape=(_num_samples, None))
_mine = checks.plain_float_array(extract_features(model, data.x_validation[_indices], settings.batch_size), "extract_features(...)")
if _mine.shape != _saved_features.shape or not np.allclose(_mine, _saved_features, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(_mine).max())):
    checks.fail("Les caractéristiques sauvegardées ne sont pas celles du meilleur modèle : relancez les cellules de la partie 2.")
_saved_embedding = checks.plain_float_array(_saved["embedding"], "embedding", shape=(_num_samples, 2))
_remade = checks.plain_float_array(tsne_embedding(_saved_features, settings.seed), "tsne_embedding(...)", shape=(_num_samples, 2))
# Trustworthiness: do the map's nearest neighbours stay neighbours in feature space (1 = always)?
_trust_saved = trustworthiness(_saved_features, _saved_embedding, n_neighbors=5)
_trust_remade = trustworthiness(_saved_features, _remade, n_neighbors=5)
if _trust_saved < _trust_remade - 0.05:
    checks.fail(f"La carte sauvegardée conserve moins bien les voisins ({_trust_saved:.2f}) que tsne_embedding(features, settings.seed) ({_trust_remade:.2f}) : relancez la cellule t-SNE.")
print("features.npz : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb07.py): arrays/features.npz as read from the disk is
# exported with the model best.json names; the grader rebuilds the model, decodes the validation images
# itself, recomputes the features of the saved indices and the reference t-SNE. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_features_saved") is not None:
    import numpy as _np
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _best_h = _probes.saved_best_name()
    _export_h = {"best": _best_h}
    try:
        _saved_h = _RunFolder(_get_settings().run_dir).load_arrays("features")
        _probes.export_arrays("test_features_saved", **{
            _key: _np.asarray(_saved_h[_key]) for _key in ("features", "labels", "indices", "embedding")
            if _key in _saved_h and _np.asarray(_saved_h[_key]).dtype.kind in "biuf"})
    except Exception as _error:
        _export_h["error_of_file"] = _probes.type_name(_error)
    _probes.export_run("test_features_saved", [_best_h] if _best_h else [], **_export_h)
### END HIDDEN TESTS

# %% [markdown]
# ### Pour le notebook 08 : les caractéristiques de tout le jeu de données
#
# Le notebook 08 cherche les voisins d'une image tirée **au hasard dans tout le jeu de
# données** (entraînement et validation), parmi toutes les autres. La cellule suivante calcule
# une fois, avec votre `extract_features`, les caractéristiques de chaque image et les
# enregistre dans `arrays/features_all.npz` : d'abord les images d'entraînement, puis celles
# de validation (`num_train` dit où commence la validation).

# %% [code] id=features_all_07
all_features = np.concatenate([
    extract_features(model, data.x_train, settings.batch_size),
    extract_features(model, data.x_validation, settings.batch_size),
])
all_labels = np.concatenate([data.y_train, data.y_validation])
run.save_arrays("features_all", features=all_features, labels=all_labels, num_train=len(data.y_train))
print(
    f"arrays/features_all.npz : {len(all_labels)} images ({len(data.y_train)} d'entraînement, "
    f"{len(data.y_validation)} de validation), {all_features.shape[1]} caractéristiques chacune."
)

# %% [markdown]
# ## 4. La perplexité change l'image
#
# La même carte, calculée avec trois perplexités. Une petite perplexité ne regarde que quelques
# voisins : elle morcelle les classes en petits îlots. Une grande perplexité regarde plus loin
# et donne des groupes plus ronds et plus compacts. Aucune n'est « la vraie » : ce qui est
# **stable d'une perplexité à l'autre** (quelles classes restent ensemble, lesquelles se
# mêlent) est ce qu'on peut interpréter. Vous pouvez modifier cette cellule.

# %% [free]
perplexities = [5.0, 30.0, min(50.0, len(features) - 1.0)]
figure, axes = plt.subplots(1, len(perplexities), figsize=(5 * len(perplexities), 4.5))
for axis, perplexity in zip(axes, perplexities):
    # The map of perplexity 30 is the one computed above.
    points = embedding if perplexity == 30.0 else tsne_embedding(features, settings.seed, perplexity=perplexity)
    for label, name in enumerate(data.class_names):
        chosen = labels == label
        axis.scatter(points[chosen, 0], points[chosen, 1], s=8, color=f"C{label}", label=name)
    axis.set_title(f"perplexité {perplexity:g}")
    axis.set_xticks([])
    axis.set_yticks([])
axes[0].legend(fontsize="small", markerscale=2)
figure.tight_layout()
figure.savefig(run.figure_path("07_tsne_perplexites.png"), dpi=300)
plt.show()

# %% [markdown]
# ## 5. Ce que le modèle confond
#
# Pour relier la carte aux erreurs du notebook 06, voici les confusions les plus fréquentes du
# meilleur modèle sur **toute** la validation (vraie classe → classe prédite).

# %% [code] id=confusions_07
predictions = model.predict(data.x_validation, batch_size=settings.batch_size, verbose=0).argmax(axis=1)
confusions = collections.Counter(
    (data.class_names[true_label], data.class_names[predicted_label])
    for true_label, predicted_label in zip(data.y_validation, predictions)
    if true_label != predicted_label
)
print(f"Exactitude de validation : {np.mean(predictions == data.y_validation):.3f}")
for (true_name, predicted_name), count in confusions.most_common(6):
    print(f"  {true_name:>9} → {predicted_name:<9} : {count} image(s)")

# %% [markdown]
# ## 6. Analyse
#
# Répondez dans la cellule ci-dessous (quelques phrases, en vous appuyant sur vos figures) :
#
# 1. Quelles classes forment des groupes bien séparés sur la carte ? Lesquelles se
#    chevauchent ? Est-ce cohérent avec les confusions ci-dessus et celles du notebook 06 ?
#    Proposez une raison visuelle (couleurs, textures, composition des photos).
# 2. Deux groupes éloignés sur la carte sont-ils forcément plus différents, pour le réseau,
#    que deux groupes proches ? Un groupe plus étalé est-il une classe plus variée ? Justifiez
#    avec ce que fait t-SNE et avec la figure des perplexités.
# 3. Une carte t-SNE où les classes se mélangent prouve-t-elle que les caractéristiques ne
#    permettent pas de les séparer ?

# %% [answer] id=analysis_07 points=6
# Réponse de référence (correcteur) : les classes aux signatures visuelles nettes (p. ex.
# forest, ocean, city) forment des groupes compacts ; des classes voisines visuellement se
# chevauchent (lake / ocean : beaucoup d'eau et de ciel ; field / road ; mountain / lake),
# et ce sont précisément les paires les plus confondues par le modèle (liste ci-dessus,
# matrice du notebook 06) : le classifieur linéaire final ne peut pas séparer ce que la
# représentation mélange. Attendus sur t-SNE : il ne conserve que le **voisinage local** ;
# les distances entre groupes, leurs tailles et leurs étalements ne sont pas interprétables
# (la loi de Student et la normalisation par point les déforment) ; la carte dépend de la
# perplexité (et de l'initialisation/graine) : on n'interprète que ce qui est stable d'un
# réglage à l'autre. Un mélange en 2-D ne prouve pas l'inséparabilité en dimension D (la
# projection perd de l'information) : c'est l'exactitude du modèle, ou la précision des
# voisins (notebook 08), qui le mesure. Valoriser les réponses qui citent leurs propres
# classes et chiffres plutôt que ce corrigé.

# %% [code] id=finish_07
#| include: finish
