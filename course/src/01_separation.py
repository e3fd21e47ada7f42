# %% [markdown]
# # 01 — Séparer les données une fois pour toutes
#
# **Objectifs**
#
# - comprendre pourquoi on évalue un modèle sur des images qu'il n'a **jamais** vues ;
# - écrire une séparation **stratifiée** 80/20 (entraînement / validation), reproductible ;
# - l'**écrire dans un fichier**, une seule fois, pour que tous les notebooks suivants utilisent
#   exactement la même ;
# - détecter une **fuite** : la même image des deux côtés de la séparation.
#
# Ce notebook écrit `split.csv` dans le dossier de run ; les notebooks 02 à 08 le relisent.
# Exécutez d'abord `00_prise_en_main.ipynb` (avec le même dossier de run).

# %% [code] id=bootstrap_01
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_01
import hashlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paysages import checks
from paysages.data import scan_and_decode
from paysages.errors import SplitError
from paysages.notebook import start
from paysages.split import find_cross_duplicates, read_split, split_summary, write_split

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("01_separation", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run

# %% [markdown]
# ## 1. Pourquoi une séparation, et pourquoi une seule
#
# Un réseau de neurones peut **mémoriser** ses images d'entraînement : son exactitude sur
# celles-ci ne dit rien de sa capacité à reconnaître un paysage nouveau. On met donc de côté
# une partie des images, la **validation** (ici 20 %), que le réseau ne voit jamais pendant
# l'apprentissage ; c'est sur elle qu'on mesure le sur-apprentissage, qu'on compare les modèles
# (notebooks 02 à 05) et qu'on analyse les erreurs (06).
#
# Cette mesure n'est honnête que si **aucune image de validation n'a servi à l'entraînement**.
# Deux erreurs classiques la faussent sans aucun message d'erreur :
#
# 1. **une séparation qui change d'un appel à l'autre** : par exemple deux appels à
#    `image_dataset_from_directory(..., validation_split=0.2)` avec des graines différentes (ou
#    sans graine), ou une séparation tirée au hasard à chaque exécution d'un notebook. Le modèle
#    entraîné avec le premier tirage est évalué sur un second tirage dont la plupart des images
#    ont servi à l'entraîner : le score de validation est trop beau ;
# 2. **la même photo des deux côtés** : un jeu collecté sur le web contient des doublons (la même
#    photo publiée deux fois, ou trouvée par deux mots-clés). Si une copie est en entraînement et
#    l'autre en validation, le réseau est évalué sur une image qu'il a apprise.
#
# La parade : calculer la séparation **une fois**, avec une graine fixée, l'**écrire dans un
# fichier** (`split.csv`), et faire relire ce fichier par tous les notebooks suivants
# (`paysages.data.load_split_arrays`). Et vérifier l'absence de doublons entre les deux côtés.

# %% [markdown]
# ## 2. Les images à séparer
#
# `scan_and_decode` liste les images des 7 classes et les décode toutes une fois (le résultat est
# mis en cache pour les notebooks suivants). Seules les images **utilisables** sont gardées : un
# fichier illisible signalé au notebook 00 ne doit pas entrer dans la séparation, sinon
# l'entraînement échouerait plus tard en le lisant.
#
# Chaque image est décrite par son chemin **relatif** au dossier du jeu de données (ainsi le
# fichier de séparation reste valable si le jeu de données est déplacé, par exemple de votre
# machine à Colab) et par sa classe ; `labels[i]` est l'indice de la classe de l'image `i` dans
# `class_names`.

# %% [code] id=data_01
dataset_dir, scan, load_result = scan_and_decode(settings)
class_names = scan.class_names
labels = np.asarray(load_result.labels, dtype=np.int64)
relative_paths = [Path(path).relative_to(dataset_dir).as_posix() for path in load_result.paths]
class_names_of_files = [class_names[label] for label in labels]
print(f"{len(relative_paths)} images utilisables dans {dataset_dir}")
print(f"Exemple : labels[0] = {labels[0]}, classe {class_names_of_files[0]!r}, fichier {relative_paths[0]!r}")
print(pd.Series(class_names_of_files).value_counts().reindex(class_names).to_string())

# %% [markdown]
# ### Ce qui se passe sans précaution
#
# La cellule suivante tire deux fois une séparation 80/20 **au hasard**, sans graine propre ni
# fichier, comme le ferait un notebook ré-exécuté. Elle mesure :
#
# - la part des images de validation du 2ᵉ tirage qui étaient en entraînement au 1ᵉʳ tirage ;
# - la part de chaque classe envoyée en validation, pour cinq tirages **non stratifiés** (un
#   tirage global, sans tenir compte des classes) : elle varie autour de 20 %, d'autant plus
#   que la classe est petite.

# %% [code] id=naive_01
def unsaved_random_split(num_images, validation_fraction):
    """A split drawn from NumPy's global generator: each call gives a different one."""
    order = np.random.permutation(num_images)
    num_validation = int(round(num_images * validation_fraction))
    return order[num_validation:], order[:num_validation]


first_train, first_validation = unsaved_random_split(len(labels), settings.validation_fraction)
second_train, second_validation = unsaved_random_split(len(labels), settings.validation_fraction)
seen_in_training = np.isin(second_validation, first_train).mean()
print(f"{seen_in_training:.0%} des images de validation du 2e tirage ont servi à l'entraînement au 1er tirage.")

draws = {}
for draw in range(1, 6):
    _, draw_validation = unsaved_random_split(len(labels), settings.validation_fraction)
    in_validation = np.bincount(labels[draw_validation], minlength=len(class_names))
    draws[f"tirage {draw}"] = in_validation / np.bincount(labels, minlength=len(class_names))
naive_shares = pd.DataFrame(draws, index=list(class_names))
print("Part de chaque classe en validation (séparation non stratifiée) :")
print(naive_shares.round(3).to_string())

# %% [markdown]
# ## 3. Exercice : une séparation stratifiée et reproductible
#
# **Stratifier**, c'est séparer **classe par classe** : dans chaque classe, 20 % des images vont
# en validation et 80 % en entraînement. Les deux sous-ensembles ont alors les mêmes proportions
# de classes que le jeu complet ; la plus petite classe (`city`) a sa juste part d'images de
# validation, et les scores par classe restent comparables.
#
# **Reproductible** : le hasard vient d'un générateur **local**, créé une fois au début de la
# fonction par `np.random.default_rng(seed)`. Ne dépendez pas de l'état global de `np.random` :
# il change selon les cellules exécutées avant.
#
# Écrivez `stratified_split(labels, validation_fraction, seed)` avec NumPy seulement (pas de
# scikit-learn), en suivant l'algorithme de la docstring. Outils utiles : `np.unique`,
# `np.flatnonzero(labels == label)`, `rng.permutation`, `round`, `np.concatenate`, `np.sort`.

# %% [solution] id=stratified_split
#| solution: solutions.separation.stratified_split

# %% [tests] id=test_stratified_split points=2
"""Vérifie que stratified_split est disjointe, couvrante, stratifiée (à une image près) et reproductible."""
_toy_labels = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [10, 5, 21]))
_train, _validation = stratified_split(_toy_labels, 0.2, 7)
_train = checks.plain_int_array(_train, "train_indices")
_validation = checks.plain_int_array(_validation, "validation_indices")
if np.intersect1d(_train, _validation).size:
    checks.fail("Une même image est à la fois en entraînement et en validation : les indices doivent être disjoints.")
