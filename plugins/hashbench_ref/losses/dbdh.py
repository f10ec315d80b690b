"""DBDH: Deep Balanced Discrete Hashing (Zheng, Zhang and Lu, 2020): pairwise likelihood + a bit balance term.

Paper: X. Zheng, Y. Zhang, X. Lu, "Deep balanced discrete hashing for image retrieval", Neurocomputing
403 (2020). Reference followed: CISiPLab/cisip-FIRe ``functions/loss/dbdh.py`` (commit e8826c4, with its
template ``configs/templates/dbdh.yaml``: ``alpha = 0.1``, ``pow = 2``, ``keep_train_size = true``, so a
memory bank of the training set). Written from its behaviour, no code copied.

The head's real-valued codes are clipped first, ``u = clamp(x, -1, 1)`` (B, bits): the forward value
is the code inside [-1, 1] and the gradient passes straight through inside it (zero outside). With
``U``, ``Y`` the memory bank (every training clip's latest clipped code and labels, written before it
is read, detached; zeros until seen), or the batch itself with ``memory = "batch"``, and
``s_ij`` = share a label::

    theta_ij = u_i . U_j / 2
    likelihood = mean_ij( log(1 + exp(theta_ij)) - s_ij * theta_ij )      (over all B x N pairs)
    balance    = mean_i( mean_k u_ik )^power          (power 2; power 1: | mean_k u_ik |)
    loss = likelihood + alpha * balance

The balance term pushes each code to have as many +1 as -1 bits (the paper's "balanced" codes).
``weighting = "balanced"`` (not FIRe's: its DBDH takes the plain mean) weights the likelihood's similar
and dissimilar pairs as HashNet does (:func:`.pairwise.balanced_pair_loss`, as FIRe's own DPSH does): with
many classes almost every pair is dissimilar, and the plain mean then mostly shrinks the codes.
Deliberate differences: none from FIRe. The paper binarises with ``sign`` in the forward pass and a
straight-through backward; FIRe (followed here) uses the clip above, whose forward value is the code
itself inside [-1, 1]. Pair it with the ``linear`` head (FIRe's ``dpn`` architecture, identity hash
activation).
"""
from __future__ import annotations

import torch

from hashbench.contract import LossBatch, choice

from .pairwise import PAIR_WEIGHTINGS, PairBankLoss, pair_likelihood

__all__ = ["DBDHLoss", "DBDH_POWERS"]

DBDH_POWERS = (1, 2)


class DBDHLoss(PairBankLoss):
    """``(codes (B, bits), labels[, indices (B,)]) -> scalar``; see the module docstring and
    :class:`~hashbench_ref.losses.pairwise.PairBankLoss` (``memory``, ``bank``)."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, alpha: float = 0.1,
                 power: int = 2, memory: str = "bank", weighting: str = "mean") -> None:
        super().__init__(bits, num_classes, multi_label, num_train, alpha, memory)
        choice("weighting", weighting, PAIR_WEIGHTINGS)
        self.power = int(power)
        self.weighting = weighting

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, power={self.power}, weighting={self.weighting!r}"

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes.clamp(-1.0, 1.0)  # (B, bits)
        other, similar = self.pair_sides(batch, u)
        theta = 0.5 * (u @ other.T)
        balance = u.mean(dim=1)  # (B,)
        balance = balance.abs() if self.power == 1 else balance.pow(2)
        return pair_likelihood(theta, similar, self.weighting) + self.alpha * balance.mean()
