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


def _check(feature_dim: int, bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ConfigError(f"head.bits: must be a positive integer, got {bits!r}")
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
        raise ConfigError(f"head: the backbone's feature_dim must be a positive integer, got {feature_dim!r}")


def linear(feature_dim: int, bits: int, bias: bool = True) -> Any:
    """Linear(feature_dim -> bits), real-valued codes; code = sign (DeepHash-pytorch's hash layer).

    ``(B, feature_dim)`` -> ``(B, bits)``. The head for losses that squash or binarise the codes
    themselves (csq, dpsh, dsh, greedyhash, dpn). ``bias``: add a bias (default true).
    """
    _check(feature_dim, bits)
    from .linear import LinearHead

    return LinearHead(feature_dim, bits, bias)


def sign_ste(feature_dim: int, bits: int) -> Any:
    """Linear(feature_dim -> bits), then sign with a straight-through gradient (GreedyHash's hash layer).

    ``(B, feature_dim)`` -> codes in {-1, +1} ``(B, bits)``; backward passes the gradient of the sign
    through unchanged (identity), so losses train on binary codes.
    """
    _check(feature_dim, bits)
    from .linear import SignSTEHead

    return SignSTEHead(feature_dim, bits)


def bn(feature_dim: int, bits: int, momentum: float = 0.1, init_std: float = 0.01) -> Any:
    """Linear(feature_dim -> bits, no bias) + BatchNorm1d(bits): OrthoHash's hash layer.

    ``(B, feature_dim)`` -> ``(B, bits)`` zero-mean, unit-variance codes. ``momentum``: BatchNorm's
    running-statistics momentum (0.1); ``init_std``: the Linear weights' normal init std (0.01).
    """
    _check(feature_dim, bits)
    if not 0.0 < momentum <= 1.0:
        raise ConfigError(f"head.momentum: must lie in (0, 1], got {momentum!r}")
    if not init_std > 0:
        raise ConfigError(f"head.init_std: must be positive, got {init_std!r}")
    from .linear import BatchNormHead

    return BatchNormHead(feature_dim, bits, momentum, init_std)


def scaled_tanh(feature_dim: int, bits: int, step_continuation: int = 20, power: float = 0.5) -> Any:
    """Linear(feature_dim -> bits) then tanh(beta * x), beta growing with the epoch (HashNet's continuation).

    ``beta = (floor((epoch - 1) / step_continuation) + 1) ** power`` at epoch ``epoch`` (1-based): 1 for
    the first ``step_continuation`` epochs (20), then sqrt(2), sqrt(3)... (DeepHash-pytorch's HashNet).
    Resumed runs continue at the right beta.
    """
    _check(feature_dim, bits)
    if isinstance(step_continuation, bool) or not isinstance(step_continuation, int) or step_continuation < 1:
        raise ConfigError(f"head.step_continuation: must be a positive integer (epochs), got {step_continuation!r}")
    if not power > 0:
        raise ConfigError(f"head.power: must be positive, got {power!r}")
    from .linear import ScaledTanhHead

    return ScaledTanhHead(feature_dim, bits, step_continuation, float(power))


FACTORIES: dict = {"tanh": tanh, "linear": linear, "sign_ste": sign_ste, "bn": bn, "scaled_tanh": scaled_tanh}
