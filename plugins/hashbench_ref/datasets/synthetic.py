"""Embedded, generated datasets (no download): factories only, torch-free at import."""
from __future__ import annotations

FACTORIES: dict = {}
