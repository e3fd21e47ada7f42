"""``paysages submit``: pack the course notebooks and their run folder into one zip to upload.

The zip holds::

    manifest.json          student id, kit version, assignment, and every file's SHA-256 and size
    notebooks/NN_name.ipynb
    run/...                the run-folder results the notebooks hand to each other

The instructor's ``paysages collect`` checks every file against the manifest. Only data files
of the run folder are packed (models, histories, JSON, CSV, arrays, figures), never code, and
their total size is capped. Beside the zip, ``<zip name>.ipynb`` merges every notebook (with the
student's outputs) into one, to send by e-mail or read at once. Usage (students)::

    paysages submit --student-id 22001234 --out rendu.zip
    python -m paysages.submit --student-id 22001234 --notebooks . --run-dir paysages_run --out rendu.zip

In Colab the notebooks are read from Drive's ``Colab Notebooks`` folder, where a notebook opened
from a badge is saved as ``Copie de 02_cnn.ipynb`` (or ``Copy of 02_cnn (1).ipynb``): each copy
is mapped to its course notebook and, when there are several, the most recently modified one is
sent. Both files are written to ``MyDrive/paysages/rendu/`` or, without Drive, downloaded.

Messages are in French: this command is for students.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import re
import sys
import zipfile
from pathlib import Path

from paysages import __version__
from paysages.colab import DRIVE_SUBFOLDER, colab_notebooks_dir, content_dir, drive_mounted, in_colab, my_drive
from paysages.errors import PaysagesError
from paysages.files import sha256_of_file, write_atomic, write_json_atomic

FORMAT_NAME = "paysages-submission"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")
# A course notebook's name (the file is NN_name.ipynb).
# The key, under the notebook metadata "paysages", that lists the notebooks of a merged notebook.
MERGED_METADATA_KEY = "merged_notebooks"
COURSE_NAME_PATTERN = re.compile(r"^[0-9][0-9]_[a-z0-9_]+$")
# What Colab adds to a notebook's name when it saves a copy: "Copie de " / "Copy of " (French or
# English interface) in front, " (1)", " (2)"... behind when a copy is saved again.
COPY_PREFIX = re.compile(r"^(?:(?:copie de|copy of)\s+)+", re.IGNORECASE)
COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\))+$")
# Run-folder files worth sending: results, never code. Backups and temporary files are skipped.
ARTIFACT_SUFFIXES = {".json", ".csv", ".keras", ".npz", ".npy", ".png", ".jpg", ".jpeg", ".svg", ".pdf", ".txt"}
SKIPPED_FOLDERS = {"backup", "__pycache__", ".ipynb_checkpoints"}
DEFAULT_MAX_ARTIFACT_MEGABYTES = 200
# How the instructor's `paysages collect` recognises a student's files by default (LMS exports:
# "<studentid>_<anything>.ipynb" or ".zip"; the student id stops at the first underscore).
DEFAULT_SUBMISSION_PATTERN = r"^(?P<student>[A-Za-z0-9][A-Za-z0-9.-]*)_.+\.(ipynb|zip)$"


class SubmissionError(PaysagesError):
    """The submission cannot be packed; the message (in French) says what to do."""


def course_notebook_name(file_name: str, notebook_names=None) -> str | None:
    """The course notebook (``NN_name``) a notebook file stands for, or None.

    Colab's copies are accepted (``Copie de 02_cnn.ipynb``, ``Copy of 02_CNN (1).ipynb``), in any
    letter case. With ``notebook_names``, only those names are recognised; without, any ``NN_name``.
    """
    name = Path(file_name).name
    if not name.lower().endswith(".ipynb"):
        return None
    stem = COPY_SUFFIX.sub("", COPY_PREFIX.sub("", name[:-len(".ipynb")].strip())).strip().casefold()
    if notebook_names is None:
        return stem if COURSE_NAME_PATTERN.match(stem) else None
    return {known.casefold(): known for known in notebook_names}.get(stem)


def find_notebooks(folder: Path) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """The course notebooks of ``folder``: the file chosen for each name, and the copies left out.

    When several files stand for one notebook, the most recently modified one is chosen.
    """
    copies: dict[str, list[Path]] = {}
    for path in sorted(Path(folder).iterdir()):
        name = course_notebook_name(path.name)
        if name and path.is_file():
            copies.setdefault(name, []).append(path)
    chosen, ignored = {}, {}
    for name, paths in sorted(copies.items()):
        paths.sort(key=lambda path: (path.stat().st_mtime, path.name), reverse=True)
        chosen[name] = paths[0]
        if len(paths) > 1:
            ignored[name] = paths[1:]
    return chosen, ignored


def choice_messages(manifest: dict) -> list[str]:
    """The French lines that say which file was sent for each notebook and which copies were not."""
    lines = []
    for name, source in manifest["notebook_sources"].items():
        ignored = manifest["ignored_copies"].get(name, [])
        if source == f"{name}.ipynb" and not ignored:
            continue
        line = f"{name}.ipynb : « {source} » envoyé"
        if ignored:
            line += " (le plus récent) ; ignoré(s) : " + ", ".join(f"« {other} »" for other in ignored)
        lines.append(line + ".")
    return lines


def expected_notebooks(notebook_paths: list[Path]) -> tuple[str | None, list[str]]:
    """The assignment and the notebook list recorded in the release notebooks' metadata."""
    assignment, names = None, set()
    for path in notebook_paths:
        try:
            metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("paysages", {})
        except (OSError, ValueError):
            continue
        assignment = assignment or metadata.get("assignment")
        names.update(metadata.get("notebooks", []))
    return assignment, sorted(names)


