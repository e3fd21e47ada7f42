# %% [markdown]
# # 05 — Comparer les réseaux des notebooks 02, 03 et 04
#
# **Objectifs**
#
# - évaluer **tous** les modèles sauvegardés sur le **même** jeu de validation, à partir des
#   fichiers de modèles eux-mêmes (et non des journaux d'entraînement) ;
# - comprendre pourquoi l'exactitude (*accuracy*) ne suffit pas quand les classes sont
#   déséquilibrées, et ce qu'apportent le **F1-macro** et la **perte** (entropie croisée) ;
# - énoncer une **règle de choix** du meilleur modèle, la coder, et la justifier ;
# - comparer trois démarches (CNN maison, régularisation, apprentissage par transfert) en
#   tenant compte de leur **coût** (paramètres, temps) et de leur **sur-apprentissage**.
#
# Ce notebook lit les modèles écrits par `02_cnn.ipynb`, `03_regularisation.ipynb` et
# `04_transfert.ipynb` dans le dossier de run, et y écrit `results.json` (le tableau) et
# `best.json` (le modèle retenu, que le notebook 06 analysera).

# %% [code] id=bootstrap_05
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_05
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from sklearn import metrics

from paysages import checks
from paysages.data import load_split_arrays
from paysages.errors import PrerequisiteError
from paysages.notebook import start

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("05_comparaison", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
data = load_split_arrays(settings)
print(data.describe())

model_names = run.model_names()
if not model_names:
    raise PrerequisiteError(
        f"Aucun modèle sauvegardé dans {run.path / 'models'} : exécutez d'abord les notebooks "
        "02_cnn, 03_regularisation et 04_transfert avec le même dossier de run."
    )
print("Modèles à comparer :", ", ".join(model_names))
for prefix, notebook in (("cnn", "02_cnn"), ("reg_", "03_regularisation"), ("transfer_", "04_transfert")):
    if not any(name.startswith(prefix) for name in model_names):
        print(f"ATTENTION : aucun modèle « {prefix}... » : le notebook {notebook} n'a pas été exécuté jusqu'au bout.")
if settings.offline:
    print(
        "ATTENTION : mode hors ligne, les modèles du notebook 04 partent de la base du kit "
        "(pré-entraînée sur d'autres scènes synthétiques, PAS sur ImageNet) : leur avance sur "
        "les CNN est bien plus faible que celle d'un vrai transfert depuis ImageNet."
    )

# %% [markdown]
# ## 1. Trois mesures, trois questions
#
# On compare les modèles sur le **jeu de validation** : des images qu'aucun modèle n'a vues
# pendant l'entraînement, les mêmes pour tous (la séparation du notebook 01). Chaque mesure
# répond à une question différente :
#
# - **exactitude** (*accuracy*) : quelle fraction des images est bien classée ? Simple, mais
#   trompeuse quand les classes sont **déséquilibrées** : un modèle qui néglige une petite
#   classe (ici `city` ou `ocean`) ne perd que quelques points d'exactitude ;
# - **F1-macro** : pour chaque classe, le F1 est la moyenne harmonique de la précision
#   (parmi les images prédites « lac », combien en sont ?) et du rappel (parmi les lacs,
#   combien sont retrouvés ?). Le F1-**macro** en fait la moyenne **sans pondérer** par la
#   taille des classes : chaque classe compte autant, une petite classe négligée fait chuter
#   le score ;
# - **perte** (entropie croisée moyenne, $-\frac{1}{n}\sum_i \log p_i(y_i)$ où $p_i(y_i)$ est
#   la probabilité donnée à la vraie classe) : le modèle est-il **confiant à raison** ? Deux
#   modèles de même exactitude peuvent avoir des pertes très différentes : celui qui se trompe
#   avec une probabilité de 0,99 est bien plus pénalisé que celui qui hésite.
#
# Écrivez `classification_scores(labels, probabilities)` qui renvoie le dictionnaire
# `{"accuracy": ..., "macro_f1": ..., "loss": ...}` (trois `float`) :
#
# - la classe prédite est la plus probable (`probabilities.argmax(axis=1)`) ;
# - le F1-macro s'obtient avec `metrics.f1_score(labels, predictions, average="macro", zero_division=0)` ;
# - pour la perte, **bornez** d'abord la probabilité de la vraie classe dans `[1e-7, 1]`
#   (`np.clip`) : une probabilité nulle donnerait $\log 0 = -\infty$.

# %% [solution] id=classification_scores
#| solution: solutions.evaluation.classification_scores

# %% [tests] id=test_classification_scores points=1
"""Vérifie classification_scores (exactitude, F1-macro, perte) sur un exemple calculé à la main."""
_labels = np.array([0, 0, 1, 2])
_probabilities = np.array([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
_result = classification_scores(_labels, _probabilities)
if not isinstance(_result, dict) or sorted(map(str, _result)) != ["accuracy", "loss", "macro_f1"]:
    checks.fail("classification_scores doit renvoyer un dict aux clés accuracy, macro_f1 et loss.")
_accuracy = checks.plain_float(_result["accuracy"], "accuracy")
_macro_f1 = checks.plain_float(_result["macro_f1"], "macro_f1")
_loss = checks.plain_float(_result["loss"], "loss")
# Predictions 0, 1, 1, 2: three right out of four; per-class F1 2/3, 2/3 and 1.
if abs(_accuracy - 0.75) > 1e-9:
    checks.fail(f"Exactitude attendue 0.75 (3 images bien classées sur 4), obtenu {_accuracy}.")
if abs(_macro_f1 - (2 / 3 + 2 / 3 + 1) / 3) > 1e-9:
    checks.fail(f"F1-macro attendu {(2 / 3 + 2 / 3 + 1) / 3:.4f}, obtenu {_macro_f1:.4f} : moyenne non pondérée des F1 par classe.")
if abs(_loss - (-np.mean(np.log([0.7, 0.4, 0.8, 0.6])))) > 1e-9:
    checks.fail(f"Perte attendue {-np.mean(np.log([0.7, 0.4, 0.8, 0.6])):.4f}, obtenu {_loss:.4f} : moyenne de -log(probabilité de la vraie classe).")
print("classification_scores : OK")
### BEGIN HIDDEN TESTS
import numpy as _np
from paysages import checks as _checks
from solutions.evaluation import classification_scores as _reference_scores

_generator = _np.random.default_rng(5)
_cases = []
# Random predictions where every class occurs among the labels.
_random_labels = _np.concatenate([_np.arange(5), _generator.integers(0, 5, size=45)])
_random_probabilities = _generator.dirichlet(_np.ones(5), size=50)
_cases.append((_random_labels, _random_probabilities))
# A class never predicted, a zero probability on a true class (clipping) and a tie (first class wins).
_cases.append((
    _np.array([0, 1, 2, 2, 1]),
    _np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.4, 0.0], [0.5, 0.5, 0.0], [0.2, 0.8, 0.0]]),
))
# A perfect classifier.
_cases.append((_np.array([2, 0, 1, 1]), _np.eye(3)[[2, 0, 1, 1]] * 0.9 + 0.1 / 3))
for _labels_h, _probabilities_h in _cases:
    _expected = _reference_scores(_labels_h, _probabilities_h)
    _got = classification_scores(_labels_h.copy(), _probabilities_h.copy())
    if not isinstance(_got, dict):
        raise AssertionError("classification_scores doit renvoyer un dict.")
    for _key in ("accuracy", "macro_f1", "loss"):
        if abs(_checks.plain_float(_got[_key], _key) - _expected[_key]) > 1e-6:
            raise AssertionError(f"{_key} est faux sur un cas caché (ex æquo, classe jamais prédite ou probabilité nulle ?).")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. De quel notebook vient chaque modèle ?
