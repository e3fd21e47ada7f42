# %% [markdown]
# # 06 — Les erreurs du meilleur réseau
#
# **Objectifs**
#
# - regarder les images que le meilleur modèle du notebook 05 classe **mal**, en commençant
#   par les erreurs commises avec le plus d'assurance ;
# - lire une **matrice de confusion** et en extraire les confusions les plus fréquentes ;
# - calculer la **précision** et le **rappel** de chaque classe, et comprendre ce que chacun
#   mesure ;
# - proposer des explications et des remèdes à partir de ce qu'on voit, pas d'un score global.
#
# Ce notebook lit `best.json` (écrit par `05_comparaison.ipynb`) et le modèle qu'il désigne ;
# il écrit `errors.json` dans le dossier de run.

# %% [code] id=bootstrap_06
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_06
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from IPython.display import display
from sklearn import metrics

from paysages import checks
from paysages.data import load_split_arrays
from paysages.notebook import start
from paysages.plots import overlay_heatmap, plot_confusion_matrix, show_images

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("06_erreurs", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
print(data.describe())

best = run.load_json("best")
best_name = best["name"]
print(f"Modèle analysé : {best_name}")
print(f"Règle de choix (notebook 05) : {best['rule']}")
model = run.load_model(best_name)
probabilities = model.predict(data.x_validation, batch_size=settings.batch_size, verbose=0)
predictions = probabilities.argmax(axis=1)
print(f"{int(np.sum(predictions != data.y_validation))} erreurs sur {len(predictions)} images de validation.")
if settings.dataset == "sample":
    print(
        "ATTENTION : jeu d'images synthétiques (mode rapide) : les confusions observées ici ne "
        "disent rien des vraies photos de paysages. Refaites l'analyse en mode complet."
    )

# %% [markdown]
# ## 1. Les erreurs, des plus sûres aux plus hésitantes
#
# Pour chaque image, le modèle donne une probabilité par classe ; la classe prédite est la plus
# probable, et cette probabilité est sa **confiance**. Toutes les erreurs ne se valent pas :
#
# - une erreur à **faible** confiance (0,35 contre 0,30 pour la bonne classe) est une
#   hésitation : l'image est sans doute ambiguë ;
# - une erreur à **forte** confiance (0,95) est plus inquiétante : le modèle s'est appuyé sur un
#   indice trompeur (une couleur, une texture), ou bien **l'étiquette elle-même est fausse**.
#   Trier les erreurs par confiance décroissante est la façon la plus rapide de trouver les
#   étiquettes douteuses d'un jeu de données.
#
# Écrivez `misclassified_examples(labels, probabilities, class_names)` en suivant sa docstring.
# Astuce : `np.flatnonzero` donne les positions où une condition est vraie, et
# `np.lexsort((second_key, first_key))` trie selon plusieurs clés (la **dernière** d'abord).

# %% [solution] id=misclassified_examples
#| solution: solutions.errors.misclassified_examples

# %% [tests] id=test_misclassified_examples points=2
"""Vérifie misclassified_examples : les bonnes images, les bonnes colonnes, les plus sûres d'abord."""
_labels = np.array([0, 1, 2, 1])
_probabilities = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]])
_errors = misclassified_examples(_labels, _probabilities, ["city", "lake", "ocean"])
if not isinstance(_errors, pd.DataFrame):
    checks.fail(f"misclassified_examples doit renvoyer un pandas.DataFrame, pas {type(_errors).__name__}.")
_columns = ["index", "true_label", "predicted_label", "true_class", "predicted_class", "confidence"]
if [str(column) for column in _errors.columns] != _columns:
    checks.fail(f"Colonnes attendues {_columns}, obtenu {list(_errors.columns)}.")
_indices = checks.plain_int_array(_errors["index"].to_numpy(), "la colonne index")
if sorted(_indices.tolist()) != [1, 3]:
    checks.fail(f"Les images 1 et 3 sont mal classées (et elles seules), obtenu {sorted(_indices.tolist())}.")
if _indices.tolist() != [1, 3]:
    checks.fail("Triez par confiance décroissante : l'image 1 (0.7) avant l'image 3 (0.5).")
_confidences = checks.plain_float_array(_errors["confidence"].to_numpy(), "la colonne confidence", shape=(2,))
if not np.allclose(_confidences, [0.7, 0.5]):
    checks.fail(f"La confiance est la probabilité de la classe prédite : attendu [0.7, 0.5], obtenu {_confidences}.")