def run_artifacts(run_dir: Path) -> list[Path]:
    """The run-folder files to send, in a stable order."""
    if not run_dir.is_dir():
        return []
    found = []
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir)
        if (path.is_file() and not path.is_symlink() and path.suffix.lower() in ARTIFACT_SUFFIXES
                and not SKIPPED_FOLDERS.intersection(relative.parts)
                and not any(part.startswith(".") for part in relative.parts)):
            found.append(path)
    return found


def build_submission(student_id: str, out: Path, *, notebooks_dir: Path = Path("."), run_dir: Path | None = None,
                     allow_missing: bool = False,
                     max_artifact_megabytes: float = DEFAULT_MAX_ARTIFACT_MEGABYTES) -> dict:
    """Write the submission zip and return its manifest."""
    if not isinstance(student_id, str) or not STUDENT_ID_PATTERN.match(student_id):
        raise SubmissionError(
            f"Identifiant étudiant invalide : {student_id!r}. Utilisez votre numéro d'étudiant "
            "(lettres, chiffres, '.' ou '-', 64 caractères au plus, sans espace ni '_')."
        )
    notebooks_dir = Path(notebooks_dir).expanduser().resolve()
    if not notebooks_dir.is_dir():
        raise SubmissionError(f"Le dossier des notebooks {notebooks_dir} n'existe pas.")
    run_dir = Path(run_dir or default_run_dir(notebooks_dir)).expanduser().resolve()
    chosen, ignored = find_notebooks(notebooks_dir)
    if not chosen:
        raise SubmissionError(
            f"Aucun notebook du cours (00_....ipynb, ou « Copie de 00_....ipynb ») dans {notebooks_dir} : "
            "indiquez le bon dossier avec --notebooks."
        )
    assignment, expected = expected_notebooks(list(chosen.values()))
    present = set(chosen)
    missing = [name for name in expected if name not in present]
    if missing and not allow_missing:
        raise SubmissionError(
            "Notebook(s) manquant(s) dans " + str(notebooks_dir) + " : " + ", ".join(f"{name}.ipynb" for name in missing)
            + ". Rendez tous les notebooks (même inachevés) ou, pour un rendu partiel assumé, "
              "ajoutez --allow-missing."
        )
    if expected:
        chosen = {name: path for name, path in chosen.items() if name in expected}

    artifacts = run_artifacts(run_dir)
    total = sum(path.stat().st_size for path in artifacts)
    limit = int(max_artifact_megabytes * 1024 * 1024)
    if total > limit:
        largest = sorted(artifacts, key=lambda path: path.stat().st_size, reverse=True)[:3]
        details = ", ".join(f"{path.relative_to(run_dir)} ({path.stat().st_size / 1e6:.0f} Mo)" for path in largest)
        raise SubmissionError(
            f"Le dossier de run {run_dir} pèse {total / 1e6:.0f} Mo, plus que la limite de "
            f"{max_artifact_megabytes:g} Mo. Plus gros fichiers : {details}. Supprimez les modèles "
            "inutiles (essais abandonnés) ou augmentez la limite avec --max-run-mb si l'enseignant l'accepte."
        )

    files = []
    entries = [(path, f"notebooks/{name}.ipynb", "notebook") for name, path in chosen.items()]
    entries += [(path, f"run/{path.relative_to(run_dir).as_posix()}", "artifact") for path in artifacts]
    for path, member, kind in entries:
        files.append({"path": member, "kind": kind, "size": path.stat().st_size, "sha256": sha256_of_file(path)})
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "student_id": student_id,
        "assignment": assignment,
        "kit_version": __version__,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "missing_notebooks": missing,
        "notebook_sources": {name: path.name for name, path in chosen.items()},
        "ignored_copies": {name: [path.name for path in paths] for name, paths in ignored.items() if name in chosen},
        "files": files,
    }
    out = Path(out).expanduser().resolve()

    def write_zip(handle) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, strict_timestamps=False) as archive:
            archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False))
            for path, member, _ in entries:
                archive.write(path, member)

    write_atomic(out, write_zip, durable=True)
    write_json_atomic(merged_notebook_path(out), merge_notebooks(chosen), durable=True, indent=1)
    return manifest


