"""The defence pack (soutenance): a slide deck and a PDF built from a student's own run folder.

Every course notebook saves its figures in ``<run folder>/figures/`` and its results in JSON.
:func:`build_defence_pack` gathers them, section by section, into

* ``soutenance.slides.html``: a self-contained reveal.js deck (:mod:`paysages.slides`) that
  shows as slides offline, in an exam room without network;
* ``soutenance.pdf``: the same content, one page per section (matplotlib, no LaTeX needed);
* ``figures/``: each figure at print resolution, ready for another slide tool: the notebooks'
  own PNG files as they saved them (at 300 dpi), and the results table drawn at 300 dpi.

It reads results; it never recomputes an exercise. Each figure is read once; the PDF and the
deck get copies scaled down with Pillow (the PDF at 150 dpi, the deck at 110 dpi on an
11-inch-wide page), never a figure drawn again by matplotlib.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from PIL import Image  # noqa: E402

from paysages import slides  # noqa: E402
from paysages.checks import IMPROVED_VARIANT, REQUIRED_VARIANTS  # noqa: E402
from paysages.errors import PrerequisiteError  # noqa: E402
from paysages.runs import RunFolder  # noqa: E402

PRINT_DPI = 300
# The width of a figure on a PDF page (0.9 of an A4 landscape page) and on a slide, in inches,
# and the resolutions each is shown at.
PDF_FIGURE_INCHES, PDF_DPI = 0.9 * 11.69, 150
SLIDE_FIGURE_INCHES, SLIDE_DPI = 11, 110


@dataclasses.dataclass(frozen=True)
class Section:
    key: str
    title: str
    notebook: str
    figure_patterns: tuple[str, ...]
    talking_points: tuple[str, ...]
    minutes: float


SECTIONS = (
    Section("results", "Tableau des résultats", "05_comparaison", ("05_*.png",),
            ("Quels modèles, sur quelle séparation, avec quelles métriques.",
             "La règle de choix du meilleur modèle et pourquoi (classes déséquilibrées)."), 2.5),
    Section("curves", "Courbes d'apprentissage", "02_cnn", ("02_*.png", "03_courbes_*.png", "04_*.png"),
            ("Le CNN de base : où commence le sur-apprentissage ?",
             "Chaque technique de régularisation, une à la fois : ce qu'elle change.",
             "Le transfert : extraction de caractéristiques puis réglage fin."), 4.0),
    Section("confusion", "Matrice de confusion", "06_erreurs", ("06_*confusion*.png", "06_*matri*.png", "06_*precision*.png"),
            ("Les confusions dominantes et leur explication visuelle.",
             "Précision et rappel par classe."), 1.5),
    Section("errors", "Galerie d'erreurs", "06_erreurs", ("06_*erreur*.png", "06_*error*.png", "06_*gradcam*.png"),
            ("Des erreurs compréhensibles (lac/océan, champ/route) ou non ?",), 2.0),
    Section("tsne", "t-SNE de l'espace des caractéristiques", "07_tsne", ("07_*.png",),
            ("Les classes séparées et celles qui se mélangent.",
             "Précautions de lecture du t-SNE (perplexité, distances entre groupes)."), 1.5),
    Section("neighbours", "Plus proches voisins", "08_voisins", ("08_*.png",),
            ("Une image au hasard et ses 3 voisines : même classe ?",
             "Ce que cela dit des caractéristiques apprises."), 1.5),
)


@dataclasses.dataclass(frozen=True)
class PackFigure:
    """One figure of the pack: its file name and its PNG content at print resolution."""

    name: str
    png: bytes


@dataclasses.dataclass
class DefencePack:
    slides: Path
    pdf: Path
    figures: list[Path]
    missing: list[str]


def suggested_outline() -> list[tuple[str, float]]:
    """The suggested 15-minute plan: an introduction, one slot per section, a conclusion."""
    outline = [("Introduction : le problème, les données, la démarche", 1.0)]
    outline += [(section.title, section.minutes) for section in SECTIONS]
    outline.append(("Conclusion et perspectives", 1.0))
    return outline


def _results_table(run: RunFolder):
    try:
        records = run.load_json("results")
    except PrerequisiteError:
        return None, None
    best = None
    try:
        best = run.load_json("best")
    except PrerequisiteError:
        pass
    return records, best


def _table_figure(records, best) -> plt.Figure:
    columns = [column for column in ("model", "accuracy", "macro_f1", "loss", "num_params", "epochs",
                                     "training_seconds") if column in records[0]]
    cells = []
    for record in records:
        row = []
        for column in columns:
            value = record.get(column)
            if isinstance(value, float):
                row.append(f"{value:.3f}" if column != "training_seconds" else f"{value:.0f}")
            else:
                row.append(str(value))
        cells.append(row)
    figure, axis = plt.subplots(figsize=(11, 0.45 * len(cells) + 1.2))
    axis.axis("off")
    table = axis.table(cellText=cells, colLabels=columns, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    if best is not None:
        for row_index, record in enumerate(records, start=1):
            if record.get("model") == best.get("name"):
                for column_index in range(len(columns)):
                    table[row_index, column_index].set_facecolor("#d9f2d9")
        axis.set_title(f"Meilleur modèle : {best.get('name')} — règle : {best.get('rule', '')}", fontsize=10)
    figure.tight_layout()
    return figure


def _figure_png(figure: plt.Figure, dpi: int) -> bytes:
    """Draw a matplotlib figure once, as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _read_png(path: Path) -> bytes:
    """A figure file of the run folder, checked to be an image Pillow can read."""
    content = path.read_bytes()
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
    except (OSError, SyntaxError, ValueError) as error:
        raise PrerequisiteError(
            f"La figure {path} est illisible ({error}) : relancez la cellule du notebook qui l'enregistre."
        ) from error
    return content


