"""``paysages submit``: pack the course notebooks and their run folder into one zip to upload.

The zip holds::

    manifest.json          student id, kit version, assignment, and every file's SHA-256 and size
    notebooks/NN_name.ipynb
    run/...                the run-folder results the notebooks hand to each other

The instructor's ``paysages collect`` checks every file against the manifest. Only data files
of the run folder are packed (models, histories, JSON, CSV, arrays, figures), never code, and
their total size is capped. Usage (students)::

    paysages submit --student-id 22001234 --out rendu.zip
    python -m paysages.submit --student-id 22001234 --notebooks . --run-dir paysages_run --out rendu.zip

Messages are in French: this command is for students.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import sys
import zipfile
from pathlib import Path

from paysages import __version__
from paysages.errors import PaysagesError

FORMAT_NAME = "paysages-submission"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")
NOTEBOOK_PATTERN = re.compile(r"^[0-9][0-9]_[A-Za-z0-9_]+\.ipynb$")
# Run-folder files worth sending: results, never code. Backups and temporary files are skipped.
ARTIFACT_SUFFIXES = {".json", ".csv", ".keras", ".npz", ".npy", ".png", ".jpg", ".jpeg", ".svg", ".pdf", ".txt"}
SKIPPED_FOLDERS = {"backup", "__pycache__", ".ipynb_checkpoints"}
DEFAULT_MAX_ARTIFACT_MEGABYTES = 200
# How the instructor's `paysages collect` recognises a student's files by default (LMS exports:
# "<studentid>_<anything>.ipynb" or ".zip"; the student id stops at the first underscore).
DEFAULT_SUBMISSION_PATTERN = r"^(?P<student>[A-Za-z0-9][A-Za-z0-9.-]*)_.+\.(ipynb|zip)$"


class SubmissionError(PaysagesError):
    """The submission cannot be packed; the message (in French) says what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    if run_dir is None:
        run_dir = Path(os.environ.get("PAYSAGES_RUN_DIR") or notebooks_dir / "paysages_run")
    run_dir = Path(run_dir).expanduser().resolve()
    notebooks = sorted(path for path in notebooks_dir.iterdir() if NOTEBOOK_PATTERN.match(path.name))
    if not notebooks:
        raise SubmissionError(
            f"Aucun notebook du cours (00_....ipynb) dans {notebooks_dir} : indiquez le bon dossier "
            "avec --notebooks."
        )
    assignment, expected = expected_notebooks(notebooks)
    present = {path.stem for path in notebooks}
    missing = [name for name in expected if name not in present]
    if missing and not allow_missing:
        raise SubmissionError(
            "Notebook(s) manquant(s) dans " + str(notebooks_dir) + " : " + ", ".join(f"{name}.ipynb" for name in missing)
            + ". Rendez tous les notebooks (même inachevés) ou, pour un rendu partiel assumé, "
              "ajoutez --allow-missing."
        )
    unknown = sorted(present - set(expected)) if expected else []
    if unknown:
        notebooks = [path for path in notebooks if path.stem not in unknown]

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
    entries = [(path, f"notebooks/{path.name}", "notebook") for path in notebooks]
    entries += [(path, f"run/{path.relative_to(run_dir).as_posix()}", "artifact") for path in artifacts]
    for path, member, kind in entries:
        files.append({"path": member, "kind": kind, "size": path.stat().st_size, "sha256": _sha256(path)})
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "student_id": student_id,
        "assignment": assignment,
        "kit_version": __version__,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "missing_notebooks": missing,
        "files": files,
    }
    out = Path(out).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False))
        for path, member, _ in entries:
            archive.write(path, member)
    os.replace(temporary, out)
    return manifest


def add_submit_command(subparsers) -> argparse.ArgumentParser:
    """Register ``submit`` on an argparse sub-parser collection."""
    parser = subparsers.add_parser("submit", help="pack the notebooks and the run folder into a zip to upload")
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--student-id", required=True, help="votre numéro d'étudiant")
    parser.add_argument("--notebooks", type=Path, default=Path("."), help="dossier des notebooks (défaut : .)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="dossier de run (défaut : PAYSAGES_RUN_DIR ou paysages_run/ à côté des notebooks)")
    parser.add_argument("--out", type=Path, required=True, help="fichier zip à écrire")
    parser.add_argument("--allow-missing", action="store_true", help="accepter un rendu sans tous les notebooks")
    parser.add_argument("--max-run-mb", type=float, default=DEFAULT_MAX_ARTIFACT_MEGABYTES,
                        help=f"taille maximale du dossier de run envoyé (défaut {DEFAULT_MAX_ARTIFACT_MEGABYTES} Mo)")
    parser.set_defaults(handler=command_submit)


def command_submit(arguments) -> int:
    manifest = build_submission(
        arguments.student_id, arguments.out, notebooks_dir=arguments.notebooks, run_dir=arguments.run_dir,
        allow_missing=arguments.allow_missing, max_artifact_megabytes=arguments.max_run_mb,
    )
    notebooks = [item for item in manifest["files"] if item["kind"] == "notebook"]
    artifacts = [item for item in manifest["files"] if item["kind"] == "artifact"]
    size = sum(item["size"] for item in manifest["files"])
    print(f"Rendu écrit : {arguments.out} ({len(notebooks)} notebook(s), {len(artifacts)} fichier(s) du "
          f"dossier de run, {size / 1e6:.1f} Mo avant compression).")
    if manifest["missing_notebooks"]:
        print("ATTENTION : notebook(s) absent(s) : " + ", ".join(manifest["missing_notebooks"]))
    print("Déposez ce fichier zip sur la plateforme du cours, sans le renommer après le préfixe de votre numéro.")
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
