# %% [markdown]
# # 00 — Prise en main : environnement, données, licences
#
# **Objectifs**
#
# - installer le kit `paysages` et vérifier l'environnement (versions, GPU, dossier de run) ;
# - télécharger (ou générer) le jeu de données et **vérifier chaque image** avant d'entraîner quoi
#   que ce soit ;
# - connaître l'origine des photos et leurs **licences**, et savoir créditer leurs auteurs ;
# - mesurer le **déséquilibre des classes** et en tirer les conséquences pour l'évaluation.
#
# Ce notebook écrit `dataset.json` (le nombre d'images par classe) dans le dossier de run.
# Les notebooks suivants (01 à 08) réutilisent ce même dossier de run : gardez le même réglage
# d'un notebook à l'autre.

# %% [code] id=bootstrap_00
#| include: bootstrap

# %% [markdown]
# ## 0. Vos réglages
#
# `MODE` choisit les données et les hyper-paramètres :
#
# - `MODE = "full"` (la séance normale, sur le **GPU de Colab**) : les vraies photos Landscapes,
#   des images de 160 pixels, une quarantaine d'époques, la précision mixte sur GPU et un réseau
#   pré-entraîné téléchargé pour le transfert (notebook 04) ;
# - `MODE = "fast"` : un petit jeu d'images **synthétiques** générées sur place, des images de
#   64 pixels et peu d'époques. Tout le projet tourne alors en quelques minutes sur un simple
#   processeur : pratique pour mettre son code au point avant de lancer les vrais
#   entraînements. C'est aussi le mode de la correction automatique, qui l'impose.
#
# Mettez la **même valeur** dans chaque notebook : la séparation du notebook 01, les modèles et
# les tableaux n'ont de sens que sur un seul jeu de données.
#
# Sur **Google Colab**, `USE_DRIVE = True` (le réglage par défaut) place le dossier de run sur
# votre **Google Drive** (`MyDrive/paysages/run`), car chaque notebook Colab tourne sur sa propre
# machine dont le dossier `/content` est effacé au recyclage : seul Drive permet au notebook
# suivant de retrouver la séparation et les modèles. Colab vous demandera l'autorisation d'y
# accéder. L'archive du jeu de données, une fois vérifiée, est gardée elle aussi sur Drive
# (`MyDrive/paysages/archives`) : une nouvelle machine la recopie en quelques secondes au lieu de
# la télécharger. Les images sont décodées sur le disque local de Colab (`/content/datasets`),
# plus rapide. La dernière cellule de chaque notebook attend que tout soit bien écrit sur Drive.
# Avec `USE_DRIVE = False`, tout reste sur la machine du notebook et sera perdu pour les autres.
#
# Hors de Colab (votre machine, la correction automatique), ce réglage ne fait rien.
#
# `EXCLUDE_NO_DERIVATIVES = True` écarte les photos dont la licence interdit les œuvres dérivées
# (voir la section 2). Laissez-le à `False` si vous n'en avez pas besoin.

# %% [free]
MODE = "full"
USE_DRIVE = True
EXCLUDE_NO_DERIVATIVES = False

# %% [code] id=drive_00
# The settings keep their defaults if their cell was deleted. Drive is mounted by start() below,
# only inside Colab and never during grading, where nobody can authorise it.
MODE = globals().get("MODE")
USE_DRIVE = bool(globals().get("USE_DRIVE", True))
EXCLUDE_NO_DERIVATIVES = bool(globals().get("EXCLUDE_NO_DERIVATIVES", False))