#
# Le tableau regroupera les modèles par **famille**, c'est-à-dire par démarche : le CNN de
# base (`cnn`, notebook 02), ses variantes régularisées (`reg_...`, notebook 03) et
# l'apprentissage par transfert (`transfer_...`, notebook 04). Écrivez `model_family(name)`
# en suivant sa docstring.

# %% [solution] id=model_family
#| solution: solutions.comparison.model_family

# %% [tests] id=test_model_family points=1
"""Vérifie que model_family range chaque nom de modèle dans la bonne famille."""
for _name, _family in (("cnn", "02 CNN"), ("reg_dropout", "03 régularisation"), ("transfer_frozen", "04 transfert")):
    _got = model_family(_name)
    if not isinstance(_got, str) or str(_got) != _family:
        checks.fail(f"model_family({_name!r}) doit renvoyer {_family!r}, pas {_got!r}.")
print("model_family : OK")
### BEGIN HIDDEN TESTS
from solutions.comparison import model_family as _reference_family

for _name in ("cnn", "cnn_wide", "reg_baseline", "reg_l2", "reg_early_stopping", "transfer_finetuned", "mystery", "cnnx", "regular"):
    _got = model_family(_name)
    if not isinstance(_got, str) or str.__getitem__(_got, slice(None)) != _reference_family(_name):
        raise AssertionError(f"model_family se trompe sur un nom caché ({_name!r}).")