if [str(name) for name in _errors["predicted_class"]] != ["city", "ocean"]:
    checks.fail("predicted_class doit donner le nom de la classe prédite (city pour l'image 1, ocean pour l'image 3).")
print("misclassified_examples : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb06.py): misclassified_examples is called on the
# grader's probes of this run (random labels and probabilities, and lengths it must refuse), and
# only its table is exported as plain data; nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes

_ERROR_KINDS = {"index": "integers", "true_label": "integers", "predicted_label": "integers",
                "true_class": "strings", "predicted_class": "strings", "confidence": "floats"}


def _exported_errors(case):
    try:
        _value = misclassified_examples(_np.asarray(case["labels"], dtype=_np.int64),
                                        _np.asarray(case["probabilities"], dtype=_np.float64),
                                        list(case["class_names"]))
    except Exception as _error:
        return {"error": _probes.type_name(_error), "value_error": isinstance(_error, ValueError)}
    return _probes.plain_table(_value, _ERROR_KINDS)


_probe = _probes.load_probes("test_misclassified_examples")
if _probe is not None:
    _probes.export_results("test_misclassified_examples",
                           {"results": [_exported_errors(_case) for _case in _probe["cases"]],
                            "refusals": [_exported_errors(_case) for _case in _probe["bad_cases"]]})
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Les erreurs du meilleur modèle
#
# La galerie montre les erreurs les plus sûres d'elles, avec la vraie classe, la classe prédite
# et la confiance. Regardez-les vraiment : l'image est-elle ambiguë (un lac au pied d'une
# montagne, une route à travers un champ) ? L'étiquette est-elle discutable ? Le modèle a-t-il
# retenu une couleur plutôt qu'une forme ?

# %% [code] id=gallery_06
errors = misclassified_examples(data.y_validation, probabilities, data.class_names)
print(f"{len(errors)} images mal classées sur {len(data.y_validation)} "
      f"(taux d'erreur {len(errors) / len(data.y_validation):.1%}).")
display(errors.head(10).style.format({"confidence": "{:.2f}"}).hide(axis="index"))
shown = errors.head(18)
titles = [
    f"vrai : {row.true_class} / prédit : {row.predicted_class} ({row.confidence:.2f})"
    for row in shown.itertuples()
]
figure = show_images(data.x_validation[shown["index"].to_numpy()], titles, num_columns=6, size=2.6,
                     colours=["darkred"] * len(shown))
figure.suptitle(f"Erreurs les plus confiantes de {best_name}", y=1.02)
figure.savefig(run.figure_path("06_erreurs.png"), dpi=300, bbox_inches="tight")
plt.show()

# %% [tests] id=test_errors_best_model points=1
"""Vérifie la liste d'erreurs du meilleur modèle : exactement les images mal classées, confiances recalculées."""
_indices = checks.plain_int_array(errors["index"].to_numpy(), "errors['index']")
_expected_count = int(np.sum(predictions != data.y_validation))
if len(_indices) != _expected_count or len(set(_indices.tolist())) != len(_indices):
    checks.fail(f"Le modèle se trompe sur {_expected_count} images : errors doit en contenir autant, sans doublon.")
print(f"Erreurs du meilleur modèle : OK ({len(_indices)} images)")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb06.py): the model best.json names is exported from
# the run folder with the notebook's errors table (the kinds of test_misclassified_examples' hidden
# part); the grader rebuilds the model with safe_mode=True, decodes the validation images itself and
# recomputes the errors. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_errors_best_model") is not None:
    _best_h = _probes.saved_best_name()
    _probes.export_run("test_errors_best_model", [_best_h] if _best_h else [], best=_best_h,
                       errors=_probes.plain_table(errors, _ERROR_KINDS))
### END HIDDEN TESTS

# %% [markdown]
# ## 3. La matrice de confusion
#
# La matrice de confusion compte, pour chaque vraie classe (ligne), combien d'images ont été
# prédites dans chaque classe (colonne). La diagonale contient les réussites ; tout le reste,
# ce sont des confusions. On l'affiche **normalisée par ligne** : la case (lac, océan) donne la
# fraction des lacs prédits « océan », comparable d'une classe à l'autre même quand les
# classes n'ont pas le même nombre d'images.

