"""Reference heads: torch-free factory functions (see hashbench.contract)."""
from __future__ import annotations

from typing import Any

from hashbench.contract import number, positive_int


def tanh(feature_dim: int, bits: int) -> Any:
    """Linear(feature_dim -> bits) + tanh, the original hash layer; code = sign.

    ``(B, feature_dim)`` -> relaxed codes ``(B, bits)`` in (-1, 1). ``bits`` is the code length (the original used 16 to 64). Parameter names match the original
    repo's HashLayer (``hashcoder.0.weight``/``hashcoder.0.bias``); PyTorch's default Linear init.
    """
    _check(feature_dim, bits)
    from .tanh import TanhHead

    return TanhHead(feature_dim, bits)


def _check(feature_dim: int, bits: int) -> None:
    """Every head's two context values: ``bits`` from ``[head]``, ``feature_dim`` from the backbone."""
    positive_int("head.bits", bits)
    positive_int("head: the backbone's feature_dim", feature_dim)


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
    momentum = number("head.momentum", momentum, 0, 1, low_open=True)
    init_std = number("head.init_std", init_std, 0, low_open=True)
    from .linear import BatchNormHead

    return BatchNormHead(feature_dim, bits, momentum, init_std)


def scaled_tanh(feature_dim: int, bits: int, step_continuation: int = 20, power: float = 0.5) -> Any:
    """Linear(feature_dim -> bits) then tanh(beta * x), beta growing with the epoch (HashNet's continuation).

    ``beta = (floor((epoch - 1) / step_continuation) + 1) ** power`` at epoch ``epoch`` (1-based): 1 for
    the first ``step_continuation`` epochs (20), then sqrt(2), sqrt(3)... (DeepHash-pytorch's HashNet).
    Resumed runs continue at the right beta.
    """
    _check(feature_dim, bits)
    positive_int("head.step_continuation", step_continuation, note=" (epochs)")
    power = number("head.power", power, 0, low_open=True)
    from .linear import ScaledTanhHead

    return ScaledTanhHead(feature_dim, bits, step_continuation, power)


FACTORIES: dict = {"tanh": tanh, "linear": linear, "sign_ste": sign_ste, "bn": bn, "scaled_tanh": scaled_tanh}
