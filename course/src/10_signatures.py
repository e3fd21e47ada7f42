# %% [markdown]
# # 10 — Signatures d'activation (bonus)
#
# **Objectifs**
#
# - ouvrir la « boîte noire » : que représentent les neurones d'une couche cachée ?
# - regrouper les activations d'une couche par k-means, avec un nombre de groupes **K choisi
#   par le score de silhouette** ;
# - lire la *signature* de chaque groupe (son profil moyen d'activation) ;
# - juger, couche après couche, si une couche **ajoute de la séparation** entre les classes ;
# - refaire l'analyse sur les couches du CNN des paysages.
#
# Ce notebook est un **bonus** : ses points s'ajoutent au barème principal.

# %% [code] id=bootstrap_10
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_10
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from keras import layers
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import train_test_split

from paysages import checks
from paysages.notebook import start
from paysages.plots import plot_signatures, separation_verdicts

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("10_signatures", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run

# %% [markdown]
# ## 1. Des données réelles sans téléchargement : les chiffres 1 et 7
#
# scikit-learn embarque 1 797 chiffres manuscrits de 8 × 8 pixels. Nous gardons les « 1 » et
# les « 7 », deux chiffres qui se ressemblent (un trait vertical), pour que la séparation ne soit
# pas triviale. Les pixels (0 à 16) sont ramenés entre 0 et 1.

# %% [code] id=digits_10
digits = load_digits()
keep = np.isin(digits.target, [1, 7])
digit_pixels = digits.data[keep].astype("float32") / 16.0
digit_labels = (digits.target[keep] == 7).astype("int64")
train_indices, validation_indices = train_test_split(
    np.arange(len(digit_labels)), test_size=0.2, stratify=digit_labels, random_state=settings.seed
)
print(f"{len(digit_labels)} images : {np.sum(digit_labels == 0)} « 1 » et {np.sum(digit_labels == 1)} « 7 »")

# %% [markdown]
# ## 2. Un petit réseau dense
#
# Écrivez `build_dense_network(num_inputs, hidden_units, num_classes)` : des couches `Dense`
# ReLU nommées `hidden_1`, `hidden_2`… (API fonctionnelle), puis une sortie softmax.

# %% [solution] id=build_dense_network
#| solution: solutions.signatures.build_dense_network

# %% [tests] id=test_build_dense_network points=1
"""Vérifie que build_dense_network crée les couches cachées nommées et une sortie softmax."""
_network = checks.keras_model(build_dense_network(64, (12, 6), 2), "build_dense_network(64, (12, 6), 2)")
for _name, _units in (("hidden_1", 12), ("hidden_2", 6)):
    try:
        _layer = _network.get_layer(_name)
    except ValueError:
        checks.fail(f"Il manque la couche cachée nommée « {_name} ».")
    if not isinstance(_layer, layers.Dense) or _layer.units != _units:
        checks.fail(f"La couche « {_name} » doit être une couche Dense de {_units} neurones.")
if tuple(_network.output_shape[1:]) != (2,):
    checks.fail("La sortie doit donner 2 probabilités.")
print("build_dense_network : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb10.py): build_dense_network is called with sizes the
# grader drew for this run and each network is exported as .keras; the grader rebuilds it with
# safe_mode=True and checks its layers. Nothing here decides the grade.
from paysages import probes as _probes

_probe = _probes.load_probes("test_build_dense_network")
if _probe is not None:
    _failures_h = {}
    for _number, _case in enumerate(_probe["cases"]):
        try:
            _probes.export_model("test_build_dense_network", build_dense_network(
                _case["num_inputs"], tuple(_case["hidden_units"]), _case["num_classes"]), key=f"n{_number}")
        except Exception as _error:
            _failures_h[str(_number)] = _probes.type_name(_error)
    _probes.export_results("test_build_dense_network", {"failures": _failures_h})
### END HIDDEN TESTS

# %% [code] id=train_10
hidden_units = (32, 16, 8)
keras.utils.set_random_seed(settings.seed)
network = build_dense_network(64, hidden_units, 2)
network.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = network.fit(
    digit_pixels[train_indices], digit_labels[train_indices],
    validation_data=(digit_pixels[validation_indices], digit_labels[validation_indices]),
    epochs=30, batch_size=32, verbose=0,
)
print(f"Exactitude de validation : {history.history['val_accuracy'][-1]:.3f}")

# %% [markdown]
# ## 3. Activations et choix de K par la silhouette
#
# Pour une couche, chaque image donne un vecteur d'activations. k-means regroupe ces vecteurs
# en K groupes ; mais quel K ? Le **score de silhouette** d'un regroupement est la moyenne, sur
# les points, de $(b - a) / \max(a, b)$, où $a$ est la distance moyenne aux points de son groupe
# et $b$ la distance moyenne au groupe voisin le plus proche. Il vaut près de 1 pour des groupes
# compacts et bien séparés, près de 0 pour des groupes qui se chevauchent.
#
# Écrivez `layer_activations(model, inputs, layer_names)` puis
# `choose_num_clusters(activations, candidate_ks, seed)`, qui renvoie le meilleur K et le
# dictionnaire des scores (utilisez `KMeans(n_clusters=K, n_init=10, random_state=seed)` et
# `silhouette_score`).

# %% [solution] id=layer_activations
#| solution: solutions.signatures.layer_activations

# %% [solution] id=choose_num_clusters
#| solution: solutions.signatures.choose_num_clusters

# %% [tests] id=test_choose_num_clusters points=2
"""Vérifie que choose_num_clusters retrouve le nombre de groupes d'un mélange bien séparé."""
from sklearn.datasets import make_blobs

_points, _ = make_blobs(n_samples=200, centers=3, n_features=4, cluster_std=0.5, random_state=0)
_result = choose_num_clusters(_points, range(2, 7), 0)
if not isinstance(_result, tuple) or len(_result) != 2:
    checks.fail("choose_num_clusters doit renvoyer un couple (meilleur K, dictionnaire des scores).")
_best = _result[0]
if isinstance(_best, bool) or not isinstance(_best, (int, np.integer)):
    checks.fail("Le meilleur K doit être un entier.")
if int(_best) != 3:
    checks.fail(f"Sur trois groupes bien séparés, le K choisi devrait être 3, pas {int(_best)}.")
print("choose_num_clusters : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb10.py): choose_num_clusters is called on blobs the grader
# drew, and layer_activations on the notebook's network (exported as .keras) for drawn layers and inputs;
# only plain results are exported. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes


def _exported_choice(case_h, candidate_ks_h):
    try:
        _best_h, _scores_h = choose_num_clusters(_np.asarray(case_h["points"]), candidate_ks_h, case_h["seed"])
        return {"best": _probes.plain_number(_best_h),
                "scores": [[_probes.plain_number(_k), _probes.plain_number(_score)] for _k, _score in dict(_scores_h).items()]}
    except Exception as _error:
        return {"error": _probes.type_name(_error)}


_probe = _probes.load_probes("test_choose_num_clusters")
if _probe is not None:
    _export_h = {"results": [_exported_choice(_case, _probe["candidate_ks"]) for _case in _probe["cases"]]}
    try:
        _probes.export_model("test_choose_num_clusters", network, key="network")
        _values_h = layer_activations(network, _np.asarray(_probe["inputs"], dtype="float32"), list(_probe["layer_names"]))
        _export_h["activations"] = {str(_name): [_probes.plain_floats(_row) for _row in _np.asarray(_value, dtype=_np.float64)]
                                    for _name, _value in dict(_values_h).items()}
    except Exception as _error:
        _export_h["activations"] = {"error": _probes.type_name(_error)}
    _probes.export_results("test_choose_num_clusters", _export_h)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Signatures et séparation, couche par couche
#
# La **signature** d'un groupe est son profil moyen d'activation : quels neurones s'allument
# pour les images de ce groupe. Pour juger si une couche sépare les classes, on compare ses
# groupes aux vraies étiquettes avec l'**indice de Rand ajusté** (ARI : 1 = groupes identiques
# aux classes, 0 = pas mieux que le hasard). Une couche *ajoute de la séparation* si son ARI
# dépasse nettement (de plus de 0,02) celui de la couche précédente.
#
# Écrivez `layer_signatures(activations, num_clusters, seed)` (regroupement k-means et profil
# moyen de chaque groupe) puis `separation_by_layer(activations_by_layer, labels, seed, candidate_ks)`
# qui renvoie, pour chaque couche, un dictionnaire `layer`, `k`, `silhouette`, `ari`,
# `adds_separation` (`None` pour la première couche).

# %% [solution] id=layer_signatures
#| solution: solutions.signatures.layer_signatures

# %% [solution] id=separation_by_layer
#| solution: solutions.signatures.separation_by_layer

# %% [tests] id=test_separation_by_layer points=2
"""Vérifie que separation_by_layer reconnaît une couche qui sépare les classes mieux que du bruit."""
_rng = np.random.default_rng(0)
_labels = np.repeat([0, 1], 60)
_layers = {
    "bruit": _rng.normal(size=(120, 6)),
    "separe": _rng.normal(size=(120, 6)) * 0.3 + _labels[:, None] * 3.0,
}
_rows = separation_by_layer(_layers, _labels, 0, range(2, 6))
if not isinstance(_rows, list) or len(_rows) != 2:
    checks.fail("separation_by_layer doit renvoyer une liste d'un dictionnaire par couche.")
if _rows[0]["adds_separation"] is not None:
    checks.fail("La première couche n'a pas de couche précédente : adds_separation doit valoir None.")
if _rows[1]["adds_separation"] is not True:
    checks.fail("Une couche dont les groupes suivent les classes doit ajouter de la séparation.")
print("separation_by_layer : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb10.py): layer_signatures and separation_by_layer are
# called on points and layers the grader drew; only plain results are exported. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes

_probe = _probes.load_probes("test_separation_by_layer")
if _probe is not None:
    _export_h = {}
    try:
        _, _signatures_h = layer_signatures(_np.asarray(_probe["points"]), _probe["num_clusters"], _probe["seed"])
        _export_h["signatures"] = {"signatures": [_probes.plain_floats(_row) for _row in _np.asarray(_signatures_h, dtype=_np.float64)]}
    except Exception as _error:
        _export_h["signatures"] = {"error": _probes.type_name(_error)}
    try:
        _layers_h = {_name: _np.asarray(_values) for _name, _values in _probe["layers"].items()}
        _rows_h = separation_by_layer(_layers_h, _np.asarray(_probe["labels"]), _probe["seed"], _probe["candidate_ks"])
        _export_h["separation"] = {"rows": [
            {"layer": _probes.plain_name(_row.get("layer")), "k": _probes.plain_number(_row.get("k")),
             "ari": _probes.plain_number(_row.get("ari")),
             "adds_separation": _row.get("adds_separation") if _row.get("adds_separation") is None
                                or type(_row.get("adds_separation")) is bool else _probes.type_name(_row.get("adds_separation"))}
            for _row in _rows_h]}
    except Exception as _error:
        _export_h["separation"] = {"error": _probes.type_name(_error)}
    _probes.export_results("test_separation_by_layer", _export_h)
### END HIDDEN TESTS

# %% [code] id=digits_signatures_10
hidden_names = [f"hidden_{index}" for index in range(1, len(hidden_units) + 1)]
validation_pixels = digit_pixels[validation_indices]
validation_digits = digit_labels[validation_indices]
digit_activations = layer_activations(network, validation_pixels, hidden_names)
digit_table = pd.DataFrame(separation_by_layer(digit_activations, validation_digits, settings.seed))
display(digit_table)

digit_signatures = {
    row.layer: layer_signatures(digit_activations[row.layer], row.k, settings.seed)[1] for row in digit_table.itertuples()
}
figure = plot_signatures(digit_signatures, digit_table, title="Signatures d'activation (chiffres 1 et 7)")
figure.savefig(run.figure_path("10_signatures_chiffres.png"), dpi=300)
plt.show()
print("\n".join(separation_verdicts(digit_table)))

# %% [answer] id=analysis_digits_10 points=2
# Réponse de référence (correcteur) : l'ARI augmente d'une couche à l'autre quand la couche
# regroupe les images par classe ; une couche dont l'ARI n'augmente pas ne fait que recoder
# l'information. Les signatures montrent des neurones spécialisés (actifs pour les 7 : la barre
# horizontale) et des neurones morts (toujours nuls, typiques de ReLU).

# %% [markdown]
# ## 5. Même analyse sur le CNN des paysages
#
# Nous prenons les couches « à plat » du CNN du notebook 02 (après le dernier pooling) et
# les activations de quelques centaines d'images de validation.

# %% [code] id=cnn_signatures_10
from paysages.data import load_split_arrays

data = load_split_arrays(settings)
cnn = run.load_model("cnn")
flat_layers = [layer.name for layer in cnn.layers[1:-1] if len(layer.output.shape) == 2]
subset = np.arange(min(len(data.y_validation), settings.tsne_samples))
cnn_activations = layer_activations(cnn, data.x_validation[subset], flat_layers)
cnn_table = pd.DataFrame(separation_by_layer(cnn_activations, data.y_validation[subset], settings.seed))
display(cnn_table)
cnn_signatures = {
    row.layer: layer_signatures(cnn_activations[row.layer], row.k, settings.seed)[1] for row in cnn_table.itertuples()
}
figure = plot_signatures(cnn_signatures, cnn_table, title="Signatures d'activation (CNN des paysages)")
figure.savefig(run.figure_path("10_signatures_cnn.png"), dpi=300)
plt.show()
print("\n".join(separation_verdicts(cnn_table)))
run.save_json("signatures", {"digits": digit_table.to_dict("records"), "cnn": cnn_table.to_dict("records")})

# %% [answer] id=analysis_cnn_10 points=2
# Réponse de référence (correcteur) : sur les paysages, K choisi par la silhouette est souvent
# plus petit que 7 : les couches regroupent des classes visuellement proches (lac et océan,
# champ et route). La couche dense finale sépare mieux que le pooling global si son ARI est
# plus élevé ; sinon elle n'apporte que la projection vers la sortie.

# %% [code] id=finish_10
#| include: finish