try:
    model_family(3)
except ValueError:
    pass
else:
    raise AssertionError("model_family doit lever ValueError quand le nom n'est pas une chaîne.")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. La règle de choix, énoncée avant de regarder les chiffres
#
# Choisir « le meilleur modèle » après avoir regardé le tableau, avec le critère qui arrange,
# c'est se raconter une histoire. On fixe donc la règle **avant** :
#
# > **Règle** : le meilleur modèle est celui dont le **F1-macro de validation est le plus
# > haut** ; à égalité, celui dont la **perte de validation est la plus basse** ; à égalité
# > encore, celui qui a le **moins de paramètres** (puis l'ordre alphabétique, pour que le
# > résultat ne dépende jamais du hasard).
#
# Pourquoi cet ordre ?
#
# - le **F1-macro** d'abord, parce que les classes sont déséquilibrées (voir le notebook 00) :
#   on veut un modèle bon sur **toutes** les classes, pas seulement sur les grandes ;
# - la **perte** ensuite : à F1 égal, on préfère le modèle dont les probabilités sont les
#   plus fiables (il se trompe avec moins d'assurance) ;
# - le **nombre de paramètres** enfin : à performances égales, le modèle le plus simple est
#   le moins cher à entraîner et à déployer, et le moins exposé au sur-apprentissage.
#
# Attention : on choisit sur le jeu de validation, donc le score du modèle retenu est
# **légèrement optimiste** (il a « gagné » une compétition sur ces images-là). Un jeu de test
# jamais utilisé pour choisir donnerait une estimation honnête.
#
# Écrivez `sort_results(table)` (qui trie un tableau selon la règle, meilleur en tête) puis
# `choose_best(table)` (qui renvoie le **nom** du meilleur modèle). Ne supposez pas que le
# tableau reçu par `choose_best` est déjà trié. Astuce : `DataFrame.sort_values` accepte une
# liste de colonnes et une liste `ascending`.

# %% [solution] id=sort_results
#| solution: solutions.comparison.sort_results

# %% [solution] id=choose_best
#| solution: solutions.comparison.choose_best

# %% [tests] id=test_choose_best points=1
"""Vérifie que choose_best applique la règle : F1-macro, puis perte, puis nombre de paramètres."""
_table = pd.DataFrame({
    "model": ["cnn", "reg_dropout", "transfer_frozen"],
    "accuracy": [0.90, 0.85, 0.86],
    "macro_f1": [0.70, 0.80, 0.75],
    "loss": [0.40, 0.50, 0.30],
    "num_params": [100, 100, 50],
})
_got = choose_best(_table)
if not isinstance(_got, str):
    checks.fail(f"choose_best doit renvoyer le nom du modèle (str), pas {type(_got).__name__}.")
if str(_got) == "cnn":
    checks.fail("choose_best a choisi la meilleure exactitude : la règle porte sur le F1-macro.")
if str(_got) != "reg_dropout":
    checks.fail(f"Le meilleur F1-macro est celui de reg_dropout, choose_best a renvoyé {_got!r}.")
