"""The printable check of an image folder (``paysages data verify``): scan, decode, report.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from paysages.data.decode import CONVERTED, ImageIssue, SKIPPED, _display_path
from paysages.data.loading import load_images
from paysages.data.scan import _check_class_names, scan_image_folder
from paysages.errors import DatasetError
from paysages.validation import check_integer


@dataclasses.dataclass
class VerifyReport:
    """What :func:`verify_image_folder` found: usable images per class, issues, clutter."""

    root: Path
    class_names: tuple[str, ...]
    root_exists: bool
    counts: dict[str, int]
    issues: list[ImageIssue]
    ignored: list[tuple[Path, str]]
    missing_classes: list[str]
    unexpected_folders: list[Path]
    image_size: int
    problem: str | None = None

    @property
    def empty_classes(self) -> list[str]:
        """Declared classes whose folder exists but holds no usable image."""
        return [
            name for name in self.class_names
            if name not in self.missing_classes and self.counts.get(name, 0) == 0
        ]

    @property
    def total_images(self) -> int:
        return sum(self.counts.values())

    @property
    def skipped(self) -> list[ImageIssue]:
        return [issue for issue in self.issues if issue.action == SKIPPED]

    @property
    def converted(self) -> list[ImageIssue]:
        return [issue for issue in self.issues if issue.action == CONVERTED]

    @property
    def ok(self) -> bool:
        """True when the root exists and every declared class has at least one usable image."""
        return self.root_exists and self.problem is None and all(
            self.counts.get(name, 0) > 0 for name in self.class_names
        )

    def _nested_hint(self) -> str | None:
        """Suggest the right root when the class folders sit one level deeper."""
        for folder in self.unexpected_folders:
            inside = [name for name in self.class_names if (folder / name).is_dir()]
            if inside:
                return f"The class folders seem to be inside {folder}: pass that folder as the root."
        return None

    def _ignored_lines(self, shown_per_reason: int = 10) -> list[str]:
        """List the ignored entries; a reason shared by many entries shows a few and a count."""
        lines = []
        shown: dict[str, int] = {}
        hidden: dict[str, int] = {}
        for path, reason in self.ignored:
            if shown.get(reason, 0) >= shown_per_reason:
                hidden[reason] = hidden.get(reason, 0) + 1
                continue
            shown[reason] = shown.get(reason, 0) + 1
            name = _display_path(path, self.root)
            if path.is_dir() and not path.is_symlink():
                name += "/"
            lines.append(f"  {name}: {reason}")
        lines.extend(f"  ... and {count} more: {reason}" for reason, count in hidden.items())
        return lines

    def format(self) -> str:
        """Return the report as text: classes, skipped and converted files, ignored entries."""
        lines = [f"Image folder: {self.root}"]
        if not self.root_exists:
            lines.append(
                f"NOT OK: the folder {self.root} does not exist. Download or generate the dataset "
                "first, or check the data root setting (PAYSAGES_DATA_ROOT)."
            )
            return "\n".join(lines)
        if self.problem is not None:
            lines.append(f"NOT OK: {self.problem}")
            return "\n".join(lines)

        width = max(len(name) for name in self.class_names)
        lines.append(f"Classes ({len(self.class_names)} declared, {self.total_images} usable images at {self.image_size}x{self.image_size}):")
        for name in self.class_names:
            if name in self.missing_classes:
                note = "MISSING: no folder"
            elif self.counts.get(name, 0) == 0:
                note = "EMPTY: no usable image"
            else:
                note = ""
            count = self.counts.get(name, 0)
            lines.append(f"  {name:<{width}}  {count:>6} images  {note}".rstrip())

        skipped, converted = self.skipped, self.converted
        lines.append(f"Skipped files ({len(skipped)}), not used:" if skipped else "Skipped files: none")
        lines.extend(f"  {_display_path(issue.path, self.root)}: {issue.reason}" for issue in skipped)
        lines.append(f"Converted files ({len(converted)}), used:" if converted else "Converted files: none")
        lines.extend(f"  {_display_path(issue.path, self.root)}: {issue.reason}" for issue in converted)
        lines.append(f"Ignored entries ({len(self.ignored)}):" if self.ignored else "Ignored entries: none")
        lines.extend(self._ignored_lines())

        if self.ok:
            lines.append(f"OK: all {len(self.class_names)} classes have usable images.")
        else:
            problems = []
            if self.missing_classes:
                problems.append(f"class folder(s) missing: {', '.join(self.missing_classes)}")
            if self.empty_classes:
                problems.append(f"class(es) with no usable image: {', '.join(self.empty_classes)}")
            lines.append("NOT OK: " + "; ".join(problems) + ".")
            hint = self._nested_hint()
            if hint is not None:
                lines.append(hint)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def verify_image_folder(
    root: str | os.PathLike,
    class_names: Iterable[str],
    *,
    image_size: int = 64,
    workers: int | None = None,
    progress: bool = False,
) -> VerifyReport:
    """Decode every file of an image folder and report what is usable, converted or skipped.

    Never raises for a missing folder or bad files: the report says so (``report.ok`` is False
    and ``report.format()`` explains). Invalid ``class_names`` still raise ``ValueError``.
    """
    names = _check_class_names(class_names)
    image_size = check_integer("image_size", image_size, minimum=1)
    root_path = Path(root).expanduser()
    empty_report = dict(
        root=root_path, class_names=names, counts={name: 0 for name in names}, issues=[],
        ignored=[], missing_classes=list(names), unexpected_folders=[], image_size=image_size,
    )
    if not root_path.exists():
        return VerifyReport(root_exists=False, **empty_report)
    try:
        scan = scan_image_folder(root_path, names)
    except DatasetError as error:
        return VerifyReport(root_exists=True, problem=str(error), **empty_report)

    loaded = load_images(scan.files, image_size, labels=scan.labels, workers=workers, progress=progress)
    usable = np.bincount(loaded.labels, minlength=len(names)) if len(loaded.paths) else np.zeros(len(names), int)
    return VerifyReport(
        root=root_path,
        class_names=names,
        root_exists=True,
        counts={name: int(count) for name, count in zip(names, usable)},
        issues=loaded.issues,
        ignored=scan.ignored,
        missing_classes=scan.missing_classes,
        unexpected_folders=scan.unexpected_folders,
        image_size=image_size,
    )
