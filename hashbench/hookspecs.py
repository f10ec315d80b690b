"""Deprecated: the plugin contract moved to :mod:`hashbench.contract`; import from there.

Kept so that plugins written against hashbench 0.1 (``from hashbench.hookspecs import hookimpl``) keep
loading; ``hashbench.hookimpl`` and ``hashbench.contract`` are the public spellings.
"""
from __future__ import annotations

import warnings

from .contract import IDENTITY_ATTRIBUTE, PROJECT, Factories, hookimpl, hookspec, identity_keys

__all__ = ["PROJECT", "hookimpl", "hookspec", "Factories", "identity_keys", "IDENTITY_ATTRIBUTE"]

warnings.warn("hashbench.hookspecs is deprecated; import from hashbench.contract (or hashbench.hookimpl)",
              DeprecationWarning, stacklevel=2)
