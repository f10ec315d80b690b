"""Reference datasets: the embedded synthetic sets, the real video datasets and frame-feature files."""
from __future__ import annotations

from .frame_features import FACTORIES as _FEATURES
from .real import FACTORIES as _REAL
from .synthetic import FACTORIES as _SYNTHETIC

FACTORIES: dict = {**_SYNTHETIC, **_REAL, **_FEATURES}
