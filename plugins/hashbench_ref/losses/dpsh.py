"""DPSH: Deep Pairwise-Supervised Hashing (Li, Wang and Kang, IJCAI 2016), against a memory bank.

Paper: W.-J. Li, S. Wang, W.-C. Kang, "Feature Learning based Deep Supervised Hashing with Pairwise
Labels", IJCAI 2016. Reference followed: swuxyj/DeepHash-pytorch ``DPSH.py`` (commit ab14068) for the
default ``weighting = "mean"``; CISiPLab/cisip-FIRe's ``functions/loss/dpsh.py`` for
``weighting = "balanced"`` (it re-weights similar and dissimilar pairs as HashNet does).

A memory bank keeps the latest relaxed code ``U_j`` and label row ``Y_j`` of every training clip ``j``
(zeros until the clip is seen). Each batch first writes its own codes (detached) and labels into the
bank at its indices, then, for the batch codes ``u`` (B, bits) and the bank (N rows)::

    theta_ij = u_i . U_j / 2                      s_ij = 1 if y_i and Y_j share a label else 0
    loss = mean_ij( log(1 + exp(theta_ij)) - s_ij * theta_ij ) + alpha * mean( (u - sign(u))^2 )

(the mean over all B x N pairs, unseen bank rows included, as the reference does). No deliberate
difference: log(1 + exp(.)) is computed with a stable softplus. Pair it with the ``linear`` head (the
reference's network outputs a plain linear code).

``weighting = "balanced"`` follows FIRe's ``dpsh.py`` instead: the likelihood's similar and dissimilar
pairs are weighted as HashNet weights them (mean over similar pairs + mean over dissimilar pairs, see
:func:`.pairwise.balanced_pair_loss`). With many classes almost every pair is dissimilar (14 of 15
here with 15 classes), and the plain mean is then minimised by shrinking every code towards zero; the
balanced likelihood keeps the similar pairs' pull (this is what FIRe does on its 100-class sets).
"""
from __future__ import annotations

import torch

from hashbench.contract import LossBatch, choice

from .pairwise import PAIR_WEIGHTINGS, PairBankLoss, pair_likelihood

__all__ = ["DPSHLoss"]


class DPSHLoss(PairBankLoss):
    """``(codes (B, bits), labels, indices (B,)) -> scalar``; see the module docstring and
    :class:`~hashbench_ref.losses.pairwise.PairBankLoss` (always ``memory = "bank"``: ``bank`` holds the
    latest code and labels of every training clip)."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, alpha: float = 0.1,
                 weighting: str = "mean") -> None:
        super().__init__(bits, num_classes, multi_label, num_train, alpha, "bank")
        choice("weighting", weighting, PAIR_WEIGHTINGS)
        self.weighting = weighting

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weighting={self.weighting!r}"

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes  # (B, bits)
        other, similar = self.pair_sides(batch, u)
        theta = 0.5 * (u @ other.T)  # (B, N); the bank side is detached
        likelihood = pair_likelihood(theta, similar, self.weighting)
        quantisation = (u - torch.sign(u).detach()).pow(2).mean()
        return likelihood + self.alpha * quantisation
