"""Checks used by the visible test cells, with messages in French that say what to fix.

They turn student results into plain Python values before comparing them, so that an object
claiming to equal everything (a custom ``__eq__``) cannot pass a test.
"""

from __future__ import annotations

import numbers

import numpy as np


class CheckFailed(AssertionError):
    """A visible test failed; the message tells the student what to fix."""


def fail(message: str):
    raise CheckFailed(message)


def plain_float(value, what: str) -> float:
    """Return ``value`` as a built-in float, refusing anything that is not a real number."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        fail(f"{what} doit être un nombre réel, pas un objet de type {type(value).__name__}.")
    result = float(value)
    if not np.isfinite(result):
        fail(f"{what} vaut {result} : ce n'est pas un nombre fini.")
    return result


def plain_str(value, what: str) -> str:
    """Return ``value`` as a built-in str (a str subclass cannot bring its own ``__eq__``)."""
    if not isinstance(value, str):
        fail(f"{what} doit être une chaîne de caractères, pas {type(value).__name__}.")
    return str.__getitem__(value, slice(None))


def plain_key(value, what: str) -> tuple:
    """Return a sort key as a tuple of built-in floats and strs, refusing anything else.

    A lone number or string counts as a key of one element; a bool counts as 0 or 1. NaN is
    refused: it compares neither below nor above anything, so a sort would depend on the order.
    """
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not items:
        fail(f"{what} est un tuple vide : il faut au moins une mesure.")
    plain = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            plain.append(plain_str(item, what))
        elif isinstance(item, (bool, np.bool_)):
            plain.append(1.0 if item else 0.0)
        elif isinstance(item, (numbers.Real, np.floating, np.integer)) and float(item) != float(item):
            fail(
                f"L'élément {position} de {what} vaut NaN (une mesure absente, comme une durée "
                "non mesurée ?) : un NaN ne se compare à rien, le tri dépendrait de l'ordre des lignes."
            )
        else:
            plain.append(plain_float(item, f"L'élément {position} de {what}"))
    return tuple(plain)


def sort_key_of(key_function, row, what: str = "selection_key") -> tuple:
    """Call a student's sort key on one table row and return the key as :func:`plain_key` does.

    The messages name the usual mistakes: a key that is not a function of one row, and a key that
    reads a column the row does not have (a test score, a training accuracy).
    """
    if not callable(key_function):
        fail(
            f"{what} doit être une fonction d'une ligne du tableau (def {what}(row): ...), "
            f"pas un objet de type {type(key_function).__name__}."
        )
    try:
        value = key_function(row)
    except (KeyError, AttributeError) as error:
        columns = ", ".join(str(column) for column in getattr(row, "index", []))
        fail(
            f"{what} lit une colonne absente de la ligne ({error}) : la règle ne peut lire que les "
            f"mesures de validation du tableau ({columns}). Ni jeu de test, ni exactitude "
            "d'entraînement : on choisit sur le jeu de validation."
        )
    except TypeError as error:
        fail(
            f"{what}(row) a levé TypeError ({error}) : la fonction prend un seul argument, la ligne, "
            "et ne calcule que sur des nombres."
        )
    return plain_key(value, f"{what}(row)")


def plain_int_array(value, what: str, *, length: int | None = None) -> np.ndarray:
    """Return ``value`` as a fresh NumPy integer array (1-D), checking its length."""
    if not isinstance(value, (np.ndarray, list, tuple)):
        fail(f"{what} doit être un tableau NumPy ou une liste, pas {type(value).__name__}.")
    array = np.array(value, copy=True)
    if array.dtype.kind not in "iu":
        fail(f"{what} doit contenir des entiers (indices), pas des valeurs de type {array.dtype}.")
    if array.ndim != 1:
        fail(f"{what} doit être un tableau à une dimension, pas de forme {array.shape}.")
    if length is not None and len(array) != length:
        fail(f"{what} doit contenir {length} éléments, il en contient {len(array)}.")
    return array.astype(np.int64)


def plain_float_array(value, what: str, *, shape: tuple | None = None) -> np.ndarray:
    """Return ``value`` as a fresh float64 NumPy array, checking its shape (None = any size)."""
    if not isinstance(value, (np.ndarray, list, tuple)):
        fail(f"{what} doit être un tableau NumPy, pas {type(value).__name__}.")
    array = np.array(value, dtype=np.float64, copy=True)
    if shape is not None:
        if len(shape) != array.ndim or any(
            expected is not None and expected != actual for expected, actual in zip(shape, array.shape)
        ):
            fail(f"{what} doit avoir la forme {shape}, il a la forme {array.shape}.")
    if not np.all(np.isfinite(array)):
        fail(f"{what} contient des valeurs non finies (NaN ou infini).")
    return array


def keras_model(value, what: str):
    """Check that ``value`` is a Keras model and return it."""
    import keras

    if not isinstance(value, keras.Model):
        fail(f"{what} doit être un modèle Keras (keras.Model), pas {type(value).__name__}.")
    return value


def model_io(model, what: str, *, input_shape, num_classes: int) -> None:
    """Check a classifier's input shape, output size and softmax output."""
    actual_input = tuple(model.input_shape[1:])
    if actual_input != tuple(input_shape):
        fail(f"{what} doit accepter des images de forme {tuple(input_shape)}, pas {actual_input}.")
    actual_output = tuple(model.output_shape[1:])
    if actual_output != (num_classes,):
        fail(f"{what} doit sortir {num_classes} probabilités (une par classe), pas {actual_output}.")
    probe = np.random.default_rng(0).integers(0, 256, size=(2, *input_shape)).astype("float32")
    probabilities = np.array(model(probe, training=False), dtype=np.float64).tolist()
    # Plain Python arithmetic: a patched NumPy comparison cannot make this pass.
    for row in probabilities:
        if min(row) < 0 or abs(sum(row) - 1.0) > 1e-3:
            fail(f"La sortie de {what} n'est pas une distribution de probabilités : utilisez softmax.")


