"""Torch-free factory: its keyword parameters are the keys of the ``[method]`` table."""
from __future__ import annotations

import math
from typing import Any


def binary_autoencoder(bits: int, quantization: float = 0.1, seed: int = 0, feature_dim: int = 0) -> Any:
    """A linear binary autoencoder on mean-pooled frame features (label-free; fit, then trained epochs).

    ``fit`` stores the training split's per-dimension mean and standard deviation; ``encode`` is
    ``tanh(W z)`` of the standardised pooled feature z, and ``training_loss`` reconstructs z from those
    codes with a linear decoder: mean((z - D h)^2) + ``quantization`` * mean((|h| - 1)^2).

    - ``quantization`` (>= 0, default 0.1): weight of the term pulling the codes towards +-1.
    """
    if isinstance(quantization, bool) or not isinstance(quantization, (int, float)) or not quantization >= 0 \
            or math.isinf(quantization):
        raise ValueError(f"method.quantization: must be a finite number >= 0, got {quantization!r}")
    from .method import BinaryAutoencoder

    return BinaryAutoencoder(bits, feature_dim, float(quantization), seed)
