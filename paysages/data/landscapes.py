"""Download, check and unpack the real ml5js Landscapes dataset.

Everything lives under one data root (``settings.data_root``; ``datasets/`` in a source checkout)::

    <root>/_downloads/landscapes_small.zip        the archive, kept: re-extracting needs no network
    <root>/_downloads/landscapes_small.zip.part   an unfinished download, resumed by the next run
    <root>/_downloads/landscapes_small.zip.bad    an archive that failed its checks, moved aside
    <root>/landscapes/licenses/<class>_photos_info.json   licence metadata, one file per class
    <root>/landscapes/<class>/<photo>.jpg         the images, one folder per class
    <root>/landscapes/paysages_dataset.json       the manifest, written last

:func:`fetch_landscapes` ties the steps together: the transfer (:mod:`paysages.data.transfer`),
the fingerprint and metadata checks (:mod:`paysages.data.verification`) and the extraction
(:mod:`paysages.data.archive`). The archive's expected SHA-256 and size are recorded once by the
instructor in ``autograde/course.json`` (``dataset_archive``); ``make notebooks`` writes them into
``datasets/registry.json``, which the student package ships. Every run prints the archive's
SHA-256 and size, and says whether they matched the recorded ones or that none is recorded. The
manifest is written only once the images are extracted and checked, so a folder without it is
never complete. Without network it raises
:class:`~paysages.errors.OfflineError` at once with the exact paths where the files can be put
by hand.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

from paysages import __version__
from paysages.colab import keep_archive, restore_kept_archive
from paysages.data.archive import (
    MANIFEST_FILENAME,
    _ArchiveFault,
    extract_archive,
    quarantine_archive,
)
from paysages.data.transfer import download_file
from paysages.data.verification import (
    _files_in,
    _has_fingerprint,
    check_archive_fingerprint,
    describe_archive_check,
    verify_against_metadata,
)
from paysages.errors import ArchiveError, DatasetError, DownloadError, OfflineError
from paysages.files import sha256_of_file, write_json_atomic
from paysages.licences import load_licence_metadata, no_derivative_files, verify_sha256
from paysages.registry import DatasetSpec, get_dataset_spec


# Where the files go under the data root.
DOWNLOADS_DIRNAME = "_downloads"

LICENCES_DIRNAME = "licenses"

MANIFEST_FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class DatasetPaths:
    """Where each file of a downloaded dataset lives under the data root."""

    root: Path
    archive: Path
    dataset_dir: Path
    licences_dir: Path
    manifest: Path


def dataset_paths(root: Path, spec: DatasetSpec) -> DatasetPaths:
    """Return the paths :func:`fetch_landscapes` uses under ``root`` for ``spec``."""
    if not spec.archive_filename:
        raise DatasetError(f"Dataset {spec.name!r} has no archive to download.")
    root = Path(root)
    dataset_dir = root / spec.name
    return DatasetPaths(
        root=root,
        archive=root / DOWNLOADS_DIRNAME / spec.archive_filename,
        dataset_dir=dataset_dir,
        licences_dir=dataset_dir / LICENCES_DIRNAME,
        manifest=dataset_dir / MANIFEST_FILENAME,
    )


def manual_download_instructions(
    root: Path,
    spec: DatasetSpec,
    *,
    archive: bool = True,
    metadata_classes: Sequence[str] | None = None,
) -> str:
    """Explain where to put the dataset's files by hand (for a machine without network)."""
    paths = dataset_paths(root, spec)
    metadata_classes = spec.class_names if metadata_classes is None else metadata_classes
    lines = ["To install the dataset by hand, on a machine with internet:"]
    step = 1
    if archive:
        lines.append(f"  {step}. download the archive (a zip of several megabytes) from one of")
        lines += [f"       {url}" for url in spec.archive_urls]
        lines.append(f"     and put it at {paths.archive}")
        lines.append("     (a file of a few hundred bytes is a Git LFS pointer: try the next address)")
        step += 1
    if metadata_classes:
        lines.append(f"  {step}. download the licence metadata files from one of")
        lines += [f"       {template}" for template in spec.metadata_url_templates]
        lines.append(
            "     with {class_name} = "
            + ", ".join(metadata_classes)
            + f", and put them in {paths.licences_dir}/"
        )
        lines.append(
            "     (" + ", ".join(spec.metadata_filename(name) for name in metadata_classes) + ")"
        )
    lines.append(
        "Then run the download again: it uses these files and needs no network. Meanwhile the "
        "fast mode works offline with the bundled sample dataset (PAYSAGES_MODE=fast)."
    )
    return "\n".join(lines)


def read_manifest(dataset_dir: Path) -> dict | None:
    """Return the manifest of a fetched dataset, or None when there is none (or it is damaged).

    A folder without a readable manifest was never completely fetched: fetch it again.
    """
    path = Path(dataset_dir) / MANIFEST_FILENAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, flush=True)