# %% [markdown]
# ## 1. Vérifier l'environnement
#
# `start(...)` lit les réglages (le mode choisi ci-dessus), fixe les graines aléatoires, crée le
# dossier de run et affiche les versions de Python, TensorFlow et Keras, la présence d'un GPU et
# l'état du jeu de données. Lisez ce rapport : un avertissement sur une version de TensorFlow
# non testée ou l'absence de GPU en mode `full` explique bien des surprises plus tard.
#
# - **mode `fast`** : un petit jeu d'images synthétiques générées sur place, des images de
#   64 pixels et peu d'époques. C'est le mode des tests et de la correction automatique : tout
#   le projet tourne en quelques minutes sur un processeur.
# - **mode `full`** : les vraies photos, des images plus grandes et des hyper-paramètres choisis
#   avec soin, sur le GPU de Colab (`MODE = "full"`).

# %% [code] id=setup_00
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paysages import checks
from paysages.data import (
    LICENCE_FOLDER_NAME,
    class_names_of,
    ensure_dataset,
    load_images,
    scan_and_decode,
    verify_image_folder,
)
from paysages.errors import DatasetError
from paysages.licences import attribution, licence_counts, load_licence_metadata, no_derivative_files
from paysages.notebook import start
from paysages.plots import plot_class_balance
from paysages.registry import get_dataset_spec

context = start("00_prise_en_main", use_drive=USE_DRIVE, mode=MODE, exclude_no_derivatives=EXCLUDE_NO_DERIVATIVES)
settings, run = context.settings, context.run

# %% [markdown]
# ## 2. Le jeu de données et ses licences
#
# Le projet utilise le jeu **Landscapes** de la bibliothèque ml5.js : 3 943 photos de paysages
# réparties en 7 classes (`city`, `field`, `forest`, `lake`, `mountain`, `ocean`, `road`),
# collectées sur Flickr par mot-clé. Ce ne sont pas des photos libres de droits : chacune
# appartient à son auteur, qui l'a partagée sous une licence **Creative Commons** (ou dans le
# domaine public). Le dossier `licenses/` du jeu de données contient, pour chaque classe, un
# fichier `<classe>_photos_info.json` qui donne pour chaque photo son titre, son auteur, son
# adresse d'origine et le numéro de sa licence.
#
# Deux conséquences pratiques :
#
# - **créditer** : montrer une photo (dans un rapport, une présentation) impose de citer son
#   titre, son auteur, sa licence et sa source — c'est ce que fait la galerie ci-dessous ;
# - **pas d'œuvre dérivée sous les licences 3 et 6** : les licences n° 3 (CC BY-NC-ND 2.0) et
#   n° 6 (CC BY-ND 2.0), soit un peu plus d'une photo sur quatre (1 046 photos), autorisent le
#   partage mais **interdisent les modifications**. Le README de ml5.js demande de retirer ces
#   photos d'un projet qui construit quelque chose à partir des images. Pour un exercice
#   d'apprentissage on peut les garder ; pour publier des images transformées (augmentation de
#   données, cartes d'activation...), il faut les écarter : c'est ce que fait l'option
#   `paysages data download --exclude-no-derivatives` en ligne de commande, ou le réglage
#   `EXCLUDE_NO_DERIVATIVES = True` de la section 0.
#
# En mode `fast`, les « photos » sont des paysages **synthétiques** dessinés par le kit
# (`paysages.data.sample`), avec les mêmes classes, la même organisation en dossiers, le même format
# de métadonnées et un déséquilibre proportionnel à celui des vraies données ; ils sont placés
# dans le domaine public (CC0).
#
# La cellule suivante obtient le jeu choisi (téléchargement des vraies photos, ou génération du
# jeu synthétique), puis **décode chaque fichier** : une image tronquée, un fichier HTML nommé
# `.jpg` ou un dossier `__MACOSX` parasite sont signalés ici, fichier par fichier, au lieu de
# faire échouer un entraînement au milieu d'une époque.
#
# Pour les vraies photos, quand elle installe le jeu (archive téléchargée, ou recopiée depuis
# Drive), la cellule affiche l'**empreinte** de l'archive `landscapes_small.zip` (son SHA-256 et sa
# taille en octets) et la compare à l'empreinte que l'enseignant a enregistrée pour le cours. Une
# archive différente est mise de côté (renommée `landscapes_small.zip.bad`, rien n'est effacé) et
# la cellule s'arrête sur un message qui donne les valeurs attendues et trouvées, et quoi faire.
# Un jeu déjà installé depuis une archive à la bonne empreinte est réutilisé tel quel (la commande
# `paysages data download` réaffiche son empreinte). Si aucune empreinte n'est enregistrée,
# l'installation l'écrit en toutes lettres : l'archive n'est alors **pas** vérifiée par son empreinte,
# seulement par son contenu (zip lisible, dossiers des classes, liste des photos comparée aux
# métadonnées de licence, elles-mêmes vérifiées par SHA-256).

