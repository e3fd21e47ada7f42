"""Unpack a dataset archive safely into class folders, or move a bad archive aside.

:func:`extract_archive` refuses unsafe members (absolute paths, ``..``, links, devices), zip
bombs and damaged members, drops the clutter of other systems (``__MACOSX``, ``Thumbs.db``...),
accepts the class folders at the root or under one top folder, and extracts into a staging
folder that replaces the destination with renames only. :func:`quarantine_archive` renames a
bad archive ``*.bad``: nothing is deleted, and the next run downloads a fresh copy.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from paysages.errors import ArchiveError
from paysages.files import CHUNK_SIZE, swap_folder_into_place


MANIFEST_FILENAME = "paysages_dataset.json"

# Refuse archives that claim to unpack to more than this (a decompression bomb, or the wrong file).
MAX_EXTRACTED_BYTES = 8 * 1024**3

# Names that operating systems and notebooks leave behind; they never become classes.
JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})


@dataclasses.dataclass
class ExtractReport:
    """What :func:`extract_archive` did with each member of the archive."""

    archive: Path
    destination: Path
    layout: str  # "root", or the name of the single top folder holding the class folders
    counts: dict[str, int]
    ignored: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    excluded: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unexpected_folders(self) -> list[str]:
        """The folders (relative to the class folders' parent) holding unexpected files."""
        folders = set()
        prefix = "" if self.layout == "root" else self.layout + "/"
        for name in self.unexpected:
            relative = name[len(prefix):] if prefix and name.startswith(prefix) else name
            if "/" in relative:
                folders.add(relative.split("/", 1)[0])
        return sorted(folders)

    def format(self) -> str:
        lines = [f"Extracted {self.total} files from {self.archive.name} into {self.destination}:"]
        lines += [f"  {name:<10} {count:>5}" for name, count in self.counts.items()]
        if self.excluded:
            lines.append(f"Left out {len(self.excluded)} files on request (licence filter).")
        if self.ignored:
            lines.append(
                f"Ignored {len(self.ignored)} system or hidden files (__MACOSX, .DS_Store, ...)."
            )
        if self.unexpected:
            lines.append(
                f"Did not extract {len(self.unexpected)} files outside the class folders, e.g. "
                + ", ".join(self.unexpected[:5])
            )
        return "\n".join(lines)


class _ArchiveFault(ArchiveError):
    """The archive itself is corrupt, unsafe or not the dataset: using it again cannot help.

    ``problem`` is the message without the advice, for callers that act on the archive.
    """

    def __init__(self, problem: str, advice: str):
        super().__init__(f"{problem} {advice}")
        self.problem = problem


def _member_parts(name: str) -> list[str]:
    # Some Windows tools write backslashes: treat them as separators too.
    return [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]


def _unsafe_reason(zip_file: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """Return why a member must not be extracted, or None when its path is safe."""
    name = info.filename
    normalized = name.replace("\\", "/")
    if "\x00" in name:
        return "its name holds a NUL character"
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return "its path is absolute"
    if ".." in _member_parts(name):
        return "its path climbs out of the folder with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        target = zip_file.read(info).decode("utf-8", errors="replace").replace("\\", "/")
        if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
            return f"it is a symbolic link to the absolute path {target!r}"
        depth = 0
        for part in _member_parts(str(PurePosixPath(normalized).parent)) + target.split("/"):
            if part in ("", "."):
                continue
            depth = depth - 1 if part == ".." else depth + 1
            if depth < 0:
                return f"it is a symbolic link to {target!r}, outside the archive's folder"
    return None


def _is_junk(part: str) -> bool:
    return part.startswith(".") or part in JUNK_NAMES


def _remove_stale_siblings(destination: Path) -> None:
    # Leftovers of an extraction that was interrupted (power cut, killed kernel).
    for pattern in (f".{destination.name}.extracting-*", f".{destination.name}.old-*"):
        for stale in destination.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def extract_archive(
    zip_path: Path,
    destination: Path,
    class_names: Sequence[str],
    *,
    exclude: Iterable[tuple[str, str]] = frozenset(),
) -> ExtractReport:
    """Extract the class folders of a zip archive into ``destination/<class>/``, safely.

    The archive may hold the class folders at its root or under exactly one top folder (such as
    ``landscapes_small/city/...``). ``__MACOSX``, ``.DS_Store``, ``.ipynb_checkpoints`` and other
    hidden files are ignored; files outside the declared class folders are reported, not
    extracted. Everything is first written to a hidden sibling folder that replaces
    ``destination`` in one rename once complete. Entries of an existing ``destination`` other than
    the class folders and the manifest (the licence metadata, for instance) are carried over.

    Args:
        zip_path: the archive.
        destination: the folder that will hold one sub-folder per class.
        class_names: the class folders the archive must provide.
        exclude: ``(class_name, filename)`` pairs to leave out (the no-derivatives filter).

    Returns:
        An :class:`ExtractReport`.

    Raises:
        ArchiveError: the archive is corrupt, holds a member whose path is absolute, climbs out
            with ``..`` or is a symbolic link pointing outside (nothing is extracted then), or
            lacks class folders (named).
    """
    zip_path = Path(zip_path)
    destination = Path(destination)
    class_names = list(class_names)
    class_set = set(class_names)
    exclude = set(exclude)
    advice = f"Delete {zip_path} and run the download again."

    if not zip_path.is_file():
        raise ArchiveError(f"The archive {zip_path} does not exist.")
    if not zipfile.is_zipfile(zip_path):
        raise _ArchiveFault(f"{zip_path} is not a valid zip archive (corrupt or truncated).", advice)
    try:
        zip_file = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise _ArchiveFault(f"{zip_path} cannot be opened as a zip archive ({error}).", advice) from error

    with zip_file:
        try:
            bad_member = zip_file.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
            raise _ArchiveFault(f"{zip_path} is corrupt ({error}).", advice) from error
        if bad_member is not None:
            raise _ArchiveFault(
                f"{zip_path} is corrupt: member {bad_member!r} fails its CRC check.", advice
            )
        # Every member is checked before anything is written.
        infos = zip_file.infolist()
        for info in infos:
            reason = _unsafe_reason(zip_file, info)
            if reason is not None:
                raise _ArchiveFault(
                    f"{zip_path} holds the unsafe member {info.filename!r}: {reason}. "
                    "Nothing was extracted; this archive is not the expected dataset.",
                    advice,
                )

        # Sort members into ignored junk, symbolic links and candidate files.
        ignored, unexpected, candidates = [], [], []
        for info in infos:
            parts = _member_parts(info.filename)
            if info.is_dir() or not parts:
                continue
            if any(_is_junk(part) for part in parts):
                ignored.append(info.filename)
            elif stat.S_ISLNK(info.external_attr >> 16):
                unexpected.append(info.filename)
            else:
                candidates.append((info, parts))

        # Find where the class folders are: at the root, or under exactly one top folder.
        top_folders = {parts[0] for _, parts in candidates if len(parts) > 1}
        if top_folders & class_set:
            layout, depth = "root", 0
        elif len(top_folders) == 1:
            layout, depth = next(iter(top_folders)), 1
        else:
            raise _ArchiveFault(
                f"{zip_path} has none of the class folders ({', '.join(class_names)}) at its root "
                "or under a single top folder; its top folders are: "
                + (", ".join(sorted(top_folders)) or "none")
                + ".",
                advice,
            )

        selected: dict[tuple[str, str], zipfile.ZipInfo] = {}
        found = {name: 0 for name in class_names}
        for info, parts in candidates:
            relative = parts[depth:] if depth == 0 or parts[0] == layout else []
            if len(relative) != 2 or relative[0] not in class_set:
                unexpected.append(info.filename)
                continue
            key = (relative[0], relative[1])
            if key in selected:
                unexpected.append(info.filename)  # A duplicate name: keep the first one.
                continue
            selected[key] = info
            found[key[0]] += 1

        missing = [name for name in class_names if found[name] == 0]
        if missing:
            present = [name for name in class_names if found[name]]
            raise _ArchiveFault(
                f"{zip_path} lacks the class folder(s) {', '.join(missing)} "
                f"(found: {', '.join(present) or 'none'}).",
                advice,
            )
        excluded = sorted(key for key in selected if key in exclude)
        to_extract = {key: info for key, info in selected.items() if key not in exclude}
        declared = sum(info.file_size for info in to_extract.values())
        if declared > MAX_EXTRACTED_BYTES:
            raise _ArchiveFault(
                f"{zip_path} would unpack to {declared / 1024**3:.1f} GiB, more than the "
                f"{MAX_EXTRACTED_BYTES / 1024**3:.0f} GiB limit: it is not the expected dataset.",
                advice,
            )

        destination.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_siblings(destination)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{destination.name}.extracting-", dir=destination.parent)
        )
        try:
            for name in class_names:
                (staging / name).mkdir()
            for (class_name, filename), info in sorted(to_extract.items()):
                target_path = staging / class_name / filename
                with zip_file.open(info) as source, open(target_path, "wb") as target:
                    shutil.copyfileobj(source, target, CHUNK_SIZE)
            _carry_over(destination, staging, class_set)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise _ArchiveFault(f"{zip_path} is corrupt ({error}).", advice) from error
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            swap_folder_into_place(staging, destination)
        except BaseException:
            # The old folder is back in place; the unfinished copy is not needed.
            shutil.rmtree(staging, ignore_errors=True)
            raise

    counts = {name: 0 for name in class_names}
    for class_name, _ in to_extract:
        counts[class_name] += 1
    return ExtractReport(
        archive=zip_path,
        destination=destination,
        layout=layout,
        counts=counts,
        ignored=ignored,
        unexpected=unexpected,
        excluded=excluded,
    )


def _carry_over(destination: Path, staging: Path, class_set: set[str]) -> None:
    """Copy what ``destination`` holds besides class folders and manifest into ``staging``."""
    if not destination.exists():
        return
    if not destination.is_dir():
        raise ArchiveError(f"{destination} exists and is not a folder: move it away first.")
    for child in destination.iterdir():
        if child.name in class_set or child.name == MANIFEST_FILENAME:
            continue
        target = staging / child.name
        if child.is_dir() and not child.is_symlink():
            shutil.copytree(child, target, symlinks=True)
        else:
            shutil.copy2(child, target, follow_symlinks=False)


def quarantine_archive(archive: Path) -> Path:
    """Move a bad archive aside as ``<name>.bad`` (``<name>.2.bad``... if taken); return the new path.

    Nothing is deleted, so the file can still be inspected, and the next run downloads afresh.
    """
    archive = Path(archive)
    target = archive.with_name(archive.name + ".bad")
    number = 2
    while target.exists():
        target = archive.with_name(f"{archive.name}.{number}.bad")
        number += 1
    os.replace(archive, target)
    return target
