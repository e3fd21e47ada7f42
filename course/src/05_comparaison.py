# %% [markdown]
# # 05 — Comparer les réseaux des notebooks 02, 03 et 04
#
# **Objectifs**
#
# - évaluer **tous** les modèles sauvegardés sur le **même** jeu de validation, à partir des
#   fichiers de modèles eux-mêmes (et non des journaux d'entraînement) ;
# - comprendre pourquoi l'exactitude (*accuracy*) ne suffit pas quand les classes sont
#   déséquilibrées, et ce qu'apportent le **F1-macro** et la **perte** (entropie croisée) ;
# - énoncer **votre** règle de choix du meilleur modèle, la coder, et la justifier ;
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
# Graded outside this kernel (autograde/verdicts/nb05.py): classification_scores is called on the
# grader's probes of this run, and only its plain results are exported; nothing here decides the grade.
import numpy as _np
from paysages import probes as _probes

_probe = _probes.load_probes("test_classification_scores")
if _probe is not None:
    _results = []
    for _case in _probe["cases"]:
        try:
            _value = classification_scores(_np.asarray(_case["labels"], dtype=_np.int64),
                                           _np.asarray(_case["probabilities"], dtype=_np.float64))
            _result = {"type": _probes.type_name(_value)}
            if type(_value) is dict:
                _result["keys"] = sorted(_key if type(_key) is str else repr(type(_key)) for _key in _value)
                _result["values"] = {_key: _probes.plain_number(_value[_key])
                                     for _key in ("accuracy", "macro_f1", "loss") if _key in _value}
        except Exception as _error:
            _result = {"error": _probes.type_name(_error)}
        _results.append(_result)
    _probes.export_results("test_classification_scores", {"results": _results})
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
# Graded outside this kernel (autograde/verdicts/nb05.py): model_family is called on the grader's
# names of this run and on values that are not text; only its plain results are exported.
from paysages import probes as _probes

_probe = _probes.load_probes("test_model_family")
if _probe is not None:
    _results, _refusals = [], []
    for _name in _probe["names"]:
        try:
            _value = model_family(_name)
            _results.append({"value": _probes.plain_name(_value)})
        except Exception as _error:
            _results.append({"error": _probes.type_name(_error)})
    for _value in _probe["not_text"]:
        try:
            model_family(_value)
            _refusals.append({"value_error": False})
        except ValueError:
            _refusals.append({"value_error": True})
        except Exception as _error:
            _refusals.append({"error": _probes.type_name(_error)})
    _probes.export_results("test_model_family", {"results": _results, "refusals": _refusals})
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Votre règle de choix, énoncée avant de regarder les chiffres
#
# Choisir « le meilleur modèle » après avoir regardé le tableau, avec le critère qui arrange,
# c'est se raconter une histoire. C'est donc **vous** qui fixez la règle, **avant** de voir les
# chiffres, et vous la justifierez. Plusieurs règles sont défendables (le F1-macro parce que les
# classes sont déséquilibrées, l'exactitude, la perte, un compromis avec le coût...) : ce qui
# est évalué, c'est qu'elle soit **argumentée** et **appliquée de façon cohérente**.
#
# Vous l'écrivez sous forme de code : `selection_key(row)` reçoit **une ligne** du tableau des
# résultats (une `Series` pandas, comme `table.iloc[0]` : `row["macro_f1"]`, `row["loss"]`...)
# et renvoie un **tuple** ; le modèle dont la clé est la **plus petite** gagne, comme avec
# `min` ou `sorted` en Python. Les tuples se comparent élément par élément : le deuxième
# élément ne compte qu'en cas d'égalité sur le premier, et ainsi de suite. Pour préférer la
# valeur **la plus haute** d'une mesure, mettez son **opposé**. Par exemple, la clé
# `(row["loss"], -row["accuracy"])` préfère la perte la plus basse puis, à perte égale,
# l'exactitude la plus haute.
#
# Les contraintes (les tests les vérifient) :
#
# - la règle ne lit **que la ligne reçue**, et dans cette ligne que les mesures de validation du
#   tableau : `accuracy`, `macro_f1`, `loss`, `num_params`, `training_seconds` et `epochs`.
#   Jamais un jeu de test, jamais l'exactitude d'entraînement (elle mesure ce que le modèle a
#   appris par cœur), jamais le tableau entier ni une variable du notebook ;
# - **aucun nom de modèle écrit dans le code** (`if row["model"] == "transfer_finetuned"`, c'est
#   choisir le gagnant d'avance). Le nom `row["model"]` ne peut servir qu'en **dernier** élément,
#   pour départager des ex æquo par ordre alphabétique ;
# - la règle départage **toutes** les égalités : le choix ne doit jamais dépendre de l'ordre des
#   lignes ;
# - à coût égal (mêmes paramètres, durée et époques), un modèle meilleur sur toutes les mesures
#   de validation doit passer devant : attention au **sens** de chaque critère ;
# - `training_seconds` peut être vide (NaN) quand une durée n'a pas été mesurée : un NaN ne se
#   compare à rien, évitez cette colonne ou remplacez les NaN.
#
# Écrivez aussi `rule`, une phrase en français qui énonce votre règle : elle sera enregistrée
# dans `best.json` et affichée par les notebooks suivants et la soutenance.

