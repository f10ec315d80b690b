"""The self-supervised video hashing methods (SSVH, BTH, DKPH, MCMSH, ConMH, S5VH, AutoSSVH) as registered
methods: torch-free factory functions whose keys (with the paper's settings as defaults) and docstrings
are what ``hashbench plugins show NAME`` prints; each imports its method's module when it builds.

The methods themselves live one per module beside this one (``methods/<name>.py``), built on the shared
blocks of :mod:`.ssl`. ``bits`` and ``seed`` come from the experiment (``[method] bits``, top-level seed).
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["FACTORIES"]

#: method name -> factory; each method's engineer adds its entry below its factory.
FACTORIES: dict[str, Callable[..., Any]] = {}