_sorted = sort_results(_table)
if not isinstance(_sorted, pd.DataFrame) or [str(name) for name in _sorted["model"]] != ["reg_dropout", "transfer_frozen", "cnn"]:
    checks.fail("sort_results doit trier par F1-macro décroissant (meilleur modèle en tête).")
print("choose_best et sort_results : OK")
### BEGIN HIDDEN TESTS
import pandas as _pd
from paysages import checks as _checks
from solutions.comparison import choose_best as _reference_choose, sort_results as _reference_sort

_plain_name = _checks.plain_str


_tables = [
    # Tie on macro-F1: the lower loss wins; the table is not sorted.
    _pd.DataFrame({"model": ["a", "b", "c"], "accuracy": [0.9, 0.8, 0.7], "macro_f1": [0.6, 0.8, 0.8],
                   "loss": [0.1, 0.5, 0.4], "num_params": [10, 10, 10]}),
    # Tie on macro-F1 and loss: fewer parameters win.
    _pd.DataFrame({"model": ["big", "small", "worse"], "accuracy": [0.8, 0.8, 0.9], "macro_f1": [0.7, 0.7, 0.65],
                   "loss": [0.3, 0.3, 0.2], "num_params": [5000, 300, 10]}),
    # Best model last, with an index that is not 0..n-1.
    _pd.DataFrame({"model": ["x", "y", "z"], "accuracy": [0.5, 0.6, 0.7], "macro_f1": [0.5, 0.6, 0.7],
                   "loss": [1.0, 0.9, 0.8], "num_params": [1, 2, 3]}, index=[7, 3, 5]),
    # Complete tie: the name decides.
    _pd.DataFrame({"model": ["m2", "m1"], "accuracy": [0.5, 0.5], "macro_f1": [0.5, 0.5],
                   "loss": [0.7, 0.7], "num_params": [4, 4]}),
]
for _table_h in _tables:
    _expected = _reference_choose(_table_h.copy())
    if _plain_name(choose_best(_table_h.copy()), "choose_best(...)") != _expected:
        raise AssertionError("choose_best ne respecte pas la règle (égalités : perte, puis paramètres, puis nom).")
    _sorted_h = sort_results(_table_h.copy())
    if [_plain_name(name, "model") for name in _pd.DataFrame.to_dict(_sorted_h, orient="list")["model"]] != list(_reference_sort(_table_h.copy())["model"]):
        raise AssertionError("sort_results ne trie pas selon la règle.")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Le tableau des résultats
#
# Écrivez `results_table(run, model_names, data, batch_size)` : pour chaque modèle, chargez-le
# depuis le dossier de run, prédisez les probabilités du jeu de validation et calculez ses
# mesures avec **votre** `classification_scores`. Ajoutez sa famille, son nombre de paramètres
# (`model.count_params()`, compté sur le modèle chargé) et, depuis sa fiche
# (`run.model_meta(name)`), sa durée d'entraînement et son nombre d'époques. Renvoyez le tableau
# trié par `sort_results`.
#
# Pourquoi recalculer au lieu de recopier la dernière `val_accuracy` des historiques ? Parce
# que le tableau doit décrire **les modèles qu'on va réutiliser** : un historique peut venir
# d'un autre entraînement que le fichier sauvegardé, l'arrêt précoce restaure parfois les
# poids d'une époque antérieure, et un chiffre recopié ne se vérifie pas.

# %% [solution] id=results_table
#| solution: solutions.comparison.results_table

# %% [code] id=table_05
table = results_table(run, model_names, data, settings.batch_size)
display(
    table.style.format(
        {"accuracy": "{:.3f}", "macro_f1": "{:.3f}", "loss": "{:.3f}", "num_params": "{:,}",
         "training_seconds": "{:.0f}", "epochs": "{:.0f}"},
        na_rep="—",
    )
    .background_gradient(subset=["accuracy", "macro_f1"], cmap="Greens")
    .background_gradient(subset=["loss"], cmap="Reds")
    .hide(axis="index")
)

