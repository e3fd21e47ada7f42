"""``paysages release``: source notebooks -> nbgrader release -> Colab badges -> student bundle.

The bundle (``bundle/paysages-<assignment>-etudiant.zip``) holds the release notebooks, a wheel
of the ``paysages`` package and a short README in French. It is scanned before it is kept
(:func:`autograde.integrity.scan_bundle`): a bundle that would leak a solution, a hidden test or
an instructor file is deleted and the command fails.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat

from autograde import integrity
from autograde.layout import REPOSITORY_DIR, CourseLayout, course_config, course_notebooks
from autograde.wheel import build_wheel
from paysages import __version__
from paysages.errors import PaysagesError

# Overlaps between the student package and the reference solutions accepted for now, each with
# its reason. They are printed at every release and recorded in bundle/bundle.json; any other
# finding of the scan blocks the release.
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_MARKER = "paysages-colab-badge"

STUDENT_README = """# Projet « paysages » — notebooks à rendre

Ce dossier contient les notebooks du projet ({notebooks}) et le kit `paysages`
(`{wheel}`).

## Sur Google Colab (recommandé)
1. Ouvrez chaque notebook avec son badge « Open in Colab », ou déposez-le dans Colab
   (Fichier > Importer un notebook).
2. Choisissez un GPU : Exécution > Modifier le type d'exécution > GPU.
3. La première cellule installe le kit s'il manque. Si vous déposez aussi le fichier
   `{wheel}` dans Colab (panneau Fichiers), c'est lui qui est installé.

## Sur votre machine
    python -m venv .venv && . .venv/bin/activate
    pip install "{wheel}[tensorflow]"
    jupyter lab

Exécutez les notebooks **dans l'ordre** (00, 01, 02...) avec le même dossier de run : chacun
réutilise ce que les précédents ont écrit.

## Rendre le travail
Dans le dossier des notebooks :

    paysages submit --student-id VOTRE_NUMERO --out VOTRE_NUMERO_rendu.zip

puis déposez le fichier zip sur la plateforme du cours. Ne modifiez pas les cellules verrouillées
(consignes, tests) : elles sont restaurées à la correction.
"""


def colab_url(notebook_name: str, config: dict | None = None) -> str:
    """The "Open in Colab" address of a release notebook, from autograde/course.json."""
    config = config or course_config()
    repository = config["repository_url"].rstrip("/")
    prefix = "https://github.com/"
    if not repository.startswith(prefix):
        raise PaysagesError(f"repository_url must be a GitHub address (https://github.com/OWNER/REPO), got {repository!r}.")
    owner_and_name = repository[len(prefix):].removesuffix(".git")
    folder = config.get("release_folder", "").strip("/")
    path = f"{folder}/{notebook_name}.ipynb" if folder else f"{notebook_name}.ipynb"
    return f"https://colab.research.google.com/github/{owner_and_name}/blob/{config.get('branch', 'main')}/{path}"


def add_colab_badge(notebook, notebook_name: str, notebook_names: list[str], assignment: str, config: dict):
    """Put the badge cell first (replacing an older one) and record the assignment's notebooks."""
    notebook.cells = [cell for cell in notebook.cells if cell.get("metadata", {}).get(BADGE_MARKER) is None]
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_name, config)})",
        metadata={BADGE_MARKER: True},
    )
    badge.id = "colab-badge"
    notebook.cells.insert(0, badge)
    paysages_metadata = dict(notebook.metadata.get("paysages", {}))
    paysages_metadata.update({"assignment": assignment, "notebooks": list(notebook_names), "kit_version": __version__})
    notebook.metadata["paysages"] = paysages_metadata
    return notebook


def sync_sources(layout: CourseLayout, notebook_dir: Path | None = None) -> list[str]:
    """Copy course/NN_*.ipynb into source/<assignment>/ (removing stale ones); return the names."""
    sources = course_notebooks(notebook_dir) if notebook_dir else course_notebooks()
    if not sources:
        raise PaysagesError("No course notebook (course/NN_name.ipynb) to release: run `make notebooks`.")
    layout.source_dir.mkdir(parents=True, exist_ok=True)
    names = [path.stem for path in sources]
    for stale in layout.source_dir.glob("*.ipynb"):
        if stale.stem not in names:
            stale.unlink()
    for path in sources:
        shutil.copyfile(path, layout.source_dir / path.name)
    return names


def decorate_release(layout: CourseLayout, notebook_names: list[str]) -> list[Path]:
    config = course_config()
    written = []
    for name in notebook_names:
        path = layout.release_dir / f"{name}.ipynb"
        if not path.is_file():
            raise PaysagesError(f"nbgrader did not write {path}: read its output above.")
        notebook = nbformat.read(str(path), as_version=4)
        add_colab_badge(notebook, name, notebook_names, layout.assignment, config)
        nbformat.write(notebook, str(path))
        written.append(path)
    return written


def build_bundle(layout: CourseLayout, notebook_names: list[str]) -> Path:
    """Write and scan the student bundle; return its path."""
    dist_dir = layout.bundle_dir / "dist"
    if dist_dir.exists():
        shutil.rmtree(dist_dir)
    wheel = build_wheel(REPOSITORY_DIR, dist_dir)
    bundle = layout.bundle_dir / f"paysages-{layout.assignment}-etudiant.zip"
    temporary = bundle.with_suffix(".tmp")
    top = f"paysages-{layout.assignment}"
    readme = STUDENT_README.format(notebooks=", ".join(notebook_names), wheel=wheel.name)
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in notebook_names:
            archive.write(layout.release_dir / f"{name}.ipynb", f"{top}/{name}.ipynb")
        archive.write(wheel, f"{top}/{wheel.name}")
        archive.writestr(f"{top}/LISEZMOI.md", readme)
    findings = integrity.scan_bundle(temporary, source_notebooks=sorted(layout.source_dir.glob("*.ipynb")),
                                     solutions_dir=REPOSITORY_DIR / "solutions")
    problems = list(findings)
    if problems:
        temporary.unlink()
        raise PaysagesError("The student bundle would leak instructor material; it was not written:\n  "
                            + "\n  ".join(problems))
    temporary.replace(bundle)
    (layout.bundle_dir / "bundle.json").write_text(json.dumps({
        "bundle": bundle.name, "wheel": wheel.name, "notebooks": notebook_names,
        "scan": "no solution marker, solution code, hidden-test text, solutions import or instructor file",
    }, indent=2) + "\n", encoding="utf-8")
    return bundle
