"""DSH: Deep Supervised Hashing (Liu, Wang, Shan and Chen, CVPR 2016), contrastive loss + a regulariser.

Paper: H. Liu, R. Wang, S. Shan, X. Chen, "Deep Supervised Hashing for Fast Image Retrieval", CVPR 2016.
Reference followed: swuxyj/DeepHash-pytorch ``DSH.py`` (commit ab14068), with a memory bank of the
training set (``memory = "bank"``, the default); ``memory = "batch"`` is the paper's formulation (pairs
within the mini-batch, the gradient through both codes of a pair).

With ``V`` the other side of the pairs (the bank's codes after this batch was written into it,
detached, or the batch itself), ``d_ij = ||u_i - V_j||^2`` and ``dis_ij`` = no shared label::

    loss = mean_ij( (1 - dis_ij) / 2 * d_ij + dis_ij / 2 * max(0, m - d_ij) ) + alpha * mean( | |u| - 1 | )

with ``m = 2 * bits`` by default (the mean over all B x N pairs, unseen bank rows included, as the
reference). Deliberate difference: ``d_ij`` is computed as ``|u_i|^2 + |V_j|^2 - 2 u_i . V_j`` (B x N
memory instead of the reference's B x N x bits; equal within float32 rounding). Pair it with the
``linear`` head.
"""
from __future__ import annotations

import torch

from hashbench.contract import LossBatch

from .pairwise import PairBankLoss

__all__ = ["DSHLoss", "contrastive_loss", "squared_distances"]


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(A, bits), (M, bits) -> (A, M)`` squared Euclidean distances (expanded form)."""
    return a.pow(2).sum(dim=1, keepdim=True) + b.pow(2).sum(dim=1)[None, :] - 2.0 * (a @ b.T)


def contrastive_loss(dist: torch.Tensor, similar: torch.Tensor, margin: float) -> torch.Tensor:
    """DSH's pair term, averaged: ``dist`` (A, M) squared distances, ``similar`` (A, M) bool."""
    return torch.where(similar, dist, (margin - dist).clamp(min=0)).mul(0.5).mean()


class DSHLoss(PairBankLoss):
    """``(codes (B, bits), labels[, indices (B,)]) -> scalar``; see the module docstring and
    :class:`~hashbench_ref.losses.pairwise.PairBankLoss` (``memory``, ``bank``)."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, alpha: float = 0.1,
                 margin: float | None = None, memory: str = "bank") -> None:
        super().__init__(bits, num_classes, multi_label, num_train, alpha, memory)
        self.margin = 2.0 * self.bits if margin is None else float(margin)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, margin={self.margin:g}"

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes  # (B, bits)
        other, similar = self.pair_sides(batch, u)
        pairs = contrastive_loss(squared_distances(u, other), similar, self.margin)
        regulariser = (u.abs() - 1).abs().mean()
        return pairs + self.alpha * regulariser
