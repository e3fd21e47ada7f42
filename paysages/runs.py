"""The run folder: how notebooks hand their results to later notebooks.

Each notebook saves what it produces (models, training histories, metrics, features) in one
folder, ``settings.run_dir`` (by default ``paysages_run/`` beside the notebooks; on Colab, a
Google Drive folder so that a recycled runtime loses nothing). Later notebooks load from it.
A missing result raises :class:`~paysages.errors.PrerequisiteError` with a French message that
names the notebook to run first.

Models are saved in the ``.keras`` format and always loaded with ``safe_mode=True``, which
refuses to deserialise arbitrary Python code (lambda layers) from a file.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from paysages.colab import prerequisite_advice
from paysages.errors import PrerequisiteError

# Which notebook writes which result, for the "run this first" messages. Keys are name prefixes.
PRODUCERS = (
    ("split", "01_separation"),
    ("cnn", "02_cnn"),
    ("reg_", "03_regularisation"),
    ("transfer_", "04_transfert"),
    ("results", "05_comparaison"),
    ("best", "05_comparaison"),
    ("errors", "06_erreurs"),
    ("features", "07_tsne"),
    ("tsne", "07_tsne"),
    ("neighbours", "08_voisins"),
)

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def producer_of(name: str) -> str:
    """Return the notebook that produces the result called ``name``."""
    for prefix, notebook in PRODUCERS:
        if name.startswith(prefix):
            return notebook
    return "précédent"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_PATTERN.match(name) or ".." in name:
        raise ValueError(
            f"Invalid result name {name!r}: use letters, digits, '_', '-' and '.' only."
        )
    return name


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _to_jsonable(value):
    if isinstance(value, dict):
        return {str(key): _to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


class RunFolder:
    """Save and load the results notebooks hand to each other."""

    def __init__(self, path: Path | str):
        self.path = Path(path).expanduser().resolve()

    @classmethod
    def from_settings(cls, settings) -> "RunFolder":
        return cls(settings.run_dir)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # Paths -------------------------------------------------------------------------------
    def model_path(self, name: str) -> Path:
        return self.path / "models" / f"{_check_name(name)}.keras"

    def meta_path(self, name: str) -> Path:
        return self.path / "models" / f"{_check_name(name)}.json"

    def history_path(self, name: str) -> Path:
        return self.path / "histories" / f"{_check_name(name)}.json"

    def json_path(self, name: str) -> Path:
        return self.path / f"{_check_name(name)}.json"

    def arrays_path(self, name: str) -> Path:
        return self.path / "arrays" / f"{_check_name(name)}.npz"

    def figure_path(self, name: str) -> Path:
        path = self.path / "figures" / _check_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _missing(self, what: str, name: str, path: Path) -> PrerequisiteError:
        notebook = producer_of(name)
        return PrerequisiteError(
            f"{what} « {name} » est introuvable ({path}) : exécutez d'abord le notebook "
            f"{notebook}.ipynb jusqu'au bout, avec le même dossier de run ({self.path})."
            + prerequisite_advice()
        )

    # Models ------------------------------------------------------------------------------
    def save_model(self, model, name: str, *, history=None, training_seconds=None, **details) -> Path:
        """Save a Keras model as ``models/<name>.keras`` with a JSON record of how it was trained."""
        path = self.model_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.stem}.tmp.keras")
        model.save(temporary)
        os.replace(temporary, path)
        if history is not None:
            self.save_history(name, history)
        history_dict = self._history_dict(history) if history is not None else {}
        epochs = len(next(iter(history_dict.values()))) if history_dict else None
        meta = {
            "name": name,
            "num_params": int(model.count_params()),
            "epochs": epochs,
            "training_seconds": None if training_seconds is None else float(training_seconds),
            "input_shape": list(model.input_shape[1:]) if hasattr(model, "input_shape") else None,
            "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        meta.update(_to_jsonable(details))
        _atomic_write_text(self.meta_path(name), json.dumps(meta, indent=2))
        return path

    def load_model(self, name: str, *, compile: bool = True):
        """Load a model saved by :meth:`save_model` (``safe_mode=True``: no code is run)."""
        import keras

        path = self.model_path(name)
        if not path.is_file():
            raise self._missing("Le modèle", name, path)
        return keras.saving.load_model(path, compile=compile, safe_mode=True)

    def model_meta(self, name: str) -> dict:
        path = self.meta_path(name)
        if not path.is_file():
            raise self._missing("La fiche du modèle", name, path)
        return json.loads(path.read_text(encoding="utf-8"))

    def model_names(self) -> list[str]:
        folder = self.path / "models"
        if not folder.is_dir():
            return []
        return sorted(path.stem for path in folder.glob("*.keras") if not path.name.startswith("."))

    # Histories ---------------------------------------------------------------------------
    @staticmethod
    def _history_dict(history) -> dict[str, list[float]]:
        raw = getattr(history, "history", history)
        if not isinstance(raw, dict):
            raise ValueError("history must be a keras History or a dict of lists.")
        return {str(key): [float(value) for value in values] for key, values in raw.items()}

    def save_history(self, name: str, history) -> Path:
        path = self.history_path(name)
        _atomic_write_text(path, json.dumps(self._history_dict(history), indent=1))
        return path

    def load_history(self, name: str) -> dict[str, list[float]]:
        path = self.history_path(name)
        if not path.is_file():
            raise self._missing("L'historique d'entraînement", name, path)
        return json.loads(path.read_text(encoding="utf-8"))

    # Plain JSON and arrays -----------------------------------------------------------------
    def save_json(self, name: str, data) -> Path:
        path = self.json_path(name)
        _atomic_write_text(path, json.dumps(_to_jsonable(data), indent=2, ensure_ascii=False))
        return path

    def load_json(self, name: str):
        path = self.json_path(name)
        if not path.is_file():
            raise self._missing("Le résultat", name, path)
        return json.loads(path.read_text(encoding="utf-8"))

    def save_arrays(self, name: str, **arrays) -> Path:
        path = self.arrays_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(temporary, **{key: np.asarray(value) for key, value in arrays.items()})
        os.replace(temporary, path)
        return path

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        path = self.arrays_path(name)
        if not path.is_file():
            raise self._missing("Le tableau", name, path)
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}

    # Training support --------------------------------------------------------------------
    def training_callbacks(self, name: str, *, backup: bool = True) -> list:
        """Callbacks that make a training resumable and timed (see :mod:`paysages.training`)."""
        from paysages.training import training_callbacks

        return training_callbacks(self.path / "backup" / _check_name(name), backup=backup)