def manifest_matches_fingerprint(manifest: dict, spec: DatasetSpec | None = None) -> bool:
    """Say whether the archive a manifest was extracted from has the registry's fingerprint.

    ``spec`` defaults to ``get_dataset_spec("landscapes")``. True when the registry records none.
    A dataset installed before the instructor recorded the fingerprint (or with another one) is
    not up to date: its kept archive is checked again (or downloaded, and checked).
    """
    spec = get_dataset_spec("landscapes") if spec is None else spec
    archive_record = manifest.get("archive") or {}
    if spec.archive_sha256 and archive_record.get("sha256") != spec.archive_sha256.lower():
        return False
    if spec.archive_size is not None and archive_record.get("size") != spec.archive_size:
        return False
    return True


def _is_up_to_date(paths: DatasetPaths, spec: DatasetSpec, exclude_no_derivatives: bool) -> bool:
    manifest = read_manifest(paths.dataset_dir)
    if manifest is None or manifest.get("dataset") != spec.name:
        return False
    if (manifest.get("filter") or {}).get("exclude_no_derivatives") != exclude_no_derivatives:
        return False
    if not manifest_matches_fingerprint(manifest, spec):
        return False
    counts = manifest.get("counts") or {}
    for class_name in spec.class_names:
        if len(_files_in(paths.dataset_dir / class_name)) != counts.get(class_name):
            return False
    try:
        verify_sha256(paths.licences_dir, spec)
    except DatasetError:
        return False
    return True


def _archive_is_reusable(paths: DatasetPaths, spec: DatasetSpec, progress: bool) -> bool:
    """Say whether the archive already on disk can be used.

    With a fingerprint in the registry, a kept archive is reused and then checked by
    :func:`check_archive_fingerprint`. Without one, an archive that is not a zip is deleted and
    downloaded again (it is a failed download, such as an HTML error page).
    """
    archive = paths.archive
    if not archive.is_file():
        return False
    if _has_fingerprint(spec):
        # fetch_landscapes checks (and quarantines) it right after the downloads.
        return True
    if zipfile.is_zipfile(archive):
        return True
    _say(progress, f"{archive} is not a valid zip archive: downloading it again.")
    archive.unlink()
    return False


def _metadata_is_reusable(path: Path, expected_sha256: str | None) -> bool:
    if not path.is_file():
        return False
    if expected_sha256 is None or sha256_of_file(path) == expected_sha256.lower():
        return True
    path.unlink()
    return False


def _download_missing_files(paths: DatasetPaths, spec: DatasetSpec, progress: bool) -> None:
    """Download the archive and the licence metadata files that are not on disk yet."""
    need_archive = not _archive_is_reusable(paths, spec, progress)
    need_metadata = [
        name
        for name in spec.class_names
        if not _metadata_is_reusable(
            paths.licences_dir / spec.metadata_filename(name), spec.metadata_sha256.get(name)
        )
    ]
    if need_archive and not spec.archive_urls:
        raise DatasetError(
            f"No download URL is known for {spec.archive_filename}.\n"
            + manual_download_instructions(paths.root, spec, metadata_classes=need_metadata)
        )

    done_archive = not need_archive
    done_metadata: list[str] = []
    try:
        if need_archive:
            _say(progress, f"Downloading {spec.archive_filename} into {paths.archive.parent} ...")
            # The fingerprint is checked by fetch_landscapes rather than by download_file, so
            # that a wrong archive is quarantined (kept for inspection) instead of deleted.
            download_file(spec.archive_urls, paths.archive, progress=progress)
            done_archive = True
            if not _has_fingerprint(spec) and not zipfile.is_zipfile(paths.archive):
                paths.archive.unlink()
                raise DownloadError(
                    f"The server's answer for {spec.archive_filename} is not a zip archive."
                )
        if need_metadata:
            _say(progress, f"Downloading the licence metadata into {paths.licences_dir} ...")
        for name in need_metadata:
            download_file(
                spec.metadata_urls(name),
                paths.licences_dir / spec.metadata_filename(name),
                expected_sha256=spec.metadata_sha256.get(name),
                progress=False,
            )
            done_metadata.append(name)
    except DatasetError as error:
        still_needed = [name for name in need_metadata if name not in done_metadata]
        instructions = manual_download_instructions(
            paths.root, spec, archive=not done_archive, metadata_classes=still_needed
        )
        kind = OfflineError if isinstance(error, OfflineError) else type(error)
        headline = (
            "No network: the Landscapes dataset cannot be downloaded."
            if isinstance(error, OfflineError)
            else "The Landscapes dataset could not be downloaded."
        )
        raise kind(f"{headline}\n{error}\n\n{instructions}") from error


