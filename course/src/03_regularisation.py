# %% [markdown]
# # 03 — Mieux généraliser : une technique à la fois
#
# **Objectifs**
#
# - connaître cinq techniques qui aident un réseau à **généraliser** (à bien classer des images
#   qu'il n'a jamais vues) : augmentation de données, *dropout*, pénalité L2, normalisation par
#   lots (*batch normalization*) et arrêt précoce (*early stopping*) ;
# - comprendre **pourquoi** chacune agit contre le sur-apprentissage constaté au notebook 02 ;
# - mener une **comparaison équitable** : une seule différence entre deux entraînements ;
# - **choisir** vous-même le réglage de chaque technique, et le justifier ;
# - lire des courbes superposées et un tableau, et conclure avec des chiffres, coût compris ;
# - finir par un **modèle amélioré** qui combine ce qui a aidé.
#
# Ce notebook relit la séparation écrite par `01_separation.ipynb` (exécutez-le d'abord) et
# sauvegarde dans le dossier de run un modèle par variante : `reg_baseline`, `reg_augmentation`,
# `reg_dropout`, `reg_l2`, `reg_batch_norm`, `reg_early_stopping`, vos variantes en plus, et
# `reg_improved`.

# %% [code] id=bootstrap_03
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_03
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from keras import layers

