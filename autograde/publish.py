"""``paysages release --publish DIR``: the student repository, ready to push.

After the release, ``DIR`` receives what the students' GitHub repository holds, and nothing
else::

    DIR/
      README.md                       in French: the badges, the Colab steps, how to submit
      LICENSE                         the kit's licence file, when the repository has one
      pyproject.toml                  the student package alone (``pip install git+URL@TAG``)
      paysages/                       the student package: what the student wheel holds
      <release_folder>/NN_name.ipynb  the release notebooks, "Open in Colab" badges first
      .paysages-publication.json      what was published: kit version, tag, notebooks, files

The repository address, its branch and the release folder come from autograde/course.json:
they are the ones the badges (:func:`autograde.release.colab_url`) and the notebooks' set-up
cell (``git+<repository_url>@<tag>``, :func:`autograde.layout.kit_tag`) point at. The tree is
written into a temporary folder beside ``DIR``, scanned whole for leaks
(:func:`autograde.integrity.scan_tree`), and only then swapped into place: ``DIR`` is the old
publication or the new one, never a mix. A ``.git`` folder in ``DIR`` (a clone of the students'
repository) is carried over; any other existing, non-empty ``DIR`` that is not a previous
publication is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import tomllib
from pathlib import Path

from autograde import integrity
from autograde.layout import REPOSITORY_DIR, CourseLayout, course_config, kit_tag
from autograde.release import BADGE_IMAGE, colab_url
from autograde.wheel import package_files
from paysages import __version__
from paysages.errors import PaysagesError
from paysages.files import swap_folder_into_place

PUBLICATION_MARKER = ".paysages-publication.json"
# The folder of a git clone, kept when a publication replaces the previous one.
GIT_FOLDER = ".git"
LICENCE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING")
# Extras of the kit's pyproject.toml that name instructor tools: never in the student package.
INSTRUCTOR_EXTRAS = ("instructor", "dev")

STUDENT_README = """# Projet « paysages » — Deep Learning, Big Data MAPI3

Classer les photos du jeu **Landscapes** (7 classes) avec un CNN de votre conception, essayer les
techniques de régularisation une à une, le transfert d'apprentissage, puis analyser les erreurs
et l'espace des features. Kit `paysages` version {version} (étiquette `{tag}` de ce dépôt).

## Les notebooks

| notebook | ouvrir dans Colab |
|---|---|
{badges}

## Travailler sur Google Colab

1. **Ouvrez le notebook avec son badge** « Open in Colab » ci-dessus, puis enregistrez-en une
   copie dans votre Drive (Fichier > Enregistrer une copie dans Drive) et renommez-la avec son
   nom d'origine, sans « Copie de » (Fichier > Renommer) : c'est cette copie que vous complétez
   et que vous rendez.
2. **Choisissez un GPU** : Exécution > Modifier le type d'exécution > GPU.
3. **Exécutez les cellules dans l'ordre.** La première installe le kit `paysages` {version}
   (jamais TensorFlow, déjà présent dans Colab).
4. **Activez Google Drive** : laissez `USE_DRIVE = True` dans la cellule de réglages et acceptez
   l'accès à Drive quand Colab le demande. Le dossier de run (`MyDrive/paysages/run`) et l'archive
   vérifiée des photos y sont gardés : c'est là que chaque notebook retrouve le travail des
   précédents.
5. **Commencez par `00_prise_en_main`** (environnement, téléchargement et vérification des
   photos), puis suivez l'ordre 01, 02, 03... : chaque notebook réutilise ce que les précédents
   ont écrit sur Drive et vous dit, sinon, lequel exécuter d'abord.
6. **Un environnement d'exécution par notebook** : Colab donne à chaque notebook sa propre
   machine. Exécutez un notebook jusqu'à sa dernière cellule (elle attend que tout soit écrit sur
   Drive) avant d'ouvrir le suivant, puis libérez sa machine (Exécution > Déconnecter et supprimer
   l'environnement d'exécution).
7. `MODE = "fast"` (petit jeu synthétique) sert à mettre votre code au point en quelques minutes ;
   `MODE = "full"` (les vraies photos) donne les résultats à rendre.

## Rendre le travail

Quand tous les notebooks ont été exécutés (Drive activé), ajoutez une cellule à la fin d'un
notebook ouvert dans Colab et exécutez :

    !paysages submit --student-id VOTRE_NUMERO

