"""The environment check every notebook runs first: versions, GPU, Colab, dataset.

It states what the kit was tested with and warns clearly on a mismatch (Colab moves its
TensorFlow and Keras versions several times a year).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import sys

from paysages.settings import Settings

# The versions the kit's tests ran with, and the oldest ones it supports.
TESTED_VERSIONS = {"python": "3.11", "tensorflow": "2.21", "keras": "3.15"}
MINIMUM_VERSIONS = {"python": (3, 11), "tensorflow": (2, 16), "keras": (3, 3)}


def _version_tuple(text: str) -> tuple[int, ...]:
    numbers = []
    for part in text.split(".")[:2]:
        digits = "".join(character for character in part if character.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)


def installed_version(distribution: str) -> str | None:
    """Return an installed distribution's version, or None."""
    for name in (distribution, f"{distribution}-cpu", f"{distribution}-intel"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "COLAB_RELEASE_TAG" in os.environ or "google.colab" in sys.modules


@dataclasses.dataclass
class EnvironmentReport:
    lines: list[str]
    warnings: list[str]
    errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        text = list(self.lines)
        text += [f"ATTENTION: {warning}" for warning in self.warnings]
        text += [f"ERREUR: {error}" for error in self.errors]
        return "\n".join(text)


def dataset_status(settings: Settings) -> tuple[bool, str]:
    """Say whether the chosen dataset is present and verified."""
    folder = settings.dataset_dir
    if settings.dataset == "sample":
        info = folder / "sample_info.json"
        if info.is_file():
            return True, f"sample dataset present in {folder}"
        return False, f"sample dataset not generated yet in {folder} (it is created on first use)"
    manifest = folder / "paysages_dataset.json"
    if not manifest.is_file():
        return False, (
            f"Landscapes dataset not downloaded in {folder}: run `paysages data download "
            f"--root {settings.data_root}` (or the download cell of notebook 00)."
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return False, f"the dataset manifest {manifest} is unreadable ({error}): download again."
    total = sum(data.get("counts", {}).values())
    return True, f"Landscapes dataset verified in {folder} ({total} images)"


def check_environment(settings: Settings, *, probe_gpu: bool = True) -> EnvironmentReport:
    """Collect versions, accelerator and dataset status; compare with the tested versions."""
    lines, warnings, errors = [], [], []
    python = platform.python_version()
    lines.append(f"Python {python} (testé : {TESTED_VERSIONS['python']})")
    if sys.version_info[:2] < MINIMUM_VERSIONS["python"]:
        errors.append(f"Python {python} est trop ancien : il faut Python 3.11 ou plus récent.")

    for package in ("tensorflow", "keras"):
        version = installed_version(package)
        if version is None:
            errors.append(
                f"{package} n'est pas installé. Sur Colab il l'est déjà ; en local : "
                "pip install 'paysages[tensorflow]'."
            )
            continue
        lines.append(f"{package} {version} (testé : {TESTED_VERSIONS[package]})")
        if _version_tuple(version) < MINIMUM_VERSIONS[package]:
            errors.append(f"{package} {version} est trop ancien pour ce kit.")
        elif _version_tuple(version) != _version_tuple(TESTED_VERSIONS[package]):
            warnings.append(
                f"{package} {version} diffère de la version testée {TESTED_VERSIONS[package]} : "
                "les résultats peuvent varier légèrement ; signalez toute erreur à l'enseignant."
            )

    lines.append("Environnement : Google Colab" if in_colab() else "Environnement : local")
    if probe_gpu and installed_version("tensorflow") is not None:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            lines.append(f"GPU : {len(gpus)} disponible(s)")
        else:
            lines.append("GPU : aucun (entraînement sur CPU)")
            if settings.mode == "full":
                warnings.append(
                    "Mode complet sans GPU : l'entraînement sera très lent. Sur Colab, choisissez "
                    "Exécution > Modifier le type d'exécution > GPU, ou passez en mode rapide "
                    "(PAYSAGES_MODE=fast)."
                )
    present, message = dataset_status(settings)
    lines.append(f"Données : {message}")
    lines.append(settings.describe())
    return EnvironmentReport(lines=lines, warnings=warnings, errors=errors)
