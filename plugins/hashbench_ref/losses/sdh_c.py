"""SDH-C: FIRe's classification variant of SDH (Deep Hashing for Compact Binary Codes Learning).

Paper: V. E. Liong, J. Lu, G. Wang, P. Moulin, J. Zhou, "Deep Hashing for Compact Binary Codes
Learning", CVPR 2015 (SDH, its supervised form). Reference followed: CISiPLab/cisip-FIRe
``functions/loss/sdh.py`` (``SDHLossC``) at commit e8826c4, its ``ce`` arch (a ``Linear(bits, C)``
classifier with bias over the hash layer's output) and template ``configs/templates/sdhc.yaml``
(lmbd0 0.001, lmbd1 0.001, alpha 1, ``hash_fc_output: tanh``). FIRe replaces SDH's pairwise
discriminative term by the classifier's cross entropy. With ``u`` the codes (B, bits)::

    J1   = mean((u - sign u)^2)                    quantisation
    J2   = (sum_{i,k} u_ik^2 / bits) / 2           variance of the codes (FIRe: trace(u^T u) / bits / 2)
    CE   = cross entropy of classifier(u) = u W^T + c against the class
    loss = lmbd0 * J1 - lmbd1 * J2 + alpha * CE

Deliberate differences: FIRe's J3 (``lmbd2 * mean((P P^T - 1)^2)`` on the hash layer's weight ``P``)
is left out, because under hashbench's contract a loss never sees the head's weights; like J4 (weight
decay, which FIRe skips too) it regularises weights, not codes, and FIRe weights it by 0.001. FIRe
classifies multi-label data by the ``argmax`` of the label row (its first class); this module refuses
multi-label data instead (``supports_multi_label = False``). J2 is unbounded below for unbounded codes:
pair the loss with a bounded head. The classifier is the loss's own parameter (PyTorch's default Linear
init), optimised at ``lr * lr_multiplier`` and checkpointed; runs also report ``top1``/``top5``.

Head: ``tanh`` (FIRe's ``hash_fc_output: tanh``).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashLoss, LossBatch

__all__ = ["SDHCLoss"]


class SDHCLoss(HashLoss):
    """``(codes (B, bits), class ids) -> scalar``: ``lmbd0`` quantisation - ``lmbd1`` variance + ``alpha``
    cross entropy of a ``Linear(bits, C)`` classifier on the codes; see the module docstring."""

    supports_multi_label = False

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, lmbd0: float = 0.001,
                 lmbd1: float = 0.001, alpha: float = 1.0, lr_multiplier: float = 1.0) -> None:
        super().__init__(num_classes, multi_label, lr_multiplier)
        self.bits = int(bits)
        self.lmbd0, self.lmbd1, self.alpha = float(lmbd0), float(lmbd1), float(alpha)
        self.classifier = nn.Linear(self.bits, self.num_classes)

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, num_classes={self.num_classes}, lmbd0={self.lmbd0}, lmbd1={self.lmbd1},"
                f" alpha={self.alpha}, lr_multiplier={self.lr_multiplier}")

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes
        assert batch.class_ids is not None  # single-label data only
        quantisation = ((u - u.detach().sign()) ** 2).mean()
        variance = (u ** 2).sum() / u.shape[1] / 2.0
        ce = F.cross_entropy(self.classify(u), batch.class_ids)
        return self.lmbd0 * quantisation - self.lmbd1 * variance + self.alpha * ce

    def classify(self, codes: torch.Tensor, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits ``(B, C)`` of the classifier on ``codes`` (B, bits)."""
        return self.classifier(codes.float())
