# %% [markdown]
# # 11 — Préparer la soutenance (bonus)
#
# **Objectifs**
#
# - tirer de vos résultats les **messages clés** d'une soutenance de 15 minutes ;
# - construire automatiquement un **dossier de soutenance** à partir de votre dossier de run :
#   un diaporama (`soutenance.slides.html`, reveal.js) et un PDF (`soutenance.pdf`), avec le
#   tableau des résultats, les courbes d'apprentissage, la matrice de confusion, la galerie
#   d'erreurs, le t-SNE et les plus proches voisins, et les figures à la résolution d'impression ;
# - rédiger votre plan.
#
# Le jury note la **démarche**, les **comparaisons** et l'**analyse**, pas l'exactitude brute :
# chaque diapositive doit répondre à une question (« la régularisation aide-t-elle ? », « le
# transfert vaut-il son coût ? »), chiffres à l'appui.

# %% [code] id=bootstrap_11
#| include: bootstrap

# %% [free]
#| include: drive_choice

# %% [code] id=setup_11
import numpy as np
import pandas as pd

from paysages import checks
from paysages.defence import build_defence_pack, suggested_outline
from paysages.notebook import start

# MODE and USE_DRIVE come from the settings cell above (defaults if it was deleted).
context = start("11_soutenance", use_drive=globals().get("USE_DRIVE", True), mode=globals().get("MODE"))
settings, run = context.settings, context.run
records = run.load_json("results")
best = run.load_json("best")
display(pd.DataFrame(records))

# %% [markdown]
# ## 1. Les messages clés
#
# Écrivez `key_messages(records, best_name)` (voir sa docstring) : le meilleur modèle et son
# macro-F1, le nombre de modèles comparés, le **gain de la régularisation** (meilleure variante
# `reg_*` moins `reg_baseline`, sans la pondération des classes `reg_class_weights`, qui répond
# au déséquilibre des classes et non au sur-apprentissage) et le **gain du transfert** (meilleur modèle `transfer_*` moins
# `cnn`), en macro-F1 de validation. Ces nombres viennent du tableau du notebook 05 :
# ne les recopiez pas à la main.

# %% [solution] id=key_messages
#| solution: solutions.defence.key_messages

# %% [tests] id=test_key_messages points=2
"""Vérifie que key_messages lit les gains de macro-F1 dans un tableau de résultats."""
_records = [
    {"model": "cnn", "macro_f1": 0.50}, {"model": "reg_baseline", "macro_f1": 0.52},
    {"model": "reg_dropout", "macro_f1": 0.58}, {"model": "reg_l2", "macro_f1": 0.55},
    {"model": "reg_class_weights", "macro_f1": 0.61},
    {"model": "transfer_frozen", "macro_f1": 0.70}, {"model": "transfer_finetuned", "macro_f1": 0.75},
]
_messages = key_messages(_records, "transfer_finetuned")
if not isinstance(_messages, dict):
    checks.fail("key_messages doit renvoyer un dictionnaire.")
if abs(checks.plain_float(_messages.get("regularisation_gain"), "regularisation_gain") - 0.06) > 1e-9:
    checks.fail("Le gain de régularisation est la meilleure variante reg_* (hors reg_class_weights) moins reg_baseline (ici 0,58 − 0,52).")
if abs(checks.plain_float(_messages.get("transfer_gain"), "transfer_gain") - 0.25) > 1e-9:
    checks.fail("Le gain du transfert est le meilleur modèle transfer_* moins cnn (ici 0,75 − 0,50).")
print("key_messages : OK")
### BEGIN HIDDEN TESTS
# Graded outside this kernel (autograde/verdicts/nb11.py): key_messages is called on results tables the
# grader made up for this run and on the run's own results.json and best.json, read from the disk; only
# the messages are exported as plain values. Nothing here decides the grade.
from paysages import probes as _probes


def _exported_messages(records_h, best_name_h):
    try:
        _value = key_messages(records_h, best_name_h)
    except Exception as _error:
        return {"error": _probes.type_name(_error)}
    if not isinstance(_value, dict):
        return {"messages": _probes.type_name(_value)}
    return {"messages": {str(_key): _probes.plain_name(_item) if isinstance(_item, str) else _probes.plain_number(_item)
                         for _key, _item in _value.items()}}


_probe = _probes.load_probes("test_key_messages")
if _probe is not None:
    from paysages.runs import RunFolder as _RunFolder
    from paysages.settings import get_settings as _get_settings

    _export_h = {"results": [_exported_messages(_case["records"], _case["best_name"]) for _case in _probe["cases"]]}
    try:
        _records_h = _RunFolder(_get_settings().run_dir).load_json("results")
        _best_h = _probes.saved_best_name()
        _export_h["run"] = {
            "records": [{"model": _probes.plain_name(_row.get("model")), "macro_f1": _probes.plain_number(_row.get("macro_f1"))}
                        for _row in _records_h],
            "best_name": _best_h, "result": _exported_messages(_records_h, _best_h)}
    except Exception as _error:
        _export_h["run"] = {"error": _probes.type_name(_error)}
    _probes.export_results("test_key_messages", _export_h)
### END HIDDEN TESTS

# %% [code] id=messages_11
messages = key_messages(records, best["name"])
for key, value in messages.items():
    print(f"{key:>22} : {value if not isinstance(value, float) else round(value, 3)}")
run.save_json("defence_messages", messages)

# %% [markdown]
# ## 2. Le dossier de soutenance
#
# La cellule suivante rassemble les figures que chaque notebook a enregistrées dans
# `figures/` et le tableau des résultats, puis écrit le diaporama et le PDF dans
# `soutenance/` de votre dossier de run. Une section manquante est signalée avec le notebook à
# exécuter. Ouvrez le fichier `.slides.html` dans un navigateur (touche `S` : notes, `F` :
# plein écran) ; le PDF sert de support imprimé ou de secours.

# %% [free]
STUDENT_NAME = ""  # Votre nom (ou celui du binôme), affiché sur la première page.

# %% [code] id=pack_11
pack = build_defence_pack(run.path, run.path / "soutenance", student=STUDENT_NAME)
print(f"Diaporama : {pack.slides}")
print(f"PDF       : {pack.pdf}")
print(f"Figures à 300 dpi : {len(pack.figures)} dans {pack.figures[0].parent if pack.figures else '-'}")
for line in pack.missing:
    print(f"Section manquante — {line}")
print("\nPlan suggéré (15 minutes) :")
for title, minutes in suggested_outline():
    print(f"  {minutes:>4g} min  {title}")

# %% [markdown]
# ## 3. Votre plan
#
# En vous appuyant sur le plan suggéré et sur les messages clés ci-dessus, écrivez votre plan de
# soutenance : pour chaque partie, **la question posée, la figure montrée et la réponse en une
# phrase chiffrée**. Prévoyez une réponse aux questions probables du jury : pourquoi cette
# règle de choix du meilleur modèle ? pourquoi ce réseau pré-entraîné ? que feriez-vous avec
# plus de données ?

# %% [answer] id=plan_11 points=3
# Réponse de référence (correcteur) : un plan en 6 à 8 parties minutées (total 15 min), chaque
# partie avec une question, une figure et une réponse chiffrée tirée des résultats (ex. « le
# dropout gagne +0,06 de macro-F1 sur la base ; le transfert +0,25 sur notre CNN, pour 20 fois
# plus de paramètres »), et des réponses préparées aux questions du jury.

# %% [code] id=finish_11
#| include: finish
