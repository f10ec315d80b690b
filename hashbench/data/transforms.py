"""Spatial transforms of uint8 clips ``(3, T, H, W)``: size parsing, centre crop, random crop + flip.

Crops are slices of the stored clip (no interpolation); normalisation is not done here — the engine
normalises uint8 batches on the device with the backbone's ``input_mean``/``input_std``.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ..errors import ConfigError

#: The original repo's resize (H, W) and crop.
DEFAULT_RESIZE = (128, 171)
DEFAULT_CROP = 112


def parse_size(value: Any, what: str = "size") -> Tuple[int, int]:
    """``(H, W)`` from ``"128x171"``, ``[128, 171]`` or a single int (square). ConfigError otherwise."""
    try:
        if isinstance(value, str):
            parts = value.lower().replace(",", "x").split("x")
            size = tuple(int(p) for p in parts)
            if len(size) == 1:
                size = (size[0], size[0])
        elif isinstance(value, bool):
            raise ValueError
        elif isinstance(value, int):
            size = (value, value)
        else:
            size = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected HxW like \"128x171\" or [128, 171], got {value!r}") from None
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"{what}: expected two positive sizes (H, W), got {value!r}")
    return int(size[0]), int(size[1])


def centre_offsets(height: int, width: int, crop: int) -> Tuple[int, int]:
    """Top-left corner of a centred ``crop`` square, rounded like torchvision's ``CenterCrop``."""
    return int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))


def crop_view(clip: np.ndarray, top: int, left: int, crop: int) -> np.ndarray:
    """View of ``clip[..., top:top+crop, left:left+crop]`` (works for ``(3,T,H,W)``)."""
    return clip[..., top:top + crop, left:left + crop]
