"""Reference backbones: torch-free factory functions (see hashbench.hookspecs)."""
from __future__ import annotations

FACTORIES: dict = {}
