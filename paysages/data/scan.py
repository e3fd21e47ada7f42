"""List the image files of the declared classes in a folder of class sub-folders.

Real image folders are messy: archives made on a Mac carry ``__MACOSX/`` and ``.DS_Store``,
Jupyter leaves ``.ipynb_checkpoints/``. :func:`scan_image_folder` lists the files of the
declared classes only; a stray folder never becomes a class, and every entry that is not used
is reported with a reason.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from paysages.errors import DatasetError


# Names that are never images nor classes, with the reason given in reports.
IGNORED_NAMES = {
    "__MACOSX": "macOS archive metadata",
    ".DS_Store": "macOS folder metadata",
    "Thumbs.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
    ".ipynb_checkpoints": "Jupyter checkpoint folder",
}

# The folder of licence metadata that the Landscapes archive keeps beside the class folders.
LICENCE_FOLDER_NAME = "licenses"


@dataclasses.dataclass
class ScanResult:
    """The files of the declared classes in an image folder, and everything else found there."""

    root: Path
    files: list[Path]
    labels: np.ndarray
    class_names: tuple[str, ...]
    ignored: list[tuple[Path, str]]
    missing_classes: list[str]
    unexpected_folders: list[Path]

    def class_counts(self) -> dict[str, int]:
        """Return the number of scanned files per class (before decoding)."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts)}


def ignore_reason(name: str, is_folder: bool, at_root: bool) -> str | None:
    """Return why a folder entry is never an image nor a class, or ``None`` when it may be one.

    ``at_root`` is True for the entries of the dataset folder itself, where the ``licenses/``
    folder and ``*.json`` files are metadata.
    """
    if name in IGNORED_NAMES:
        return IGNORED_NAMES[name]
    if name.startswith("._"):
        return "macOS resource fork (hidden file)"
    if name.startswith("."):
        return "hidden folder" if is_folder else "hidden file"
    if at_root and is_folder and name == LICENCE_FOLDER_NAME:
        return "licence metadata folder, not images"
    if at_root and not is_folder and name.lower().endswith(".json"):
        return "metadata file, not an image"
    return None

# The former private name, still imported by paysages.explorer.
_ignore_reason = ignore_reason


def _check_class_names(class_names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(class_names, str):
        raise ValueError("class_names must be a list of names, not a single string.")
    names = tuple(class_names)
    if not names:
        raise ValueError("class_names is empty: declare the class folders explicitly.")
    for name in names:
        if not isinstance(name, str) or not name or name in (".", ".."):
            raise ValueError(f"Invalid class name {name!r}.")
        if "/" in name or "\\" in name:
            raise ValueError(f"Class name {name!r} must be a folder name, not a path.")
        if ignore_reason(name, is_folder=True, at_root=True) is not None:
            raise ValueError(f"Class name {name!r} is a name the kit always ignores.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"Duplicate class name(s): {', '.join(duplicates)}.")
    return names


def _scan_class_folder(class_dir: Path, ignored: list[tuple[Path, str]]) -> list[Path]:
    """Return every candidate file under ``class_dir`` (sub-folders included), sorted."""
    found = []
    for folder, folder_names, file_names in os.walk(class_dir, followlinks=False):
        folder_path = Path(folder)
        kept_folders = []
        for name in sorted(folder_names):
            path = folder_path / name
            reason = ignore_reason(name, is_folder=True, at_root=False)
            if reason is None and path.is_symlink():
                reason = "link to a folder, not followed"
            if reason is None:
                kept_folders.append(name)
            else:
                ignored.append((path, reason))
        # Pruning in place tells os.walk not to descend into the ignored folders.
        folder_names[:] = kept_folders
        for name in file_names:
            path = folder_path / name
            reason = ignore_reason(name, is_folder=False, at_root=False)
            if reason is None:
                found.append(path)
            else:
                ignored.append((path, reason))
    return sorted(found, key=lambda path: path.relative_to(class_dir).as_posix())


def scan_image_folder(root: str | os.PathLike, class_names: Iterable[str]) -> ScanResult:
    """List the files of the declared classes under ``root``, one sub-folder per class.

    Class names are explicit: a folder that is not declared never becomes a class; it is
    listed in ``unexpected_folders`` (and in ``ignored``). Known clutter (``__MACOSX``,
    ``.DS_Store``, ``Thumbs.db``, ``.ipynb_checkpoints``, hidden entries, and at the root the
    ``licenses/`` folder and ``*.json`` files) is reported in ``ignored`` with its reason.

    Every other file inside a class folder is a candidate, whatever its extension, so that a
    file that is not an image is reported by :func:`load_images` rather than dropped silently.
    Files are sorted by class (in ``class_names`` order), then by path.

    Raises:
        DatasetError: ``root`` does not exist or is not a folder.
        ValueError: ``class_names`` is empty, repeats a name or holds an invalid name.
    """
    names = _check_class_names(class_names)
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"The image folder {root} does not exist.")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file, not a folder of class sub-folders.")

    ignored: list[tuple[Path, str]] = []
    unexpected_folders: list[Path] = []
    class_dirs: dict[str, Path] = {}
    lowered_names = {name.lower(): name for name in names}
    for entry in sorted(os.scandir(root), key=lambda item: item.name):
        path = Path(entry.path)
        is_folder = entry.is_dir()
        reason = ignore_reason(entry.name, is_folder=is_folder, at_root=True)
        if reason is not None:
            ignored.append((path, reason))
        elif entry.name in names and is_folder:
            class_dirs[entry.name] = path
        elif entry.name in names:
            ignored.append((path, "a file named like a class, not a folder"))
        elif is_folder:
            unexpected_folders.append(path)
            reason = "folder not among the declared classes"
            close_name = lowered_names.get(entry.name.lower())
            if close_name is not None:
                reason += f" (did you mean {close_name!r}? names are case-sensitive)"
            ignored.append((path, reason))
        else:
            ignored.append((path, "file outside every class folder"))

    files: list[Path] = []
    labels: list[int] = []
    missing_classes = []
    for index, name in enumerate(names):
        if name not in class_dirs:
            missing_classes.append(name)
            continue
        class_files = _scan_class_folder(class_dirs[name], ignored)
        files.extend(class_files)
        labels.extend([index] * len(class_files))

    return ScanResult(
        root=root,
        files=files,
        labels=np.asarray(labels, dtype=np.int64),
        class_names=names,
        ignored=ignored,
        missing_classes=missing_classes,
        unexpected_folders=unexpected_folders,
    )
