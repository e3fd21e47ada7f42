# %% [markdown]
# # 02 — Un premier réseau convolutif (CNN)
#
# **Objectifs**
#
# - concevoir **votre** CNN avec Keras, et justifier vos choix ;
# - l'entraîner sur la séparation du notebook 01, **toujours** avec `validation_data` ;
# - lire les courbes d'apprentissage (sous-apprentissage, sur-apprentissage) ;
# - sauvegarder le modèle et son historique pour les notebooks suivants.
#
# Ce notebook utilise le dossier de run écrit par `01_separation.ipynb` : exécutez-le d'abord.

# %% [code] id=bootstrap_02
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_02
import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import layers

from paysages import checks
from paysages.data import load_split_arrays
from paysages.notebook import start
from paysages.plots import plot_histories
from paysages.training import training_seconds

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("02_cnn", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
print(data.describe())

# %% [markdown]
# ## 1. L'architecture
#
# Un CNN empile des **blocs convolutifs** : une convolution apprend des filtres locaux (bords,
# textures), un *max-pooling* réduit la résolution et agrandit le champ récepteur. Après le
# dernier bloc, un *global average pooling* résume chaque carte de caractéristiques par sa
# moyenne (beaucoup moins de paramètres qu'un `Flatten`), puis une couche dense produit les
# caractéristiques que la couche `softmax` transforme en probabilités.
#
# **C'est vous qui concevez le réseau.** Écrivez `build_cnn(input_shape, num_classes)` ; les
# seules contraintes (vérifiées par les tests) :
#
# - l'entrée `keras.Input(shape=input_shape)` : des images dont les valeurs vont de 0 à 255,
#   que le modèle remet à l'échelle lui-même (`layers.Rescaling`) ;
# - au moins deux convolutions (`layers.Conv2D`) et un *pooling* ;
# - une sortie `softmax` de `num_classes` probabilités (sept classes ici).
#
# Le reste est votre choix : nombre de blocs, de filtres, taille des noyaux, couches denses,
# API fonctionnelle (`keras.Input`, appels de couches, `keras.Model(inputs, outputs)`) ou
# `keras.Sequential`. Avec quelques milliers d'images, un réseau de quelques centaines de
# milliers de paramètres suffit ; un réseau bien plus gros sur-apprendra vite. Notez vos
# essais : vous justifierez vos choix dans l'analyse.

# %% [solution] id=build_cnn
#| solution: solutions.cnn.build_cnn

# %% [tests] id=test_build_cnn points=2
"""Vérifie que build_cnn renvoie un CNN fonctionnel aux bonnes entrées et sorties."""
model = checks.keras_model(build_cnn(settings.image_shape, len(data.class_names)), "build_cnn(...)")
checks.model_io(model, "build_cnn(...)", input_shape=settings.image_shape, num_classes=len(data.class_names))
checks.uses_layer(model, layers.Conv2D, "build_cnn(...)")
_num_parameters = model.count_params()
print(f"build_cnn : OK ({_num_parameters:,} paramètres)".replace(",", " "))
if _num_parameters > 5_000_000:
    print("Conseil : plus de 5 millions de paramètres pour quelques milliers d'images, le réseau "
          "risque de sur-apprendre (moins de filtres, un GlobalAveragePooling2D au lieu de Flatten ?).")
### BEGIN HIDDEN TESTS
import keras as _keras
from keras import layers as _layers
from paysages import checks as _checks

# Any design that meets the constraints passes: Functional or Sequential, any depth or width.
_model = build_cnn((48, 48, 3), 5)
if not isinstance(_model, _keras.Model) or type(_model).__name__ not in ("Functional", "Sequential"):
    raise AssertionError("build_cnn doit renvoyer un keras.Model (API fonctionnelle ou keras.Sequential).")
if tuple(_model.input_shape[1:]) != (48, 48, 3) or tuple(_model.output_shape[1:]) != (5,):
    raise AssertionError("build_cnn doit respecter input_shape et num_classes passés en argument.")
_convolutions = [layer for layer in _checks.iter_layers(_model) if isinstance(layer, _layers.Conv2D)]
_poolings = [layer for layer in _checks.iter_layers(_model) if isinstance(layer, (_layers.MaxPooling2D, _layers.AveragePooling2D))]
if len(_convolutions) < 2 or len(_poolings) < 1:
    raise AssertionError("Un CNN doit enchaîner au moins deux convolutions et un pooling.")
if not any(isinstance(layer, (_layers.Rescaling, _layers.Normalization)) for layer in _checks.iter_layers(_model)):
    raise AssertionError("Le modèle doit remettre à l'échelle les pixels 0-255 (layers.Rescaling).")
_last = _model.layers[-1]
if not (isinstance(_last, _layers.Softmax) or (hasattr(_last, "activation") and _keras.activations.serialize(_last.activation) == "softmax")):
    raise AssertionError("La dernière couche doit produire des probabilités (activation softmax).")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Compiler et entraîner
#
# Les étiquettes sont des entiers (0 à 6) : la perte adaptée est
# `sparse_categorical_crossentropy`. Écrivez `compile_classifier(model, learning_rate)`
# (optimiseur Adam) puis `train_classifier(...)`, qui appelle `model.fit` **avec
# `validation_data`** : sans elle, impossible de voir le sur-apprentissage.

# %% [solution] id=compile_classifier
#| solution: solutions.cnn.compile_classifier

# %% [solution] id=train_classifier
#| solution: solutions.cnn.train_classifier

# %% [tests] id=test_compile_classifier points=1
"""Vérifie que compile_classifier utilise Adam, la bonne perte et la métrique accuracy."""
_probe = compile_classifier(build_cnn(settings.image_shape, len(data.class_names)), 1e-3)
checks.keras_model(_probe, "compile_classifier(...)")
if not isinstance(_probe.optimizer, keras.optimizers.Adam):
    checks.fail("compile_classifier doit utiliser l'optimiseur Adam.")
if abs(checks.plain_float(float(_probe.optimizer.learning_rate.numpy()), "le taux d'apprentissage") - 1e-3) > 1e-9:
    checks.fail("compile_classifier doit utiliser le learning_rate passé en argument.")
_loss = _probe.loss if isinstance(_probe.loss, str) else getattr(_probe.loss, "name", type(_probe.loss).__name__)
if "sparse_categorical_crossentropy" not in str(_loss).lower().replace("sparsecategoricalcrossentropy", "sparse_categorical_crossentropy"):
    checks.fail("Avec des étiquettes entières, la perte doit être sparse_categorical_crossentropy.")
print("compile_classifier : OK")

# %% [code] id=train_02
model = compile_classifier(build_cnn(settings.image_shape, len(data.class_names)), settings.learning_rate)
model.summary()
callbacks = run.training_callbacks("cnn")
history = train_classifier(
    model, data, num_epochs=settings.num_epochs, batch_size=settings.batch_size, callbacks=callbacks
)
run.save_model(model, "cnn", history=history, training_seconds=training_seconds(callbacks))

# %% [tests] id=test_train_classifier points=2
"""Vérifie que l'entraînement a suivi la validation à chaque époque et que le modèle apprend."""
_history = run.load_history("cnn")
for _key in ("loss", "accuracy", "val_loss", "val_accuracy"):
    if _key not in _history:
        checks.fail(f"L'historique ne contient pas « {_key} » : avez-vous passé validation_data à fit ?")
if len(_history["val_accuracy"]) != settings.num_epochs:
    checks.fail(f"Il faut {settings.num_epochs} époques, l'historique en compte {len(_history['val_accuracy'])}.")
print("Historique : OK")
### BEGIN HIDDEN TESTS
from solutions.evaluation import classification_scores as _scores, predict_probabilities as _predict
from solutions.grading import fresh_context as _fresh_context

# Settings, run folder and validation images are reloaded: the notebook's own may have been changed.
_settings_h, _run_h, _data_h = _fresh_context()
_history_h = _run_h.load_history("cnn")
if len(_history_h.get("val_accuracy", [])) != _settings_h.num_epochs:
    raise AssertionError(f"Le CNN doit être entraîné {_settings_h.num_epochs} époques.")
_saved = _run_h.load_model("cnn")
_recomputed = _scores(_data_h.y_validation, _predict(_saved, _data_h.x_validation))
_chance = 1.0 / len(_data_h.class_names)
if _recomputed["accuracy"] < _chance + 0.15:
    raise AssertionError(f"Le CNN sauvegardé n'apprend pas (exactitude {_recomputed['accuracy']:.2f}).")
if abs(float(_history_h["val_accuracy"][-1]) - _recomputed["accuracy"]) > 0.05:
    raise AssertionError(
        "L'historique sauvegardé ne correspond pas au modèle sauvegardé évalué sur la validation "
        "du notebook 01 : validation_data doit être (data.x_validation, data.y_validation)."
    )
### END HIDDEN TESTS

# %% [code] id=curves_02
figure = plot_histories({"cnn": run.load_history("cnn")}, title="CNN de base")
figure.savefig(run.figure_path("02_courbes_cnn.png"), dpi=300)
plt.show()

# %% [markdown]
# ## 3. Analyse
#
# Répondez dans la cellule ci-dessous (quelques phrases, chiffres à l'appui) :
#
# 1. À partir de quelle époque l'écart entre les courbes d'entraînement et de validation se
#    creuse-t-il ? Que signifie cet écart ?
# 2. Le modèle est-il en sous-apprentissage ou en sur-apprentissage à la fin ? Que proposez-vous
#    (vous le testerez dans le notebook 03) ?
# 3. Justifiez votre architecture (blocs, filtres, couches denses) : qu'avez-vous essayé, et
#    qu'est-ce qui vous a fait choisir celle-ci ?

# %% [answer] id=analysis_02 points=6
# Réponse de référence (correcteur) : l'écart train/validation se creuse dès que la perte de
# validation cesse de baisser ; c'est le signe d'un sur-apprentissage (le réseau mémorise le
# jeu d'entraînement). Pistes : augmentation de données, dropout, régularisation L2,
# normalisation par lots, arrêt précoce — une technique à la fois pour mesurer son effet.
# Justification attendue : des choix argumentés (profondeur, largeur, GlobalAveragePooling2D
# contre Flatten, nombre de paramètres) et au moins un essai comparé ; aucune architecture
# n'est imposée, ni récompensée pour son exactitude.

# %% [code] id=finish_02
#| include: finish
