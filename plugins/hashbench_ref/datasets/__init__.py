"""Reference datasets: the embedded synthetic set and the real video datasets."""
from __future__ import annotations

from .real import FACTORIES as _REAL
from .synthetic import FACTORIES as _SYNTHETIC

FACTORIES: dict = {**_SYNTHETIC, **_REAL}
