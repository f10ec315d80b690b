"""The straight-through binary unit and frame-mean code pooling shared by the SSVH family (SSVH, BTH,
ConMH, S5VH, AutoSSVH).

Paper: first used in SSVH (Song et al., TIP 2018). Reference followed: ConMH at d6dd5b5
(``model/conmh.py``: ``hard_sigmoid``, ``binary_tanh_unit``, ``Round3``; S5VH 4926cb7 and AutoSSVH
bf07c35 carry the same code, BTH c97db40 the same ``Round3``)::

    hard_sigmoid(x) = clip((x + 1) / 2, 0, 1)
    binary_tanh_unit(x) = 2 * round(hard_sigmoid(x)) - 1          forward, values in {-1, +1}
    d out / d x = 1 where -1 < x <= 1, else 0                     backward

The backward is the reference's: the clip passes the gradient where (x + 1) / 2 lies in [0, 1]
(its in-place ``y[y > 1] = 1``, ``y[y < 0] = 0`` zero it outside), ``Round3`` passes it straight through
but masks it where its input is exactly 0 (so at x = -1 too), and the factor 2 of ``2 round(.) - 1``
cancels the 1/2 of the clip. ``torch.round`` rounds half to even, so x = 0 gives -1, as in the reference.
At test time the per-frame codes are averaged over frames (:func:`frame_mean`, the papers' "hash
voting") and the sign is the code. No deliberate difference (the backward is device-agnostic: the
reference's ``.cuda()`` in ``Round3.backward`` is gone).
"""
from __future__ import annotations

from typing import Any, Optional

import torch

__all__ = ["hard_sigmoid", "binary_tanh_unit", "frame_mean"]


class _MaskedRound(torch.autograd.Function):
    """``round(y)`` forward; backward passes the gradient where ``y != 0`` (the reference's ``Round3``)."""

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(y)
        return torch.round(y)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad * (y != 0).to(grad.dtype)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``clip((x + 1) / 2, 0, 1)``; gradient 1/2 where ``0 <= (x + 1) / 2 <= 1`` (bounds included, as the
    reference's in-place ``y[y > 1] = 1``, ``y[y < 0] = 0``; ``torch.clamp`` gives 0 at the upper bound)."""
    y = (x + 1.0) / 2.0
    y = torch.where(y > 1.0, torch.ones_like(y), y)
    return torch.where(y < 0.0, torch.zeros_like(y), y)


def binary_tanh_unit(x: torch.Tensor) -> torch.Tensor:
    """``2 round(hard_sigmoid(x)) - 1`` in {-1, +1}, any shape; straight-through gradient (module docstring)."""
    return 2.0 * _MaskedRound.apply(hard_sigmoid(x)) - 1.0


def frame_mean(codes: torch.Tensor, visible: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean over frames of per-frame codes (B, T, bits) -> (B, bits); with ``visible`` (B, T) bool, the
    mean over the visible frames only (each row needs at least one)."""
    if visible is None:
        return codes.mean(dim=1)
    weights = visible.to(codes.dtype).unsqueeze(-1)
    return (codes * weights).sum(dim=1) / weights.sum(dim=1)
