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
# Graded outside this kernel (autograde/verdicts/nb02.py): build_cnn is called on the input shape
# and number of classes the grader drew for this run, and the model is exported as a .keras file
# that the grader rebuilds with safe_mode=True and checks. Nothing here decides the grade.
from paysages import probes as _probes

_probe = _probes.load_probes("test_build_cnn")
if _probe is not None:
    try:
        _probes.export_model("test_build_cnn", build_cnn(tuple(_probe["input_shape"]), _probe["num_classes"]))
    except Exception as _error:
        _probes.export_results("test_build_cnn", {"error": _probes.type_name(_error)})
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
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb02.py): the model compiled at the learning rate
# the grader drew for this run is exported, and the grader reads its optimizer, loss and metrics.
from paysages import probes as _probes

_probe = _probes.load_probes("test_compile_classifier")
if _probe is not None:
    try:
        _compiled = compile_classifier(build_cnn(tuple(_probe["input_shape"]), _probe["num_classes"]),
                                       _probe["learning_rate"])
        _probes.export_model("test_compile_classifier", _compiled)
    except Exception as _error:
        _probes.export_results("test_compile_classifier", {"error": _probes.type_name(_error)})
### END HIDDEN TESTS

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
# Graded outside this kernel (autograde/verdicts/nb02.py): the saved cnn, its history and the split
# file's validation paths are exported (read from the disk, not from the notebook's variables); the
# grader decodes those images itself, predicts them with the rebuilt model and compares its history.
from paysages import probes as _probes
from paysages.data import require_split as _require_split
from paysages.runs import RunFolder as _RunFolder
from paysages.settings import get_settings as _get_settings

if _probes.load_probes("test_train_classifier") is not None:
    _settings_h = _get_settings()
    _run_h = _RunFolder(_settings_h.run_dir)
    try:
        _split_h = _require_split(_settings_h)
        _export = {"history": _run_h.load_history("cnn"),
                   "validation_paths": [str(path) for path in _split_h.loc[_split_h["subset"] == "validation", "path"]]}
        _probes.export_model("test_train_classifier", saved_path=_run_h.model_path("cnn"))
    except Exception as _error:
        _export = {"error": _probes.type_name(_error)}
    # Read only when validating the course without a data root; grading uses the grader's settings.
    _export["settings"] = {"mode": _settings_h.mode, "dataset": _settings_h.dataset, "data_root": str(_settings_h.data_root),
                           "image_size": _settings_h.image_size, "num_epochs": _settings_h.num_epochs}
    _probes.export_results("test_train_classifier", _export)
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
