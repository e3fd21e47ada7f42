"""What notebooks and commands call: get the dataset, split it once, load the arrays.

Every notebook after 01 calls :func:`load_split_arrays`, which reads the split file written by
notebook 01 and returns the same arrays every time (decoded once, then served from a cache).

Messages a student can meet here are in French and name the notebook to run: 00 gets the
dataset, 01 writes the split.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from paysages import split as split_module
from paysages.colab import drive_archives_dir, prerequisite_advice
from paysages.data.landscapes import fetch_landscapes, manifest_matches_fingerprint, read_manifest
from paysages.data.loading import load_images
from paysages.data.sample import _is_complete, generate_sample_dataset, read_sample_info
from paysages.data.scan import scan_image_folder
from paysages.errors import DatasetError, OfflineError, PrerequisiteError
from paysages.registry import get_dataset_spec
from paysages.settings import Settings


# The side of the generated sample images on disk (the networks' input size is a setting).
SAMPLE_IMAGE_SIZE = 128


@dataclasses.dataclass
class SplitArrays:
    """The decoded train and validation images of a split, with their labels and paths."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    class_names: tuple[str, ...]
    train_paths: list[str]
    validation_paths: list[str]
    issues: list

    def describe(self) -> str:
        return (
            f"train: {len(self.y_train)} images, validation: {len(self.y_validation)} images, "
            f"shape {self.x_train.shape[1:]}, classes: {', '.join(self.class_names)}"
        )


@dataclasses.dataclass
class PreparedSplit:
    """What :func:`prepare_split_with_report` wrote, and the exact duplicates it found across it."""

    frame: pd.DataFrame
    path: Path
    duplicates: pd.DataFrame

    def format_duplicates(self) -> str:
        return split_module.format_cross_duplicates(self.duplicates)


class CrossDuplicateWarning(UserWarning):
    """The same file content lies on both sides of the split: validation images leak into training."""


def dataset_is_missing(settings: Settings) -> bool:
    """Say whether the chosen dataset is absent from disk (never fetched, wiped, or half gone).

    The sample dataset is missing when its ``sample_info.json`` is, or when files it lists are
    gone; the Landscapes dataset when its manifest (written last by the download) is. A dataset
    present with other parameters or another licence filter is not missing.
    """
    if settings.dataset == "sample":
        info = read_sample_info(settings.dataset_dir)
        return info is None or not _is_complete(settings.dataset_dir, info)
    return read_manifest(settings.dataset_dir) is None


def ensure_dataset(settings: Settings, *, progress: bool = True) -> Path:
    """Make sure the chosen dataset is on disk and return its folder.

    The sample dataset is generated (once; later calls reuse it). The real Landscapes dataset is
    downloaded and verified unless it already is (with the same licence filter, and from an
    archive with the fingerprint the registry records, if it records one); in Colab with Drive,
    the verified archive kept on Drive is copied instead of downloaded (:mod:`paysages.colab`).
    ``PAYSAGES_OFFLINE`` does not stop this download: it only concerns the pretrained weights of
    transfer learning. Without network the
    download fails at once with an :class:`~paysages.errors.OfflineError` that says where to put
    the files by hand.
    """
    if settings.dataset == "sample":
        return generate_sample_dataset(
            settings.dataset_dir,
            per_class=settings.sample_per_class,
            seed=settings.seed,
            image_size=SAMPLE_IMAGE_SIZE,
        )
    manifest = read_manifest(settings.dataset_dir)
    wanted = settings.exclude_no_derivatives
    on_disk = None if manifest is None else bool((manifest.get("filter") or {}).get("exclude_no_derivatives"))
    if wanted is None:
        wanted = on_disk
    if manifest is not None and wanted == on_disk and manifest_matches_fingerprint(manifest):
        return settings.dataset_dir
    # A different licence filter re-extracts from the kept archive (no download needed); a
    # dataset extracted from an archive without the recorded fingerprint is checked again.
    try:
        return fetch_landscapes(
            settings.data_root,
            exclude_no_derivatives=bool(wanted),
            progress=progress,
            kept_archives=drive_archives_dir(),
        )
    except OfflineError as error:
        raise OfflineError(
            f"Le jeu de données Landscapes n'est pas dans {settings.dataset_dir} et aucun serveur "
            "n'a pu être joint pour le télécharger. Exécutez le notebook 00_prise_en_main.ipynb "
            "sur une machine connectée à Internet (ou, en ligne de commande, `paysages data "
            f"download --root {settings.data_root}`), ou déposez les fichiers à la main comme "
            "indiqué ci-dessous. En attendant, le jeu d'exemple fonctionne sans réseau "
            f"(PAYSAGES_DATASET=sample).\n\n{error}"
        ) from error


