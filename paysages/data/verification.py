"""Check a downloaded dataset: the archive against its recorded fingerprint, the images
against their licence metadata.

* :func:`check_archive_fingerprint` compares the archive's SHA-256 and size with the registry's
  (when it records them; they come from ``autograde/course.json``) and quarantines an archive
  that differs; :func:`describe_archive_check` says in French what was checked.
* :func:`verify_against_metadata` lists, class by class, the photos the licence metadata names
  that are missing from the folder, and the files the metadata does not know.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from paysages.data.archive import _is_junk, quarantine_archive
from paysages.errors import FingerprintError
from paysages.files import sha256_of_file
from paysages.licences import PhotoInfo
from paysages.registry import DatasetSpec


@dataclasses.dataclass
class MetadataReport:
    """How the extracted class folders compare with the licence metadata."""

    counts: dict[str, int]
    missing: dict[str, list[str]]
    unexpected: dict[str, list[str]]
    missing_folders: list[str] = dataclasses.field(default_factory=list)
    excluded_count: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.missing_folders
            or any(self.missing.values())
            or any(self.unexpected.values())
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def format(self, limit: int = 10) -> str:
        """Return a readable summary naming up to ``limit`` files per class and problem."""
        lines = [f"{self.total} images in the class folders:"]
        lines += [f"  {name:<10} {count:>5}" for name, count in self.counts.items()]
        if self.excluded_count:
            lines.append(f"{self.excluded_count} photos left out by the licence filter.")
        for name in self.missing_folders:
            lines.append(f"Missing class folder: {name}")
        for title, table in (
            ("described in the licence metadata but missing", self.missing),
            ("present but not in the licence metadata", self.unexpected),
        ):
            for class_name, filenames in table.items():
                if not filenames:
                    continue
                shown = ", ".join(filenames[:limit])
                more = f" and {len(filenames) - limit} more" if len(filenames) > limit else ""
                lines.append(f"{class_name}: {len(filenames)} file(s) {title}: {shown}{more}")
        lines.append("All files match the licence metadata." if self.ok else "Mismatches found.")
        return "\n".join(lines)


def _files_in(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        path.name for path in folder.iterdir() if path.is_file() and not _is_junk(path.name)
    }


def verify_against_metadata(
    dataset_dir: Path,
    metadata: dict[tuple[str, str], PhotoInfo],
    spec: DatasetSpec,
    *,
    excluded: Iterable[tuple[str, str]] = frozenset(),
) -> MetadataReport:
    """Compare the class folders of ``dataset_dir`` with the licence metadata, file by file.

    Photos in ``excluded`` (the no-derivatives filter) must be absent: they are not reported
    missing, and reported unexpected when present.
    """
    dataset_dir = Path(dataset_dir)
    excluded = set(excluded)
    expected: dict[str, set[str]] = {name: set() for name in spec.class_names}
    for class_name, filename in metadata:
        if class_name in expected and (class_name, filename) not in excluded:
            expected[class_name].add(filename)

    counts, missing, unexpected, missing_folders = {}, {}, {}, []
    for class_name in spec.class_names:
        folder = dataset_dir / class_name
        if not folder.is_dir():
            missing_folders.append(class_name)
        present = _files_in(folder)
        counts[class_name] = len(present)
        missing[class_name] = sorted(expected[class_name] - present)
        unexpected[class_name] = sorted(present - expected[class_name])
    return MetadataReport(
        counts=counts,
        missing=missing,
        unexpected=unexpected,
        missing_folders=missing_folders,
        excluded_count=len(excluded),
    )


def format_fingerprint(sha256: str, size: int) -> str:
    """Return the line that identifies an archive: its SHA-256 and its size in bytes.

    The size is written as a plain integer, so that it can be copied into a JSON file as is.
    """
    return f"SHA-256 {sha256}, taille {size} octets ({size / 1024**2:.1f} Mio)"


def _has_fingerprint(spec: DatasetSpec) -> bool:
    return bool(spec.archive_sha256) or spec.archive_size is not None


def describe_archive_check(spec: DatasetSpec, sha256: str, size: int) -> str:
    """Return the French report of an archive's fingerprint check, for the download's output.

    With a fingerprint in the registry, it says that the archive matches it (the caller has
    checked it with :func:`check_archive_fingerprint`). Without one, it says plainly that the
    archive is not verified, and gives the values the instructor records (see
    :func:`check_archive_fingerprint`).
    """
    name = spec.archive_filename
    if _has_fingerprint(spec):
        return (
            f"Archive {name} vérifiée : {format_fingerprint(sha256, size)}, identiques à "
            "l'empreinte enregistrée pour ce cours."
        )
    return (
        f"ATTENTION : l'archive {name} n'est PAS vérifiée : aucune empreinte de référence "
        "(SHA-256 et taille) n'est enregistrée pour elle dans ce kit, elle n'a donc été comparée "
        f"à rien. Ses valeurs : {format_fingerprint(sha256, size)}. Étudiant : vous pouvez "
        "continuer, mais signalez ce message à l'enseignant. Enseignant : enregistrez ces valeurs "
        f'dans autograde/course.json, "dataset_archive": {{"sha256": "{sha256}", "size": {size}}}, '
        "puis lancez `make notebooks` (qui les écrit dans datasets/registry.json, le registre du "
        "kit) : chaque téléchargement sera alors vérifié."
    )


def check_archive_fingerprint(archive: Path, spec: DatasetSpec) -> tuple[str, int]:
    """Return the archive's SHA-256 and size, after checking them against the registry.

    The registry's ``archive.sha256`` and ``archive.size`` are checked when it carries them.
    They are not written by hand: the instructor records them once in
    ``autograde/course.json`` (``dataset_archive``) and ``make notebooks``
    (:mod:`autograde.build_notebooks`) copies them into ``datasets/registry.json``, the registry
    the student package ships (as ``paysages/registry.json``). On a mismatch the archive is
    quarantined (renamed ``*.bad``, nothing is deleted) and a
    :class:`~paysages.errors.FingerprintError` names the file, the expected and the actual
    values, and what to do, in French (students read it in notebook 00).
    """
    archive = Path(archive)
    size = archive.stat().st_size
    sha256 = sha256_of_file(archive)
    expected_sha256 = spec.archive_sha256.lower() if spec.archive_sha256 else None
    sha256_differs = expected_sha256 is not None and sha256 != expected_sha256
    size_differs = spec.archive_size is not None and size != spec.archive_size
    if not (sha256_differs or size_differs):
        return sha256, size
    differences = []
    if sha256_differs:
        differences.append(f"SHA-256 attendu {expected_sha256}, trouvé {sha256}")
    if size_differs:
        differences.append(f"taille attendue {spec.archive_size} octets, trouvée {size} octets")
    quarantined = quarantine_archive(archive)
    raise FingerprintError(
        f"L'archive {archive} n'est pas le fichier enregistré pour ce cours : "
        + " ; ".join(differences)
        + f". Elle a été mise de côté sous le nom {quarantined} (gardée pour examen, rien n'est "
        "effacé). Relancez le téléchargement (ré-exécutez la cellule, ou `paysages data "
        "download`) : il en télécharge une nouvelle copie. Si la nouvelle copie diffère de la même "
        "façon, le fichier du serveur a changé : prévenez l'enseignant en lui donnant les valeurs "
        "trouvées ci-dessus."
    )
