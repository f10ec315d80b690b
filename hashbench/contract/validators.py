"""Validators for a factory's key values: one message per rule, so every plugin says it the same way.

Each takes the key as the user writes it (``"loss.margin"``, ``"backbone.width"``) and the value,
returns the value (converted: ``int`` or ``float``) and raises ``ValueError`` with one line naming the
key, the rule and the value (``loss.margin: must be a number > 0, got -1.0``). A ``ValueError`` from a
factory becomes a ``ConfigError`` in hashbench (:meth:`hashbench.contract.Registry.build`), so a plugin
needs no hashbench error class. Booleans are never numbers here, and NaN or infinity never passes.
Torch-free, like the factories that call them.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, TypeVar

__all__ = ["choice", "integer", "number", "positive_int"]

T = TypeVar("T")


def _range(low: Optional[float], high: Optional[float], low_open: bool, high_open: bool) -> str:
    """``>= 0``, ``> 0``, ``<= 1`` or ``in [0, 1)``: the rule's words."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def _inside(value: float, low: Optional[float], high: Optional[float], low_open: bool, high_open: bool) -> bool:
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def number(key: str, value: object, low: Optional[float] = None, high: Optional[float] = None, *,
           low_open: bool = False, high_open: bool = False, note: str = "") -> float:
    """``value`` as a float if it is a finite number within the bounds (closed unless ``*_open``).

    ``number("loss.m", m, 0, low_open=True)`` -> ``loss.m: must be a number > 0, got 0.0``;
    ``note`` is added after the rule (``" (the original used 14)"``).
    """
    finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not finite or not _inside(float(value), low, high, low_open, high_open):  # type: ignore[arg-type]
        rule = " ".join(filter(None, ["must be a number", _range(low, high, low_open, high_open)]))
        raise ValueError(f"{key}: {rule}{note}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def integer(key: str, value: object, low: Optional[int] = None, high: Optional[int] = None, *,
            note: str = "") -> int:
    """``value`` if it is an int within ``[low, high]`` (bounds optional; a bool is not an int)."""
    if isinstance(value, bool) or not isinstance(value, int) or not _inside(value, low, high, False, False):
        rule = " ".join(filter(None, ["must be an integer", _range(low, high, False, False)]))
        raise ValueError(f"{key}: {rule}{note}, got {value!r}")
    return value


def positive_int(key: str, value: object, note: str = "") -> int:
    """``value`` if it is an int >= 1: ``head.bits: must be a positive integer, got 0``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key}: must be a positive integer{note}, got {value!r}")
    return value


def choice(key: str, value: T, choices: Iterable[T]) -> T:
    """``value`` if it is one of ``choices``: ``loss.memory: unknown value 'queue'; use one of 'bank', 'batch'``."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"{key}: unknown value {value!r}; use one of {', '.join(map(repr, allowed))}")
    return value