def class_names_of(settings: Settings) -> tuple[str, ...]:
    return get_dataset_spec(settings.dataset).class_names


def _cache_dir(settings: Settings) -> Path:
    return settings.data_root / "_cache"


def _scan_dataset(settings: Settings, dataset_dir: Path):
    """Scan the dataset folder for the classes of the registry, naming any missing class folder."""
    scan = scan_image_folder(dataset_dir, class_names_of(settings))
    if scan.missing_classes:
        raise DatasetError(
            f"Il manque dans {dataset_dir} le(s) dossier(s) de classe "
            f"{', '.join(scan.missing_classes)}. Le détail : `paysages data verify {dataset_dir}`. "
            "Supprimez ce dossier puis ré-exécutez le notebook 00_prise_en_main.ipynb : il "
            "télécharge (ou génère) à nouveau le jeu de données."
        )
    return scan


def _decode_dataset(settings: Settings, scan, *, progress: bool):
    """Decode every image of the dataset once; later calls read the cache (one memory map).

    Every loading path (notebooks 00 and 01, the split, the arrays of notebooks 02 and after)
    goes through this one cache, so the dataset is decoded once per image size.
    """
    return load_images(
        scan.files,
        settings.image_size,
        labels=scan.labels,
        cache_dir=_cache_dir(settings),
        cache_name=settings.dataset,
        progress=progress,
    )


def scan_and_decode(settings: Settings, *, progress: bool = True):
    """Scan the dataset folder and decode every image once (cached); return the load result.

    While images are decoded (not when they come from the cache), a ``tqdm.auto`` progress bar
    shows the progress; ``progress=False`` switches it off.
    """
    dataset_dir = ensure_dataset(settings, progress=progress)
    scan = _scan_dataset(settings, dataset_dir)
    result = _decode_dataset(settings, scan, progress=progress)
    return dataset_dir, scan, result


def prepare_split_with_report(
    settings: Settings, *, overwrite: bool = False, progress: bool = True
) -> PreparedSplit:
    """Compute the stratified split, write it to ``settings.split_path``, find duplicates across it.

    The duplicates are files with the same content on both sides of the split (see
    :func:`paysages.split.find_cross_duplicates`); they are reported, not removed.
    """
    dataset_dir, scan, result = scan_and_decode(settings, progress=progress)
    class_names = scan.class_names
    relative = [Path(path).relative_to(dataset_dir).as_posix() for path in result.paths]
    classes = [class_names[int(label)] for label in result.labels]
    frame = split_module.make_split_frame(
        relative, classes, settings.validation_fraction, settings.seed
    )
    path = split_module.write_split(frame, settings.split_path, overwrite=overwrite)
    duplicates = split_module.find_cross_duplicates(frame, dataset_dir)
    return PreparedSplit(frame=frame, path=path, duplicates=duplicates)


def prepare_split(settings: Settings, *, overwrite: bool = False, progress: bool = True) -> pd.DataFrame:
    """Compute the stratified split of the usable images and write it to ``settings.split_path``.

    Exact duplicates across the split are reported with a :class:`CrossDuplicateWarning`; use
    :func:`prepare_split_with_report` to get them as a table.
    """
    prepared = prepare_split_with_report(settings, overwrite=overwrite, progress=progress)
    if not prepared.duplicates.empty:
        warnings.warn(prepared.format_duplicates(), CrossDuplicateWarning, stacklevel=2)
    return prepared.frame


def _restore_missing_dataset(settings: Settings, *, progress: bool) -> None:
    """Download or regenerate the dataset when it vanished after the split was made, saying so.

    This happens on Colab when the runtime is recycled: ``/content`` (and the images in it) is
    wiped while the run folder, with its split file, lives on Google Drive.
    """
    if not dataset_is_missing(settings):
        return
    action = "régénéré" if settings.dataset == "sample" else "téléchargé à nouveau"
    print(
        f"Le jeu de données « {settings.dataset} » est absent ou incomplet dans "
        f"{settings.dataset_dir} (un environnement Colab recyclé efface /content, mais la "
        f"séparation est restée dans le dossier de run) : il est {action} maintenant.",
        flush=True,
    )
    ensure_dataset(settings, progress=progress)