# %% [tests] id=test_results_table points=2
"""Vérifie le tableau : une ligne par modèle sauvegardé, colonnes attendues, mesures recalculées, tri."""
_expected_columns = ["model", "family", "accuracy", "macro_f1", "loss", "num_params", "training_seconds", "epochs"]
if not isinstance(table, pd.DataFrame):
    checks.fail(f"results_table doit renvoyer un pandas.DataFrame, pas {type(table).__name__}.")
if [str(column) for column in table.columns] != _expected_columns:
    checks.fail(f"Colonnes attendues {_expected_columns}, obtenu {list(table.columns)}.")
_names = [str(name) for name in table["model"].tolist()]
if sorted(_names) != sorted(model_names):
    checks.fail(f"Il faut une ligne par modèle sauvegardé ({', '.join(model_names)}), le tableau contient {', '.join(_names)}.")
_f1_column = [checks.plain_float(value, "macro_f1") for value in table["macro_f1"].tolist()]
if any(not 0.0 <= value <= 1.0 for value in _f1_column):
    checks.fail("Le F1-macro doit être compris entre 0 et 1.")
if any(later > earlier + 1e-12 for earlier, later in zip(_f1_column, _f1_column[1:])):
    checks.fail("Le tableau doit être trié par F1-macro décroissant : utilisez sort_results.")
print(f"Tableau : OK ({len(_names)} modèles)")
### BEGIN HIDDEN TESTS
import numpy as _np
import pandas as _pd
from paysages import checks as _checks
from paysages.data import load_split_arrays as _load_split_arrays
from paysages.runs import RunFolder as _RunFolder
from paysages.settings import get_settings as _get_settings
from solutions.comparison import model_family as _reference_family
from solutions.evaluation import classification_scores as _reference_scores, predict_probabilities as _predict

_settings_h = _get_settings()
_run_h = _RunFolder(_settings_h.run_dir)
_data_h = _load_split_arrays(_settings_h)


_plain_name = _checks.plain_str


def _student_rows(frame):
    """The student's table as {model: {column: float}}, refusing duplicates and non-numbers."""
    if not isinstance(frame, _pd.DataFrame):
        raise AssertionError("Le tableau doit être un pandas.DataFrame.")
    rows, order = {}, []
    for record in _pd.DataFrame.to_dict(frame, orient="records"):
        name = _plain_name(record["model"], "La colonne model")
        if name in rows:
            raise AssertionError(f"Le modèle {name} apparaît deux fois dans le tableau.")
        rows[name] = {key: _checks.plain_float(record[key], key) for key in ("accuracy", "macro_f1", "loss", "num_params")}
        rows[name]["family"] = _plain_name(record["family"], "La colonne family")
        for key in ("training_seconds", "epochs"):
            value = record.get(key)
            # A model saved without a measured duration has an empty cell (NaN) there.
            rows[name][key] = None if value is None or (isinstance(value, float) and value != value) else _checks.plain_float(value, key)
        order.append(name)
    return rows, order


_saved_names = _run_h.model_names()
_rows_h, _order_h = _student_rows(table)
if sorted(_rows_h) != sorted(_saved_names):
    raise AssertionError("Le tableau doit contenir exactement les modèles sauvegardés dans le dossier de run.")
_reference_h = {}
for _name in _saved_names:
    _model_h = _run_h.load_model(_name)
    _reference_h[_name] = _reference_scores(_data_h.y_validation, _predict(_model_h, _data_h.x_validation))
    _reference_h[_name]["num_params"] = float(_model_h.count_params())
    del _model_h
for _name in _saved_names:
    for _key in ("accuracy", "macro_f1", "loss"):
        if abs(_rows_h[_name][_key] - _reference_h[_name][_key]) > 1e-3:
            raise AssertionError(
                f"{_key} de {_name} ne correspond pas au modèle sauvegardé, recalculé sur le jeu de validation."
            )
    if _rows_h[_name]["num_params"] != _reference_h[_name]["num_params"]:
        raise AssertionError(f"num_params de {_name} ne correspond pas au modèle sauvegardé.")
    if _rows_h[_name]["family"] != _reference_family(_name):
        raise AssertionError(f"La famille de {_name} est fausse.")
    # Training time and epochs come from the model's record (run.model_meta), never typed by hand.
    _meta_h = _run_h.model_meta(_name)
    for _key in ("training_seconds", "epochs"):
        _expected_h = _meta_h.get(_key)
        _got_h = _rows_h[_name][_key]
        if (_expected_h is None) != (_got_h is None) or (
            _expected_h is not None and abs(_got_h - float(_expected_h)) > 1e-6 * max(1.0, float(_expected_h))
        ):
            raise AssertionError(f"{_key} de {_name} doit être lu dans run.model_meta({_name!r}).")
