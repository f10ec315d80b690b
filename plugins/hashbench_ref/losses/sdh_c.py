"""SDH-C: FIRe's classification variant of SDH (Deep Hashing for Compact Binary Codes Learning).

Paper: V. E. Liong, J. Lu, G. Wang, P. Moulin, J. Zhou, "Deep Hashing for Compact Binary Codes
Learning", CVPR 2015 (SDH, its supervised form). Reference followed: CISiPLab/cisip-FIRe
``functions/loss/sdh.py`` (``SDHLossC``) at commit e8826c4, its ``ce`` arch (a ``Linear(bits, C)``
classifier with bias over the hash layer's output) and template ``configs/templates/sdhc.yaml``
(lmbd0 0.001, lmbd1 0.001, lmbd2 0.001, alpha 1, ``hash_fc_output: tanh``). FIRe replaces SDH's
pairwise discriminative term by the classifier's cross entropy. With ``u`` the codes (B, bits) and
``P`` the hash layer's weight (bits, D)::

    J1   = mean((u - sign u)^2)                    quantisation
    J2   = (sum_{i,k} u_ik^2 / bits) / 2           variance of the codes (FIRe: trace(u^T u) / bits / 2)
    CE   = cross entropy of classifier(u) = u W^T + c against the class
    J3   = mean_{r,q} ((P P^T)_rq - 1)^2           over the bits x bits entries
    loss = lmbd0 * J1 - lmbd1 * J2 + alpha * CE + lmbd2 * J3

``P`` is the weight of the Linear that makes the codes (FIRe's ``hash_fc[0].weight``, or
``hash_fc.weight`` when that is the Linear itself): the head's ``hash_weight``, which
``deep_hashing`` passes to :meth:`SDHCLoss.weight_penalty` once per step (J3 does not depend on the
batch); :meth:`compute_loss` holds the batch terms. FIRe compares ``P P^T`` with the all-ones matrix,
not with the identity of the paper's J3 (``||W W^T - I||_F^2 / 2``), and takes the mean, not half the
sum; this module follows FIRe. J4 (weight decay) is skipped, as in FIRe. Deliberate difference: FIRe
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
    cross entropy of a ``Linear(bits, C)`` classifier on the codes; ``lmbd2`` J3 on the head's hash-layer
    weight through :meth:`weight_penalty`; see the module docstring."""

    supports_multi_label = False

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, lmbd0: float = 0.001,
                 lmbd1: float = 0.001, alpha: float = 1.0, lr_multiplier: float = 1.0, lmbd2: float = 0.001) -> None:
        super().__init__(num_classes, multi_label, lr_multiplier)
        self.bits = int(bits)
        self.lmbd0, self.lmbd1, self.alpha, self.lmbd2 = float(lmbd0), float(lmbd1), float(alpha), float(lmbd2)
        self.classifier = nn.Linear(self.bits, self.num_classes)

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, num_classes={self.num_classes}, lmbd0={self.lmbd0}, lmbd1={self.lmbd1},"
                f" alpha={self.alpha}, lmbd2={self.lmbd2}, lr_multiplier={self.lr_multiplier}")

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes
        assert batch.class_ids is not None  # single-label data only
        quantisation = ((u - u.detach().sign()) ** 2).mean()
        variance = (u ** 2).sum() / u.shape[1] / 2.0
        ce = F.cross_entropy(self.classify(u), batch.class_ids)
        return self.lmbd0 * quantisation - self.lmbd1 * variance + self.alpha * ce

    def weight_penalty(self, weight: torch.Tensor) -> Optional[torch.Tensor]:
        """``lmbd2 * J3`` of the hash layer's weight ``P`` (bits, D): ``lmbd2 * mean((P P^T - 1)^2)``;
        None when ``lmbd2`` is 0."""
        if self.lmbd2 == 0:
            return None
        gram = weight.float() @ weight.float().T  # (bits, bits)
        return self.lmbd2 * ((gram - 1.0) ** 2).mean()

    def classify(self, codes: torch.Tensor, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits ``(B, C)`` of the classifier on ``codes`` (B, bits)."""
        return self.classifier(codes.float())
