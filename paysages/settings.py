"""One place for every setting a notebook or a command reads.

Two modes share the same notebooks:

* ``fast``: the embedded sample dataset, small images and few epochs. The tests, ``make demo``
  and autograding use it.
* ``full``: the real Landscapes dataset on a Colab GPU, with the hyper-parameters a careful
  instructor would choose.

Every field can be changed by an environment variable (``PAYSAGES_<FIELD>``, for example
``PAYSAGES_DATA_ROOT=/content/drive/MyDrive/paysages``) or by a keyword argument of
:func:`get_settings`; keyword arguments win over the environment, which wins over the mode's
defaults.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from paysages.registry import REPOSITORY_DIR

MODES = ("fast", "full")
DATASETS = ("sample", "landscapes")

# The defaults of each mode. Full mode is sized for a Colab T4/L4 GPU: about 20 minutes
# for notebook 03 (six trainings) and 10 minutes for notebook 04.
MODE_DEFAULTS = {
    "fast": {
        "dataset": "sample",
        "image_size": 64,
        "batch_size": 32,
        "num_epochs": 6,
        "learning_rate": 1e-3,
        "fine_tune_epochs": 2,
        "fine_tune_learning_rate": 1e-5,
        "sample_per_class": 100,
        "tsne_samples": 300,
        "offline": True,
    },
    "full": {
        "dataset": "landscapes",
        "image_size": 160,
        "batch_size": 64,
        "num_epochs": 40,
        "learning_rate": 1e-3,
        "fine_tune_epochs": 10,
        "fine_tune_learning_rate": 1e-5,
        "sample_per_class": 100,
        "tsne_samples": 500,
        "offline": False,
    },
}

_TRUE_WORDS = {"1", "true", "yes", "on", "oui", "vrai"}
_FALSE_WORDS = {"0", "false", "no", "off", "non", "faux", ""}


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    raise ValueError(f"Environment variable {name}={text!r} is not a yes/no value (use 1 or 0).")


def default_data_root() -> Path:
    """Return where datasets live when nothing else is configured.

    In a source checkout this is the repository's ``datasets/`` folder; otherwise (a student's
    Colab session, an installed wheel) it is ``datasets/`` under the current directory.
    """
    if (REPOSITORY_DIR / "datasets" / "registry.json").is_file():
        return REPOSITORY_DIR / "datasets"
    return Path.cwd() / "datasets"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every knob of the kit, resolved once."""

    mode: str
    dataset: str
    seed: int
    image_size: int
    batch_size: int
    num_epochs: int
    learning_rate: float
    fine_tune_epochs: int
    fine_tune_learning_rate: float
    sample_per_class: int
    tsne_samples: int
    offline: bool
    data_root: Path
    run_dir: Path
    validation_fraction: float = 0.2
    # None keeps whatever licence filter the dataset on disk has (chosen in notebook 00).
    exclude_no_derivatives: bool | None = None

    @property
    def fast(self) -> bool:
        return self.mode == "fast"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)

    @property
    def dataset_dir(self) -> Path:
        """The folder holding the chosen dataset's class folders."""
        return self.data_root / self.dataset

    @property
    def split_path(self) -> Path:
        """The split file every notebook after 01 reuses."""
        return self.run_dir / "split.csv"

    def describe(self) -> str:
        """Return a short multi-line summary, for notebooks and command output."""
        lines = [
            f"mode: {self.mode}   dataset: {self.dataset}   seed: {self.seed}",
            f"image_size: {self.image_size}   batch_size: {self.batch_size}   "
            f"num_epochs: {self.num_epochs}   learning_rate: {self.learning_rate:g}",
            f"data_root: {self.data_root}",
            f"run_dir: {self.run_dir}",
        ]
        if self.offline:
            lines.append(
                "OFFLINE: no pretrained ImageNet weights will be downloaded; transfer learning "
                "starts from the kit's own MobileNetV2 base (pretrained on other synthetic scenes, "
                "NOT ImageNet), so its results are not those of ImageNet transfer."
            )
        return "\n".join(lines)


_FIELD_TYPES = {
    "dataset": str,
    "seed": int,
    "image_size": int,
    "batch_size": int,
    "num_epochs": int,
    "learning_rate": float,
    "fine_tune_epochs": int,
    "fine_tune_learning_rate": float,
    "sample_per_class": int,
    "tsne_samples": int,
    "offline": bool,
    "data_root": Path,
    "run_dir": Path,
    "validation_fraction": float,
    "exclude_no_derivatives": bool,
}


def _from_environment(environ) -> dict:
    values = {}
    for field, kind in _FIELD_TYPES.items():
        variable = f"PAYSAGES_{field.upper()}"
        if variable not in environ:
            continue
        text = environ[variable]
        try:
            if kind is bool:
                values[field] = _parse_bool(variable, text)
            elif kind is Path:
                values[field] = Path(text).expanduser()
            else:
                values[field] = kind(text)
        except ValueError as error:
            raise ValueError(f"Environment variable {variable}={text!r} is invalid: {error}") from error
    return values


def get_settings(mode: str | None = None, environ=None, **overrides) -> Settings:
    """Resolve the settings from the mode's defaults, the environment and ``overrides``.

    The mode comes from ``mode``, else ``PAYSAGES_MODE``, else ``fast``.
    """
    environ = os.environ if environ is None else environ
    mode = mode or environ.get("PAYSAGES_MODE", "fast")
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}: choose one of {', '.join(MODES)}.")
    unknown = set(overrides) - set(_FIELD_TYPES)
    if unknown:
        raise ValueError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")

    values = dict(MODE_DEFAULTS[mode])
    values.update(
        seed=42,
        data_root=default_data_root(),
        run_dir=Path.cwd() / "paysages_run",
        validation_fraction=0.2,
        exclude_no_derivatives=None,
    )
    values.update(_from_environment(environ))
    values.update({key: value for key, value in overrides.items() if value is not None})
    for key in ("data_root", "run_dir"):
        values[key] = Path(values[key]).expanduser().resolve()

    if values["dataset"] not in DATASETS:
        raise ValueError(f"Unknown dataset {values['dataset']!r}: choose one of {', '.join(DATASETS)}.")
    if values["image_size"] < 32:
        raise ValueError(f"image_size must be at least 32 pixels, got {values['image_size']}.")
    if not 0.0 < values["validation_fraction"] < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {values['validation_fraction']}.")
    for key in ("batch_size", "num_epochs", "sample_per_class", "tsne_samples"):
        if values[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {values[key]}.")
    return Settings(mode=mode, **values)