# %% [code] id=dataset_00
# The licence filter is applied at extraction time; later notebooks keep the choice made here,
# and changing it re-extracts from the kept archive without downloading again.
dataset_dir = ensure_dataset(settings)
class_names = class_names_of(settings)
report = verify_image_folder(dataset_dir, class_names, image_size=settings.image_size)
print(report.format())
if not report.ok:
    raise DatasetError(
        f"Le jeu de données de {dataset_dir} est incomplet : lisez le rapport ci-dessus "
        "(classe manquante ou sans image utilisable), puis téléchargez-le à nouveau."
    )

# %% [markdown]
# ## 3. Une galerie, avec le crédit de chaque photo
#
# Quatre images tirées au hasard (graine fixée) dans chaque classe, redimensionnées en carré
# comme le réseau les verra. Sous chaque image : son titre, son auteur et sa licence, lus dans
# les métadonnées de licence. La liste complète des crédits (avec
# l'adresse de la licence et de la photo) est affichée sous la figure et enregistrée à côté
# d'elle, dans le dossier `figures/` du run.
#
# Regardez les images : les classes se ressemblent-elles ? Lesquelles risquent d'être confondues
# (un lac et l'océan, une route à travers champs...) ?

# %% [code] id=gallery_00
num_per_class = 4
dataset_dir, scan, load_result = scan_and_decode(settings)
all_labels = np.asarray(load_result.labels)

licence_spec = get_dataset_spec(settings.dataset)
try:
    photo_infos = load_licence_metadata(dataset_dir / LICENCE_FOLDER_NAME, licence_spec)
except DatasetError as error:
    photo_infos = {}
    print(f"ATTENTION : métadonnées de licence illisibles, crédits indisponibles.\n{error}")

rng = np.random.default_rng(settings.seed)
chosen_paths, short_credits, full_credits = [], [], []
for label, class_name in enumerate(class_names):
    members = np.flatnonzero(all_labels == label)
    picked = np.sort(rng.choice(members, size=min(num_per_class, len(members)), replace=False))
    for index in picked:
        path = load_result.paths[index]
        photo = photo_infos.get((class_name, path.name))
        chosen_paths.append(path)
        if photo is None:
            short_credits.append(f"{class_name}\n(crédit inconnu)")
            full_credits.append(f"{class_name}/{path.name}: crédit inconnu")
        else:
            title = textwrap.shorten(photo.title or "Sans titre", width=28, placeholder="…")
            owner = textwrap.shorten(photo.owner or "auteur inconnu", width=28, placeholder="…")
            short_credits.append(f"{class_name}\n{title}\n© {owner}, {photo.licence_name}")
            full_credits.append(f"{class_name}/{path.name}: {attribution(photo)}")

gallery = load_images(chosen_paths, 128).images
figure, axes = plt.subplots(len(class_names), num_per_class, figsize=(2.6 * num_per_class, 2.9 * len(class_names)))
for axis, image, credit in zip(axes.ravel(), gallery, short_credits):
    axis.imshow(image)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_xlabel(credit, fontsize=6.5)
