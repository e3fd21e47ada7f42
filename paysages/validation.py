"""Argument checks shared by the kit's functions, with scikit-learn style messages.

Each message says which argument was wrong, what was expected and what came, for example
``per_class must be an integer >= 1, got 0 (int).``
"""

from __future__ import annotations

import math
import numbers


def _describe(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_integer(name: str, value, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python ``int`` after checking it is an integer >= ``minimum``.

    Booleans are refused (``True`` is an ``int`` to Python, never a count to a user); NumPy
    integers are accepted.

    Raises:
        ValueError: ``value`` is not an integer, or is smaller than ``minimum``.
    """
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {expected}, got {_describe(value)}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {expected}, got {_describe(value)}.")
    return int(value)


def check_positive_number(name: str, value) -> float:
    """Return ``value`` as a ``float`` after checking it is a finite number > 0.

    Raises:
        ValueError: ``value`` is not a real number, or is not finite and positive.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number > 0, got {_describe(value)}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {_describe(value)}.")
    return float(value)