# The order must follow the rule on the student's own (verified) numbers.
for _first_h, _second_h in zip(_order_h, _order_h[1:]):
    _a, _b = _rows_h[_first_h], _rows_h[_second_h]
    if _b["macro_f1"] > _a["macro_f1"] + 1e-9 or (
        abs(_b["macro_f1"] - _a["macro_f1"]) <= 1e-9 and _b["loss"] < _a["loss"] - 1e-9
    ):
        raise AssertionError("Le tableau n'est pas trié selon la règle (F1-macro décroissant, puis perte croissante).")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Le meilleur modèle, et la sauvegarde des résultats
#
# On applique la règle et on écrit deux fichiers dans le dossier de run : `results.json` (le
# tableau) et `best.json` (le nom du modèle retenu et la règle, que le notebook 06 relira).

# %% [code] id=save_05
best_name = choose_best(table)
rule = (
    "F1-macro de validation la plus haute (les classes sont déséquilibrées) ; à égalité, "
    "perte de validation la plus basse, puis le moins de paramètres."
)
# Missing values (NaN) become null so that results.json stays valid JSON.
records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
run.save_json("results", records)
run.save_json("best", {"name": best_name, "rule": rule})
best_row = table[table["model"] == best_name].iloc[0]
print(f"Modèle retenu : {best_name} ({best_row['family']}) — F1-macro {best_row['macro_f1']:.3f}, "
      f"exactitude {best_row['accuracy']:.3f}, perte {best_row['loss']:.3f}")
print("Règle :", rule)

# %% [tests] id=test_saved_results points=1
"""Vérifie results.json et best.json : ils décrivent les modèles sauvegardés et suivent la règle."""
_saved_best = run.load_json("best")
if not isinstance(_saved_best, dict) or not isinstance(_saved_best.get("name"), str) or not isinstance(_saved_best.get("rule"), str):
    checks.fail("best.json doit contenir {\"name\": ..., \"rule\": ...} (deux chaînes).")
if _saved_best["name"] not in model_names:
    checks.fail(f"best.json désigne {_saved_best['name']!r}, qui n'est pas un modèle sauvegardé.")
if not isinstance(best_name, str) or str(best_name) != _saved_best["name"]:
    checks.fail("best.json ne désigne pas best_name : réexécutez la cellule précédente.")
_saved_results = run.load_json("results")
if not isinstance(_saved_results, list) or len(_saved_results) != len(model_names):
    checks.fail("results.json doit contenir une ligne par modèle sauvegardé : réexécutez la cellule précédente.")
if sorted(str(row.get("model")) for row in _saved_results) != sorted(str(name) for name in table["model"].tolist()):
    checks.fail("results.json ne contient pas les modèles du tableau : réexécutez la cellule précédente.")
print(f"results.json et best.json : OK (meilleur : {_saved_best['name']})")
### BEGIN HIDDEN TESTS
import json as _json

import pandas as _pd
from paysages import checks as _checks
from paysages.data import load_split_arrays as _load_split_arrays
from paysages.runs import RunFolder as _RunFolder
from paysages.settings import get_settings as _get_settings
from solutions.comparison import choose_best as _reference_choose, results_table as _reference_table

_settings_h = _get_settings()
_run_h = _RunFolder(_settings_h.run_dir)
_data_h = _load_split_arrays(_settings_h)
_expected_table = _reference_table(_run_h, _run_h.model_names(), _data_h, 64)
_expected = {row["model"]: row for row in _expected_table.to_dict(orient="records")}