if sorted(_train.tolist() + _validation.tolist()) != list(range(len(_toy_labels))):
    checks.fail("Chaque image (indices 0 à len(labels) - 1) doit être dans exactement un des deux sous-ensembles.")
if np.any(np.diff(_train) <= 0) or np.any(np.diff(_validation) <= 0):
    checks.fail("Renvoyez des indices triés (np.sort).")
for _label, _count in enumerate([10, 5, 21]):
    _in_validation = int(np.sum(_toy_labels[_validation] == _label))
    if abs(_in_validation - 0.2 * _count) > 1:
        checks.fail(
            f"La classe {_label} ({_count} images) a {_in_validation} images en validation au lieu "
            f"d'environ {0.2 * _count:g} : séparez chaque classe séparément (round(n * fraction))."
        )
_again = checks.plain_int_array(stratified_split(_toy_labels, 0.2, 7)[1], "validation_indices")
if not np.array_equal(_again, _validation):
    checks.fail("Deux appels avec la même graine donnent deux séparations différentes : utilisez np.random.default_rng(seed).")
print("stratified_split : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb01.py): stratified_split is called on the
# grader's probes of this run (random labels, fractions and seeds), and only the indices it
# returned are exported; nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes


def _exported_split(labels, fraction, seed):
    try:
        _value = stratified_split(_np.asarray(labels, dtype=_np.int64), fraction, seed)
    except Exception as _error:
        return {"error": _probes.type_name(_error), "value_error": isinstance(_error, ValueError)}
    _result = {"type": _probes.type_name(_value)}
    if isinstance(_value, tuple) and len(_value) == 2:
        _result["train"] = _probes.plain_integers(_value[0])
        _result["validation"] = _probes.plain_integers(_value[1])
    return _result


_probe = _probes.load_probes("test_stratified_split")
if _probe is not None:
    _results = []
    for _case in _probe["cases"]:
        _calls = {
            "first": _exported_split(_case["labels"], _case["fraction"], _case["seed"]),
            "again": _exported_split(_case["labels"], _case["fraction"], _case["seed"]),
            "other_seed": _exported_split(_case["labels"], _case["fraction"], _case["other_seed"]),
        }
        _np.random.seed(_case["global_seed"])
        _calls["after_global_seed"] = _exported_split(_case["labels"], _case["fraction"], _case["seed"])
        _results.append(_calls)
    _refusals = [_exported_split(_probe["labels"], _fraction, _probe["seed"]) for _fraction in _probe["bad_fractions"]]
    _probes.export_results("test_stratified_split", {"results": _results, "bad_fractions": _refusals})
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Exercice : la table de séparation
#
# La séparation est enregistrée sous forme de table, une ligne par image, avec trois colonnes :
# `path` (chemin relatif), `class` (nom de la classe) et `subset` (`"train"` ou
# `"validation"`). Une table de chemins (et non d'indices) reste lisible et valable même si
# l'ordre de lecture des fichiers change.
#
# Écrivez `split_table(relative_paths, class_names_of_files, train_indices, validation_indices)`
# qui renvoie un `pandas.DataFrame`. Elle doit refuser (`ValueError`) des indices qui ne forment
# pas une partition des fichiers : une erreur détectée ici évite un entraînement faussé.

# %% [solution] id=split_table
#| solution: solutions.separation.split_table

# %% [tests] id=test_split_table points=1
"""Vérifie que split_table produit une ligne par fichier avec path, class et subset corrects."""
_paths = ["city/a.jpg", "city/b.jpg", "lake/c.jpg", "lake/d.jpg", "lake/e.jpg"]
_classes = ["city", "city", "lake", "lake", "lake"]
_table = split_table(_paths, _classes, np.array([0, 2, 3]), np.array([1, 4]))
if not isinstance(_table, pd.DataFrame):
    checks.fail(f"split_table doit renvoyer un pandas.DataFrame, pas {type(_table).__name__}.")
if [str(column) for column in _table.columns] != ["path", "class", "subset"]:
    checks.fail(f"Colonnes attendues : path, class, subset (dans cet ordre) ; obtenu {list(_table.columns)}.")
_rows = sorted(zip(*(list(map(str, _table[column].tolist())) for column in ("path", "class", "subset"))))
_expected_rows = [("city/a.jpg", "city", "train"), ("city/b.jpg", "city", "validation"),
                  ("lake/c.jpg", "lake", "train"), ("lake/d.jpg", "lake", "train"), ("lake/e.jpg", "lake", "validation")]
if _rows != _expected_rows:
    checks.fail(f"Lignes attendues {_expected_rows}, obtenu {_rows}. subset vaut \"train\" ou \"validation\".")
try:
    split_table(_paths, _classes, np.array([0, 1, 2]), np.array([2, 3, 4]))
except ValueError:
    pass
else:
    checks.fail("Une image présente des deux côtés doit provoquer une ValueError.")
print("split_table : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb01.py): split_table is called on the grader's
# probes of this run (random paths, classes and partitions, and indices it must refuse), and only
# the table's columns and rows are exported as text.
import numpy as _np
import pandas as _pd
from paysages import probes as _probes


def _exported_table(case):
    try:
        _value = split_table(list(case["paths"]), list(case["classes"]), _np.asarray(case["train"], dtype=_np.int64),
                             _np.asarray(case["validation"], dtype=_np.int64))
    except Exception as _error:
        return {"error": _probes.type_name(_error), "value_error": isinstance(_error, ValueError)}
    _result = {"type": _probes.type_name(_value), "dataframe": isinstance(_value, _pd.DataFrame)}
    if isinstance(_value, _pd.DataFrame):
        _result["columns"] = [str(_column) for _column in _value.columns]
        if _result["columns"] == ["path", "class", "subset"]:
            _result["rows"] = [[str(_item) for _item in _row] for _row in _value.itertuples(index=False, name=None)]
    return _result


_probe = _probes.load_probes("test_split_table")
if _probe is not None:
    _probes.export_results("test_split_table", {"results": [_exported_table(_case) for _case in _probe["cases"]],
                                                "refusals": [_exported_table(_case) for _case in _probe["bad_cases"]]})
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Écrire la séparation, une seule fois
#
# La cellule suivante calcule **votre** séparation des images du jeu (graine `settings.seed`,
# fraction `settings.validation_fraction`), construit sa table et l'écrit dans
# `split.csv` avec `paysages.split.write_split`.
#
# `write_split` **refuse de remplacer** un fichier de séparation existant qui serait différent :
# les modèles des notebooks suivants ont peut-être déjà été entraînés sur l'ancien, et les
# évaluer avec une autre séparation mélangerait entraînement et validation (erreur n° 1 de la
# section 1). Ré-exécuter ce notebook avec la même séparation ne change rien. Si vous devez
# vraiment changer de séparation (fonction corrigée, autre jeu de données), mettez
# `OVERWRITE_SPLIT = True` en connaissance de cause, puis **ré-entraînez tous les modèles**.

# %% [free]
OVERWRITE_SPLIT = False

# %% [code] id=write_split_01
# The setting defaults to False (never replace a split) if its cell was deleted.
OVERWRITE_SPLIT = bool(globals().get("OVERWRITE_SPLIT", False))
train_indices, validation_indices = stratified_split(labels, settings.validation_fraction, settings.seed)
split_frame = split_table(relative_paths, class_names_of_files, train_indices, validation_indices)
try:
    write_split(split_frame, settings.split_path, overwrite=OVERWRITE_SPLIT)
except SplitError:
    print(
        f"REFUS : une séparation différente existe déjà dans {settings.split_path}. Gardez-la "
        "(ne changez rien) ou, si vous devez la remplacer, mettez OVERWRITE_SPLIT = True puis "
        "ré-exécutez les notebooks 02 à 08."
    )
    raise
print(f"Séparation écrite : {settings.split_path}")
print(f"{len(train_indices)} images d'entraînement, {len(validation_indices)} images de validation.")

# %% [tests] id=test_split_file points=1
"""Vérifie que split.csv existe, se relit et correspond exactement à votre séparation."""
if not settings.split_path.is_file():
    checks.fail(f"{settings.split_path} n'existe pas : exécutez la cellule précédente.")
_on_disk = read_split(settings.split_path, dataset_dir)
if len(_on_disk) != len(relative_paths) or set(_on_disk["path"]) != set(relative_paths):
    checks.fail("split.csv doit contenir chaque image utilisable du jeu exactement une fois.")
if not isinstance(split_frame, pd.DataFrame):
    checks.fail("split_frame doit être la table renvoyée par split_table (un pandas.DataFrame).")
_yours = {str(path): str(subset) for path, subset in zip(split_frame["path"].tolist(), split_frame["subset"].tolist())}
if _yours != dict(zip(_on_disk["path"], _on_disk["subset"])):
    checks.fail(
        "split.csv ne contient pas votre séparation (split_frame) : une séparation différente "
        "existait déjà. Gardez-la, ou mettez OVERWRITE_SPLIT = True et ré-entraînez les modèles."
    )
print(f"split.csv : {len(_on_disk)} lignes, identique à votre séparation, OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb01.py): the images of the data set, split.csv
# as the kit reads it, and what stratified_split and split_table give on these images are
# exported as plain data; the verdict checks that split.csv is the student's split of these images.
from pathlib import Path as _Path

import numpy as _np
from paysages import probes as _probes

if _probes.load_probes("test_split_file") is not None:
    from paysages.data import scan_and_decode as _scan_and_decode
    from paysages.settings import get_settings as _get_settings
    from paysages.split import read_split as _read_split

    # Everything is recomputed from the kit (the decoding is cached), not from notebook variables.
    _settings_h = _get_settings()
    _dataset_dir_h, _scan_h, _loaded_h = _scan_and_decode(_settings_h)
    _labels_h = _np.asarray(_loaded_h.labels, dtype=_np.int64)
    _paths_h = [_Path(path).relative_to(_dataset_dir_h).as_posix() for path in _loaded_h.paths]
    _classes_h = [str(_scan_h.class_names[label]) for label in _labels_h]
    _export = {"class_names": [str(name) for name in _scan_h.class_names], "paths": _paths_h,
               "labels": [int(label) for label in _labels_h],
               "validation_fraction": float(_settings_h.validation_fraction), "seed": int(_settings_h.seed)}
    try:
        _disk = _read_split(_settings_h.split_path, _dataset_dir_h)
        _export["file"] = {column: [str(item) for item in _disk[column].tolist()] for column in ("path", "class", "subset")}
    except Exception as _error:
        _export["file"] = {"error": _probes.type_name(_error)}
    try:
        _value = stratified_split(_labels_h.copy(), _settings_h.validation_fraction, _settings_h.seed)
        _export["split"] = {"type": _probes.type_name(_value)}
        if isinstance(_value, tuple) and len(_value) == 2:
            _export["split"].update(train=_probes.plain_integers(_value[0]), validation=_probes.plain_integers(_value[1]))
    except Exception as _error:
        _export["split"] = {"error": _probes.type_name(_error)}
    if _export["split"].get("train") is not None and _export["split"].get("validation") is not None:
        # The table must come from the student's own split_table (a stub must not pass on an old file).
        try:
            _rows_h = split_table(list(_paths_h), list(_classes_h), _np.asarray(_export["split"]["train"], dtype=_np.int64),
                                  _np.asarray(_export["split"]["validation"], dtype=_np.int64))
            _export["table"] = {column: [str(item) for item in _rows_h[column].tolist()] for column in ("path", "subset")}
        except Exception as _error:
            _export["table"] = {"error": _probes.type_name(_error)}
    _probes.export_results("test_split_file", _export)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Vérifier la séparation écrite
#
# On relit le fichier (c'est lui, et non les variables du notebook, qui fait foi pour la
# suite) et on compte les images de chaque classe dans chaque sous-ensemble. La colonne
# `validation_share` doit valoir environ 0,2 pour **toutes** les classes : comparez avec les
# tirages non stratifiés de la section 2.

# %% [code] id=summary_01
split_on_disk = read_split(settings.split_path, dataset_dir)
summary = split_summary(split_on_disk)
print(summary.to_string())

figure, axis = plt.subplots(figsize=(8, 4))
positions = np.arange(len(summary))
bar_width = 0.4
train_bars = axis.bar(positions - bar_width / 2, summary["train"], bar_width, label="entraînement")
validation_bars = axis.bar(positions + bar_width / 2, summary["validation"], bar_width, label="validation")
axis.bar_label(train_bars, fontsize=8)
validation_labels = [f"{count} ({share:.0%})" for count, share in zip(summary["validation"], summary["validation_share"])]
axis.bar_label(validation_bars, labels=validation_labels, fontsize=8)
axis.set_xticks(positions, summary.index)
axis.set_ylabel("images")
axis.set_title("Séparation stratifiée : images par classe (validation : nombre et part)")
axis.legend()
figure.tight_layout()
figure.savefig(run.figure_path("01_separation.png"), dpi=300)
plt.show()

# %% [markdown]
# ## 7. Exercice : détecter les fuites (doublons exacts)
#
# Une séparation parfaitement stratifiée peut encore fuir si **le même fichier** existe deux fois
# dans le jeu de données, une copie de chaque côté. Dans le vrai jeu Landscapes, au moins une
# photo Flickr (`139432484_ddd5d3d4c7.jpg`) figure à la fois dans `mountain` et dans `road`.
#
# Pour trouver les doublons **exacts**, on calcule l'**empreinte** (*hash*) SHA-256 du contenu de
# chaque fichier avec `hashlib.sha256(octets).hexdigest()` : deux fichiers identiques ont la même
# empreinte, et deux empreintes égales signalent (en pratique sûrement) deux fichiers identiques.
# Cette méthode ne trouve pas les quasi-doublons (photo recadrée ou ré-encodée) : il faudrait
# pour cela comparer les images elles-mêmes (empreintes perceptuelles, voisins proches — voir le
# notebook 08).
#
# Écrivez `leakage_report(frame, dataset_dir)` qui renvoie la liste triée des paires
# `(chemin en entraînement, chemin en validation)` de fichiers identiques.
# `Path(dataset_dir) / chemin` donne le fichier ; `.read_bytes()` lit son contenu.

# %% [solution] id=leakage_report
#| solution: solutions.separation.leakage_report

# %% [tests] id=test_leakage_report points=2
"""Vérifie que leakage_report trouve un doublon placé exprès des deux côtés, et rien sinon."""
import shutil
import tempfile

with tempfile.TemporaryDirectory() as _folder:
    _folder = Path(_folder)
    (_folder / "city").mkdir()
    (_folder / "lake").mkdir()
    _sources = [dataset_dir / relative_paths[index] for index in (0, 1, len(relative_paths) - 1)]
    shutil.copy(_sources[0], _folder / "city" / "a.jpg")
    shutil.copy(_sources[1], _folder / "city" / "b.jpg")
    shutil.copy(_sources[2], _folder / "lake" / "c.jpg")
    _clean = pd.DataFrame({"path": ["city/a.jpg", "city/b.jpg", "lake/c.jpg"], "class": ["city", "city", "lake"],
                           "subset": ["train", "validation", "train"]})
    _report = leakage_report(_clean, _folder)
    if not isinstance(_report, list) or len(_report) != 0:
        checks.fail(f"Sans doublon, leakage_report doit renvoyer une liste vide ; obtenu {_report!r}.")
    shutil.copy(_sources[0], _folder / "lake" / "copy_of_a.jpg")
    _leaky = pd.concat([_clean, pd.DataFrame({"path": ["lake/copy_of_a.jpg"], "class": ["lake"], "subset": ["validation"]})],
                       ignore_index=True)
    _report = leakage_report(_leaky, _folder)
    if not isinstance(_report, list) or len(_report) != 1:
        checks.fail(f"Un doublon (city/a.jpg en train, lake/copy_of_a.jpg en validation) doit donner une paire ; obtenu {_report!r}.")
    _pair = tuple(str(item) for item in _report[0])
    if _pair != ("city/a.jpg", "lake/copy_of_a.jpg"):
        checks.fail(f"La paire attendue est ('city/a.jpg', 'lake/copy_of_a.jpg') (train d'abord) ; obtenu {_pair}.")
print("leakage_report : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb01.py): the grader's probes of this run describe
# small files (random contents, some copied on both sides of a split, several times, or inside one
# side); they are written in a temporary folder, leakage_report is called on their table, and only
# the pairs it returned are exported as text.
import tempfile as _tempfile
from pathlib import Path as _Path

import pandas as _pd
from paysages import probes as _probes


def _exported_pairs(case):
    with _tempfile.TemporaryDirectory() as _folder:
        _folder = _Path(_folder)
        for _file in case["files"]:
            (_folder / _file["path"]).parent.mkdir(parents=True, exist_ok=True)
            (_folder / _file["path"]).write_bytes(bytes.fromhex(_file["content"]))
        _frame = _pd.DataFrame({column: [_file[column] for _file in case["files"]] for column in ("path", "class", "subset")})
        try:
            _value = leakage_report(_frame, _folder)
        except Exception as _error:
            return {"error": _probes.type_name(_error)}
    _result = {"type": _probes.type_name(_value)}
    if type(_value) is list:
        _result["pairs"] = [
            [str.__str__(_item) for _item in _pair]
            if isinstance(_pair, (tuple, list)) and len(_pair) == 2 and all(type(_item) is str for _item in _pair) else None
            for _pair in _value
        ]
    return _result


_probe = _probes.load_probes("test_leakage_report")
if _probe is not None:
    _probes.export_results("test_leakage_report", {"results": [_exported_pairs(_case) for _case in _probe["cases"]]})
### END HIDDEN TESTS

# %% [code] id=leakage_01
leaks = leakage_report(split_on_disk, dataset_dir)
kit_duplicates = find_cross_duplicates(split_on_disk, dataset_dir)
kit_pairs = sorted(
    (train_path, validation_path)
    for train_paths, validation_paths in zip(kit_duplicates["train_paths"], kit_duplicates["validation_paths"])
    for train_path in train_paths
    for validation_path in validation_paths
)
print(f"leakage_report : {len(leaks)} paire(s) de fichiers identiques de part et d'autre de la séparation.")
print(f"paysages.split.find_cross_duplicates : {len(kit_pairs)} paire(s) ; les deux méthodes "
      f"{'concordent' if leaks == kit_pairs else 'DIFFÈRENT'}.")
for train_path, validation_path in leaks:
    print(f"  fuite : {train_path} (entraînement) = {validation_path} (validation)")
if leaks:
    print("Ces images de validation ont été vues à l'entraînement : leur score sera trop optimiste. "
          "Mentionnez-le dans votre rapport (ou retirez un exemplaire de chaque doublon avant de séparer).")

# %% [markdown]
# ## 8. Questions
#
# Répondez en quelques phrases, chiffres de ce notebook à l'appui :
#
# 1. Pourquoi **stratifier** la séparation ? Que montrent les tirages non stratifiés de la
#    section 2 pour la plus petite classe ?
# 2. Pourquoi **écrire** la séparation dans un fichier une seule fois, plutôt que la recalculer
#    dans chaque notebook ? Que se passerait-il si elle changeait entre l'entraînement (02) et
#    l'analyse des erreurs (06) ?

# %% [answer] id=separation_answer points=5
# Réponse de référence (correcteur) : (1) stratifier garde dans chaque sous-ensemble les
# proportions de classes du jeu complet (20 % de chaque classe en validation, à une image près) :
# la validation représente toutes les classes, la petite classe `city` y a assez d'images pour que
# son rappel/F1 ait un sens, et les scores de deux modèles se comparent sur la même base. Sans
# stratification, la part de `city` en validation varie nettement d'un tirage à l'autre (tableau
# de la section 2). (2) La séparation écrite une fois (graine fixée, fichier relu par tous les
# notebooks) garantit que chaque modèle est entraîné et évalué sur les mêmes images et qu'aucune
# image de validation n'a servi à l'entraînement. Si elle changeait entre 02 et 06, environ 80 %
# des images « de validation » auraient été vues à l'entraînement : scores trop optimistes,
# erreurs analysées non représentatives, comparaisons entre modèles faussées. write_split refuse
# donc de remplacer une séparation différente.

# %% [code] id=finish_01
#| include: finish
