"""Real video datasets (UCF101, HMDB-51, JHMDB, frame folders): factories only, torch-free at import."""
from __future__ import annotations

FACTORIES: dict = {}
