"""The environment check every notebook runs first: versions, GPU, Colab, dataset.

It states what the kit was tested with and warns clearly on a mismatch (Colab moves its
TensorFlow and Keras versions several times a year).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import sys

from paysages.colab import in_colab
from paysages.errors import DatasetError, PaysagesError
from paysages.registry import get_dataset_spec
from paysages.settings import Settings

# The versions the kit was tested with: the test suite's first, then Google Colab's GPU runtime
# (colab/constraints-colab.txt; tests/test_envcheck.py checks that they agree), so that a student
# on Colab sees no false warning. Then the oldest versions the notebooks support.
TESTED_VERSIONS = {
    "python": ("3.11", "3.13"),
    "tensorflow": ("2.21", "2.20"),
    "keras": ("3.15", "3.13"),
}
MINIMUM_VERSIONS = {"python": (3, 11), "tensorflow": (2, 16), "keras": (3, 3)}

# Grading loads the .keras files of untrusted submissions. Before Keras 3.14 a crafted file could
# bypass safe_mode (CVE-2025-1550, fixed in 3.9; CVE-2025-8747 and CVE-2025-9906 in 3.11;
# CVE-2025-12060 in 3.12; CVE-2026-1462 in 3.14), and 3.14 also fixes the HDF5 (CVE-2026-0897)
# and archive path-traversal advisories. Students only load their own models, so the notebooks
# accept older versions (Colab's Keras 3.13); grading refuses them (require_grading_keras).
GRADING_KERAS_MINIMUM = (3, 14)


def _version_tuple(text: str) -> tuple[int, ...]:
    numbers = []
    for part in text.split(".")[:2]:
        digits = "".join(character for character in part if character.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)


def _tested(package: str) -> str:
    return ", ".join(TESTED_VERSIONS[package])


def is_tested_version(package: str, version: str) -> bool:
    """True when ``version`` has the major.minor of a tested version of ``package``."""
    return _version_tuple(version) in {_version_tuple(tested) for tested in TESTED_VERSIONS[package]}


def installed_version(distribution: str) -> str | None:
    """Return an installed distribution's version, or None."""
    for name in (distribution, f"{distribution}-cpu", f"{distribution}-intel"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


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


def _sample_status(settings: Settings) -> tuple[bool, str]:
    from paysages.data import SAMPLE_IMAGE_SIZE
    from paysages.data.sample import _is_complete, read_sample_info

    folder = settings.dataset_dir
    info = read_sample_info(folder)
    if info is None:
        return False, (
            f"le jeu d'exemple n'est pas encore généré dans {folder} : le notebook "
            "00_prise_en_main.ipynb le génère (ou, en ligne de commande, `paysages data sample "
            f"--out {folder} --per-class {settings.sample_per_class} --seed {settings.seed}`)."
        )
    if not _is_complete(folder, info):
        return False, (
            f"le jeu d'exemple de {folder} est incomplet (des images manquent ou sont en trop) : "
            "ré-exécutez le notebook 00_prise_en_main.ipynb, qui le génère à nouveau."
        )
    wanted = (settings.sample_per_class, settings.seed, SAMPLE_IMAGE_SIZE)
    if (info.get("per_class"), info.get("seed"), info.get("image_size")) != wanted:
        return False, (
            f"le jeu d'exemple de {folder} a été généré avec d'autres réglages (per_class "
            f"{info.get('per_class')}, seed {info.get('seed')}) que ceux choisis "
            f"({settings.sample_per_class}, {settings.seed}) : le notebook 00_prise_en_main.ipynb "
            "le génère à nouveau, puis refaites la séparation (notebook 01_separation.ipynb)."
        )
    return True, f"jeu d'exemple vérifié dans {folder} ({info.get('total')} images)"


def _landscapes_status(settings: Settings) -> tuple[bool, str]:
    from paysages.data.landscapes import _is_up_to_date, dataset_paths, read_manifest

    spec = get_dataset_spec(settings.dataset)
    paths = dataset_paths(settings.data_root, spec)
    folder = paths.dataset_dir
    download_advice = (
        "exécutez la cellule de téléchargement du notebook 00_prise_en_main.ipynb (ou, en ligne "
        f"de commande, `paysages data download --root {settings.data_root}`)"
    )
    manifest = read_manifest(folder)
    if manifest is None:
        started = folder.is_dir() and any(
            (folder / class_name).is_dir() for class_name in spec.class_names
        )
        state = "incomplet (téléchargement interrompu : pas de manifeste)" if started else "non téléchargé"
        return False, f"jeu Landscapes {state} dans {folder} : {download_advice}."
    on_disk_filter = bool((manifest.get("filter") or {}).get("exclude_no_derivatives"))
    wanted_filter = settings.exclude_no_derivatives
    if wanted_filter is not None and wanted_filter != on_disk_filter:
        return False, (
            f"jeu Landscapes de {folder} extrait avec un autre filtre de licences "
            f"(EXCLUDE_NO_DERIVATIVES = {on_disk_filter}) : {download_advice} ; il est ré-extrait "
            "de l'archive gardée, sans réseau."
        )
    if not _is_up_to_date(paths, spec, on_disk_filter):
        return False, (
            f"les fichiers de {folder} ne correspondent plus à son manifeste (images ajoutées ou "
            "supprimées, métadonnées de licence modifiées) : supprimez ce dossier puis "
            f"{download_advice}."
        )
    check = manifest.get("metadata_check") or {}
    if check.get("ok") is not True:
        missing = sum(len(names) for names in (check.get("missing") or {}).values())
        unexpected = sum(len(names) for names in (check.get("unexpected") or {}).values())
        return False, (
            f"jeu Landscapes de {folder} téléchargé mais NON vérifié : {missing} photo(s) décrite(s) "
            f"par les métadonnées de licence manquent, {unexpected} fichier(s) n'y figurent pas "
            f"(détail dans {paths.manifest}). Supprimez {folder} puis {download_advice}."
        )
    total = sum((manifest.get("counts") or {}).values())
    return True, f"jeu Landscapes vérifié dans {folder} ({total} images)"


def dataset_status(settings: Settings) -> tuple[bool, str]:
    """Say whether the chosen dataset is on disk and verified, and what to run when it is not.

    The sample dataset must hold exactly the files its ``sample_info.json`` lists, generated with
    the chosen settings. The Landscapes dataset must have its manifest, match it on disk (the
    download's own up-to-date check) and have passed the check against the licence metadata
    recorded in it (``metadata_check.ok``).
    """
    if settings.dataset == "sample":
        return _sample_status(settings)
    try:
        return _landscapes_status(settings)
    except (OSError, ValueError, DatasetError) as error:
        return False, f"le jeu de données de {settings.dataset_dir} est illisible ({error}) : téléchargez-le à nouveau."


def check_environment(settings: Settings, *, probe_gpu: bool = True) -> EnvironmentReport:
    """Collect versions, accelerator and dataset status; compare with the tested versions."""
    lines, warnings, errors = [], [], []
    python = platform.python_version()
    lines.append(f"Python {python} (testé : {_tested('python')})")
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
        lines.append(f"{package} {version} (testé : {_tested(package)})")
        if _version_tuple(version) < MINIMUM_VERSIONS[package]:
            errors.append(f"{package} {version} est trop ancien pour ce kit.")
        elif not is_tested_version(package, version):
            warnings.append(
                f"{package} {version} diffère des versions testées ({_tested(package)}) : "
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
    verified, message = dataset_status(settings)
    if verified:
        lines.append(f"Données : {message}")
    else:
        lines.append("Données : absentes ou non vérifiées (voir ATTENTION ci-dessous)")
        warnings.append(message[0].upper() + message[1:])
    lines.append(settings.describe())
    return EnvironmentReport(lines=lines, warnings=warnings, errors=errors)


def require_grading_keras() -> str:
    """Refuse to grade with a Keras that loads untrusted ``.keras`` files unsafely; return its version.

    See :data:`GRADING_KERAS_MINIMUM` for the advisories. Called first by ``paysages autograde``.
    """
    floor = ".".join(map(str, GRADING_KERAS_MINIMUM))
    version = installed_version("keras")
    if version is None:
        raise PaysagesError(
            f"Grading needs Keras {floor} or newer, and Keras is not installed: "
            "pip install -e '.[cpu,instructor]'."
        )
    if _version_tuple(version) < GRADING_KERAS_MINIMUM:
        raise PaysagesError(
            f"Grading refuses to run with Keras {version}: it loads the .keras files of untrusted "
            f"submissions, and before Keras {floor} a crafted file can bypass safe_mode "
            "(CVE-2025-1550, CVE-2025-8747, CVE-2025-9906, CVE-2025-12060, CVE-2026-1462). "
            f"Upgrade Keras first: pip install 'keras>={floor},<4'. (Students' notebooks accept "
            "older versions such as Colab's: they only load their own models.)"
        )
    return version