# %% [solution] id=selection_rule
#| solution: solutions.comparison.selection_key


# Votre règle en une phrase, en français (elle sera enregistrée dans best.json) :
### BEGIN SOLUTION
rule = (
    "F1-macro de validation le plus haut (les classes sont déséquilibrées) ; à égalité, perte de "
    "validation la plus basse, puis le moins de paramètres, puis l'ordre alphabétique du nom."
)
### END SOLUTION

# %% [tests] id=test_selection_rule points=1
"""Vérifie que votre règle est une fonction de la ligne, qui ne lit que des mesures de validation."""
if not isinstance(rule, str) or len(str(rule).strip()) < 20:
    checks.fail("rule doit être une phrase (str) qui énonce votre règle de choix, en français.")
if not callable(selection_key):
    checks.fail(
        "selection_key doit être une fonction de la ligne (def selection_key(row): ...), pas une liste "
        "de colonnes ni une valeur."
    )
_measure_names = ["accuracy", "macro_f1", "loss", "num_params", "training_seconds", "epochs"]


def _example_row(name, **changes):
    """One row as selection_key receives it: the name and the validation measures only."""
    values = {"accuracy": 0.80, "macro_f1": 0.70, "loss": 0.60, "num_params": 50_000, "training_seconds": 90.0, "epochs": 8}
    values.update(changes)
    return pd.Series({"model": name, **values}, dtype=object)


_good = _example_row("modele_a", accuracy=0.90, macro_f1=0.85, loss=0.30)
_key_good = checks.sort_key_of(selection_key, _good)
if checks.sort_key_of(selection_key, _good.copy()) != _key_good:
    checks.fail("selection_key ne donne pas deux fois la même clé pour la même ligne : elle ne doit dépendre que de la ligne.")
for _name in sorted(set(model_names) | {"cnn", "reg_dropout", "transfer_frozen", "transfer_finetuned"}):
    _key_bad = checks.sort_key_of(selection_key, _example_row(_name))
    try:
        _better_first = _key_good < _key_bad
        _same = _key_good == _key_bad
    except TypeError:
        checks.fail("Les clés de selection_key doivent avoir toujours la même forme (des nombres, le nom éventuellement en dernier).")
    if _same:
        checks.fail(
            "selection_key donne la même clé à deux modèles aux mesures différentes : elle doit être calculée "
            "à partir des mesures de la ligne reçue (row[...]), pas d'une valeur fixe ni du tableau entier."
        )
    if not _better_first:
        checks.fail(
            f"À coût égal, le modèle meilleur sur toutes les mesures (F1-macro, exactitude, perte) doit avoir la "
            f"plus petite clé ; selection_key lui préfère « {_name} ». Vérifiez le sens de chaque critère "
            "(la plus petite clé gagne : -row[\"macro_f1\"] pour préférer le F1 le plus haut) et qu'aucun nom "
            "de modèle n'est écrit dans la règle."
        )
