"""Reference heads: torch-free factory functions (see hashbench.contract)."""
from __future__ import annotations

from typing import Any

from hashbench.errors import ConfigError


def tanh(feature_dim: int, bits: int) -> Any:
    """Linear(feature_dim -> bits) + tanh, the original hash layer; code = sign.

    ``(B, feature_dim)`` -> relaxed codes ``(B, bits)`` in (-1, 1). ``bits`` is the code length (the original used 16 to 64). Parameter names match the original
    repo's HashLayer (``hashcoder.0.weight``/``hashcoder.0.bias``); PyTorch's default Linear init.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ConfigError(f"head.bits: must be a positive integer, got {bits!r}")
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
        raise ConfigError(f"head: the backbone's feature_dim must be a positive integer, got {feature_dim!r}")
    from .tanh import TanhHead

    return TanhHead(feature_dim, bits)


FACTORIES: dict = {"tanh": tanh}
