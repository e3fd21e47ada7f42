# %% [markdown]
# # 04 — L'apprentissage par transfert
#
# **Objectifs**
#
# - **choisir** un réseau **pré-entraîné** sur ImageNet (1,2 million d'images, 1 000 classes)
#   et le réutiliser comme extracteur de caractéristiques pour nos 7 classes de paysages ;
# - donner à ce réseau **exactement** le prétraitement qu'il attend, et comprendre pourquoi
#   une erreur à cet endroit ruine silencieusement le transfert ;
# - entraîner en deux phases : **extraction de caractéristiques** (base gelée, on n'entraîne
#   que la tête), puis **réglage fin** (*fine-tuning*) des dernières couches avec un taux
#   d'apprentissage faible ;
# - comprendre le rôle particulier des couches `BatchNormalization` pendant le réglage fin.
#
# Ce notebook relit la séparation écrite par `01_separation.ipynb` (exécutez-le d'abord) et
# sauvegarde dans le dossier de run `transfer_frozen` (après la phase 1) et
# `transfer_finetuned` (après la phase 2).

# %% [code] id=bootstrap_04
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_04
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from keras import layers

from paysages import checks
from paysages.data import load_split_arrays
from paysages.notebook import start
from paysages.plots import plot_histories
from paysages.pretrained import TRANSFER_ARCHITECTURES, offline_banner, preprocess_input_of, transfer_weights
from paysages.training import training_seconds

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("04_transfert", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
print(data.describe())
validation_set = (data.x_validation, data.y_validation)

# %% [markdown]
# ## 1. Pourquoi transférer, et quelle base choisir
#
# Les premières couches d'un réseau entraîné sur ImageNet détectent des bords, des textures,
# des couleurs ; les suivantes, des motifs de plus en plus abstraits (feuillages, vagues,
# façades). Ces caractéristiques servent pour presque toute image naturelle : au lieu de les
# réapprendre avec quelques milliers de paysages, on **réutilise** la partie convolutive du
# réseau (la « base ») et on n'apprend qu'une petite **tête** de classification.
#
# **À vous de choisir la base**, parmi trois réseaux de `keras.applications`, et de justifier
# ce choix dans l'analyse :
#
# | base | paramètres sans la tête | ce qui la distingue | prétraitement attendu |
# |---|---|---|---|
# | `MobileNetV2` | 2,3 millions | légère, rapide (convolutions *depthwise separable*) ; poids ImageNet publiés pour 96 à 224 pixels | pixels dans `[-1, 1]` |
# | `EfficientNetB0` | 4 millions | meilleure exactitude ImageNet à coût modéré (mise à l'échelle composée) | pixels **bruts** 0-255 : la base se met elle-même à l'échelle |
# | `ResNet50V2` | 23,6 millions | profonde et classique (connexions résiduelles), dix fois plus lourde : plus lente à entraîner | pixels dans `[-1, 1]` |
#
# `include_top=False` retire la tête à 1 000 classes : la base renvoie des cartes de
# caractéristiques, que nous moyennons (`GlobalAveragePooling2D`) avant une couche `Dense` à
# 7 sorties. En mode rapide (hors ligne, sans poids ImageNet), seule `MobileNetV2` a des poids
# pré-entraînés, ceux du kit ; les deux autres partent de poids **aléatoires** (le notebook le
# dit) : le code se vérifie, mais leurs chiffres ne disent rien du transfert.

# %% [free]
# Votre base : "MobileNetV2", "EfficientNetB0" ou "ResNet50V2" (justifiez-la dans l'analyse).
#| definition: solutions.transfer.BASE_ARCHITECTURE

# %% [code] id=base_weights_04
if BASE_ARCHITECTURE not in TRANSFER_ARCHITECTURES:
    raise ValueError(f"BASE_ARCHITECTURE doit être l'une de {', '.join(TRANSFER_ARCHITECTURES)} ; reçu {BASE_ARCHITECTURE!r}.")
# Online the base starts from ImageNet's weights; offline (fast mode, grading) MobileNetV2 starts
# from the kit's own weights (other synthetic scenes, NOT ImageNet), the other bases from random ones.
base_weights = transfer_weights(settings.offline, BASE_ARCHITECTURE)
pretrained_weights = base_weights.weights
print(f"Base pré-entraînée : {base_weights.label}")
if not base_weights.is_imagenet:
    print(offline_banner(base_weights))

# %% [markdown]
# ## 2. Le piège du prétraitement
#
# Chaque réseau de `keras.applications` a été entraîné avec **son** prétraitement, fourni par
# sa fonction `preprocess_input`. Pour MobileNetV2 et ResNet50V2
# (`keras.applications.mobilenet_v2.preprocess_input`, `resnet_v2.preprocess_input`), les pixels
# passent de `[0, 255]` à `[-1, 1]` : $x \mapsto x / 127{,}5 - 1$. EfficientNetB0 contient sa
# propre mise à l'échelle : `efficientnet.preprocess_input` ne change rien, la base attend les
# pixels bruts 0-255. (D'autres familles diffèrent encore : ResNet50, sans « V2 », soustrait la
# moyenne d'ImageNet en BGR.)
#
# Se tromper ne provoque **aucune erreur** : le réseau reçoit des valeurs d'une autre échelle
# (par exemple `[0, 1]` avec le `Rescaling(1/255)` du notebook 02), ses premières couches
# répondent n'importe comment, et le transfert donne de moins bons résultats qu'un petit CNN.
# Beaucoup de notebooks publics concluent à tort que « le transfert ne marche pas » pour
# cette seule raison.
#
# Nous mettons le prétraitement **dans le modèle** : pour une base qui attend `[-1, 1]`, une
# couche `layers.Rescaling(1 / 127.5, offset=-1)` qui fait le même calcul que
# `preprocess_input` ; pour EfficientNetB0, rien (surtout pas un second `Rescaling`). Le modèle
# sauvegardé prend les images brutes, personne ne peut oublier ni doubler le prétraitement plus
# tard (notebooks 05 à 08), et aucune couche `Lambda` n'est nécessaire (elle empêcherait le
# rechargement en `safe_mode`).
#
# ## 3. Geler la base, et `BatchNormalization`
#
# - `base.trainable = False` **gèle** la base : ses poids ne bougent pas, seule la tête
#   apprend. Sans cela, les gradients d'une tête initialisée au hasard détruiraient dès les
#   premiers lots les caractéristiques pré-entraînées.
# - La base contient des couches `BatchNormalization` qui stockent les moyennes et variances
#   d'ImageNet. En mode entraînement, elles normaliseraient avec les statistiques de **nos**
#   petits lots et mettraient à jour leurs moyennes mobiles : les représentations apprises
#   s'effondrent. On appelle donc la base avec `training=False` (`x = base(x, training=False)`),
#   comme le recommande le guide de Keras.
# - Attention : dans Keras 3, `fit` appelle le modèle avec `training=True`, et cette valeur
#   **remplace** le `training=False` écrit à la construction du graphe (discussion
#   keras-team/keras#20285). Ce qui protège vraiment les statistiques, c'est qu'une couche
#   `BatchNormalization` **gelée** (`trainable = False`) fonctionne toujours en mode inférence.
#   Il faudra donc garder ces couches gelées pendant le réglage fin (partie 5).
#
# Écrivez `build_transfer_model` en suivant sa docstring, pour **votre** base
# (`architecture=BASE_ARCHITECTURE`). Nommez la base `"base"`
# (`keras.applications.MobileNetV2(..., name="base")`, ou la vôtre) : les tests et la partie 5
# la retrouvent par `model.get_layer("base")`.
#
# Comme au notebook 03, recopiez d'abord votre `compile_classifier` du notebook 02 : chaque
# notebook a son propre noyau Python.

# %% [solution] id=compile_classifier_04
#| solution: solutions.cnn.compile_classifier

# %% [solution] id=build_transfer_model
#| solution: solutions.transfer.build_transfer_model

# %% [tests] id=test_build_transfer_model points=2
"""Vérifie le modèle de transfert : entrées, sorties, votre base gelée, son prétraitement, BatchNormalization."""
model = checks.keras_model(
    build_transfer_model(settings.image_shape, len(data.class_names), architecture=BASE_ARCHITECTURE, weights=None),
    "build_transfer_model(...)",
)
checks.model_io(model, "build_transfer_model(...)", input_shape=settings.image_shape, num_classes=len(data.class_names))
try:
    base = model.get_layer(name="base")
except ValueError:
    checks.fail(f"Nommez la base : keras.applications.{BASE_ARCHITECTURE}(..., name=\"base\").")
if not isinstance(base, keras.Model) or len(base.layers) < 100:
    checks.fail(f"La couche « base » doit être le réseau keras.applications.{BASE_ARCHITECTURE} (include_top=False).")
if base.trainable_weights:
    checks.fail("La base doit être gelée (base.trainable = False) : elle a des poids entraînables.")
# What the base receives for black, mid-grey and white images, against its own preprocess_input.
_pixels = np.stack([np.zeros(settings.image_shape), np.full(settings.image_shape, 127.5), np.full(settings.image_shape, 255.0)]).astype("float32")
_received = checks.received_by_base(model, _pixels)
_expected = np.asarray(preprocess_input_of(BASE_ARCHITECTURE)(_pixels.copy()), dtype="float64")
if _received.shape != _expected.shape or not np.allclose(_received, _expected, atol=1e-3):
    checks.fail(
        f"{BASE_ARCHITECTURE} attend les pixels que donne son preprocess_input : pour 0, 127,5 et 255, "
        f"{[round(float(image.mean()), 3) for image in _expected]} ; votre modèle lui donne "
        f"{[round(float(image.mean()), 3) for image in _received]}."
    )
print(f"build_transfer_model ({BASE_ARCHITECTURE}) : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb04.py): build_transfer_model is called at the shape,
# number of classes and dropout rate the grader drew for this run, and the model is exported as a
# .keras file; the grader rebuilds it with safe_mode=True and checks its base, its preprocessing and
# a training step. Nothing here decides the grade.
from paysages import probes as _probes

_probe = _probes.load_probes("test_build_transfer_model")
if _probe is not None:
    try:
        _probes.export_model("test_build_transfer_model", build_transfer_model(
            tuple(_probe["input_shape"]), _probe["num_classes"], architecture=str(BASE_ARCHITECTURE), weights=None,
            dropout_rate=_probe["dropout_rate"]))
        _probes.export_results("test_build_transfer_model", {"architecture": str(BASE_ARCHITECTURE)})
    except Exception as _error:
        _probes.export_results("test_build_transfer_model", {"error": _probes.type_name(_error)})
### END HIDDEN TESTS

# %% [markdown]
# Le test suivant est une **preuve** plutôt qu'une note : la couche de prétraitement du modèle
# donne exactement ce que donne `preprocess_input` sur de vraies images du jeu de données.
# (Remarquez le `.copy()` : appliquée à un tableau NumPy de flottants, `preprocess_input`
# **modifie son argument sur place**, autre source d'erreurs silencieuses.)

# %% [code] id=preprocessing_proof_04
first_images = data.x_train[:8].astype("float32")
probe_model = build_transfer_model(settings.image_shape, len(data.class_names), architecture=BASE_ARCHITECTURE, weights=None)
received = checks.received_by_base(probe_model, first_images)
expected = np.asarray(preprocess_input_of(BASE_ARCHITECTURE)(first_images.copy()))
print(f"pixels d'entrée : de {first_images.min():.0f} à {first_images.max():.0f}")
print(f"reçus par la base {BASE_ARCHITECTURE} : de {received.min():.3f} à {received.max():.3f}")
print(f"écart maximal avec preprocess_input : {np.abs(received - expected).max():.2e}")

# %% [markdown]
# ## 4. Phase 1 : extraction de caractéristiques
#
# La base est gelée : on n'entraîne que la tête (quelques milliers de paramètres), avec le
# taux d'apprentissage habituel `settings.learning_rate`, pendant `settings.num_epochs`
# époques. Le résumé (`show_trainable=True`) montre la base non entraînable.

# %% [markdown]
# Si Colab vous déconnecte pendant la phase 2, inutile de refaire la phase 1 : mettez
# `retrain_existing = False` dans la cellule suivante avant de relancer, et le modèle
# `transfer_frozen` sauvegardé (sur Drive avec `USE_DRIVE = True`) est repris tel quel.

# %% [free]
retrain_existing = True

# %% [code] id=train_frozen_04
if not globals().get("retrain_existing", True) and run.model_path("transfer_frozen").is_file():
    print("Phase 1 : déjà entraînée, on reprend le modèle transfer_frozen sauvegardé.")
    model = run.load_model("transfer_frozen")
    frozen_curves = run.load_history("transfer_frozen")
    frozen_seconds = run.model_meta("transfer_frozen").get("training_seconds")
    saved_path = run.model_path("transfer_frozen")
else:
    keras.utils.set_random_seed(settings.seed)
    model = build_transfer_model(
        settings.image_shape, len(data.class_names), architecture=BASE_ARCHITECTURE, weights=pretrained_weights
    )
    model = compile_classifier(model, settings.learning_rate)
    model.summary(show_trainable=True)
    frozen_callbacks = run.training_callbacks("transfer_frozen")
    frozen_history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=validation_set,
        epochs=settings.num_epochs,
        batch_size=settings.batch_size,
        callbacks=frozen_callbacks,
        verbose=2,
    )
    frozen_curves = frozen_history.history
    frozen_seconds = training_seconds(frozen_callbacks)
    saved_path = run.save_model(
        model, "transfer_frozen", history=frozen_history, training_seconds=frozen_seconds,
        pretrained_weights=base_weights.source, base_architecture=BASE_ARCHITECTURE,
    )
print(f"Modèle sauvegardé : {saved_path}")

# %% [tests] id=test_transfer_frozen points=1
"""Vérifie que la phase 1 a entraîné la seule tête, avec validation, et que le modèle sauvegardé correspond."""
_history = run.load_history("transfer_frozen")
for _key in ("loss", "accuracy", "val_loss", "val_accuracy"):
    if _key not in _history:
        checks.fail(f"L'historique de transfer_frozen ne contient pas « {_key} ».")
if len(_history["val_loss"]) != settings.num_epochs:
    checks.fail(f"La phase 1 doit durer {settings.num_epochs} époques, pas {len(_history['val_loss'])}.")
print("Phase 1 : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb04.py): the saved transfer_frozen, its history and
# the split's paths are exported from the run folder. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_transfer_frozen") is not None:
    _probes.export_run("test_transfer_frozen", ["transfer_frozen"])
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Phase 2 : réglage fin des dernières couches
#
# Une fois la tête entraînée, on peut adapter les **dernières** couches de la base à nos
# paysages : ce sont les plus spécialisées (motifs propres aux objets d'ImageNet), alors que
# les premières (bords, textures) sont déjà génériques. Trois règles :
#
# - **seulement après la phase 1** : une tête aléatoire enverrait de grands gradients qui
#   détruiraient les poids pré-entraînés ;
# - **un taux d'apprentissage faible** (`settings.fine_tune_learning_rate`, 100 fois plus
#   petit) : on ajuste les poids, on ne les réapprend pas ; avec peu d'images, un grand pas
#   sur-apprendrait en quelques époques ;
# - les `BatchNormalization` restent **gelées** (voir la partie 3).
#
# Écrivez `unfreeze_top_layers(model, num_layers, learning_rate)` : rendez entraînables les
# `num_layers` dernières couches de la base (`base.trainable = True`, puis regelez les autres
# et toutes les `BatchNormalization`), et **recompilez** le modèle : dans Keras, un changement
# de `trainable` n'est pris en compte qu'au prochain `compile`.
#
# Combien de couches dégeler est **votre** choix (`NUM_FINE_TUNED_LAYERS`, cellule suivante) :
# assez pour adapter les motifs les plus spécialisés, pas tant que les quelques milliers
# d'images ne suffisent plus. Regardez `base.summary()` pour placer la limite à la fin d'un bloc
# (pour MobileNetV2, 29 couches : les blocs 14 à 16 et la convolution finale `Conv_1`).

# %% [free]
# Votre choix : combien de couches, à la fin de la base, le réglage fin dégèle.
#| definition: solutions.transfer.NUM_FINE_TUNED_LAYERS

# %% [solution] id=unfreeze_top_layers
#| solution: solutions.transfer.unfreeze_top_layers

# %% [tests] id=test_unfreeze_top_layers points=2
"""Vérifie le dégel partiel : quelques couches de la base entraînables, pas toutes, BatchNormalization gelées, recompilation."""
_model = compile_classifier(
    build_transfer_model(settings.image_shape, len(data.class_names), architecture=BASE_ARCHITECTURE, weights=None),
    settings.learning_rate,
)
_model = checks.keras_model(unfreeze_top_layers(_model, NUM_FINE_TUNED_LAYERS, 1e-5), "unfreeze_top_layers(...)")
_base = _model.get_layer("base")
_trainable = [layer.name for layer in _base.layers if layer.trainable_weights]
_with_weights = [layer.name for layer in _base.layers if layer.weights]
if not _trainable:
    checks.fail("Aucune couche de la base n'est entraînable : mettez base.trainable = True avant de regeler le bas (et vérifiez NUM_FINE_TUNED_LAYERS).")
if len(_trainable) == len(_with_weights):
    checks.fail("Toute la base est entraînable : regelez les couches avant les num_layers dernières.")
if any(layer.trainable for layer in _base.layers if isinstance(layer, layers.BatchNormalization)):
    checks.fail("Les couches BatchNormalization de la base doivent rester gelées (layer.trainable = False).")
print("unfreeze_top_layers : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb04.py): unfreeze_top_layers is called with your
# count and the two counts the grader gives for your base, at a learning rate drawn for this run; each
# model is exported as a .keras file, which the grader rebuilds with safe_mode=True and checks
# (trainable layers, recompilation, a fine-tuning step). Nothing here decides the grade.
from paysages import probes as _probes

_probe = _probes.load_probes("test_unfreeze_top_layers")
if _probe is not None:
    try:
        _architecture = str(BASE_ARCHITECTURE)
        _counts = [int(NUM_FINE_TUNED_LAYERS), *_probe["boundaries"].get(_architecture, [])]
        for _index, _num_layers in enumerate(_counts):
            _model = compile_classifier(build_transfer_model((48, 48, 3), 4, architecture=_architecture, weights=None), 1e-3)
            _probes.export_model("test_unfreeze_top_layers", unfreeze_top_layers(_model, _num_layers, _probe["learning_rate"]),
                                 key=f"n{_index}")
        _probes.export_results("test_unfreeze_top_layers", {"architecture": _architecture, "counts": _counts})
    except Exception as _error:
        _probes.export_results("test_unfreeze_top_layers", {"error": _probes.type_name(_error)})
### END HIDDEN TESTS

# %% [code] id=train_finetuned_04
num_fine_tuned_layers = NUM_FINE_TUNED_LAYERS
model = unfreeze_top_layers(model, num_fine_tuned_layers, settings.fine_tune_learning_rate)
model.summary(show_trainable=True)
finetuned_callbacks = run.training_callbacks("transfer_finetuned")
finetuned_history = model.fit(
    data.x_train,
    data.y_train,
    validation_data=validation_set,
    epochs=settings.fine_tune_epochs,
    batch_size=settings.batch_size,
    callbacks=finetuned_callbacks,
    verbose=2,
)
# The saved history covers both phases, so that its curves continue those of phase 1.
both_phases = {
    key: list(frozen_curves[key]) + list(finetuned_history.history[key])
    for key in finetuned_history.history
}
saved_path = run.save_model(
    model, "transfer_finetuned", history=both_phases,
    training_seconds=(frozen_seconds or 0.0) + (training_seconds(finetuned_callbacks) or 0.0),
    pretrained_weights=base_weights.source, base_architecture=BASE_ARCHITECTURE, fine_tuned_layers=num_fine_tuned_layers,
)
print(f"Modèle sauvegardé : {saved_path}")

# %% [tests] id=test_transfer_finetuned points=1
"""Vérifie que la phase 2 a dégelé le haut de la base, avec un taux faible, et que le modèle sauvegardé correspond."""
_history = run.load_history("transfer_finetuned")
_expected_epochs = settings.num_epochs + settings.fine_tune_epochs
if len(_history.get("val_loss", [])) != _expected_epochs:
    checks.fail(f"L'historique de transfer_finetuned doit couvrir les deux phases ({_expected_epochs} époques).")
print("Phase 2 : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb04.py): the saved transfer_finetuned, its history
# and the split's paths are exported from the run folder. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_transfer_finetuned") is not None:
    _probes.export_run("test_transfer_finetuned", ["transfer_finetuned"])
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Comparer les deux phases
#
# Les courbes du réglage fin prolongent celles de la phase 1 (les premières époques sont
# communes) ; le tableau recalcule l'exactitude et la perte de validation des deux modèles
# sauvegardés.

# %% [code] id=compare_04
figure = plot_histories(
    {"phase 2 : réglage fin": run.load_history("transfer_finetuned"), "phase 1 : base gelée": run.load_history("transfer_frozen")},
    title=f"Apprentissage par transfert ({BASE_ARCHITECTURE})" + ("" if base_weights.is_imagenet else " — PAS ImageNet (hors ligne)"),
)
for axis in figure.axes:
    axis.axvline(settings.num_epochs - 0.5, color="grey", linestyle=":")
figure.savefig(run.figure_path("04_transfert.png"), dpi=300)
plt.show()

rows = {}
for name in ("transfer_frozen", "transfer_finetuned"):
    saved_model = run.load_model(name)
    loss, accuracy = saved_model.evaluate(data.x_validation, data.y_validation, verbose=0)
    meta = run.model_meta(name)
    rows[name] = {
        "val_accuracy": accuracy,
        "val_loss": loss,
        "trainable_params": int(sum(np.prod(weight.shape) for weight in saved_model.trainable_weights)),
        "training_seconds": meta["training_seconds"],
    }
display(pd.DataFrame.from_dict(rows, orient="index").style.format({"val_accuracy": "{:.3f}", "val_loss": "{:.3f}", "training_seconds": "{:.1f}"}))
if not base_weights.is_imagenet:
    print(f"Rappel : {base_weights.label} (mode hors ligne) : ces chiffres ne sont pas ceux du vrai transfert.")

# %% [markdown]
# ## 7. Analyse
#
# Répondez dans la cellule ci-dessous (une dizaine de lignes, chiffres à l'appui) :
#
# 0. Pourquoi **cette** base (taille, vitesse, exactitude attendue, prétraitement, ce que permet
#    un GPU Colab gratuit) ? Combien de couches avez-vous dégelées, et pourquoi ?
# 1. Comparez la phase 1 au CNN du notebook 02 et aux variantes du notebook 03 : exactitude,
#    nombre de paramètres **entraînés**, durée. Pourquoi le transfert part-il de si haut ?
# 2. Le réglage fin a-t-il apporté quelque chose ? Justifiez le taux d'apprentissage faible et
#    le choix de ne dégeler que les dernières couches.
# 3. Qu'arriverait-il avec un mauvais prétraitement (par exemple `Rescaling(1/255)`), ou si
#    les `BatchNormalization` de la base étaient entraînées sur nos petits lots ?
# 4. Si vous avez exécuté ce notebook en mode hors ligne : que valent ces résultats ?

# %% [answer] id=analysis_04 points=7
# Réponse de référence (correcteur) — les chiffres varient d'un run à l'autre :
#
# - le choix de la base doit être argumenté, pas seulement nommé : MobileNetV2 pour la vitesse
#   et la taille (et, hors ligne, parce que c'est la seule à avoir des poids pré-entraînés),
#   EfficientNetB0 pour un meilleur compromis exactitude/coût (attention : pixels bruts 0-255),
#   ResNet50V2 pour une base plus riche au prix d'un entraînement bien plus lent ; le nombre de
#   couches dégelées doit s'appuyer sur la structure de la base (fin d'un bloc) et sur la taille
#   du jeu de données ;
# - en mode complet (poids ImageNet), la phase 1 dépasse nettement le CNN maison dès les
#   premières époques (souvent 0,85-0,9 d'exactitude contre 0,6-0,7), en n'entraînant que
#   ~9 000 paramètres (la tête) : les caractéristiques d'ImageNet (textures de feuillage,
#   d'eau, de bâtiments) décrivent déjà bien les paysages ; le prix est une base de
#   2,3 millions de paramètres à faire passer à chaque image ;
# - le réglage fin apporte en général un ou deux points ; un taux faible (1e-5) évite de
#   détruire les poids pré-entraînés et de sur-apprendre nos quelques milliers d'images ; les
#   dernières couches sont les plus spécifiques à ImageNet, les premières (bords, textures)
#   sont génériques et doivent rester telles quelles ;
# - un mauvais prétraitement (valeurs dans [0, 1] au lieu de [-1, 1]) décale toutes les
#   activations : la base répond mal, l'exactitude chute, souvent sous celle du petit CNN, sans
#   aucun message d'erreur ; des BatchNormalization entraînées sur de petits lots remplacent
#   les statistiques d'ImageNet par des statistiques bruitées : les représentations
#   s'effondrent (courbes de validation erratiques) ;
# - en mode hors ligne, la base est celle du kit (pré-entraînée sur d'autres scènes
#   synthétiques, jamais sur nos 7 classes) : elle sait déjà reconnaître bords, textures et
#   couleurs, donc la phase 1 apprend au-dessus du hasard et rejoint ou dépasse le petit CNN
#   avec bien moins de paramètres entraînés ; mais ce n'est pas ImageNet : l'écart avec le CNN
#   est bien plus faible qu'en mode complet, et l'étudiant doit le dire.

# %% [markdown]
# ## Bonus : combiner deux réseaux pré-entraînés
#
# Deux réseaux entraînés différemment (ici MobileNetV2 et EfficientNetB0) ne retiennent pas les
# mêmes indices : leurs caractéristiques sont en partie **complémentaires**. On peut les
# **concaténer** : chaque base gelée reçoit l'image avec **son propre** prétraitement
# (MobileNetV2 attend des pixels dans [-1, 1] ; EfficientNet fait lui-même la mise à
# l'échelle et attend 0-255 : lui donner des pixels déjà normalisés est l'erreur classique qui
# fait croire que le transfert « ne marche pas »), puis une seule tête apprend sur le vecteur
# concaténé. Le coût : deux bases à exécuter pour chaque image.
#
# Écrivez `build_concatenated_model(input_shape, num_classes, weights=..., dropout_rate=...)`.

# %% [solution] id=build_concatenated_model
#| solution: solutions.transfer.build_concatenated_model

# %% [tests] id=test_build_concatenated_model points=2
"""Bonus : vérifie les deux bases gelées, leurs prétraitements et la concaténation."""
_concat = checks.keras_model(
    build_concatenated_model((48, 48, 3), 4, weights=None), "build_concatenated_model(...)"
)
for _name in ("base_mobilenet", "base_efficientnet"):
    try:
        _branch = _concat.get_layer(_name)
    except ValueError:
        checks.fail(f"Il manque la base nommée « {_name} ».")
    if _branch.trainable or _branch.trainable_weights:
        checks.fail(f"La base « {_name} » doit être gelée.")
if not any(isinstance(layer, layers.Concatenate) for layer in _concat.layers):
    checks.fail("Les deux vecteurs de caractéristiques doivent être concaténés (layers.Concatenate).")
if tuple(_concat.output_shape[1:]) != (4,):
    checks.fail("La sortie doit donner une probabilité par classe.")
print("build_concatenated_model : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb04.py): the concatenated model is exported as a
# .keras file; the grader rebuilds it with safe_mode=True and recomputes each branch's features on
# random pixels. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_build_concatenated_model") is not None:
    try:
        _probes.export_model("test_build_concatenated_model", build_concatenated_model((48, 48, 3), 4, weights=None))
    except Exception as _error:
        _probes.export_results("test_build_concatenated_model", {"error": _probes.type_name(_error)})
### END HIDDEN TESTS

# %% [code] id=train_concat_04
keras.utils.set_random_seed(settings.seed)
concat_model = compile_classifier(
    build_concatenated_model(settings.image_shape, len(data.class_names),
                             weights="imagenet" if base_weights.is_imagenet else None),
    settings.learning_rate,
)
concat_callbacks = run.training_callbacks("transfer_concat")
concat_history = concat_model.fit(
    data.x_train, data.y_train, validation_data=validation_set,
    epochs=settings.num_epochs, batch_size=settings.batch_size, callbacks=concat_callbacks, verbose=2,
)
run.save_model(concat_model, "transfer_concat", history=concat_history,
               training_seconds=training_seconds(concat_callbacks),
               pretrained_weights="imagenet" if base_weights.is_imagenet else "random")
figure = plot_histories({"transfer_frozen": run.load_history("transfer_frozen"), "transfer_concat": concat_history},
                        title="Une base ou deux bases concaténées")
figure.savefig(run.figure_path("04_concatenation.png"), dpi=300)
plt.show()

# %% [answer] id=analysis_concat_04 points=1
# Réponse de référence (correcteur) : avec de vrais poids ImageNet, la concaténation gagne
# souvent un peu sur une seule base (indices complémentaires) pour un coût d'inférence à peu
# près doublé ; en mode hors ligne les deux bases concaténées partent de poids aléatoires (le
# kit n'a pré-entraîné que MobileNetV2) : aucune conclusion n'est possible, et l'étudiant doit le dire.

# %% [code] id=finish_04
#| include: finish