def _scaled(figure: PackFigure, width: int) -> Image.Image:
    """The figure as an RGB(A) image at most ``width`` pixels wide (never enlarged)."""
    with Image.open(io.BytesIO(figure.png)) as image:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    if image.width > width:
        height = max(1, round(image.height * width / image.width))
        image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def _meta_or_none(run: RunFolder, name: str) -> dict | None:
    """A saved model's metadata, or None when that model was not saved."""
    return run.model_meta(name) if run.meta_path(name).is_file() else None


def own_choices(run: RunFolder) -> list[str]:
    """The student's own design choices a run folder records, as talking points for the curves.

    The improved model of notebook 03 and the variants added to the required ones, and the
    transfer base of notebook 04 with the number of layers fine-tuning unfroze.
    """
    points = []
    own_variants = sorted(
        name.removeprefix("reg_") for name in run.model_names()
        if name.startswith("reg_") and name.removeprefix("reg_") not in (*REQUIRED_VARIANTS, IMPROVED_VARIANT)
    )
    if own_variants:
        points.append(f"Vos expériences en plus : {', '.join(own_variants)}. Qu'ont-elles montré ?")
    if _meta_or_none(run, f"reg_{IMPROVED_VARIANT}") is not None:
        points.append("Votre modèle amélioré (reg_improved) : ce qu'il combine, pourquoi, "
                      "et s'il bat chaque technique seule.")
    transfer = _meta_or_none(run, "transfer_finetuned") or _meta_or_none(run, "transfer_frozen")
    if transfer and transfer.get("base_architecture"):
        layers = transfer.get("fine_tuned_layers")
        unfrozen = f", {layers} couches dégelées au réglage fin" if layers else ""
        points.append(f"Votre base de transfert : {transfer['base_architecture']}{unfrozen}. Pourquoi elle ?")
    return points


def _collect(run: RunFolder) -> tuple[list[tuple[Section, list[PackFigure]]], list[str]]:
    figures_dir = run.path / "figures"
    collected, missing = [], []
    for section in SECTIONS:
        if section.key == "curves":
            section = dataclasses.replace(section, talking_points=section.talking_points + tuple(own_choices(run)))
        figures = []
        if section.key == "results":
            records, best = _results_table(run)
            if records:
                figures.append(PackFigure("05_tableau_resultats.png", _figure_png(_table_figure(records, best), PRINT_DPI)))
        seen = set()
        for pattern in section.figure_patterns:
            for path in sorted(figures_dir.glob(pattern)) if figures_dir.is_dir() else []:
                if path.name not in seen:
                    seen.add(path.name)
                    figures.append(PackFigure(path.name, _read_png(path)))
        if not figures:
            missing.append(f"{section.title} : exécutez le notebook {section.notebook}.ipynb")
        collected.append((section, figures))
    return collected, missing