figure.suptitle(f"Quatre images par classe ({settings.dataset})")
figure.tight_layout(rect=(0, 0, 1, 0.985))
figure.savefig(run.figure_path("00_galerie.png"), dpi=300)
plt.show()

credits_text = "\n".join(full_credits)
run.figure_path("00_galerie_credits.txt").write_text(credits_text + "\n", encoding="utf-8")
print("Crédits des images de la galerie :")
print(credits_text)

# %% [markdown]
# Les licences de l'ensemble du jeu (numéro Flickr, nom, nombre de photos) et le nombre de photos
# qui n'autorisent pas d'œuvre dérivée :

# %% [code] id=licences_00
if photo_infos:
    for licence_id, count in licence_counts(photo_infos).items():
        licence = licence_spec.licences[licence_id]
        note = "" if licence.allows_derivatives else "   <- pas d'œuvre dérivée"
        print(f"licence {licence_id:>2} {licence.name:<48} {count:>5} photos{note}")
    forbidden = no_derivative_files(photo_infos, licence_spec)
    present = {(class_names[label], Path(path).name) for path, label in zip(load_result.paths, all_labels)}
    print(
        f"{len(forbidden)} photo(s) sur {len(photo_infos)} interdisent les œuvres dérivées, "
        f"dont {len(forbidden & present)} dans votre dossier de données."
    )

# %% [markdown]
# ## 4. L'équilibre des classes
#
# Les classes n'ont pas toutes le même nombre d'images. Le graphique ci-dessous les compte
# (images utilisables seulement) ; ces nombres sont enregistrés dans `dataset.json`.

# %% [code] id=balance_00
figure = plot_class_balance(report.counts, title=f"Images utilisables par classe ({settings.dataset})")
figure.savefig(run.figure_path("00_equilibre_classes.png"), dpi=300)
plt.show()

run.save_json(
    "dataset",
    {
        "dataset": settings.dataset,
        "mode": settings.mode,
        "dataset_dir": str(dataset_dir),
        "class_names": list(class_names),
        "counts": dict(report.counts),
        "total": report.total_images,
        "skipped_files": len(report.skipped),
        "converted_files": len(report.converted),
        "exclude_no_derivatives": bool(settings.dataset == "landscapes" and EXCLUDE_NO_DERIVATIVES),
    },
)
print(f"Écrit : {run.json_path('dataset')}")

# %% [markdown]
# ### Exercice : compter et mesurer le déséquilibre
#
# Écrivez deux fonctions (NumPy suffit, par exemple `np.bincount`) :
#
# - `class_counts(labels, class_names)` : le nombre d'images de chaque classe, sous forme de
#   dictionnaire `{nom de classe: nombre}` dans l'ordre de `class_names`, **y compris les classes
#   sans image** (0) ; les valeurs sont des `int` Python ;
# - `imbalance_ratio(counts)` : le rapport entre la classe la plus nombreuse et la moins
#   nombreuse (1.0 si les classes sont équilibrées).
#
# Les docstrings précisent les cas d'erreur (`ValueError`).

# %% [solution] id=class_counts
#| solution: solutions.separation.class_counts

# %% [solution] id=imbalance_ratio
#| solution: solutions.separation.imbalance_ratio

# %% [tests] id=test_class_counts points=1
"""Vérifie que class_counts compte chaque classe, dans l'ordre, y compris les classes vides."""
_counts = class_counts(np.array([2, 0, 2, 2, 0]), ("city", "field", "forest"))
if not isinstance(_counts, dict):
    checks.fail(f"class_counts doit renvoyer un dictionnaire, pas {type(_counts).__name__}.")
if [key for key in _counts] != ["city", "field", "forest"]:
    checks.fail("Les clés doivent être les noms de classes, dans l'ordre de class_names, toutes présentes.")
_values = [checks.plain_float(_counts[key], f"le compte de « {key} »") for key in ("city", "field", "forest")]
if _values != [2.0, 0.0, 3.0]:
    checks.fail(f"Comptes attendus city=2, field=0, forest=3 ; obtenu {_values}. Une classe absente compte 0.")
