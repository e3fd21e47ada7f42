"""Rebuild a model a grading kernel exported, in the trusted verdict process, without running its code.

The archive was written by the student's code: it is opened from a private temporary folder with
``keras.saving.load_model(..., safe_mode=True)``, which rebuilds only Keras's own classes from the
configuration and refuses to deserialise code (a ``Lambda`` layer's bytecode). A model that needs
a class defined in the notebook does not load: its verdict says so, and the cell earns nothing.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from autograde.verdicts.cells import Judgement, failed
from autograde.verdicts.exports import SavedModel

NOT_EXPORTED = "no model was exported (the cell failed or did not run)"


def load_saved_model(saved: SavedModel | None, *, compile: bool = False, what: str | None = None):
    """The Keras model of an exported archive, or the failing :class:`Judgement` that says why not.

    ``what`` names the model at the start of the judgement's reason ("the variant l2: ...").
    """
    model = _load(saved, compile=compile)
    if isinstance(model, Judgement) and what:
        return failed(f"{what}: {model.reason}")
    return model


def _load(saved: SavedModel | None, *, compile: bool):
    if saved is None:
        return failed(NOT_EXPORTED)
    if not isinstance(saved, SavedModel):
        return failed("the model export is not a Keras archive")
    import keras

    with tempfile.TemporaryDirectory(prefix="paysages-verdict-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(saved.data)
        try:
            with warnings.catch_warnings():
                # Keras warns when a compiled but untrained model's optimizer has no state to restore.
                warnings.simplefilter("ignore", UserWarning)
                model = keras.saving.load_model(path, compile=compile, safe_mode=True)
        except Exception as error:  # Any archive keras cannot rebuild safely earns nothing.
            return failed(f"the exported model does not load with safe_mode=True ({type(error).__name__}: "
                          f"{str(error)[:200]})")
    if not isinstance(model, keras.Model):
        return failed(f"the export holds a {type(model).__name__}, not a keras.Model")
    return model