La commande retrouve vos notebooks dans le dossier `Colab Notebooks` de votre Drive (les copies
« Copie de 02_cnn.ipynb » comprises ; s'il y en a plusieurs, la plus récente, et elle le dit) et
le dossier de run `MyDrive/paysages/run`. Elle écrit dans `MyDrive/paysages/rendu/` deux fichiers :
`VOTRE_NUMERO_rendu.zip` (notebooks, résultats, sommes de contrôle), à déposer sur la plateforme du
cours, et `VOTRE_NUMERO_rendu.ipynb` (tous les notebooks réunis, avec vos sorties et une table des
matières), à envoyer par e-mail comme le demande le sujet. Sans Drive, les deux fichiers sont
téléchargés. Sans les notebooks bonus (09 à 11), ajoutez `--allow-missing`. Ne modifiez pas les
cellules verrouillées (consignes, tests) : elles sont restaurées à la correction.

## Sur votre machine (facultatif)

    python -m venv .venv && . .venv/bin/activate
    pip install "paysages[tensorflow] @ git+{repository_url}@{tag}"
    jupyter lab

puis ouvrez les notebooks du dossier `{release_folder}` et exécutez-les dans l'ordre.
"""


def _toml_value(value) -> str:
    """A TOML value for a string, a list of strings or a table of strings (JSON's quoting is TOML's)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + " }"
    raise PaysagesError(f"Cannot write {value!r} in the student pyproject.toml.")


def student_pyproject(repository_dir: Path = REPOSITORY_DIR) -> str:
    """The published repository's pyproject.toml: the kit's project metadata, ``paysages/`` only.

    Name, version, dependencies, the student extras and the ``paysages`` command come from the
    kit's own pyproject.toml; the instructor extras and the instructor commands' entry point are
    left out.
    """
    kit = tomllib.loads((Path(repository_dir) / "pyproject.toml").read_text(encoding="utf-8"))
    project = kit["project"]
    lines = [
        "# Written by `paysages release --publish` from the kit's pyproject.toml: edit that one instead.",
        "# The student package only: installing it never installs TensorFlow (see the extras).",
        "[build-system]",
        f"requires = {_toml_value(kit['build-system']['requires'])}",
        f"build-backend = {_toml_value(kit['build-system']['build-backend'])}",
        "",
        "[project]",
    ]
    for key in ("name", "version", "description"):
        lines.append(f"{key} = {_toml_value(project[key])}")
    lines.append('readme = "README.md"')
    for key in ("requires-python", "license"):
        if key in project:
            lines.append(f"{key} = {_toml_value(project[key])}")
    lines.append("dependencies = [" + "".join(f"\n    {_toml_value(item)}," for item in project["dependencies"]) + "\n]")
    lines += ["", "[project.optional-dependencies]"]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra not in INSTRUCTOR_EXTRAS:
            lines.append(f"{extra} = {_toml_value(requirements)}")
    lines += ["", "[project.scripts]"]
    lines += [f"{name} = {_toml_value(target)}" for name, target in project.get("scripts", {}).items()]
    lines += ["", "[tool.hatch.build.targets.wheel]", 'packages = ["paysages"]', ""]
    return "\n".join(lines)


def student_readme(notebook_names: list[str], config: dict) -> str:
    """The published repository's README.md, in French, with one Colab badge per notebook."""
    badges = "\n".join(f"| `{name}` | [![Open In Colab]({BADGE_IMAGE})]({colab_url(name, config)}) |"
                       for name in notebook_names)
    return STUDENT_README.format(version=__version__, tag=kit_tag(), badges=badges,
                                 repository_url=config["repository_url"].rstrip("/"),
                                 release_folder=config.get("release_folder", "").strip("/") or ".")


def published_files(release_dir: Path, notebook_names: list[str], config: dict,
                    repository_dir: Path = REPOSITORY_DIR) -> dict[str, Path | str]:
    """Each file of the published repository (relative path) and its source file or text."""
    folder = config.get("release_folder", "").strip("/")
    files: dict[str, Path | str] = {"README.md": student_readme(notebook_names, config),
                                    "pyproject.toml": student_pyproject(repository_dir)}
    for name in LICENCE_FILES:
        if (Path(repository_dir) / name).is_file():
            files[name] = Path(repository_dir) / name
    # What the student wheel holds, so that the repository installs the same package.
    files.update(package_files(Path(repository_dir)))
    for name in notebook_names:
        files[f"{folder}/{name}.ipynb" if folder else f"{name}.ipynb"] = Path(release_dir) / f"{name}.ipynb"
    files[PUBLICATION_MARKER] = json.dumps({
        "kit_version": __version__, "tag": kit_tag(), "repository_url": config["repository_url"],
        "branch": config.get("branch", "main"), "notebooks": notebook_names,
        "files": sorted([*files, PUBLICATION_MARKER]),
    }, indent=2) + "\n"
    return files


def check_destination(destination: Path) -> None:
    """Refuse a destination that holds something other than a previous publication (or a bare clone)."""
    destination = Path(destination)
    if destination.is_symlink() or (destination.exists() and not destination.is_dir()):
        raise PaysagesError(f"--publish {destination}: not a folder.")
    if not destination.exists():
        return
    entries = [entry.name for entry in destination.iterdir() if entry.name != GIT_FOLDER]
    if entries and PUBLICATION_MARKER not in entries:
        raise PaysagesError(f"--publish {destination}: the folder is not empty and holds no previous publication "
                            f"({PUBLICATION_MARKER}); give an empty or new folder, nothing was written.")


def publish(layout: CourseLayout, notebook_names: list[str], destination: Path, *,
            repository_dir: Path = REPOSITORY_DIR) -> dict:
    """Write the student repository into ``destination`` (see the module docstring); return a summary."""
    destination = Path(destination).absolute()
    check_destination(destination)
    config = course_config()
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.publishing-", dir=destination.parent))
    try:
        files = published_files(layout.release_dir, notebook_names, config, repository_dir)
        for relative, source in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, str):
                target.write_text(source, encoding="utf-8")
            else:
                shutil.copyfile(source, target)
        problems = integrity.scan_tree(staging, source_notebooks=sorted(layout.source_dir.glob("*.ipynb")),
                                       solutions_dir=Path(repository_dir) / "solutions")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise PaysagesError(f"The published repository would leak instructor material, {destination} was "
                                f"left unchanged: {problems[0]}{more}.")
        git_folder = destination / GIT_FOLDER
        if git_folder.is_dir():
            os.replace(git_folder, staging / GIT_FOLDER)
        try:
            swap_folder_into_place(staging, destination)
        except BaseException:
            if (staging / GIT_FOLDER).is_dir() and not git_folder.exists():
                os.replace(staging / GIT_FOLDER, git_folder)
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return {"destination": destination, "files": sorted(files), "tag": kit_tag(),
            "repository_url": config["repository_url"], "branch": config.get("branch", "main")}
