"""Training support shared by every notebook: seeding, resumable and timed training, GPU set-up."""

from __future__ import annotations

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


def training_callbacks(backup_dir: Path | str, *, backup: bool = True) -> list:
    """Return a TrainingTimer and, with ``backup``, a BackupAndRestore writing to ``backup_dir``.

    BackupAndRestore saves the training state at the end of every epoch; after a disconnected
    Colab session, calling ``fit`` again with the same callbacks resumes from the last finished
    epoch instead of starting over. The backup is deleted when training ends normally.
    """
    callbacks = [TrainingTimer()]
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir=str(backup_dir)))
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