# results.json: read from disk as plain JSON, one row per saved model, numbers recomputed.
_file_rows = _json.loads(_run_h.json_path("results").read_text(encoding="utf-8"))
if not isinstance(_file_rows, list):
    raise AssertionError("results.json doit être une liste de lignes.")
_seen = set()
for _row in _file_rows:
    if not isinstance(_row, dict) or not isinstance(_row.get("model"), str):
        raise AssertionError("Chaque ligne de results.json doit être un objet avec un champ model.")
    _name = _row["model"]
    if _name not in _expected or _name in _seen:
        raise AssertionError(f"results.json contient une ligne inattendue ou en double ({_name}).")
    _seen.add(_name)
    for _key in ("accuracy", "macro_f1", "loss"):
        if abs(_checks.plain_float(_row.get(_key), _key) - _expected[_name][_key]) > 1e-3:
            raise AssertionError(f"results.json : {_key} de {_name} ne correspond pas au modèle sauvegardé.")
if _seen != set(_expected):
    raise AssertionError("results.json doit contenir tous les modèles sauvegardés.")

# best.json and best_name: the rule applied to the recomputed numbers (ties within rounding accepted).
_file_best = _json.loads(_run_h.json_path("best").read_text(encoding="utf-8"))
if not isinstance(_file_best, dict) or not isinstance(_file_best.get("name"), str):
    raise AssertionError("best.json doit contenir le nom du modèle retenu.")
if not isinstance(best_name, str) or str.__getitem__(best_name, slice(None)) != _file_best["name"]:
    raise AssertionError("best_name et best.json doivent désigner le même modèle.")
_reference_best = _reference_choose(_expected_table)
_chosen = _file_best["name"]
if _chosen not in _expected:
    raise AssertionError("best.json désigne un modèle qui n'est pas sauvegardé.")
if _chosen != _reference_best:
    _gap_f1 = _expected[_reference_best]["macro_f1"] - _expected[_chosen]["macro_f1"]
    _gap_loss = _expected[_chosen]["loss"] - _expected[_reference_best]["loss"]
    if _gap_f1 > 1e-6 or (abs(_gap_f1) <= 1e-6 and _gap_loss > 1e-4):
        raise AssertionError(
            f"Selon la règle (F1-macro, puis perte, puis paramètres), le meilleur modèle est {_reference_best}, pas {_chosen}."
        )
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Visualiser : performance, coût et sur-apprentissage
#
# Le graphique de gauche compare les F1-macro et exactitudes ; celui de droite met en regard
# la performance et le **coût** (nombre de paramètres, échelle logarithmique) : un modèle en
# haut à gauche est à la fois bon et économe.

# %% [code] id=plot_05
families = sorted(table["family"].unique())
family_colours = {family: f"C{index}" for index, family in enumerate(families)}
figure, (left_axis, right_axis) = plt.subplots(1, 2, figsize=(13, 4.5))
positions = np.arange(len(table))
left_axis.bar(positions - 0.2, table["macro_f1"], width=0.4,
              color=[family_colours[family] for family in table["family"]], label="F1-macro")
left_axis.bar(positions + 0.2, table["accuracy"], width=0.4, color="lightgrey", label="exactitude")
left_axis.set_xticks(positions, table["model"], rotation=40, ha="right")
left_axis.set_ylim(0, 1)
left_axis.set_ylabel("score de validation")
left_axis.set_title("Scores de validation (couleur : famille)")
left_axis.legend(fontsize="small")
for family in families:
    chosen = table["family"] == family
    right_axis.scatter(table.loc[chosen, "num_params"], table.loc[chosen, "macro_f1"], s=60,
                       color=family_colours[family], label=family)