def merged_notebook_path(zip_path: Path) -> Path:
    """Where the merged notebook of a submission is written: beside the zip, same name."""
    return Path(zip_path).with_suffix(".ipynb")


def _markdown_cell(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


def merge_notebooks(notebooks: dict[str, Path]) -> dict:
    """One notebook (nbformat 4.5) holding ``notebooks`` in name order, outputs included.

    A table of contents comes first; each notebook's cells follow a heading that names it. Cell
    ids are renumbered, since two notebooks may use the same ones.
    """
    names = sorted(notebooks)
    contents = "\n".join(f"{index}. [{name}](#{name})" for index, name in enumerate(names, start=1))
    cells = [_markdown_cell("sommaire", "# Rendu : tous les notebooks\n\nSommaire :\n\n" + contents)]
    metadata = {}
    for name in names:
        try:
            notebook = json.loads(notebooks[name].read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SubmissionError(f"Le notebook {notebooks[name]} est illisible ({error}).") from error
        if not isinstance(notebook, dict) or notebook.get("nbformat") != 4 or not isinstance(notebook.get("cells"), list):
            raise SubmissionError(f"{notebooks[name]} n'est pas un notebook Jupyter (format 4) lisible.")
        if not metadata:
            metadata = {key: notebook["metadata"][key] for key in ("kernelspec", "language_info")
                        if key in notebook.get("metadata", {})}
        cells.append(_markdown_cell(f"{name}-titre", f'<a id="{name}"></a>\n\n# {name}\n\n'
                                                     f"Fichier : {notebooks[name].name}"))
        for index, cell in enumerate(notebook["cells"], start=1):
            cell = copy.deepcopy(cell)
            cell["id"] = f"{name}-{index}"
            cells.append(cell)
    metadata["paysages"] = {MERGED_METADATA_KEY: names}
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def default_notebooks_dir() -> Path:
    """Drive's ``Colab Notebooks`` in Colab with Drive, else the current folder."""
    return colab_notebooks_dir() if drive_mounted() else Path(".")


def default_run_dir(notebooks_dir: Path) -> Path:
    """``PAYSAGES_RUN_DIR``, else the run folder on Drive in Colab, else ``paysages_run/`` beside the notebooks."""
    if os.environ.get("PAYSAGES_RUN_DIR"):
        return Path(os.environ["PAYSAGES_RUN_DIR"])
    if drive_mounted():
        return my_drive() / DRIVE_SUBFOLDER / "run"
    return Path(notebooks_dir) / "paysages_run"


def default_out(student_id: str, notebooks_dir: Path) -> Path:
    """``MyDrive/paysages/rendu/`` in Colab with Drive, the runtime's disk without, else the notebooks' folder."""
    if drive_mounted():
        folder = my_drive() / DRIVE_SUBFOLDER / "rendu"
    elif in_colab():
        folder = content_dir() / "rendu"
    else:
        folder = Path(notebooks_dir)
    return folder / f"{student_id}_rendu.zip"


def submit(student_id: str, *, notebooks_dir: Path | None = None, out: Path | None = None,
           run_dir: Path | None = None, allow_missing: bool = False,
           max_artifact_megabytes: float = DEFAULT_MAX_ARTIFACT_MEGABYTES) -> dict:
    """Write the zip and the merged notebook, say (in French) what was sent; return the manifest.

    The call for a Colab cell: ``from paysages.submit import submit; submit("22001234")``.
    In Colab without Drive, both files are also downloaded to the student's computer.
    """
    if notebooks_dir is None:
        if in_colab() and not drive_mounted():
            raise SubmissionError(
                "Google Drive n'est pas monté : vos notebooks Colab (dossier « Colab Notebooks ») sont "
                "introuvables. Exécutez d'abord `from google.colab import drive; drive.mount('/content/drive')`, "
                "ou indiquez le dossier des notebooks avec --notebooks."
            )
        notebooks_dir = default_notebooks_dir()
    out = Path(out) if out is not None else default_out(student_id, notebooks_dir)
    manifest = build_submission(
        student_id, out, notebooks_dir=notebooks_dir, run_dir=run_dir,
        allow_missing=allow_missing, max_artifact_megabytes=max_artifact_megabytes,
    )
    merged = merged_notebook_path(out)
    for line in choice_messages(manifest):
        print(line)
    notebooks = [item for item in manifest["files"] if item["kind"] == "notebook"]
    artifacts = [item for item in manifest["files"] if item["kind"] == "artifact"]
    size = sum(item["size"] for item in manifest["files"])
    print(f"Rendu écrit : {out} ({len(notebooks)} notebook(s), {len(artifacts)} fichier(s) du "
          f"dossier de run, {size / 1e6:.1f} Mo avant compression).")
    print(f"Notebook unique (tous les notebooks à la suite, pour l'envoi par e-mail) : {merged}")
    if manifest["missing_notebooks"]:
        print("ATTENTION : notebook(s) absent(s) : " + ", ".join(manifest["missing_notebooks"]))
    if in_colab() and not drive_mounted():
        download([out, merged])
    print("Envoyez ces fichiers comme l'indique l'enseignant, sans les renommer après le préfixe de votre numéro.")
    return manifest


def download(paths: list[Path]) -> None:
    """Send files from a Colab runtime to the student's computer (the browser's download)."""
    from google.colab import files  # Only importable inside Colab.

    for path in paths:
        try:
            files.download(str(path))
        except Exception as error:  # Colab raises plain exceptions outside a notebook's kernel.
            print(f"Téléchargement de {path} impossible ({error}) : récupérez-le dans le panneau "
                  "« Fichiers » de Colab, à gauche.")


def add_submit_command(subparsers) -> argparse.ArgumentParser:
    """Register ``submit`` on an argparse sub-parser collection."""
    parser = subparsers.add_parser("submit", help="pack the notebooks and the run folder into a zip to upload")
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--student-id", required=True, help="votre numéro d'étudiant")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="dossier des notebooks (défaut : « Colab Notebooks » sur Drive dans Colab, sinon .)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="dossier de run (défaut : PAYSAGES_RUN_DIR ou paysages_run/ à côté des notebooks)")
    parser.add_argument("--out", type=Path, default=None,
                        help="fichier zip à écrire (défaut : <numéro>_rendu.zip, dans MyDrive/paysages/rendu sur Colab)")
    parser.add_argument("--allow-missing", action="store_true", help="accepter un rendu sans tous les notebooks")
    parser.add_argument("--max-run-mb", type=float, default=DEFAULT_MAX_ARTIFACT_MEGABYTES,
                        help=f"taille maximale du dossier de run envoyé (défaut {DEFAULT_MAX_ARTIFACT_MEGABYTES} Mo)")
    parser.set_defaults(handler=command_submit)


def command_submit(arguments) -> int:
    submit(arguments.student_id, notebooks_dir=arguments.notebooks, out=arguments.out, run_dir=arguments.run_dir,
           allow_missing=arguments.allow_missing, max_artifact_megabytes=arguments.max_run_mb)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="paysages submit", description=__doc__.splitlines()[0])
    configure_parser(parser)
    arguments = parser.parse_args(argv)
    try:
        return command_submit(arguments)
    except PaysagesError as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