def uses_layer(model, layer_type, what: str) -> list:
    """Return the layers of ``layer_type`` in ``model`` (searching nested models); fail if none."""
    found = [layer for layer in iter_layers(model) if isinstance(layer, layer_type)]
    if not found:
        fail(f"{what} ne contient aucune couche {layer_type.__name__}.")
    return found


def iter_layers(model):
    """Yield every layer of a model, descending into nested models."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from iter_layers(layer)


# Notebook 03: the variants every student trains, the improved model, and the options a variant
# may set (those of build_regularised_cnn, plus early stopping's patience).
REQUIRED_VARIANTS = ("baseline", "augmentation", "dropout", "l2", "batch_norm", "early_stopping")
IMPROVED_VARIANT = "improved"
VARIANT_OPTIONS = ("augmentation", "dropout_rate", "l2_factor", "batch_norm", "patience")


def variant_options(options, what: str) -> list[str]:
    """Check a variant's options (a dict of known options); return those that switch a technique on."""
    if not isinstance(options, dict) or any(key not in VARIANT_OPTIONS for key in options):
        fail(f"Les options de {what} doivent être un dictionnaire de clés prises parmi {', '.join(VARIANT_OPTIONS)}.")
    return [key for key in VARIANT_OPTIONS if options.get(key) not in (None, False, 0, 0.0)]


def extra_experiments(variants, run) -> list[str]:
    """The experiments of notebook 03 beyond the required variants and the improved model.

    The variants added to ``VARIANTS``, and the class-weighted model of the bonus part when it
    was saved.
    """
    names = [name for name in variants if name not in REQUIRED_VARIANTS and name != IMPROVED_VARIANT]
    if run.model_path("reg_class_weights").is_file():
        names.append("class_weights")
    return names


def received_by_base(model, images, base_name: str = "base") -> np.ndarray:
    """What the layer ``base_name`` of a transfer model receives for ``images``: the model's own preprocessing.

    The layers between the input and the base are applied in order, in inference mode.
    """
    import keras

    try:
        base = model.get_layer(name=base_name)
    except ValueError:
        fail(f"Nommez la base : keras.applications.VotreBase(..., name=\"{base_name}\").")
    received = keras.ops.convert_to_tensor(np.asarray(images, dtype="float32"))
    for layer in model.layers:
        if layer is base:
            return plain_float_array(keras.ops.convert_to_numpy(received), "ce que reçoit la base")
        if not isinstance(layer, keras.layers.InputLayer):
            received = layer(received, training=False)
    fail(f"La couche « {base_name} » n'est pas appelée directement par le modèle.")
