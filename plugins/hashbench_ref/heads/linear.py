"""Linear hash heads: plain (real-valued codes), sign with a straight-through gradient, BatchNorm'd
(OrthoHash), and tanh with a growing scale (HashNet's continuation)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["LinearHead", "SignSTEHead", "BatchNormHead", "ScaledTanhHead", "sign_straight_through",
           "continuation_scale"]


class _SignStraightThrough(torch.autograd.Function):
    """sign(x) forward; the incoming gradient unchanged backward (identity)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad


def sign_straight_through(x: torch.Tensor) -> torch.Tensor:
    """``sign(x)`` whose gradient is the identity (GreedyHash's ``Hash`` function)."""
    return _SignStraightThrough.apply(x)


def continuation_scale(epoch: int, step_continuation: int, power: float) -> float:
    """HashNet's beta at 1-based ``epoch``: ``(floor((epoch - 1) / step) + 1) ** power``."""
    return float((max(epoch, 1) - 1) // step_continuation + 1) ** power


class LinearHead(nn.Module):
    """``(B, D)`` -> ``(B, bits)`` = Linear(x)."""

    def __init__(self, feature_dim: int, bits: int, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(feature_dim, bits, bias=bias)

    @property
    def hash_weight(self) -> nn.Parameter:
        """The hash layer's weight ``(bits, D)`` (``fc.weight``), for a loss's ``weight_penalty``."""
        return self.fc.weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


class SignSTEHead(LinearHead):
    """``(B, D)`` -> ``sign(Linear(x))`` in {-1, +1}, straight-through gradient."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return sign_straight_through(self.fc(features))


class BatchNormHead(nn.Module):
    """``(B, D)`` -> ``BatchNorm1d(Linear_no_bias(x))`` (OrthoHash's ``hash_fc``)."""

    def __init__(self, feature_dim: int, bits: int, momentum: float = 0.1, init_std: float = 0.01) -> None:
        super().__init__()
        self.fc = nn.Linear(feature_dim, bits, bias=False)
        self.bn = nn.BatchNorm1d(bits, momentum=momentum)
        nn.init.normal_(self.fc.weight, std=init_std)

    @property
    def hash_weight(self) -> nn.Parameter:
        """The hash layer's weight ``(bits, D)`` (``fc.weight``, before the BatchNorm)."""
        return self.fc.weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.bn(self.fc(features))


class ScaledTanhHead(LinearHead):
    """``(B, D)`` -> ``tanh(beta * Linear(x))``; ``beta`` follows the epoch (:func:`continuation_scale`)."""

    def __init__(self, feature_dim: int, bits: int, step_continuation: int = 20, power: float = 0.5) -> None:
        super().__init__(feature_dim, bits)
        self.step_continuation = step_continuation
        self.power = power
        self.register_buffer("scale", torch.tensor(1.0))

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Set beta for epoch ``epoch`` (1-based)."""
        self.scale.fill_(continuation_scale(epoch, self.step_continuation, self.power))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.scale * self.fc(features))

    def extra_repr(self) -> str:
        return f"step_continuation={self.step_continuation}, power={self.power}, scale={float(self.scale):g}"