def _write_pdf(path: Path, title: str, student: str, collected, missing) -> None:
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        cover = plt.figure(figsize=(11.69, 8.27))
        cover.text(0.5, 0.65, title, ha="center", fontsize=24, weight="bold")
        if student:
            cover.text(0.5, 0.56, student, ha="center", fontsize=14)
        lines = ["Plan suggéré (15 minutes)"] + [f"{name} — {minutes:g} min" for name, minutes in suggested_outline()]
        cover.text(0.5, 0.45, "\n".join(lines), ha="center", va="top", fontsize=11)
        pdf.savefig(cover)
        plt.close(cover)
        for section, figures in collected:
            for index, figure in enumerate(figures or [None]):
                page = plt.figure(figsize=(11.69, 8.27))
                page.text(0.5, 0.95, section.title, ha="center", fontsize=18, weight="bold")
                if figure is None:
                    page.text(0.5, 0.5, f"Section manquante : exécutez le notebook {section.notebook}.ipynb",
                              ha="center", fontsize=12, color="darkred")
                else:
                    image = _scaled(figure, round(PDF_FIGURE_INCHES * PDF_DPI))
                    axis = page.add_axes([0.05, 0.2, 0.9, 0.7])
                    axis.imshow(np.asarray(image))
                    axis.axis("off")
                if index == 0:
                    page.text(0.06, 0.14, "\n".join(f"• {point}" for point in section.talking_points),
                              va="top", fontsize=11)
                pdf.savefig(page)
                plt.close(page)
        info = pdf.infodict()
        info["Title"] = title
        info["Subject"] = "Soutenance — Projet Deep Learning MAPI3"


def _write_slides(path: Path, title: str, student: str, collected, missing) -> None:
    """Write the deck: a title slide with the suggested plan, one slide per figure, a conclusion."""
    outline = [f"{name} — {minutes:g} min" for name, minutes in suggested_outline()]
    cover = f"<p>{slides.text_html(student)}</p>" if student else ""
    cover += "<h3>Plan suggéré (15 minutes)</h3>" + slides.bullet_list_html(outline)
    deck = [slides.Slide(title, cover)]
    for section, figures in collected:
        if not figures:
            message = f"Section manquante : exécutez le notebook {section.notebook}.ipynb."
            deck.append(slides.Slide(section.title, f'<p class="missing">{slides.text_html(message)}</p>'))
            continue
        for index, figure in enumerate(figures):
            buffer = io.BytesIO()
            _scaled(figure, SLIDE_FIGURE_INCHES * SLIDE_DPI).save(buffer, format="PNG")
            encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
            body = f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(section.title)}">'
            if index == 0:
                body += slides.bullet_list_html(section.talking_points)
            deck.append(slides.Slide(section.title, body, vertical=index > 0))
    deck.append(slides.Slide("Conclusion et perspectives", slides.bullet_list_html([
        "Ce qui a le mieux marché, et pourquoi.",
        "Ce que vous feriez avec plus de temps ou de données.",
    ])))
    slides.write_deck(path, title, deck)


def build_defence_pack(run_dir: Path | str, out_dir: Path | str, *, student: str = "",
                       title: str = "Classification de paysages par réseaux de neurones") -> DefencePack:
    """Build the slide deck, the PDF and the print-resolution figures from a run folder."""
    run = RunFolder(run_dir)
    if not run.path.is_dir():
        raise PrerequisiteError(f"Le dossier de run {run.path} n'existe pas : exécutez d'abord les notebooks 00 à 08.")
    out_dir = Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    collected, missing = _collect(run)
    if all(not figures for _, figures in collected):
        raise PrerequisiteError(
            f"Aucune figure ni aucun résultat dans {run.path} : exécutez d'abord les notebooks 02 à 08."
        )
    written = []
    for _, figures in collected:
        for figure in figures:
            target = figures_dir / Path(figure.name).with_suffix(".png").name
            target.write_bytes(figure.png)
            written.append(target)
    pdf_path = out_dir / "soutenance.pdf"
    slides_path = out_dir / "soutenance.slides.html"
    _write_pdf(pdf_path, title, student, collected, missing)
    _write_slides(slides_path, title, student, collected, missing)
    (out_dir / "soutenance.json").write_text(
        json.dumps({"missing": missing, "figures": [path.name for path in written],
                    "outline": suggested_outline()}, indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    return DefencePack(slides=slides_path, pdf=pdf_path, figures=written, missing=missing)
