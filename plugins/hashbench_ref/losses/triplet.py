"""Batch-all triplet loss, vectorised with masks (the original repo's TripletLoss without its loops).

The original builds a list of triplets: for each sample ``s`` in batch order with class ``c = y[s]``,
when ``c`` has >= 2 members and a non-member exists, it appends every ``(a, p, n)`` with ``a < p`` in
``c`` and ``n`` not in ``c``; the loss is the sum of hinges over the list divided by its length. Class
``c``'s triplets therefore appear ``n_c`` times (``n_c`` = members of ``c`` in the batch), which equals
weighting each distinct triplet by the size of its anchor's class. Here::

    loss = sum_{a<p, n} w_a * valid(a,p,n) * relu(m + d_ap - d_an) / sum_{a<p, n} w_a * valid(a,p,n)

with ``w_a = n_{y_a}`` ("original") or ``w_a = 1`` ("uniform"). Memory and time: O(B^3) floats
(B = 128: 8 MB per tensor), no Python loop.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import choice

from . import TRIPLET_WEIGHTINGS


def similarity(labels: torch.Tensor, batch: int, single_label_only: bool) -> torch.Tensor:
    """``(B, B)`` bool: ``True`` where two samples share a class (the diagonal included).

    ``labels``: int ``(B,)`` class ids, or multi-hot ``(B, C)`` (positive = share a class).
    With ``single_label_only``, multi-hot rows must have exactly one positive entry.
    """
    if labels.dim() == 1 and labels.shape[0] == batch:
        return labels[:, None] == labels[None, :]
    if labels.dim() == 2 and labels.shape[0] == batch:
        hot = labels > 0
        if single_label_only and batch and not bool((hot.sum(dim=1) == 1).all()):
            raise ValueError("batch_all_triplet: weighting='original' needs single-label data, but a"
                             " multi-hot label row has zero or several classes; use weighting='uniform'")
        hot = hot.float()
        return (hot @ hot.T) > 0
    raise ValueError(f"batch_all_triplet: labels must be (B,) class ids or (B, C) multi-hot for"
                     f" B={batch}, got shape {tuple(labels.shape)}")


class BatchAllTripletLoss(nn.Module):
    """``(codes (B, bits), labels (B,) or (B, C)) -> scalar``; see the module docstring."""

    def __init__(self, margin: float = 14.0, weighting: str = "original") -> None:
        super().__init__()
        choice("weighting", weighting, TRIPLET_WEIGHTINGS)
        self.margin = float(margin)
        self.weighting = weighting

    def extra_repr(self) -> str:
        return f"margin={self.margin}, weighting={self.weighting!r}"

    def forward(self, codes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if codes.dim() != 2:
            raise ValueError(f"batch_all_triplet: codes must be (B, bits), got {tuple(codes.shape)}")
        x = codes.float()  # distances in float32 even under autocast
        batch = x.shape[0]
        labels = labels.to(x.device)
        same = similarity(labels, batch, single_label_only=self.weighting == "original")
        index = torch.arange(batch, device=x.device)
        positive = same & (index[:, None] < index[None, :])  # (a, p): a < p, same class
        negative = ~same  # (a, n)
        dist = (x[:, None, :] - x[None, :, :]).pow(2).sum(dim=-1)  # (B, B) squared Euclidean
        # Masking by infinities: an invalid (a, p) or (a, n) makes the hinge relu(-inf) = 0 (and its
        # gradient 0) without materialising a (B, B, B) mask.
        d_ap = torch.where(positive, dist, float("-inf"))
        d_an = torch.where(negative, dist, float("inf"))
        hinge = F.relu(self.margin + d_ap[:, :, None] - d_an[:, None, :])  # (a, p, n)
        per_anchor = hinge.sum(dim=(1, 2))  # (B,)
        count = positive.sum(dim=1) * negative.sum(dim=1)  # (B,) int64: triplets per anchor
        if self.weighting == "original":
            weight = same.sum(dim=1)  # members of the anchor's class (itself included)
        else:
            weight = torch.ones_like(count)
        total = (count * weight).sum()
        numerator = (per_anchor * weight.to(per_anchor.dtype)).sum()
        # No valid triplet: numerator is an exact 0 still attached to `codes`, divided by 1.
        return numerator / total.clamp(min=1).to(numerator.dtype)
