"""Torch-free factory: its keyword parameters are the keys of the ``[backbone]`` TOML table."""
from __future__ import annotations

import math
from typing import Any


def c3d_small(width: int = 16, fc_dim: int = 512, dropout: float = 0.5, batch_norm: bool = False) -> Any:
    """C3D of Tran et al. with a width multiplier, any clip size (teaching example); fc7 feature.

    Input float clips ``(B, 3, T, H, W)`` with T >= 1 and H, W >= 16 (e.g. 8x32x32 or 16x112x112);
    output ``(B, fc_dim)``. Keys:

    - ``width`` (default 16): channels of conv1; the stages use width x (1, 2, 4, 8, 8).
      ``width = 64, fc_dim = 4096`` is the original C3D size.
    - ``fc_dim`` (default 512): size of fc6 and fc7, the feature handed to the hash head.
    - ``dropout`` (default 0.5): after fc6 and fc7, as in C3D.
    - ``batch_norm`` (default false): BatchNorm3d after every convolution (C3D itself has none;
      helps when training from scratch).

    Pool5 is an adaptive max-pool to (1, 4, 4), so fc6 fits any input size; pools 2-4 use
    ``ceil_mode`` so that short clips (T < 8) still work. Not the original network: the faithful C3D,
    which loads the Sports-1M weights, is the reference set's ``c3d`` backbone.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"backbone.width: must be a positive integer, got {width!r}")
    if isinstance(fc_dim, bool) or not isinstance(fc_dim, int) or fc_dim < 1:
        raise ValueError(f"backbone.fc_dim: must be a positive integer, got {fc_dim!r}")
    if not isinstance(dropout, (int, float)) or math.isnan(dropout) or not 0 <= dropout < 1:
        raise ValueError(f"backbone.dropout: must be in [0, 1), got {dropout!r}")
    from .model import C3D

    return C3D(width=width, fc_dim=fc_dim, dropout=float(dropout), batch_norm=batch_norm)