print("selection_key :", _key_good, "pour une ligne d'exemple")
print("Règle :", rule)
print("selection_key et rule : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb05.py): selection_key is called on rows the grader
# made up, under the course's model names and the run's own (read from the disk, never from the
# notebook's variables); only the keys and the sentence rule are exported.
from paysages import probes as _probes

_probe = _probes.load_probes("test_selection_rule")
if _probe is not None:
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _export = {"rule": _probes.plain_name(rule)}
    try:
        _own_names = [_name for _name in sorted(_RunFolder(_get_settings().run_dir).model_names())
                      if _name not in _probe["course_names"]]
        _names = (list(_probe["course_names"]) + _own_names)[:len(_probe["templates"])]
        _results = []
        for _name, _template in zip(_names, _probe["templates"]):
            _other = _template["names"][-1]
            _pair = _probes.sort_keys(selection_key, [
                {"model": _other, **_template["better"]}, {"model": _name, **_template["worse"]},
                {"model": _name, **_template["better"]}, {"model": _other, **_template["worse"]},
                {"model": _other, **_template["better"]},
            ])
            _common = _probes.sort_keys(selection_key, [{"model": _probe["common_name"], **_measures}
                                                        for _measures in _template["rows"]])
            _placed = []
            for _position in range(len(_template["rows"])):
                _row_names = list(_template["names"][:len(_template["rows"])])
                _row_names[_position] = _name
                _placed.append(_probes.sort_keys(selection_key, [{"model": _row_name, **_measures} for _row_name, _measures
                                                                 in zip(_row_names, _template["rows"])]))
            _results.append({"pair": _pair, "common": _common, "placed": _placed})
        _export.update(names=_names, results=_results)
    except Exception as _error:
        _export["error"] = _probes.type_name(_error)
    _probes.export_results("test_selection_rule", _export)
### END HIDDEN TESTS

# %% [markdown]
# **Justifiez votre règle** dans la cellule ci-dessous (quelques lignes) :
#
# 1. Pourquoi ce **premier critère** ? Les classes sont déséquilibrées (notebook 00) : que
#    deviendrait le choix avec l'exactitude seule, avec le F1-macro ?
# 2. Quelle place donnez-vous au **coût** (paramètres, durée d'entraînement), et pourquoi ?
# 3. Comment départagez-vous les **égalités**, et pourquoi faut-il fixer la règle **avant** de
#    regarder les chiffres ? Un écart de 0,005 de F1-macro est-il une vraie différence ?

# %% [answer] id=rule_answer_05 points=2
# Réponse de référence (correcteur) — toute règle cohérente avec le code de selection_key et
# avec la phrase rule est acceptée ; on note l'argumentation, jamais la règle elle-même :
#
# - premier critère justifié par le déséquilibre des classes : le F1-macro donne le même poids à
#   chaque classe, l'exactitude favorise les grandes classes (un modèle qui néglige `city` ou
#   `ocean` perd peu d'exactitude) ; une règle fondée sur l'exactitude ou la perte est acceptée
#   si l'étudiant en dit la limite ;
# - le coût (paramètres, durée) est discuté : critère de départage, ou compromis assumé
#   (un modèle bien plus léger pour un score à peine inférieur) ;
# - les égalités sont départagées de façon déterministe (nom en dernier recours) ; fixer la règle
#   avant évite de choisir le critère qui arrange ; un écart de l'ordre de quelques images sur
#   le jeu de validation n'est pas significatif, et le score du modèle retenu est un peu
#   optimiste (il a gagné une compétition sur ces images-là).
#
# Barème indicatif : 1 point pour le premier critère argumenté (déséquilibre des classes), 1 point
# pour le coût et les égalités ; 0 si la justification contredit le code.

# %% [markdown]
# ### Appliquer la règle
#
# Écrivez `sort_results(table)`, qui trie un tableau selon `selection_key` (meilleur modèle en
# tête, index remis à 0, 1, 2...), puis `choose_best(table)`, qui renvoie le **nom** (`str`) du
# meilleur modèle. Ne supposez pas que le tableau reçu est déjà trié, et n'écrivez aucun nom de
# modèle : ces fonctions seront aussi essayées sur des tableaux inventés. Astuces :
# `table.iloc[position]` est la ligne numéro `position` ; `sorted(range(len(table)), key=...)`
# trie des positions selon une fonction ; `table.iloc[liste_de_positions]` réordonne les lignes.
#
# Attention : on choisit sur le jeu de validation, donc le score du modèle retenu est
# **légèrement optimiste** (il a « gagné » une compétition sur ces images-là). Un jeu de test
# jamais utilisé pour choisir donnerait une estimation honnête.

# %% [solution] id=sort_results
#| solution: solutions.comparison.sort_results

# %% [solution] id=choose_best
#| solution: solutions.comparison.choose_best

# %% [tests] id=test_choose_best points=1
"""Vérifie que choose_best et sort_results appliquent votre selection_key, sans nom de modèle écrit en dur."""
_table = pd.DataFrame({
    "model": ["modele_b", "modele_a", "modele_c", "modele_d"],
    "family": ["autre"] * 4,
    "accuracy": [0.90, 0.85, 0.86, 0.55],
    "macro_f1": [0.70, 0.80, 0.75, 0.50],
    "loss": [0.40, 0.50, 0.30, 1.20],
    "num_params": [100, 100, 50, 20],
    "training_seconds": [30.0, 60.0, 45.0, 10.0],
    "epochs": [5, 8, 6, 3],
}, index=[7, 3, 5, 1])
_keys = {str(row["model"]): checks.sort_key_of(selection_key, row) for _, row in _table.iterrows()}
_expected_order = sorted(_keys, key=_keys.__getitem__)
_got = choose_best(_table.copy())
if not isinstance(_got, str):
    checks.fail(f"choose_best doit renvoyer le nom du modèle (str), pas {type(_got).__name__}.")
if str(_got) not in _keys:
    checks.fail(
        f"choose_best a renvoyé {_got!r}, qui n'est pas dans le tableau reçu : appliquez selection_key aux "
        "lignes de ce tableau, sans écrire de nom de modèle ni lire la variable table du notebook."
    )
if _keys[str(_got)] != _keys[_expected_order[0]]:
    checks.fail(
        f"Selon votre selection_key, le meilleur modèle de ce tableau est {_expected_order[0]!r}, choose_best a "
        f"renvoyé {_got!r} : choose_best doit appliquer la règle, pas la recopier à la main."
    )
if str(choose_best(_table.iloc[::-1].copy())) != str(_got):
    checks.fail("choose_best change d'avis quand on inverse l'ordre des lignes : ne supposez pas le tableau trié.")
_sorted = sort_results(_table.copy())
if not isinstance(_sorted, pd.DataFrame) or [str(name) for name in _sorted["model"]] != _expected_order:
    checks.fail(f"sort_results doit ranger les lignes selon selection_key (plus petite clé en tête) : {_expected_order}.")
if [int(position) for position in _sorted.index] != list(range(len(_table))):
    checks.fail("sort_results doit remettre l'index à 0, 1, 2... (reset_index(drop=True)).")
_twins = pd.concat([_table.iloc[[0]], _table.iloc[[0]]]).reset_index(drop=True)
_twins["model"] = ["jumeau_2", "jumeau_1"]
if str(choose_best(_twins.copy())) != str(choose_best(_twins.iloc[::-1].copy())):
    checks.fail(
        "Deux modèles aux mesures identiques : choose_best dépend de l'ordre des lignes. Votre règle doit "
        "départager toutes les égalités (par exemple le nom, row[\"model\"], en dernier élément)."
    )
print("choose_best et sort_results : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb05.py): choose_best and sort_results are called on
# the grader's made-up tables, in several row orders; only the keys, names and orders are exported.
import pandas as _pd
from paysages import probes as _probes

_probe = _probes.load_probes("test_choose_best")
if _probe is not None:
    _results = []
    for _case in _probe["tables"]:
        _table_h = _pd.DataFrame(_case["rows"], index=_case["index"])
        _result = {"keys": _probes.sort_keys(selection_key, _case["rows"]), "orders": []}
        for _positions, _reset in zip(_case["orders"], _case["reset"]):
            _shuffled = _table_h.iloc[_positions].copy()
            if _reset:
                _shuffled = _shuffled.reset_index(drop=True)
            _outcome = {}
            try:
                _outcome["chosen"] = _probes.plain_name(choose_best(_shuffled.copy()))
            except Exception as _error:
                _outcome["chosen"] = {"error": _probes.type_name(_error)}
            try:
                _ordered = sort_results(_shuffled.copy())
                if isinstance(_ordered, _pd.DataFrame) and "model" in _ordered.columns:
                    _outcome["sorted"] = _probes.plain_strings(_pd.DataFrame.to_dict(_ordered, orient="list")["model"])
                else:
                    _outcome["sorted"] = {"type": _probes.type_name(_ordered)}
            except Exception as _error:
                _outcome["sorted"] = {"error": _probes.type_name(_error)}
            _result["orders"].append(_outcome)
        _results.append(_result)
    _probes.export_results("test_choose_best", {"results": _results})
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Le tableau des résultats
#
# Écrivez `results_table(run, model_names, data, batch_size)` : pour chaque modèle, chargez-le
# depuis le dossier de run, prédisez les probabilités du jeu de validation et calculez ses
# mesures avec **votre** `classification_scores`. Ajoutez sa famille, son nombre de paramètres
# (`model.count_params()`, compté sur le modèle chargé) et, depuis sa fiche
# (`run.model_meta(name)`), sa durée d'entraînement et son nombre d'époques. Renvoyez le tableau
# trié par `sort_results` (donc selon votre règle, meilleur modèle en tête).
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
_table_keys = [checks.sort_key_of(selection_key, row) for _, row in table.iterrows()]
if any(later < earlier for earlier, later in zip(_table_keys, _table_keys[1:])):
    checks.fail("Le tableau doit être trié selon votre règle (plus petite clé de selection_key en tête) : utilisez sort_results.")
print(f"Tableau : OK ({len(_names)} modèles)")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb05.py): the run's saved models and their records are
# exported from the disk with the table and the keys of its rows; the grader rebuilds each model with
# safe_mode=True, decodes the validation images itself and recomputes every score. Nothing here decides the grade.
import pandas as _pd
from paysages import probes as _probes

if _probes.load_probes("test_results_table") is not None:
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _run_h = _RunFolder(_get_settings().run_dir)
    _export_h = {"table": _probes.plain_table(table, {
        "model": "strings", "family": "strings", "accuracy": "floats", "macro_f1": "floats", "loss": "floats",
        "num_params": "floats", "training_seconds": "optional numbers", "epochs": "optional numbers"})}
    try:
        _export_h["keys"] = _probes.sort_keys(selection_key, _pd.DataFrame.to_dict(table, orient="records"))
    except Exception as _error:
        _export_h["keys"] = {"error": _probes.type_name(_error)}
    _meta_h = {}
    for _name in _run_h.model_names():
        try:
            _record = _run_h.model_meta(_name)
            _meta_h[_name] = {_key: _probes.plain_number(_record.get(_key)) for _key in ("training_seconds", "epochs")}
        except Exception as _error:
            _meta_h[_name] = {"error": _probes.type_name(_error)}
    _probes.export_run("test_results_table", _run_h.model_names(), meta=_meta_h, **_export_h)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Le meilleur modèle, et la sauvegarde des résultats
#
# On applique votre règle et on écrit deux fichiers dans le dossier de run : `results.json` (le
# tableau) et `best.json` (le nom du modèle retenu et votre phrase `rule`, que le notebook 06
# relira).

# %% [code] id=save_05
best_name = choose_best(table)
# Missing values (NaN) become null so that results.json stays valid JSON.
records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
run.save_json("results", records)
run.save_json("best", {"name": best_name, "rule": rule})
best_row = table[table["model"] == best_name].iloc[0]
print(f"Modèle retenu : {best_name} ({best_row['family']}) — F1-macro {best_row['macro_f1']:.3f}, "
      f"exactitude {best_row['accuracy']:.3f}, perte {best_row['loss']:.3f}")
print("Règle :", rule)

# %% [tests] id=test_saved_results points=1
"""Vérifie results.json et best.json : ils décrivent les modèles sauvegardés et suivent votre règle."""
_saved_best = run.load_json("best")
if not isinstance(_saved_best, dict) or not isinstance(_saved_best.get("name"), str) or not isinstance(_saved_best.get("rule"), str):
    checks.fail("best.json doit contenir {\"name\": ..., \"rule\": ...} (deux chaînes).")
if _saved_best["name"] not in model_names:
    checks.fail(f"best.json désigne {_saved_best['name']!r}, qui n'est pas un modèle sauvegardé.")
if not isinstance(best_name, str) or str(best_name) != _saved_best["name"]:
    checks.fail("best.json ne désigne pas best_name : réexécutez la cellule précédente.")
if not isinstance(rule, str) or str(rule) != _saved_best["rule"]:
    checks.fail("best.json n'enregistre pas votre phrase rule : réexécutez la cellule précédente.")
_saved_results = run.load_json("results")
if not isinstance(_saved_results, list) or len(_saved_results) != len(model_names):
    checks.fail("results.json doit contenir une ligne par modèle sauvegardé : réexécutez la cellule précédente.")
if sorted(str(row.get("model")) for row in _saved_results) != sorted(str(name) for name in table["model"].tolist()):
    checks.fail("results.json ne contient pas les modèles du tableau : réexécutez la cellule précédente.")
print(f"results.json et best.json : OK (meilleur : {_saved_best['name']})")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb05.py): results.json and best.json are exported as
# read from the disk, with the run's saved models and the keys of results.json's rows; the grader
# recomputes every score from the models. Nothing here decides the grade.
import json as _json