for _, row in table.iterrows():
    right_axis.annotate(row["model"], (row["num_params"], row["macro_f1"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
right_axis.set_xscale("log")
right_axis.set_xlabel("nombre de paramètres (échelle log)")
right_axis.set_ylabel("F1-macro de validation")
right_axis.set_title("Performance et coût")
right_axis.legend(fontsize="small")
figure.tight_layout()
figure.savefig(run.figure_path("05_comparaison.png"), dpi=300)
plt.show()

# %% [markdown]
# Le sur-apprentissage se lit dans les historiques : à la dernière époque, quel écart entre
# l'exactitude d'entraînement et celle de validation ? À quelle époque la perte de validation
# était-elle la plus basse ? (Pour `reg_augmentation`, l'exactitude d'entraînement est mesurée
# sur des images transformées : l'écart y est moins directement comparable.)

# %% [code] id=overfitting_05
diagnostics = []
for name in table["model"]:
    try:
        history = run.load_history(name)
    except PrerequisiteError:
        history = {}
    train_accuracy = history.get("accuracy", [np.nan])[-1]
    validation_accuracy = history.get("val_accuracy", [np.nan])[-1]
    validation_losses = history.get("val_loss", [])
    diagnostics.append({
        "model": name,
        "train_accuracy": train_accuracy,
        "val_accuracy": validation_accuracy,
        "gap": train_accuracy - validation_accuracy,
        "best_val_loss_epoch": int(np.argmin(validation_losses)) + 1 if validation_losses else None,
        "epochs": len(validation_losses),
    })
diagnostics = pd.DataFrame(diagnostics)
display(diagnostics.style.format({"train_accuracy": "{:.3f}", "val_accuracy": "{:.3f}", "gap": "{:+.3f}"}, na_rep="—").hide(axis="index"))

# %% [markdown]
# ## 7. Analyse
#
# Répondez dans la cellule ci-dessous, chiffres du tableau à l'appui (une dizaine de lignes) :
#
# 1. Comparez les **trois démarches** (02 CNN, 03 régularisation, 04 transfert) : laquelle
#    l'emporte selon la règle, et de combien ? L'écart est-il grand devant ce que change une
#    ou deux images mal classées sur ce jeu de validation ?
# 2. Parmi les techniques du notebook 03, lesquelles réduisent l'écart train/validation ?
#    Lesquelles améliorent vraiment le F1-macro, et lesquelles ne font que déplacer le
#    problème ?
# 3. Mettez la performance en regard du **coût** : paramètres (entraînables ou non), durée
#    d'entraînement. Le gain du meilleur modèle justifie-t-il son coût ?
# 4. Le classement par exactitude est-il le même que par F1-macro ? Qu'en concluez-vous sur la
#    classe ou les classes que certains modèles négligent ?

# %% [answer] id=analysis_05 points=8
# Réponse de référence (correcteur) — les chiffres varient d'un run à l'autre ; on attend une
# comparaison argumentée, pas une exactitude brute :
#
# - en mode complet (poids ImageNet), le **transfert** l'emporte nettement (F1-macro souvent
#   supérieur de 10 à 20 points) : le réseau pré-entraîné apporte des caractéristiques apprises
#   sur 1,2 million d'images, alors que le CNN maison apprend tout avec quelques milliers ;
#   le réglage fin (`transfer_finetuned`) gagne encore un peu si le taux d'apprentissage est
#   faible. En mode rapide hors ligne, la base est celle du kit (d'autres scènes synthétiques,
#   pas ImageNet) : le transfert n'y a qu'une petite avance, l'étudiant doit le dire ;
# - la **régularisation** réduit l'écart train/validation (dropout, augmentation, L2) ; l'arrêt
#   précoce évite surtout de dégrader le modèle ; la normalisation par lots accélère la
#   convergence. Un gain de F1 de l'ordre de 0,01 à 0,02 sur ~800 images de validation
#   (quelques images) n'est pas significatif ;
# - **coût** : MobileNetV2 a plus de paramètres au total mais très peu d'entraînables quand la
#   base est gelée ; le temps d'entraînement par époque est plus long ; le gain justifie
#   généralement ce coût ; le CNN régularisé reste le meilleur compromis si l'on doit
#   entraîner sans GPU ;
# - si le classement change entre exactitude et F1-macro, c'est qu'un modèle néglige une petite
#   classe (souvent `city` ou `ocean`, confondue avec `lake`) : d'où la règle sur le F1-macro.

# %% [code] id=finish_05
#| include: finish