def require_split(settings: Settings, *, progress: bool = False) -> pd.DataFrame:
    """Read the split file, or explain in French which notebook writes it.

    A dataset missing from disk is downloaded or regenerated first (with a message); files of
    the split that are still absent afterwards are named, with the notebook to run.
    """
    if not settings.split_path.is_file():
        raise PrerequisiteError(
            f"Le fichier de séparation {settings.split_path} est introuvable : exécutez d'abord "
            "le notebook 01_separation.ipynb (il écrit la séparation train/validation une fois "
            "pour toutes)." + prerequisite_advice()
        )
    frame = split_module.read_split(settings.split_path)
    _restore_missing_dataset(settings, progress=progress)
    absent = [name for name in frame["path"] if not (settings.dataset_dir / name).is_file()]
    if absent:
        raise DatasetError(
            f"{len(absent)} image(s) de la séparation {settings.split_path} manquent dans "
            f"{settings.dataset_dir}, par exemple {', '.join(absent[:3])}. Le jeu de données a "
            "changé depuis la séparation (par exemple le filtre de licences "
            "EXCLUDE_NO_DERIVATIVES du notebook 00). Remettez le même jeu en ré-exécutant le "
            "notebook 00_prise_en_main.ipynb avec le même réglage, ou refaites la séparation "
            "(notebook 01_separation.ipynb avec OVERWRITE_SPLIT = True) puis ré-exécutez les "
            "notebooks suivants."
        )
    return frame


def load_split_arrays(settings: Settings, *, progress: bool = True) -> SplitArrays:
    """Load the train and validation arrays through the split file (identical on every call).

    The images come from the dataset's one decoding cache (see :func:`scan_and_decode`): the
    dataset is decoded once, with a progress bar unless ``progress=False``, and every later
    call reads the cache.
    """
    frame = require_split(settings, progress=progress)
    class_names = class_names_of(settings)
    unknown = sorted(set(frame["class"]) - set(class_names))
    if unknown:
        raise DatasetError(
            f"La séparation {settings.split_path} nomme des classes inconnues du jeu "
            f"« {settings.dataset} » : {', '.join(unknown)}. Elle a été faite sur un autre jeu de "
            "données : refaites-la avec le notebook 01_separation.ipynb (OVERWRITE_SPLIT = True), "
            "puis ré-exécutez les notebooks suivants."
        )
    dataset_dir = settings.dataset_dir
    result = _decode_dataset(settings, _scan_dataset(settings, dataset_dir), progress=progress)
    row_of_name = {
        path.relative_to(dataset_dir).as_posix(): row for row, path in enumerate(result.paths)
    }
    issue_of_name = {
        issue.path.relative_to(dataset_dir).as_posix(): issue for issue in result.issues
    }
    unusable = [name for name in frame["path"] if name not in row_of_name]
    if unusable:
        example = issue_of_name.get(unusable[0])
        reason = example.reason if example is not None else "absent du dossier des classes"
        raise DatasetError(
            f"{len(unusable)} image(s) de la séparation ne se décodent plus, par exemple "
            f"{dataset_dir / unusable[0]} : {reason}. Le jeu de données a été abîmé sur le "
            f"disque : supprimez le dossier {dataset_dir} puis ré-exécutez le notebook "
            "00_prise_en_main.ipynb pour le télécharger (ou le générer) et le vérifier à "
            "nouveau. La séparation du notebook 01 reste valable."
        )
    parts = {}
    issues = []
    for subset in split_module.SUBSETS:
        names = list(frame.loc[frame["subset"] == subset, "path"])
        rows = np.array([row_of_name[name] for name in names], dtype=np.int64)
        labels = np.array(
            [class_names.index(name) for name in frame.loc[frame["subset"] == subset, "class"]],
            dtype=np.int64,
        )
        # Indexing by rows copies the images out of the cache's memory map.
        parts[subset] = (np.asarray(result.images[rows]), labels, names)
        issues.extend(issue_of_name[name] for name in names if name in issue_of_name)
    return SplitArrays(
        x_train=parts["train"][0],
        y_train=parts["train"][1],
        x_validation=parts["validation"][0],
        y_validation=parts["validation"][1],
        class_names=tuple(class_names),
        train_paths=parts["train"][2],
        validation_paths=parts["validation"][2],
        issues=issues,
    )
