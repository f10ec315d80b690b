"""The original repo's hash layer: Linear(feature_dim -> bits) followed by tanh."""
from __future__ import annotations

import torch
from torch import nn


class TanhHead(nn.Module):
    """``(B, feature_dim)`` features -> ``(B, bits)`` relaxed codes in (-1, 1)."""

    def __init__(self, feature_dim: int, bits: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.bits = bits
        # Same module layout (and so state-dict names) as the original HashLayer.
        self.hashcoder = nn.Sequential(nn.Linear(feature_dim, bits), nn.Tanh())

    @property
    def hash_weight(self) -> nn.Parameter:
        """The hash layer's weight ``(bits, feature_dim)`` (``hashcoder.0.weight``), for a loss's
        ``weight_penalty``."""
        return self.hashcoder[0].weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.hashcoder(features)