print("class_counts : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb00.py): class_counts is called on the grader's
# probes of this run, and only its plain results are exported; nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes

_probe = _probes.load_probes("test_class_counts")
if _probe is not None:
    _results = []
    for _case in _probe["cases"]:
        try:
            _value = class_counts(_np.asarray(_case["labels"], dtype=_np.int64), tuple(_case["class_names"]))
            _result = {"type": _probes.type_name(_value)}
            if type(_value) is dict:
                _result["keys"] = [_key if type(_key) is str else None for _key in _value]
                _result["counts"] = [_probes.plain_number(_count) if isinstance(_count, (int, _np.integer)) else None
                                     for _count in _value.values()]
        except Exception as _error:
            _result = {"error": _probes.type_name(_error)}
        _results.append(_result)
    _probes.export_results("test_class_counts", {"results": _results})
### END HIDDEN TESTS

# %% [tests] id=test_imbalance_ratio points=1
"""Vérifie que imbalance_ratio renvoie le rapport plus grande classe / plus petite classe."""
_ratio = checks.plain_float(imbalance_ratio({"city": 348, "mountain": 696, "lake": 595}), "imbalance_ratio(...)")
if abs(_ratio - 2.0) > 1e-9:
    checks.fail(f"Pour 696 et 348 images, le rapport vaut 2.0 ; obtenu {_ratio}. Divisez le maximum par le minimum.")
try:
    imbalance_ratio({"city": 10, "field": 0})
except ValueError:
    pass
else:
    checks.fail("Une classe sans image rend le rapport infini : imbalance_ratio doit lever ValueError.")
print("imbalance_ratio : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb00.py): imbalance_ratio is called on the
# grader's probes of this run, and only its plain results are exported.
from paysages import probes as _probes

_probe = _probes.load_probes("test_imbalance_ratio")
if _probe is not None:
    _results = []
    for _case in _probe["cases"]:
        try:
            _result = {"value": _probes.plain_number(imbalance_ratio(dict(_case)))}
        except Exception as _error:
            _result = {"error": _probes.type_name(_error), "value_error": isinstance(_error, ValueError)}
        _results.append(_result)
    _probes.export_results("test_imbalance_ratio", {"results": _results})
### END HIDDEN TESTS

# %% [code] id=ratio_00
dataset_counts = class_counts(np.asarray(load_result.labels), class_names)
print(dataset_counts)
print(f"Rapport de déséquilibre : {imbalance_ratio(dataset_counts):.2f}")

# %% [markdown]
# ### Question
#
# Sur les vraies données, la classe la plus nombreuse (`mountain`, 696 photos) compte deux fois
# plus d'images que la moins nombreuse (`city`, 348). En quelques phrases :
#
# 1. Pourquoi l'**exactitude** (*accuracy*) seule peut-elle être trompeuse avec un tel
#    déséquilibre ? Quelle mesure la complète utilement ?
# 2. Quelle précaution faut-il prendre en séparant les données en entraînement et validation
#    (notebook 01) ?

# %% [answer] id=imbalance_answer points=3
# Réponse de référence (correcteur) : l'exactitude moyenne sur toutes les images est dominée par
# les classes nombreuses ; un modèle qui néglige la petite classe `city` (moins de 9 % des images)
# peut garder une bonne exactitude. Le F1 macro (moyenne des F1 par classe, chaque classe pesant
# autant), le rappel par classe et la matrice de confusion révèlent ces échecs. Il faut une
# séparation **stratifiée** : chaque classe garde la même proportion (80/20) en entraînement et en
# validation, sinon une petite classe peut être presque absente de la validation et ses scores
# n'ont plus de sens (et l'écart de proportions fausse la comparaison).

# %% [code] id=finish_00
#| include: finish
