"""Check a downloaded dataset: the archive against its recorded fingerprint, the images
against their licence metadata.

* :func:`check_archive_fingerprint` compares the archive's SHA-256 and size with the registry's
  (when it records them) and quarantines an archive that differs.
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
    """Return the line that identifies an archive: its SHA-256 and its size in bytes."""
    return f"SHA-256 {sha256}, {size:,} bytes ({size / 1024**2:.1f} MiB)"


def _has_fingerprint(spec: DatasetSpec) -> bool:
    return bool(spec.archive_sha256) or spec.archive_size is not None


def check_archive_fingerprint(archive: Path, spec: DatasetSpec) -> tuple[str, int]:
    """Return the archive's SHA-256 and size, after checking them against the registry.

    The registry's ``sha256`` and ``size`` are checked when it carries them. On a mismatch the
    archive is quarantined (renamed ``*.bad``, nothing is deleted) and a
    :class:`~paysages.errors.FingerprintError` names the file, what was expected and what was
    found.
    """
    archive = Path(archive)
    size = archive.stat().st_size
    sha256 = sha256_of_file(archive)
    differences = []
    if spec.archive_sha256 and sha256 != spec.archive_sha256.lower():
        differences.append(f"SHA-256 expected {spec.archive_sha256.lower()}, found {sha256}")
    if spec.archive_size is not None and size != spec.archive_size:
        differences.append(f"size expected {spec.archive_size:,} bytes, found {size:,} bytes")
    if not differences:
        return sha256, size
    quarantined = quarantine_archive(archive)
    raise FingerprintError(
        f"The archive {archive} is not the file recorded in the dataset registry: "
        + "; ".join(differences)
        + f". It was moved aside to {quarantined} (kept for inspection, nothing is deleted); the "
        "next run downloads it again. If the new copy differs the same way, the file on the server "
        "has changed: tell the instructor, who records the archive's fingerprint."
    )