from paysages import checks
from paysages.data import load_split_arrays
from paysages.notebook import start
from paysages.plots import plot_histories, show_images
from paysages.training import training_seconds

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("03_regularisation", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
print(data.describe())

# %% [markdown]
# ## 0. Une fonction du notebook 02 à réécrire
#
# Chaque notebook tourne dans son **propre noyau** Python : les fonctions écrites au
# notebook 02 n'existent pas ici. Recopiez votre `compile_classifier(model, learning_rate)`
# (Adam, `sparse_categorical_crossentropy`, métrique `accuracy`) : elle servira à compiler
# chaque variante **de la même façon**.

# %% [solution] id=compile_classifier_03
#| solution: solutions.cnn.compile_classifier

# %% [markdown]
# ## 1. Pourquoi un réseau sur-apprend, et cinq remèdes
#
# Le CNN du notebook 02 a des centaines de milliers de paramètres pour quelques centaines
# (mode rapide) ou quelques milliers (mode complet) d'images : il peut **mémoriser** le jeu
# d'entraînement (perte d'entraînement qui baisse toujours) sans apprendre ce qui fait un lac
# ou une forêt (perte de validation qui remonte). Chaque technique attaque ce problème par un
# côté différent :
#
# | technique | ce qu'elle fait | pourquoi elle aide |
# |---|---|---|
# | **augmentation de données** | à chaque époque, chaque image est retournée, tournée, zoomée, décalée, contrastée au hasard | le réseau ne voit jamais deux fois exactement la même image : mémoriser les pixels ne paie plus, il doit apprendre des motifs **invariants** |
# | ***dropout*** | pendant l'entraînement, met à zéro une fraction `dropout_rate` des activations, tirée au hasard à chaque lot | aucun neurone ne peut compter sur un autre : le réseau apprend des caractéristiques **redondantes** et robustes (une moyenne d'un grand nombre de sous-réseaux) |
# | **pénalité L2** | ajoute $\lambda \sum w^2$ à la perte (`kernel_regularizer`) | préfère des poids **petits**, donc une fonction plus lisse, qui réagit moins aux détails d'une image particulière |
# | **normalisation par lots** | centre et réduit les activations de chaque couche avec les statistiques du lot | l'optimisation est plus stable et plus rapide ; le bruit des statistiques d'un lot régularise un peu |
# | **arrêt précoce** | surveille la perte de validation, arrête quand elle ne baisse plus depuis `patience` époques et remet les meilleurs poids | ne change pas le réseau, mais garde le modèle **avant** qu'il ne sur-apprenne |
#
# Trois de ces techniques (augmentation, *dropout*, normalisation par lots) se comportent
# **différemment à l'entraînement et à l'inférence** : Keras leur passe `training=True`
# pendant `fit` et `training=False` pendant `predict` et `evaluate`. L'augmentation et le
# *dropout* disparaissent à l'inférence ; la normalisation par lots utilise alors ses
# **moyennes mobiles** au lieu des statistiques du lot.
#
# ## 2. Un constructeur, une option par technique
#
# Pour que la comparaison soit **équitable**, chaque variante doit être **votre** CNN du
# notebook 02 **plus une seule technique**. Écrivez `build_regularised_cnn` : avec toutes les
# options par défaut, il construit **exactement** le réseau de votre `build_cnn` (mêmes couches,
# mêmes tailles) ; chaque option ajoute sa technique, et rien d'autre. **Où** et **comment**
# l'ajouter est votre choix, à justifier dans l'analyse. Quelques repères :
#
# - `augmentation=True` : des couches `layers.Random...` juste après l'entrée (par exemple
#   `RandomFlip("horizontal")`, `RandomRotation`, `RandomZoom`, `RandomTranslation`,
#   `RandomContrast`). Un paysage a le ciel en haut : un retournement **vertical** ou une grande
#   rotation fabriqueraient des images qui n'existent pas ; des facteurs modestes (rotation
#   0,05 tour, zoom et translation 10 %) restent plausibles ;
# - `dropout_rate > 0` : une ou plusieurs couches `Dropout(dropout_rate)` (souvent avant la
#   couche dense et avant la sortie, là où les paramètres sont nombreux) ;
# - `l2_factor > 0` : `kernel_regularizer=keras.regularizers.L2(l2_factor)` sur les
#   convolutions et couches denses que vous choisissez (au moins une) ;
# - `batch_norm=True` : une `BatchNormalization` après une ou plusieurs convolutions. Le choix
#   soigneux : convolution **sans biais** (`use_bias=False`, le décalage $\beta$ de la
#   normalisation le remplace) et **sans activation**, puis la normalisation, puis
#   `layers.Activation("relu")`. Avec peu d'étapes d'entraînement (quelques centaines en mode
#   rapide), le `momentum` par défaut (0,99) laisse des moyennes mobiles très loin des vraies
#   statistiques et le modèle s'effondre à l'inférence : prenez par exemple `momentum=0.9`.

# %% [solution] id=build_regularised_cnn
#| solution: solutions.regularisation.build_regularised_cnn

# %% [tests] id=test_build_regularised_defaults points=1
"""Vérifie que, sans option, build_regularised_cnn construit le CNN du notebook 02, sans régularisation."""
model = checks.keras_model(build_regularised_cnn(settings.image_shape, len(data.class_names)), "build_regularised_cnn(...)")
checks.model_io(model, "build_regularised_cnn(...)", input_shape=settings.image_shape, num_classes=len(data.class_names))
checks.uses_layer(model, layers.Conv2D, "build_regularised_cnn(...)")
_added = [
    layer.name for layer in checks.iter_layers(model)
    if isinstance(layer, (layers.Dropout, layers.BatchNormalization))
    or type(layer).__name__.startswith("Random")
    or getattr(layer, "kernel_regularizer", None) is not None
]
if _added:
    checks.fail(f"Sans option, le modèle ne doit contenir aucune technique de régularisation ; trouvé : {', '.join(_added)}.")
print("build_regularised_cnn (valeurs par défaut) : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): the model without options, built at the
# grading settings' shape, and the run's saved cnn of notebook 02 are exported as .keras files; the
# grader rebuilds them with safe_mode=True and compares them. Nothing here decides the grade.
from paysages import probes as _probes
from paysages.data import class_names_of as _class_names_of
from paysages.runs import RunFolder as _RunFolder
from paysages.settings import get_settings as _get_settings

if _probes.load_probes("test_build_regularised_defaults") is not None:
    _settings_h = _get_settings()
    _run_h = _RunFolder(_settings_h.run_dir)
    try:
        _probes.export_model("test_build_regularised_defaults", key="default", model=build_regularised_cnn(
            _settings_h.image_shape, len(_class_names_of(_settings_h))))
    except Exception as _error:
        _probes.export_results("test_build_regularised_defaults", {"error": _probes.type_name(_error)})
    if _run_h.model_path("cnn").is_file():
        _probes.export_model("test_build_regularised_defaults", key="baseline", saved_path=_run_h.model_path("cnn"))
### END HIDDEN TESTS

# %% [markdown]
# ### Vos variantes
#
# Chaque variante est un dictionnaire d'options : celles de `build_regularised_cnn`
# (`augmentation`, `dropout_rate`, `l2_factor`, `batch_norm`), plus `patience` pour l'arrêt
# précoce (un réglage de l'entraînement, pas une couche : partie 3). Les six variantes
# ci-dessous sont obligatoires ; **leurs réglages sont les vôtres** : changez les valeurs
# proposées si vous le jugez utile, et dites pourquoi dans l'analyse.

# %% [free]
# Vos réglages des six variantes obligatoires (une seule technique chacune).
#| definition: solutions.regularisation.VARIANTS

# %% [markdown]
# Ajoutez ensuite à `VARIANTS` **au moins une variante de votre choix**, avec **une seule**
# technique : un autre réglage d'une technique (un second taux de *dropout*, un autre facteur
# L2, une autre patience, une augmentation plus forte...) montre si le résultat tient au
# réglage. Donnez-lui un nom parlant, par exemple
# `VARIANTS["dropout_0.5"] = {"dropout_rate": 0.5}`. Au-delà de la première, chaque expérience
# de plus, bien formée, rapporte un point de bonus de variété (partie 10).

# %% [solution] id=own_variants_03
### BEGIN SOLUTION
# A stronger setting of two techniques: does the effect grow, or does the network underfit?
VARIANTS["dropout_strong"] = {"dropout_rate": 0.5}
VARIANTS["l2_strong"] = {"l2_factor": 1e-3}
### END SOLUTION

# %% [tests] id=test_variants_one_technique points=3
"""Vérifie que chaque variante ne diffère de votre modèle de base que par sa propre technique."""
if not isinstance(VARIANTS, dict) or any(_name not in VARIANTS for _name in checks.REQUIRED_VARIANTS):
    checks.fail(f"VARIANTS doit être un dictionnaire qui contient au moins les variantes {', '.join(checks.REQUIRED_VARIANTS)}.")
for _name, _options in VARIANTS.items():
    _asked = checks.variant_options(_options, f"la variante {_name}")
    if len(_asked) > 1 and _name != checks.IMPROVED_VARIANT:
        checks.fail(f"La variante {_name} combine {', '.join(_asked)} : une seule technique par variante (le modèle amélioré vient à la partie 8).")
    _model = checks.keras_model(
        build_regularised_cnn(
            settings.image_shape, len(data.class_names), **{_key: _value for _key, _value in _options.items() if _key != "patience"}
        ),
        f"la variante {_name}",
    )
    checks.model_io(_model, f"la variante {_name}", input_shape=settings.image_shape, num_classes=len(data.class_names))
if not [_name for _name in VARIANTS if _name not in checks.REQUIRED_VARIANTS]:
    checks.fail("Ajoutez à VARIANTS au moins une variante de votre choix (une seule technique).")
if VARIANTS["baseline"] or list(VARIANTS["early_stopping"]) != ["patience"]:
    checks.fail("baseline n'a aucune option ; early_stopping n'a que sa patience, par exemple {\"patience\": 3}.")
checks.uses_layer(build_regularised_cnn(settings.image_shape, len(data.class_names), augmentation=True), layers.RandomFlip, "la variante augmentation")
checks.uses_layer(build_regularised_cnn(settings.image_shape, len(data.class_names), dropout_rate=0.3), layers.Dropout, "la variante dropout")
checks.uses_layer(build_regularised_cnn(settings.image_shape, len(data.class_names), batch_norm=True), layers.BatchNormalization, "la variante batch_norm")
if not any(getattr(layer, "kernel_regularizer", None) is not None
           for layer in checks.iter_layers(build_regularised_cnn(settings.image_shape, len(data.class_names), l2_factor=1e-4))):
    checks.fail("La variante l2 doit passer kernel_regularizer=keras.regularizers.L2(l2_factor) à au moins une couche.")
print("Chaque variante contient sa technique : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): VARIANTS is exported as plain options,
# with the model of each variant at the grading settings' shape and, at a shape, number of classes,
# dropout rate and L2 factor the grader drew for this run, the model of each switch. The grader
# rebuilds them with safe_mode=True and checks their techniques. Nothing here decides the grade.
from paysages import probes as _probes
from paysages.data import class_names_of as _class_names_of
from paysages.settings import get_settings as _get_settings

_probe = _probes.load_probes("test_variants_one_technique")
if _probe is not None:
    _settings_h = _get_settings()
    _num_classes_h = len(_class_names_of(_settings_h))
    try:
        _variants_h = _probes.plain_variants(VARIANTS)
        _probes.export_model("test_variants_one_technique", key="base",
                             model=build_regularised_cnn(_settings_h.image_shape, _num_classes_h))
        for _index, (_name, _options) in enumerate(VARIANTS.items()):
            _architecture = {_key: _value for _key, _value in dict(_options).items() if _key != "patience"}
            _probes.export_model("test_variants_one_technique", key=f"v{_index}",
                                 model=build_regularised_cnn(_settings_h.image_shape, _num_classes_h, **_architecture))
        _shape_h, _classes_h = tuple(_probe["input_shape"]), _probe["num_classes"]
        _probes.export_model("test_variants_one_technique", key="p_base", model=build_regularised_cnn(_shape_h, _classes_h))
        for _technique, _arguments in {"augmentation": {"augmentation": True}, "dropout": {"dropout_rate": _probe["dropout_rate"]},
                                       "l2": {"l2_factor": _probe["l2_factor"]}, "batch_norm": {"batch_norm": True}}.items():
            _probes.export_model("test_variants_one_technique", key=f"p_{_technique}",
                                 model=build_regularised_cnn(_shape_h, _classes_h, **_arguments))
        _probes.export_results("test_variants_one_technique", {"variants": _variants_h})
    except Exception as _error:
        _probes.export_results("test_variants_one_technique", {"error": _probes.type_name(_error)})
### END HIDDEN TESTS

# %% [markdown]
# Voici ce que voit le réseau pendant l'entraînement avec l'augmentation : la même image
# d'entraînement, transformée au hasard six fois (les couches `Random...` appelées avec
# `training=True`). Vérifiez que ces images restent des paysages plausibles.

# %% [code] id=augmentation_preview_03
augmenter = keras.Sequential(
    [layer for layer in checks.iter_layers(build_regularised_cnn(settings.image_shape, len(data.class_names), augmentation=True))
     if type(layer).__name__.startswith("Random")],
    name="augmenter",
)
original = data.x_train[:1].astype("float32")
augmented = [np.clip(np.asarray(augmenter(original, training=True))[0], 0, 255) for _ in range(6)]
figure = show_images([original[0], *augmented], ["originale"] + [f"tirage {index}" for index in range(1, 7)], num_columns=7)
figure.savefig(run.figure_path("03_augmentation.png"), dpi=300)
plt.show()

# %% [markdown]
# ## 3. L'arrêt précoce est un *callback*
#
# L'arrêt précoce ne change pas le réseau mais la **boucle d'entraînement** : c'est un
# *callback* Keras, appelé à la fin de chaque époque. Écrivez `variant_callbacks(name, settings)`
# qui renvoie la liste des *callbacks* propres à une variante : une liste vide, sauf pour une
# variante dont les options contiennent `"patience"`, qui reçoit
# `keras.callbacks.EarlyStopping(monitor="val_loss", patience=..., restore_best_weights=True)`.
#
# - on surveille la **perte de validation** (plus fine que l'exactitude, qui change par
#   paliers d'une image) ;
# - `patience` : combien d'époques sans amélioration on tolère (le bruit fait remonter la
#   courbe d'une époque à l'autre) ; c'est **votre** réglage, un entier d'au moins 1, plus
#   petit que le nombre d'époques (sinon l'arrêt précoce ne peut jamais agir) ;
# - `restore_best_weights=True` : à la fin, on garde les poids de la **meilleure** époque, pas
#   ceux de la dernière.
#
# Un nom de variante inconnu, ou une patience qui n'est pas un entier d'au moins 1, doit lever
# une `ValueError`.

# %% [solution] id=variant_callbacks
#| solution: solutions.regularisation.variant_callbacks

# %% [tests] id=test_variant_callbacks points=1
"""Vérifie que seules les variantes qui ont une patience reçoivent un EarlyStopping bien réglé."""
_callbacks = variant_callbacks("early_stopping", settings)
if not isinstance(_callbacks, list) or len(_callbacks) != 1 or not isinstance(_callbacks[0], keras.callbacks.EarlyStopping):
    checks.fail("variant_callbacks('early_stopping', settings) doit renvoyer une liste contenant un keras.callbacks.EarlyStopping.")
if str(_callbacks[0].monitor) != "val_loss":
    checks.fail("L'arrêt précoce doit surveiller la perte de validation (monitor='val_loss').")
if _callbacks[0].restore_best_weights is not True:
    checks.fail("Passez restore_best_weights=True pour garder les poids de la meilleure époque.")
print("variant_callbacks : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): variant_callbacks is called for every
# variant, for a probe variant whose patience the grader drew, for an unknown name and for invalid
# patiences; each returned callback is described in plain values. Nothing here decides the grade.
import keras as _keras
from paysages import probes as _probes
from paysages.settings import get_settings as _get_settings

_probe = _probes.load_probes("test_variant_callbacks")


def _described_callbacks(name):
    try:
        _value = variant_callbacks(name, _get_settings())
    except Exception as _error:
        return {"error": _probes.type_name(_error)}
    if not isinstance(_value, list):
        return {"type": _probes.type_name(_value)}
    return {"type": "list", "callbacks": [
        {"type": _probes.type_name(_callback), "early_stopping": isinstance(_callback, _keras.callbacks.EarlyStopping),
         "monitor": str(getattr(_callback, "monitor", "")), "patience": _probes.plain_number(getattr(_callback, "patience", None)),
         "restore_best_weights": getattr(_callback, "restore_best_weights", None) is True}
        for _callback in _value]}


if _probe is not None:
    _variants_h = _probes.plain_variants(VARIANTS)
    _export = {"variants": _variants_h, "results": [_described_callbacks(_name) for _name in list(VARIANTS)],
               "unknown": _described_callbacks(_probe["unknown_name"])}
    _saved_variants = dict(VARIANTS)
    try:
        VARIANTS["_probe"] = {"patience": _probe["patience"]}
        _export["probe"] = _described_callbacks("_probe")
        _export["bad_patiences"] = []
        for _bad_patience in _probe["bad_patiences"]:
            VARIANTS["_probe"] = {"patience": _bad_patience}
            _export["bad_patiences"].append(_described_callbacks("_probe"))
    finally:
        VARIANTS.clear()
        VARIANTS.update(_saved_variants)
    _probes.export_results("test_variant_callbacks", _export)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Entraîner chaque variante, équitablement
#
# Comparer deux entraînements n'a de sens que s'ils ne diffèrent que par la technique
# étudiée. `train_variant(name, data, settings, run)` garantit donc, pour chaque variante :
#
# - la **même graine** : `keras.utils.set_random_seed(settings.seed)` juste avant de
#   construire le modèle (avec les options de la variante, sauf `patience`). Les poids initiaux et l'ordre des lots sont alors les mêmes ; sans
#   cela, une variante pourrait « gagner » simplement grâce à une meilleure initialisation
#   (sur quelques centaines d'images de validation, ce hasard pèse plusieurs points) ;
# - les **mêmes données** (la séparation du notebook 01), le même optimiseur et le même taux
#   d'apprentissage (`compile_classifier(model, settings.learning_rate)`) ;
# - le **même nombre d'époques** `settings.num_epochs` (seul l'arrêt précoce peut s'arrêter
#   avant : c'est sa raison d'être) et la même taille de lot `settings.batch_size` ;
# - `validation_data` dans `fit`, les *callbacks* du dossier de run
#   (`run.training_callbacks(f"reg_{name}")` : chronomètre et reprise après coupure) **plus**
#   ceux de `variant_callbacks`.
#
# Elle sauvegarde ensuite le modèle sous le nom `reg_<name>` avec son historique et sa durée
# (`run.save_model(model, f"reg_{name}", history=history, training_seconds=training_seconds(callbacks))`)
# et renvoie `(model, history)`. Un nom inconnu lève une `ValueError`.

# %% [solution] id=train_variant
#| solution: solutions.regularisation.train_variant

# %% [markdown]
# Un entraînement complet par variante : comptez une à deux minutes en mode rapide, une vingtaine de
# minutes sur un GPU Colab en mode complet. Si Colab vous déconnecte, la variante en cours
# reprend à sa dernière époque ; pour ne pas réentraîner les variantes déjà terminées, mettez
# `retrain_existing = False` dans la cellule suivante avant de relancer.

# %% [free]
retrain_existing = True

# %% [code] id=train_03
histories = {}
for name in VARIANTS:
    if not retrain_existing and run.model_path(f"reg_{name}").is_file():
        print(f"Variante {name} : déjà entraînée, on garde le modèle sauvegardé.")
    else:
        print(f"=== Variante {name} ===")
        train_variant(name, data, settings, run)
    histories[name] = run.load_history(f"reg_{name}")

# %% [tests] id=test_trained_variants points=2
"""Vérifie que chaque variante a été entraînée, validée à chaque époque et sauvegardée."""
for _name, _options in VARIANTS.items():
    _history = run.load_history(f"reg_{_name}")
    for _key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if _key not in _history:
            checks.fail(f"L'historique de reg_{_name} ne contient pas « {_key} » : avez-vous passé validation_data à fit ?")
    _epochs = len(_history["val_loss"])
    if _options.get("patience") is not None:
        if not 1 <= _epochs <= settings.num_epochs:
            checks.fail(f"L'arrêt précoce doit s'arrêter au plus tard après {settings.num_epochs} époques, pas {_epochs}.")
    elif _epochs != settings.num_epochs:
        checks.fail(f"reg_{_name} doit être entraînée {settings.num_epochs} époques, comme les autres ; elle l'a été {_epochs}.")
print(f"{len(VARIANTS)} variantes entraînées et sauvegardées : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): every variant's saved model, history and
# the split's paths are exported from the run folder; the grader rebuilds each model with
# safe_mode=True, decodes the validation images itself and checks the training (techniques,
# architecture, epochs, learning rate, optimiser steps, validation accuracy). Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_trained_variants") is not None:
    _probes.export_run("test_trained_variants", ["cnn", *[f"reg_{_name}" for _name in VARIANTS]],
                       variants=_probes.plain_variants(VARIANTS))
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Comparer : courbes superposées
#
# Chaque figure superpose une variante (couleur 2) au modèle de base (couleur 1) : en
# pointillés l'entraînement, en trait plein la validation. Regardez surtout l'**écart**
# entre les deux courbes d'une même couleur, et le niveau de la perte de validation.
#
# Deux précautions de lecture :
#
# - avec l'augmentation et le *dropout*, la courbe d'entraînement est mesurée sur des images
#   transformées ou un réseau amputé : elle est **pessimiste**, il est normal qu'elle soit
#   sous la courbe de validation ;
# - avec la pénalité L2, la perte affichée **inclut** la pénalité $\lambda\sum w^2$ : comparez
#   plutôt les exactitudes.

# %% [code] id=curves_03
for name in VARIANTS:
    if name == "baseline":
        continue
    figure = plot_histories({"baseline": histories["baseline"], name: histories[name]}, title=f"{name} contre baseline")
    figure.savefig(run.figure_path(f"03_courbes_{name}.png"), dpi=300)
    plt.show()

# %% [markdown]
# ## 6. Comparer : un tableau
#
# Écrivez `summarise_histories(histories)` : à partir du dictionnaire
# `{variante: historique}`, elle renvoie un `pd.DataFrame` indexé par les noms des variantes
# (dans le même ordre) avec les colonnes `best_val_accuracy` (meilleure exactitude de
# validation), `best_val_loss` (plus petite perte de validation), `best_epoch` (l'époque,
# comptée à partir de 1, de cette plus petite perte) et `epochs` (nombre d'époques).
#
# On regarde la **meilleure** valeur et non la dernière : c'est ce qu'on obtiendrait en
# arrêtant au bon moment, et cela montre si une technique **repousse** le moment où le
# modèle se met à sur-apprendre (`best_epoch`).

# %% [solution] id=summarise_histories
#| solution: solutions.regularisation.summarise_histories

# %% [tests] id=test_summarise_histories points=1
"""Vérifie le tableau récapitulatif contre les historiques sauvegardés."""
summary = summarise_histories(histories)
if not isinstance(summary, pd.DataFrame):
    checks.fail("summarise_histories doit renvoyer un pandas.DataFrame.")
for _column in ("best_val_accuracy", "best_val_loss", "best_epoch", "epochs"):
    if _column not in [str(column) for column in summary.columns]:
        checks.fail(f"Il manque la colonne « {_column} ».")
if [str(name) for name in summary.index] != list(VARIANTS):
    checks.fail(f"Le tableau doit avoir une ligne par variante, dans l'ordre {list(VARIANTS)}.")
print("summarise_histories : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): summarise_histories is called on the
# grader's histories of this run and its tables are exported. Nothing here decides the grade.
from paysages import probes as _probes

_SUMMARY_KINDS = {"best_val_accuracy": "floats", "best_val_loss": "floats", "best_epoch": "floats", "epochs": "floats"}


def _exported_summary(case):
    try:
        return _probes.plain_table(summarise_histories(case), _SUMMARY_KINDS)
    except Exception as _error:
        return {"error": _probes.type_name(_error)}


_probe = _probes.load_probes("test_summarise_histories")
if _probe is not None:
    _probes.export_results("test_summarise_histories", {"results": [_exported_summary(_case) for _case in _probe["cases"]]})
### END HIDDEN TESTS

# %% [markdown]
# Le tableau complet ajoute le **coût** de chaque variante : durée d'entraînement mesurée et
# nombre de paramètres.

# %% [code] id=table_03
table = summary.copy()
table["training_seconds"] = [run.model_meta(f"reg_{name}")["training_seconds"] for name in table.index]
table["num_params"] = [run.model_meta(f"reg_{name}")["num_params"] for name in table.index]
display(table.style.format({"best_val_accuracy": "{:.3f}", "best_val_loss": "{:.3f}", "training_seconds": "{:.1f}"}))

# %% [markdown]
# ## 7. Analyse
#
# Répondez dans la cellule ci-dessous, chiffres du tableau et des courbes à l'appui
# (une dizaine de lignes) :
#
# 1. Vos **réglages** : pourquoi ce taux de *dropout* et ces emplacements, ce facteur L2, ces
#    transformations, cette patience ? Si vous avez ajouté des variantes, que montrent-elles ?
# 2. Quelle(s) technique(s) améliore(nt) la validation par rapport au modèle de base, et
#    lesquelles réduisent l'écart entre entraînement et validation ? Expliquez **pourquoi**
#    d'après ce que fait chaque technique.
# 3. Une différence de un ou deux points d'exactitude est-elle significative ici ? (Combien
#    d'images de validation cela représente-t-il ?)
# 4. Le **coût** : durée par époque, nombre d'époques nécessaires (certaines techniques
#    ralentissent l'apprentissage et demanderaient plus d'époques), paramètres ajoutés.
# 5. Que garderiez-vous pour le modèle amélioré (partie 8), et pourquoi pas « toutes les
#    techniques à la fois » sans vérification ?

# %% [answer] id=analysis_03 points=8
# Réponse de référence (correcteur) — les chiffres varient d'un run à l'autre ; on attend des
# conclusions appuyées sur le tableau et les courbes :
#
# - en mode rapide, la **normalisation par lots** l'emporte nettement (exactitude de validation
#   souvent 0,75-0,8 contre 0,5 pour la base) : elle accélère beaucoup l'optimisation, la perte
#   d'entraînement chute bien plus vite ; mais son écart train/validation est aussi le plus
#   grand (elle optimise plus qu'elle ne régularise) ;
# - l'**augmentation** et le **dropout** ralentissent l'apprentissage (courbes plus basses
#   après 6 époques) mais réduisent l'écart train/validation : elles paient sur des
#   entraînements longs (mode complet), pas en 6 époques ; la courbe d'entraînement y est
#   mesurée sur des images transformées ou un réseau amputé ;
# - réglages : on attend une raison par choix (taux de *dropout* courant 0,2-0,5 et placé là où
#   sont les paramètres, facteur L2 petit pour ne pas écraser l'apprentissage, transformations
#   plausibles pour un paysage, patience assez grande pour le bruit d'une époque à l'autre mais
#   plus petite que le nombre d'époques) ; une variante ajoutée (ex. *dropout* 0,5 contre 0,3)
#   doit être lue contre la base et contre sa sœur, pas seule ;
# - la **pénalité L2** (1e-4) change peu : son effet est faible à ce facteur et sur peu
#   d'époques ; la perte affichée inclut la pénalité ;
# - l'**arrêt précoce** suit exactement la base (même graine) tant qu'il ne s'arrête pas ; en
#   mode complet, il s'arrête avant la fin et rend les poids de la meilleure époque, ce qui
#   économise du temps ;
# - significativité : 1 image sur ~140 en validation (mode rapide) vaut 0,7 point, donc des
#   écarts de 1-2 points ne sont pas concluants ; il faudrait plusieurs graines ;
# - coût : l'augmentation et la normalisation allongent chaque époque (transformations,
#   calculs supplémentaires), la normalisation ajoute quelques centaines de paramètres, le
#   dropout et la L2 ne coûtent presque rien ; l'arrêt précoce fait gagner du temps ;
# - pour le modèle final : combiner les techniques qui aident (normalisation + augmentation +
#   dropout, avec arrêt précoce), mais en vérifiant la combinaison, car les effets ne
#   s'additionnent pas forcément (ex. dropout et BN interagissent, trop de régularisation
#   donne du sous-apprentissage).

# %% [markdown]
# ## 8. Un modèle amélioré : combiner ce qui a aidé
#
# Choisissez, d'après votre tableau et vos courbes, les techniques qui ont aidé, et combinez-les
# dans `IMPROVED` : les mêmes options que dans `VARIANTS`, plusieurs à la fois cette fois
# (`patience` si vous gardez l'arrêt précoce). N'y mettez que des techniques que vous avez
# d'abord essayées **seules** : c'est la comparaison une à une qui justifie de les garder. Les
# effets ne s'additionnent pas toujours (trop de régularisation fait sous-apprendre) : ce
# dernier entraînement le vérifie. Le modèle est sauvegardé sous `reg_improved` et rejoint le
# tableau du notebook 05.

# %% [free]
# Votre combinaison : les techniques qui ont aidé, d'abord essayées seules.
#| definition: solutions.regularisation.IMPROVED

# %% [code] id=train_improved_03
VARIANTS["improved"] = IMPROVED
if not retrain_existing and run.model_path("reg_improved").is_file():
    print("Modèle amélioré : déjà entraîné, on garde le modèle sauvegardé.")
else:
    print("=== Modèle amélioré ===")
    train_variant("improved", data, settings, run)
histories["improved"] = run.load_history("reg_improved")
display(summarise_histories(histories).style.format({"best_val_accuracy": "{:.3f}", "best_val_loss": "{:.3f}"}))
figure = plot_histories({"baseline": histories["baseline"], "improved": histories["improved"]}, title="improved contre baseline")
figure.savefig(run.figure_path("03_courbes_improved.png"), dpi=300)
plt.show()

# %% [tests] id=test_improved_model points=1
"""Vérifie que le modèle amélioré combine des techniques d'abord essayées seules, sur votre modèle de base."""
_combined = checks.variant_options(IMPROVED, "IMPROVED")
if len(_combined) < 2:
    checks.fail(f"Le modèle amélioré doit combiner au moins deux techniques ; IMPROVED n'en demande que {_combined or 'aucune'}.")
_history = run.load_history("reg_improved")
if "val_accuracy" not in _history:
    checks.fail("L'historique de reg_improved n'a pas de mesures de validation : entraînez-le avec train_variant.")
print(f"Modèle amélioré ({', '.join(_combined)}) : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): IMPROVED, VARIANTS and the saved improved
# model are exported; the grader checks the combination and the training. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_improved_model") is not None:
    _probes.export_run("test_improved_model", ["cnn", "reg_improved"], variants=_probes.plain_variants(VARIANTS),
                       improved=_probes.plain_options(IMPROVED))
### END HIDDEN TESTS

# %% [markdown]
# Répondez, chiffres à l'appui (cinq lignes environ) : quelles techniques avez-vous combinées,
# et pourquoi celles-là ? Le modèle amélioré fait-il mieux que chacune d'elles seule, et que la
# base ? Sinon, quelle explication proposez-vous, et que testeriez-vous ensuite ?

# %% [answer] id=improved_answer_03 points=2
# Réponse de référence (correcteur) : le choix doit découler du tableau (garder ce qui a
# amélioré la validation ou réduit l'écart, écarter ce qui n'a rien changé) ; la comparaison du
# modèle amélioré se fait contre la base **et** contre la meilleure technique seule, sur la
# validation. Un résultat décevant n'est pas une faute : on attend une explication argumentée
# (effets qui ne s'additionnent pas, sous-apprentissage en 6 époques avec augmentation et
# *dropout*, interaction BN/dropout, bruit d'une seule graine) et une expérience suivante.

# %% [markdown]
# ## 9. Bonus : pondérer les classes
#
# Les classes sont déséquilibrées (la ville a deux fois moins d'images que la montagne) : en
# minimisant la perte moyenne, le réseau a intérêt à bien classer les grandes classes. La
# **pondération des classes** multiplie la perte de chaque image par le poids de sa classe,
# $w_c = N / (K \cdot n_c)$ ($N$ images, $K$ classes, $n_c$ images de la classe $c$) : chaque
# classe pèse alors autant que si elles étaient équilibrées. C'est une technique
# d'entraînement : l'architecture reste celle du modèle de base, seul `fit(class_weight=...)`
# change. On l'évalue donc, elle aussi, **seule** contre la base, et sur le **rappel** de chaque
# classe (l'exactitude globale peut même baisser).
#
# Écrivez `balanced_class_weights(labels, num_classes)`.

# %% [solution] id=balanced_class_weights
#| solution: solutions.regularisation.balanced_class_weights

# %% [tests] id=test_balanced_class_weights points=2
"""Bonus : vérifie les poids N / (K n_c) sur un petit exemple déséquilibré."""
_weights = balanced_class_weights(np.array([0, 0, 0, 1]), 2)
if not isinstance(_weights, dict) or sorted(_weights) != [0, 1]:
    checks.fail("balanced_class_weights doit renvoyer un dictionnaire {indice de classe: poids}.")
if abs(checks.plain_float(_weights[0], "le poids de la classe 0") - 4 / 6) > 1e-9:
    checks.fail("Le poids d'une classe vaut N / (K * n_c) : ici 4 / (2 * 3) pour la classe 0.")
if abs(checks.plain_float(_weights[1], "le poids de la classe 1") - 2.0) > 1e-9:
    checks.fail("Le poids d'une classe vaut N / (K * n_c) : ici 4 / (2 * 1) pour la classe 1.")
print("balanced_class_weights : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): balanced_class_weights is called on the
# grader's label arrays of this run and its dicts are exported. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes


def _exported_weights(case):
    try:
        _weights = balanced_class_weights(_np.asarray(case["labels"], dtype=_np.int64), case["num_classes"])
    except Exception as _error:
        return {"error": _probes.type_name(_error)}
    if not isinstance(_weights, dict):
        return {"type": _probes.type_name(_weights)}
    return {"type": "dict", "keys": [_probes.plain_number(_key) for _key in _weights],
            "values": [_probes.plain_number(_value) for _value in _weights.values()]}


_probe = _probes.load_probes("test_balanced_class_weights")
if _probe is not None:
    _probes.export_results("test_balanced_class_weights", {"results": [_exported_weights(_case) for _case in _probe["cases"]]})
### END HIDDEN TESTS

# %% [code] id=class_weights_03
from sklearn.metrics import recall_score

keras.utils.set_random_seed(settings.seed)
weighted_model = compile_classifier(build_regularised_cnn(settings.image_shape, len(data.class_names)), settings.learning_rate)
weights = balanced_class_weights(data.y_train, len(data.class_names))
callbacks = run.training_callbacks("reg_class_weights")
history = weighted_model.fit(
    data.x_train, data.y_train, validation_data=(data.x_validation, data.y_validation),
    epochs=settings.num_epochs, batch_size=settings.batch_size, class_weight=weights,
    callbacks=callbacks, verbose=2,
)
run.save_model(weighted_model, "reg_class_weights", history=history,
               training_seconds=training_seconds(callbacks), variant="class_weights")
recalls = {}
for name in ("reg_baseline", "reg_class_weights"):
    predictions = run.load_model(name).predict(data.x_validation, verbose=0).argmax(axis=1)
    recalls[name] = recall_score(data.y_validation, predictions, average=None,
                                 labels=list(range(len(data.class_names))), zero_division=0)
recall_table = pd.DataFrame(recalls, index=data.class_names).round(3)
recall_table["effectif (train)"] = np.bincount(data.y_train, minlength=len(data.class_names))
display(recall_table.sort_values("effectif (train)"))

# %% [answer] id=analysis_class_weights_03 points=1
# Réponse de référence (correcteur) : la pondération remonte le rappel des petites classes
# (ville, océan) au prix d'un peu de rappel sur les grandes ; le macro-F1 compte davantage que
# l'exactitude pour juger l'effet. Avec peu d'époques, l'effet peut être noyé dans le bruit.

# %% [markdown]
# ## 10. Bonus : la variété des expériences
#
# Vos expériences en plus des six variantes et du modèle amélioré : les variantes que vous avez
# ajoutées à `VARIANTS` et le modèle pondéré de la partie 9. La première est demandée ; chaque
# autre, bien formée, rapporte un point de bonus (deux au plus). « Bien formée » : le réseau de
# votre modèle de base, **une seule** différence, les mêmes réglages d'entraînement que les
# autres variantes, le modèle sauvegardé avec son historique. Toutes rejoignent le tableau du
# notebook 05 ; commentez-les dans l'analyse.

# %% [tests] id=test_variety_1 points=1
"""Bonus : vérifie que deux expériences en plus des variantes demandées sont bien formées."""
_extra_names = checks.extra_experiments(VARIANTS, run)
if len(_extra_names) < 2:
    checks.fail(f"Expériences en plus : {', '.join(_extra_names) or 'aucune'} ; le premier point en demande deux (une variante de plus, ou la partie 9).")
print(f"Expériences de plus : {', '.join(_extra_names)}")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): the extra experiments' saved models and
# histories are exported; the grader checks that each is well formed. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_variety_1") is not None:
    _probes.export_run("test_variety_1", ["cnn", "reg_class_weights", *[f"reg_{_name}" for _name in VARIANTS]],
                       variants=_probes.plain_variants(VARIANTS))
### END HIDDEN TESTS

# %% [tests] id=test_variety_2 points=1
"""Bonus : vérifie que trois expériences en plus des variantes demandées sont bien formées."""
_extra_names = checks.extra_experiments(VARIANTS, run)
if len(_extra_names) < 3:
    checks.fail(f"Expériences en plus : {', '.join(_extra_names) or 'aucune'} ; le second point en demande trois.")
print("Trois expériences en plus : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb03.py): the extra experiments' saved models and
# histories are exported; the grader checks that each is well formed. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_variety_2") is not None:
    _probes.export_run("test_variety_2", ["cnn", "reg_class_weights", *[f"reg_{_name}" for _name in VARIANTS]],
                       variants=_probes.plain_variants(VARIANTS))
### END HIDDEN TESTS

# %% [code] id=finish_03
#| include: finish