import pandas as _pd
from paysages import probes as _probes

if _probes.load_probes("test_saved_results") is not None:
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _run_h = _RunFolder(_get_settings().run_dir)
    _export_h = {"best_name": _probes.plain_name(best_name), "rule": _probes.plain_name(rule)}
    try:
        _export_h["results"] = _json.loads(_run_h.json_path("results").read_text(encoding="utf-8"))
        _export_h["best"] = _json.loads(_run_h.json_path("best").read_text(encoding="utf-8"))
        # A duration that was not measured (null) is an empty cell (NaN), as in the table.
        _export_h["keys"] = _probes.sort_keys(selection_key, [
            {"model": _row.get("model"), **{_key: float("nan") if _row.get(_key) is None else _row[_key]
                                            for _key in ("accuracy", "macro_f1", "loss", "num_params",
                                                         "training_seconds", "epochs")}}
            for _row in _export_h["results"]])
    except Exception as _error:
        _export_h["error"] = _probes.type_name(_error)
    _probes.export_run("test_saved_results", _run_h.model_names(), **_export_h)
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
#    l'emporte selon votre règle, et de combien ? L'écart est-il grand devant ce que change une
#    ou deux images mal classées sur ce jeu de validation ?
# 2. Parmi les techniques du notebook 03, lesquelles réduisent l'écart train/validation ?
#    Lesquelles améliorent vraiment le F1-macro, et lesquelles ne font que déplacer le
#    problème ?
# 3. Mettez la performance en regard du **coût** : paramètres (entraînables ou non), durée
#    d'entraînement. Le gain du meilleur modèle justifie-t-il son coût ?
# 4. Le classement par exactitude est-il le même que par F1-macro ? Qu'en concluez-vous sur la
#    classe ou les classes que certains modèles négligent ?

# %% [answer] id=analysis_05 points=7
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
#   classe (souvent `city` ou `ocean`, confondue avec `lake`) : d'où l'intérêt d'une règle fondée
#   sur le F1-macro ; l'étudiant relie ce constat à sa propre règle.

# %% [code] id=finish_05
#| include: finish
