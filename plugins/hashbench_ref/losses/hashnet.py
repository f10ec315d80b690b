"""HashNet (Cao, Long, Wang and Yu, ICCV 2017): weighted pairwise cross entropy with balanced pairs.

Paper: Z. Cao, M. Long, J. Wang, P. S. Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017.
Reference followed: swuxyj/DeepHash-pytorch ``HashNet.py`` at commit 6fe706c (the version with a
memory bank of the training set, ``memory = "bank"``, the default) and at ab14068 (HEAD: pairs within
the batch, ``memory = "batch"``); FIRe's ``functions/loss/hashnet.py`` agrees with both.

The codes ``u`` (B, bits) this loss receives are already ``tanh(beta * x)``: the ``scaled_tanh`` head
applies HashNet's continuation (beta = sqrt(1 + (epoch - 1) // 20), 1-based epochs; the reference's
``(epoch // 20 + 1) ** 0.5`` with 0-based epochs), so pair this loss with that head. With ``V`` the other
side of the pairs (the bank's codes after this batch was written into it, detached, or the batch itself
with the gradient through both sides) and ``s_ij`` = share a label::

    d_ij = alpha * u_i . V_j          e_ij = log(1 + exp(d_ij)) - s_ij * d_ij
    S1 = #{s_ij = 1}, S0 = #{s_ij = 0}, S = S0 + S1
    loss = ( sum_{s_ij=1} e_ij * S / S1 + sum_{s_ij=0} e_ij * S / S0 ) / S

Unseen bank rows (zeros) are negatives with d = 0, as in the reference. S1 or S0 = 0 leaves that group
empty (no division by zero). No deliberate difference (log(1 + exp(.)) is a stable softplus).
"""
from __future__ import annotations

import torch

from hashbench.contract import LossBatch

from .pairwise import PairBankLoss, balanced_pair_loss

__all__ = ["HashNetLoss"]


class HashNetLoss(PairBankLoss):
    """``(codes (B, bits) in (-1, 1), labels[, indices (B,)]) -> scalar``; see the module docstring and
    :class:`~hashbench_ref.losses.pairwise.PairBankLoss` (``memory``, ``bank``)."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, alpha: float = 0.1,
                 memory: str = "bank") -> None:
        super().__init__(bits, num_classes, multi_label, num_train, alpha, memory)

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes  # (B, bits), already tanh(beta x)
        other, similar = self.pair_sides(batch, u)
        return balanced_pair_loss(self.alpha * (u @ other.T), similar)