def fetch_landscapes(
    root: Path,
    *,
    spec: DatasetSpec | None = None,
    exclude_no_derivatives: bool = False,
    progress: bool = True,
    kept_archives: Path | None = None,
) -> Path:
    """Download (or reuse), check and extract the ml5js Landscapes dataset; return its folder.

    The archive is kept in ``root/_downloads/`` and the licence metadata in
    ``root/landscapes/licenses/``; the images are extracted into ``root/landscapes/<class>/``
    and the manifest ``root/landscapes/paysages_dataset.json`` is written last. A second call with
    the same filter returns at once; with another filter it re-extracts from the kept archive
    without network.

    Args:
        root: the data root (``settings.data_root``).
        spec: the registry entry; defaults to ``get_dataset_spec("landscapes")``.
        exclude_no_derivatives: leave out the photos whose licence forbids derivative works
            (licences 3 and 6), as the ml5js README asks for projects that build upon the images.
        progress: print what happens and show progress bars. The archive's fingerprint line
            (verified, or not verified because none is recorded) is printed either way.
        kept_archives: a folder that keeps one verified copy of the archive (Google Drive in
            Colab, see :mod:`paysages.colab`): an archive missing here is copied from it and
            checked instead of downloaded, and a verified archive is kept there.

    Returns:
        The dataset folder, ``root/landscapes``.

    Raises:
        OfflineError: a file was missing and no server could be reached; the message says where
            to put each file by hand.
        FingerprintError: the archive's SHA-256 or size differs from the recorded ones; it was
            moved aside (``*.bad``) and the French message gives both values and what to do.
        DownloadError, ArchiveError, DatasetError: a download, the archive or the metadata is
            wrong; the message says what to do.
    """
    spec = get_dataset_spec("landscapes") if spec is None else spec
    if spec.kind != "download" or not spec.metadata_filename_template:
        raise DatasetError(f"Dataset {spec.name!r} is not a downloadable dataset with licences.")
    paths = dataset_paths(Path(root).expanduser(), spec)

    if _is_up_to_date(paths, spec, exclude_no_derivatives):
        _say(progress, f"The {spec.title} dataset is already in {paths.dataset_dir}.")
        archive_record = read_manifest(paths.dataset_dir)["archive"]
        # Printed even without progress: whether the archive was verified is never silent.
        print(describe_archive_check(spec, archive_record["sha256"], archive_record["size"]), flush=True)
        if kept_archives is not None and paths.archive.is_file():
            keep_archive(paths.archive, kept_archives, archive_record["sha256"])
        return paths.dataset_dir

    if kept_archives is not None:
        restore_kept_archive(paths.archive, kept_archives, spec.archive_sha256)
    _download_missing_files(paths, spec, progress)
    archive_sha256, archive_size = check_archive_fingerprint(paths.archive, spec)
    # Printed even without progress: whether the archive was verified is never silent.
    print(describe_archive_check(spec, archive_sha256, archive_size), flush=True)
    metadata_sha256 = verify_sha256(paths.licences_dir, spec)
    metadata = load_licence_metadata(paths.licences_dir, spec)
    excluded = no_derivative_files(metadata, spec) if exclude_no_derivatives else set()

    # The manifest goes first and comes back last: a folder without it is never complete.
    paths.manifest.unlink(missing_ok=True)
    _say(progress, f"Extracting {paths.archive.name} into {paths.dataset_dir} ...")
    try:
        extract_report = extract_archive(
            paths.archive, paths.dataset_dir, spec.class_names, exclude=excluded
        )
    except _ArchiveFault as error:
        # A kept archive that cannot be used would otherwise be reused by every later run.
        quarantined = quarantine_archive(paths.archive)
        _say(progress, f"The archive is unusable: moved aside to {quarantined}.")
        raise ArchiveError(
            f"{error.problem}\nThe archive was moved aside to {quarantined} (kept for inspection, "
            "nothing is deleted); the next run downloads it again. If the new copy fails the "
            "same way, the server's file itself is damaged.\n"
            + manual_download_instructions(paths.root, spec, metadata_classes=[])
        ) from error
    check = verify_against_metadata(paths.dataset_dir, metadata, spec, excluded=excluded)
    if not check.ok:
        warnings.warn(
            "The extracted Landscapes images do not match their licence metadata:\n"
            + check.format(),
            stacklevel=2,
        )

    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "dataset": spec.name,
        "title": spec.title,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "paysages_version": __version__,
        "archive": {
            "path": paths.archive.relative_to(paths.root).as_posix(),
            "sha256": archive_sha256,
            "size": archive_size,
            "sha256_in_registry": spec.archive_sha256,
            "size_in_registry": spec.archive_size,
            "layout": extract_report.layout,
            "ignored_members": len(extract_report.ignored),
            "unexpected_members": extract_report.unexpected,
        },
        "licence_metadata": {
            "folder": LICENCES_DIRNAME,
            "sha256": metadata_sha256,
            "photos": len(metadata),
        },
        "filter": {
            "exclude_no_derivatives": exclude_no_derivatives,
            "excluded_licences": (
                sorted(spec.no_derivative_licences) if exclude_no_derivatives else []
            ),
            "excluded_files": len(excluded),
        },
        "counts": check.counts,
        "total": check.total,
        "metadata_check": {
            "ok": check.ok,
            "missing": {name: files for name, files in check.missing.items() if files},
            "unexpected": {name: files for name, files in check.unexpected.items() if files},
        },
    }
    write_json_atomic(paths.manifest, manifest)
    _say(progress, check.format())
    if kept_archives is not None:
        keep_archive(paths.archive, kept_archives, archive_sha256)
    return paths.dataset_dir
