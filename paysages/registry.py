"""The dataset registry: one declarative entry per dataset, read from ``datasets/registry.json``.

In a source checkout (or an editable install) the registry is read from the repository's
``datasets/`` folder; an installed wheel carries a copy at ``paysages/registry.json``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from paysages.errors import DatasetError

PACKAGE_DIR = Path(__file__).resolve().parent
REPOSITORY_DIR = PACKAGE_DIR.parent


def registry_path() -> Path:
    """Return the path of the registry file this installation uses."""
    candidates = [REPOSITORY_DIR / "datasets" / "registry.json", PACKAGE_DIR / "registry.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(
        "The dataset registry was not found (looked in: "
        + ", ".join(str(path) for path in candidates)
        + "). Reinstall the kit: pip install --force-reinstall paysages."
    )


@dataclasses.dataclass(frozen=True)
class LicenceInfo:
    """One Flickr licence id as the Landscapes metadata uses it."""

    licence_id: str
    name: str
    url: str
    allows_derivatives: bool


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: where a dataset comes from and what it must contain."""

    name: str
    title: str
    kind: str  # "download" or "generated"
    class_names: tuple[str, ...]
    expected_counts: dict[str, int] | None
    archive_filename: str | None = None
    archive_urls: tuple[str, ...] = ()
    archive_sha256: str | None = None
    archive_size: int | None = None
    metadata_filename_template: str | None = None
    metadata_url_templates: tuple[str, ...] = ()
    metadata_sha256: dict[str, str] = dataclasses.field(default_factory=dict)
    licences: dict[str, LicenceInfo] = dataclasses.field(default_factory=dict)
    generator: str | None = None
    homepage: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def expected_total(self) -> int | None:
        if self.expected_counts is None:
            return None
        return sum(self.expected_counts.values())

    def metadata_filename(self, class_name: str) -> str:
        """Return the licence-metadata file name of one class."""
        if self.metadata_filename_template is None:
            raise DatasetError(f"Dataset {self.name!r} has no licence metadata.")
        return self.metadata_filename_template.format(class_name=class_name)

    def metadata_urls(self, class_name: str) -> list[str]:
        """Return the download URLs (first choice first) of one class's licence metadata."""
        return [template.format(class_name=class_name) for template in self.metadata_url_templates]

    @property
    def no_derivative_licences(self) -> frozenset[str]:
        """Licence ids whose photos may not be adapted (3 and 6 for Landscapes)."""
        return frozenset(key for key, info in self.licences.items() if not info.allows_derivatives)


def _spec_from_entry(name: str, entry: dict) -> DatasetSpec:
    archive = entry.get("archive") or {}
    metadata = entry.get("licence_metadata") or {}
    licences = {
        key: LicenceInfo(
            licence_id=key,
            name=value["name"],
            url=value["url"],
            allows_derivatives=bool(value["allows_derivatives"]),
        )
        for key, value in (entry.get("licences") or {}).items()
    }
    return DatasetSpec(
        name=name,
        title=entry["title"],
        kind=entry["kind"],
        class_names=tuple(entry["class_names"]),
        expected_counts=dict(entry["expected_counts"]) if entry.get("expected_counts") else None,
        archive_filename=archive.get("filename"),
        archive_urls=tuple(archive.get("urls", ())),
        archive_sha256=archive.get("sha256"),
        archive_size=archive.get("size"),
        metadata_filename_template=metadata.get("filename_template"),
        metadata_url_templates=tuple(metadata.get("url_templates", ())),
        metadata_sha256=dict(metadata.get("sha256", {})),
        licences=licences,
        generator=entry.get("generator"),
        homepage=entry.get("homepage"),
    )


def load_registry(path: Path | None = None) -> dict[str, DatasetSpec]:
    """Read every entry of the registry file."""
    path = Path(path) if path is not None else registry_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"The dataset registry {path} cannot be read: {error}") from error
    return {
        name: _spec_from_entry(name, entry)
        for name, entry in raw.items()
        if not name.startswith("_")
    }


def get_dataset_spec(name: str) -> DatasetSpec:
    """Return the registry entry called ``name`` ("landscapes" or "sample")."""
    registry = load_registry()
    if name not in registry:
        raise DatasetError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(sorted(registry))}."
        )
    return registry[name]