# %% [code] id=confusion_06
matrix = metrics.confusion_matrix(data.y_validation, predictions, labels=np.arange(len(data.class_names)))
figure = plot_confusion_matrix(matrix, data.class_names, title=f"Matrice de confusion de {best_name} (validation)")
figure.savefig(run.figure_path("06_confusion.png"), dpi=300)
plt.show()

# %% [markdown]
# Une matrice 7 × 7 se lit mal d'un coup d'œil. Écrivez `most_confused_pairs(matrix,
# class_names, top=5)` qui renvoie les confusions les plus fréquentes (hors diagonale), en
# suivant sa docstring : c'est la liste des problèmes à expliquer.

# %% [solution] id=most_confused_pairs
#| solution: solutions.errors.most_confused_pairs

# %% [code] id=pairs_06
confusions = most_confused_pairs(matrix, data.class_names, top=5)
display(confusions.style.format({"share": "{:.0%}"}).hide(axis="index"))

# %% [tests] id=test_most_confused_pairs points=1
"""Vérifie most_confused_pairs : confusions hors diagonale, les plus fréquentes d'abord, avec leur part."""
_matrix = np.array([[5, 2, 0], [0, 4, 1], [3, 0, 6]])
_pairs = most_confused_pairs(_matrix, ["lake", "ocean", "road"], top=2)
if not isinstance(_pairs, pd.DataFrame):
    checks.fail(f"most_confused_pairs doit renvoyer un pandas.DataFrame, pas {type(_pairs).__name__}.")
if [str(column) for column in _pairs.columns] != ["true_class", "predicted_class", "count", "share"]:
    checks.fail(f"Colonnes attendues true_class, predicted_class, count, share ; obtenu {list(_pairs.columns)}.")
_found = list(zip(map(str, _pairs["true_class"]), map(str, _pairs["predicted_class"])))
if _found != [("road", "lake"), ("lake", "ocean")]:
    checks.fail(f"Attendu [('road', 'lake'), ('lake', 'ocean')] (3 puis 2 images, hors diagonale), obtenu {_found}.")
_shares = checks.plain_float_array(_pairs["share"].to_numpy(), "la colonne share", shape=(2,))
if not np.allclose(_shares, [3 / 9, 2 / 7]):
    checks.fail("share est la part des images de la vraie classe : 3/9 pour road → lake, 2/7 pour lake → ocean.")
print("most_confused_pairs : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb06.py): most_confused_pairs is called on the
# grader's probes of this run (random confusion matrices), and only its tables are exported; the
# notebook's matrix and confusions are exported with the saved best model's predictions, which the
# verdict compares them with. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes

_PAIR_KINDS = {"true_class": "strings", "predicted_class": "strings", "count": "integers", "share": "floats"}

def _exported_pairs(case):
    try:
        _value = most_confused_pairs(_np.asarray(case["matrix"], dtype=_np.int64), list(case["class_names"]),
                                     top=case["top"])
    except Exception as _error:
        return {"error": _probes.type_name(_error)}
    return _probes.plain_table(_value, _PAIR_KINDS)


def _exported_matrix():
    _array = _np.array(matrix, dtype=_np.float64) if isinstance(matrix, (_np.ndarray, list, tuple)) else None
    return [_probes.plain_floats(_row) for _row in _array] if _array is not None and _array.ndim == 2 else None


_probe = _probes.load_probes("test_most_confused_pairs")
if _probe is not None:
    _probes.export_results("test_most_confused_pairs", {
        "results": [_exported_pairs(_case) for _case in _probe["cases"]],
        "best": _probes.best_model_validation_export(matrix=_exported_matrix,
                                   confusions=lambda: _probes.plain_table(confusions, _PAIR_KINDS)),
    })
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Précision et rappel par classe
#
# Pour une classe, disons `lake` :
#
# - la **précision** répond à « quand le modèle dit *lac*, a-t-il raison ? » (lacs bien
#   prédits / images prédites *lac*) ;
# - le **rappel** répond à « parmi les vrais lacs, combien le modèle en trouve-t-il ? » (lacs
#   bien prédits / vrais lacs) ;
# - le **F1** résume les deux (moyenne harmonique), et le **support** est le nombre d'images de
#   la classe dans le jeu de validation.
#
# Une classe « aspirateur » (beaucoup d'images prédites dans cette classe) a un bon rappel mais
# une précision faible ; une classe négligée a l'inverse. Écrivez `per_class_report(labels,
# predictions, class_names)` avec `metrics.precision_recall_fscore_support`, en suivant sa
# docstring.

# %% [solution] id=per_class_report
#| solution: solutions.errors.per_class_report

# %% [code] id=report_06
report = per_class_report(data.y_validation, predictions, data.class_names)
display(report.style.format({"precision": "{:.2f}", "recall": "{:.2f}", "f1": "{:.2f}"}))
figure, axis = plt.subplots(figsize=(8, 3.8))
positions = np.arange(len(report))
axis.bar(positions - 0.2, report["precision"], width=0.4, label="précision")
axis.bar(positions + 0.2, report["recall"], width=0.4, label="rappel")
axis.set_xticks(positions, report.index)
axis.set_ylim(0, 1)
axis.set_title(f"Précision et rappel par classe ({best_name}, validation)")
axis.legend()
figure.tight_layout()
figure.savefig(run.figure_path("06_precision_rappel.png"), dpi=300)
plt.show()

# %% [tests] id=test_per_class_report points=1
"""Vérifie per_class_report : précision, rappel, F1 et support de chaque classe, comme scikit-learn."""
_report = per_class_report(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 1]), ["city", "lake", "road"])
if not isinstance(_report, pd.DataFrame):
    checks.fail(f"per_class_report doit renvoyer un pandas.DataFrame, pas {type(_report).__name__}.")
