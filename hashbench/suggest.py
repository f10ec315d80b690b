"""Did-you-mean hints for error messages: the one place that guesses what a misspelt name meant.

Used for experiment keys and values, plugin names, results columns and video ids alike, so every
"unknown X" message suggests the same way: the closest option by :mod:`difflib` (ratio >= 0.6), else
an option the word abbreviates or extends (both at least 3 characters, case-insensitive prefix).
"""
from __future__ import annotations

import difflib
from typing import Iterable, Optional

__all__ = ["closest", "did_you_mean"]


def closest(word: str, options: Iterable[str]) -> Optional[str]:
    """The option ``word`` most likely misspells (difflib), else one it abbreviates or extends."""
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return close[0]
    lower = word.lower()
    for option in options:
        if min(len(lower), len(option)) >= 3 and (lower.startswith(option) or option.startswith(lower)):
            return option
    return None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the :func:`closest` option, or ``""`` when nothing is close."""
    close = closest(word, options)
    return f" (did you mean {close!r}?)" if close else ""
