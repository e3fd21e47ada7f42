"""Training support shared by every notebook: seeding, resumable and timed training, GPU set-up."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras


class TrainingTimer(keras.callbacks.Callback):
    """Measures the wall time of ``fit``, summed over resumed sessions, in ``seconds``."""

    def __init__(self):
        super().__init__()
        self.seconds = 0.0
        self._last = None

    def on_train_begin(self, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._last is not None:
            now = time.perf_counter()
            self.seconds += now - self._last
            self._last = now


class EpochLog(keras.callbacks.Callback):
    """Keeps every epoch's metrics on disk so that a resumed training returns its whole history.

    After a resume, ``fit`` only records the epochs it ran itself. This callback writes each
    epoch's logs to ``path`` and, when training ends, puts the full history (earlier sessions
    included) into the History object ``fit`` returns; then it deletes its file.
    """

    def __init__(self, path: Path | str):
        super().__init__()
        self.path = Path(path)
        self.epochs: dict[int, dict[str, float]] = {}

    def on_train_begin(self, logs=None):
        self.epochs = {}
        if self.path.is_file():
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
                self.epochs = {int(epoch): values for epoch, values in saved.items()}
            except (OSError, ValueError):
                self.epochs = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epochs[int(epoch)] = {key: float(value) for key, value in (logs or {}).items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.epochs), encoding="utf-8")
        os.replace(temporary, self.path)

    def on_train_end(self, logs=None):
        history = getattr(self.model, "history", None)
        if history is not None and self.epochs:
            ordered = sorted(self.epochs)
            keys = sorted({key for values in self.epochs.values() for key in values})
            history.epoch = ordered
            history.history = {key: [self.epochs[epoch].get(key, float("nan")) for epoch in ordered] for key in keys}
        if self.path.is_file():
            self.path.unlink()


def training_callbacks(backup_dir: Path | str, *, backup: bool = True) -> list:
    """Return a TrainingTimer and, with ``backup``, resumable-training callbacks.

    BackupAndRestore saves the training state at the end of every epoch; after a disconnected
    Colab session, calling ``fit`` again with the same callbacks resumes from the last finished
    epoch instead of starting over, and EpochLog makes the returned history whole again. Both
    clean up when training ends normally.
    """
    callbacks = [TrainingTimer()]
    if backup:
        backup_dir = Path(backup_dir)
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir=str(backup_dir)))
        callbacks.append(EpochLog(backup_dir.with_name(backup_dir.name + ".epochs.json")))
    return callbacks


def training_seconds(callbacks) -> float | None:
    """Return the wall time measured by the TrainingTimer among ``callbacks`` (None if absent)."""
    for callback in callbacks:
        if isinstance(callback, TrainingTimer):
            return float(callback.seconds)
    return None


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend so that runs repeat."""
    keras.utils.set_random_seed(int(seed))


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def configure_mixed_precision(settings, *, verbose: bool = True) -> str:
    """Use mixed precision (float16 compute) in full mode when a GPU is present.

    Mixed precision roughly doubles training speed on Colab's T4/L4 GPUs. On a CPU it would
    slow training down, so the policy stays float32 there. Returns the policy name in force.
    """
    policy = "mixed_float16" if (settings.mode == "full" and has_gpu()) else "float32"
    keras.mixed_precision.set_global_policy(policy)
    if verbose:
        print(f"Keras dtype policy: {policy}")
    return policy
