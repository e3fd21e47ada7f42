"""The defence pack: slides and PDF built from a run folder, every section present."""

import base64
import io
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from pypdf import PdfReader

from paysages.defence import SECTIONS, SLIDE_DPI, SLIDE_FIGURE_INCHES, build_defence_pack, suggested_outline
from paysages.errors import PrerequisiteError
from paysages.runs import RunFolder

FIGURE_NAMES = ("02_courbes_cnn.png", "03_courbes_regularisation.png", "05_comparaison.png",
                "06_matrice_confusion.png", "06_erreurs.png", "07_tsne.png", "08_voisins.png")


def _fake_run(tmp_path, names=FIGURE_NAMES):
    run = RunFolder(tmp_path / "run")
    for index, name in enumerate(names):
        figure, axis = plt.subplots(figsize=(4, 3))
        axis.plot([0, 1, 2], [index, index + 1, index])
        axis.set_title(name)
        figure.savefig(run.figure_path(name), dpi=60)
        plt.close(figure)
    run.save_json("results", [
        {"model": "transfer_finetuned", "accuracy": 0.81, "macro_f1": 0.8, "loss": 0.6, "num_params": 2300000},
        {"model": "cnn", "accuracy": 0.62, "macro_f1": 0.6, "loss": 1.1, "num_params": 110000},
    ])
    run.save_json("best", {"name": "transfer_finetuned", "rule": "macro-F1 maximal"})
    return run


def test_pack_has_every_section_in_slides_and_pdf(tmp_path):
    """Do the deck and the PDF both contain every section, the outline and print-resolution figures?"""
    run = _fake_run(tmp_path)
    pack = build_defence_pack(run.path, tmp_path / "pack", student="Camille Martin")
    assert pack.slides.name.endswith(".slides.html") and pack.missing == []
    html = pack.slides.read_text(encoding="utf-8")
    pdf_text = "\n".join(page.extract_text() for page in PdfReader(pack.pdf).pages)
    for section in SECTIONS:
        assert section.title in html, section.title
        assert section.title in pdf_text, section.title
    assert "Plan suggéré (15 minutes)" in html and "Plan suggéré (15 minutes)" in pdf_text
    assert "Camille Martin" in pdf_text and "reveal" in html.lower()
    assert sum(minutes for _, minutes in suggested_outline()) == pytest.approx(15.0)
    table_png = tmp_path / "pack" / "figures" / "05_tableau_resultats.png"
    assert table_png in pack.figures
    width = plt.imread(table_png).shape[1]
    assert width >= 2000, "figures must be exported at print resolution"


def test_missing_sections_are_named_with_their_notebook(tmp_path):
    """Does a run folder without t-SNE or neighbours figures produce a pack that says what to run?"""
    run = _fake_run(tmp_path, names=("02_courbes_cnn.png", "06_matrice_confusion.png", "06_erreurs.png"))
    pack = build_defence_pack(run.path, tmp_path / "pack")
    assert any("07_tsne" in line for line in pack.missing)
    assert any("08_voisins" in line for line in pack.missing)
    assert "exécutez le notebook 07_tsne.ipynb" in pack.slides.read_text(encoding="utf-8")
    saved = json.loads((tmp_path / "pack" / "soutenance.json").read_text(encoding="utf-8"))
    assert saved["missing"] == pack.missing


def test_empty_run_folder_is_refused_in_french(tmp_path):
    """Is a run folder with nothing to present refused with a French message?"""
    (tmp_path / "run").mkdir()
    with pytest.raises(PrerequisiteError, match="exécutez d'abord"):
        build_defence_pack(tmp_path / "run", tmp_path / "pack")


def test_the_deck_names_the_students_own_choices(tmp_path):
    """Do the curves' talking points name the student's extra variants, improved model and transfer base?"""
    run = _fake_run(tmp_path)
    for name, meta in (("reg_baseline", {"variant": "baseline"}), ("reg_dropout_strong", {"variant": "dropout_strong"}),
                       ("reg_improved", {"variant": "improved"}),
                       ("transfer_finetuned", {"base_architecture": "EfficientNetB0", "fine_tuned_layers": 20})):
        run.model_path(name).parent.mkdir(parents=True, exist_ok=True)
        run.model_path(name).write_bytes(b"")
        run.meta_path(name).write_text(json.dumps(meta), encoding="utf-8")
    html = build_defence_pack(run.path, tmp_path / "pack").slides.read_text(encoding="utf-8")
    assert "Vos expériences en plus : dropout_strong." in html
    assert "Votre modèle amélioré (reg_improved)" in html
    assert "Votre base de transfert : EfficientNetB0, 20 couches dégelées au réglage fin." in html
    # A run without them keeps the general points only.
    plain = build_defence_pack(_fake_run(tmp_path / "other").path, tmp_path / "pack2").slides.read_text(encoding="utf-8")
    assert "Votre base de transfert" not in plain and "Vos expériences en plus" not in plain


def test_notebook_figures_are_kept_as_saved_and_scaled_down_for_the_deck(tmp_path):
    """Are the notebooks' own PNGs copied unchanged, and shown in the deck no wider than a slide?"""
    run = _fake_run(tmp_path)
    wide = run.figure_path("07_tsne.png")
    figure, axis = plt.subplots(figsize=(20, 5))
    axis.plot([0, 1], [0, 1])
    figure.savefig(wide, dpi=300)
    plt.close(figure)
    pack = build_defence_pack(run.path, tmp_path / "pack")
    assert (tmp_path / "pack" / "figures" / "07_tsne.png").read_bytes() == wide.read_bytes()
    html = pack.slides.read_text(encoding="utf-8")
    widths = [plt.imread(io.BytesIO(base64.b64decode(encoded))).shape[1]
              for encoded in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]
    assert len(widths) == len(FIGURE_NAMES) + 1  # The results table is a figure too.
    assert max(widths) == SLIDE_FIGURE_INCHES * SLIDE_DPI  # The 6000-pixel-wide figure, scaled down.


def test_an_unreadable_figure_is_named_in_french(tmp_path):
    """Does a corrupt PNG in the run folder's figures give a French message naming that file?"""
    run = _fake_run(tmp_path)
    run.figure_path("08_voisins.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    with pytest.raises(PrerequisiteError, match=r"La figure .*08_voisins\.png est illisible"):
        build_defence_pack(run.path, tmp_path / "pack")
