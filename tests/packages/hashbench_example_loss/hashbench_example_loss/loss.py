"""The loss: one override of ``hashbench.contract.HashLoss.compute_loss``."""
from __future__ import annotations

import torch

from hashbench.contract import HashLoss, LossBatch


class PairwiseSimilarityLoss(HashLoss):
    """``weight * mean((tanh(u) tanh(u)^T / bits - s)^2)`` over the batch, s = +1 same class, -1 otherwise."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool, weight: float) -> None:
        super().__init__(num_classes, multi_label)
        self.bits = int(bits)
        self.weight = float(weight)

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = torch.tanh(batch.codes)  # (B, bits)
        inner = u @ u.T / batch.bits  # (B, B) in [-1, 1]
        target = 2.0 * batch.similarity.float() - 1.0  # (B, B): +1 share a class, -1 otherwise
        return self.weight * ((inner - target) ** 2).mean()