if [str(column) for column in _report.columns] != ["precision", "recall", "f1", "support"]:
    checks.fail(f"Colonnes attendues precision, recall, f1, support ; obtenu {list(_report.columns)}.")
if [str(name) for name in _report.index] != ["city", "lake", "road"]:
    checks.fail("Il faut une ligne par classe, indexée par le nom de la classe, dans l'ordre de class_names.")
_precision = checks.plain_float_array(_report["precision"].to_numpy(), "la colonne precision", shape=(3,))
_recall = checks.plain_float_array(_report["recall"].to_numpy(), "la colonne recall", shape=(3,))
if not np.allclose(_precision, [1.0, 0.5, 0.0]):
    checks.fail(f"Précisions attendues [1, 0.5, 0] (lake : 2 bonnes sur 4 prédictions ; road jamais prédite → 0), obtenu {_precision}.")
if not np.allclose(_recall, [0.5, 1.0, 0.0]):
    checks.fail(f"Rappels attendus [0.5, 1, 0], obtenu {_recall}.")
print("per_class_report : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb06.py): per_class_report is called on the
# grader's probes of this run (random labels and predictions), and only its tables are exported;
# the notebook's report is exported with the saved best model's predictions, which the verdict
# compares it with. Nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes

_REPORT_KINDS = {"precision": "floats", "recall": "floats", "f1": "floats", "support": "floats"}

def _exported_report(case):
    try:
        _value = per_class_report(_np.asarray(case["labels"], dtype=_np.int64),
                                  _np.asarray(case["predictions"], dtype=_np.int64), list(case["class_names"]))
    except Exception as _error:
        return {"error": _probes.type_name(_error)}
    return _probes.plain_table(_value, _REPORT_KINDS)


_probe = _probes.load_probes("test_per_class_report")
if _probe is not None:
    _probes.export_results("test_per_class_report", {
        "results": [_exported_report(_case) for _case in _probe["cases"]],
        "best": _probes.best_model_validation_export(report=lambda: _probes.plain_table(report, _REPORT_KINDS)),
    })
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Sauvegarder l'analyse
#
# `errors.json` garde la trace de l'analyse : le modèle, la liste des erreurs (avec le chemin
# de chaque image, pour aller la revoir), la matrice de confusion et le rapport par classe.

# %% [code] id=save_06
error_records = [
    {
        "index": int(error["index"]),
        "path": data.validation_paths[int(error["index"])],
        "true_class": error["true_class"],
        "predicted_class": error["predicted_class"],
        "confidence": float(error["confidence"]),
    }
    for error in errors.to_dict(orient="records")
]
run.save_json("errors", {
    "model": best_name,
    "num_images": int(len(data.y_validation)),
    "num_errors": len(error_records),
    "class_names": list(data.class_names),
    "errors": error_records,
    "confusion_matrix": matrix.tolist(),
    "top_confusions": confusions.to_dict(orient="records"),
    "per_class": report.to_dict(orient="index"),
})
print(f"errors.json écrit : {len(error_records)} erreurs de {best_name}.")

# %% [tests] id=test_saved_errors points=1
"""Vérifie errors.json : le modèle de best.json, ses erreurs, sa matrice de confusion et son rapport."""
_saved = run.load_json("errors")
if not isinstance(_saved, dict) or _saved.get("model") != best_name:
    checks.fail("errors.json doit décrire le modèle de best.json : réexécutez la cellule précédente.")
if len(_saved.get("errors", [])) != len(errors):
    checks.fail("errors.json ne contient pas toutes les erreurs de errors : réexécutez la cellule précédente.")
print("errors.json : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb06.py): errors.json as read from the disk is exported
# with the model best.json names; the grader rebuilds the model, decodes the validation images itself
# and recomputes the errors, the confusion matrix and the per-class report. Nothing here decides the grade.
from paysages import probes as _probes

if _probes.load_probes("test_saved_errors") is not None:
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _best_h = _probes.saved_best_name()
    try:
        _file_h = _RunFolder(_get_settings().run_dir).load_json("errors")
    except Exception as _error:
        _file_h = {"error": _probes.type_name(_error)}
    _probes.export_run("test_saved_errors", [_best_h] if _best_h else [], best=_best_h, file=_file_h)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Analyse
#
# Répondez dans la cellule ci-dessous, en vous appuyant sur la galerie, la matrice de confusion
# et le rapport par classe :
#
# 1. Quelles sont les **deux ou trois confusions** les plus fréquentes ? Sont-elles
#    symétriques (lac → océan autant qu'océan → lac) ?
# 2. **Pourquoi**, d'après les images ? Distinguez les images réellement ambiguës (plusieurs
#    classes dans la même photo), les étiquettes douteuses et les vraies faiblesses du modèle
#    (couleur, texture, cadrage).
# 3. Quelle classe a la plus faible **précision** ? le plus faible **rappel** ? Qu'est-ce que
#    cela dit du comportement du modèle sur ces classes ?
# 4. Proposez **deux remèdes** concrets et dites pour chacun quelle erreur il devrait réduire.

# %% [answer] id=analysis_06 points=7
# Réponse de référence (correcteur) — sur les vraies photos (mode complet) :
#
# - confusions attendues : **lac ↔ océan** (une étendue d'eau bleue sous un ciel, l'horizon
#   est le seul indice, et la rive n'est pas toujours visible), **champ ↔ route** (les routes de
#   campagne traversent des champs ; une photo de route contient souvent surtout de l'herbe),
#   parfois **montagne ↔ lac** (lacs de montagne) et **forêt ↔ champ** ; souvent asymétriques :
#   la classe la plus nombreuse « aspire » la plus petite ;
# - les erreurs très confiantes révèlent souvent des photos contenant deux classes ou des
#   étiquettes discutables ; les erreurs hésitantes sont des images ambiguës ; une faiblesse
#   du modèle se voit quand il s'appuie sur la couleur (ciel/eau bleus) plutôt que sur la
#   structure (rivage, horizon, marquage au sol) ;
# - une classe à faible précision est sur-prédite (elle « aspire » les autres), une classe à
#   faible rappel est négligée — cohérent avec le déséquilibre des classes ;
# - remèdes : plus de données ou d'augmentation (recadrages qui gardent l'horizon, pas de
#   changements de teinte qui rendent un lac « océan »), images plus grandes (détails des
#   rives, marquages), réglage fin d'un réseau pré-entraîné, pondération des classes ou
#   sur-échantillonnage des petites classes, nettoyage des étiquettes repérées par la galerie.
#   En mode rapide (images synthétiques), l'étudiant doit signaler que l'analyse n'a pas de
#   portée réelle.

# %% [markdown]
# ## 5. Bonus : pourquoi ce lac a-t-il été pris pour un océan ? (Grad-CAM)
#
# **Grad-CAM** (Selvaraju et al., 2017) montre *où* le réseau a regardé pour décider. On prend
# les cartes de caractéristiques de la **dernière couche convolutive** (ou de la base
# pré-entraînée), on calcule le gradient du score de la classe prédite par rapport à elles, on
# moyenne ce gradient sur l'espace pour obtenir un poids par carte, puis on somme les cartes
# pondérées et on garde la partie positive (ReLU). Remise à la taille de l'image et normalisée
# entre 0 et 1, c'est une carte de chaleur : rouge = régions qui ont poussé vers la classe
# prédite.
#
# Écrivez `last_spatial_layer_index(model)` puis `grad_cam(model, image, class_index=None)`
# (suivez les docstrings ; `tf.GradientTape` enregistre les opérations pour calculer le
# gradient). Les modèles du cours sont des **chaînes de couches** : on peut les parcourir
# couche par couche en gardant la sortie de la couche visée.

# %% [code] id=gradcam_model_06
from paysages.models import is_layer_chain

# Grad-CAM as written here follows a chain of layers. A model with two branches (the
# concatenation bonus of notebook 04) is not one: we then explain the best chain model.
ranking = [record["model"] for record in run.load_json("results")]
cam_name = next(name for name in ranking if is_layer_chain(run.load_model(name, compile=False)))
cam_model = model if cam_name == best_name else run.load_model(cam_name, compile=False)
print(f"Grad-CAM sur le modèle « {cam_name} »")

# %% [solution] id=last_spatial_layer_index
#| solution: solutions.gradcam.last_spatial_layer_index

# %% [solution] id=grad_cam
#| solution: solutions.gradcam.grad_cam

# %% [tests] id=test_grad_cam points=2
"""Bonus : vérifie que grad_cam renvoie une carte de la taille de l'image, entre 0 et 1, non uniforme."""
_image = data.x_validation[int(errors["index"].iloc[0])] if len(errors) else data.x_validation[0]
_heatmap = checks.plain_float_array(grad_cam(cam_model, _image), "grad_cam(model, image)", shape=_image.shape[:2])
if _heatmap.min() < 0 or _heatmap.max() > 1 + 1e-6:
    checks.fail("La carte doit être normalisée entre 0 et 1 (ReLU puis division par le maximum).")
if _heatmap.std() < 1e-3:
    checks.fail("La carte est uniforme : vérifiez la couche visée et la pondération des cartes.")
print("grad_cam : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb06.py): grad_cam is called on the saved model cam_name
# names, reloaded from the disk, for the validation images and classes the grader drew (fractions of
# their numbers); the maps and the model are exported, and the grader computes the reference maps on
# the same model and images. Nothing here decides the grade.
from paysages import probes as _probes

_probe = _probes.load_probes("test_grad_cam")
if _probe is not None:
    import numpy as _np
    from paysages.data import load_split_arrays as _load_split_arrays
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _settings_h = _get_settings()
    _cam_name_h = _probes.plain_name(cam_name)
    _export_h = {"cam_name": _cam_name_h}
    try:
        _cam_model_h = _RunFolder(_settings_h.run_dir).load_model(_cam_name_h, compile=False)
        _data_h = _load_split_arrays(_settings_h, progress=False)
        _maps_h = []
        for _call in _probe["calls"]:
            _position = _probes.fraction_positions([_call["image"]], len(_data_h.y_validation))[0]
            _class = (None if _call["class"] is None
                      else _probes.fraction_positions([_call["class"]], len(_data_h.class_names))[0])
            _maps_h.append(_np.asarray(grad_cam(_cam_model_h, _data_h.x_validation[_position], _class),
                                       dtype=_np.float64))
        _probes.export_arrays("test_grad_cam", maps=_np.stack(_maps_h))
    except Exception as _error:
        _export_h["maps_error"] = _probes.type_name(_error)
    _probes.export_run("test_grad_cam", [_cam_name_h] if _cam_name_h else [], **_export_h)
### END HIDDEN TESTS

# %% [code] id=gradcam_gallery_06
shown = errors.head(6)
overlays, titles = [], []
for row in shown.itertuples():
    image = data.x_validation[row.index]
    # Explain the class the best model predicted, even when cam_model is another network.
    overlays += [image, overlay_heatmap(image, grad_cam(cam_model, image, int(row.predicted_label)))]
    titles += [f"vrai : {row.true_class}", f"prédit : {row.predicted_class} ({row.confidence:.2f})"]
figure = show_images(overlays, titles, num_columns=4, size=2.6)
figure.suptitle(f"Grad-CAM ({cam_name}) des erreurs de {best_name} : où le réseau a regardé", y=1.02)
figure.savefig(run.figure_path("06_gradcam.png"), dpi=300, bbox_inches="tight")
plt.show()

# %% [answer] id=analysis_gradcam_06 points=1
# Réponse de référence (correcteur) : pour les confusions lac → océan, la carte se concentre sur
# l'eau et le ciel et ignore la rive : le modèle a appris « grande surface bleue » plutôt que
# « eau bordée d'une rive ». Pour champ → route, elle s'attache aux bandes parallèles du champ,
# qui ressemblent à un marquage. Une carte diffuse signale une décision peu fondée.

# %% [code] id=finish_06
#| include: finish
