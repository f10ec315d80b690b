"""GreedyHash: classification through the sign of the code, with a straight-through gradient.

Paper: Su, Zhang, Zhou, Tian, "Greedy Hash: Towards Fast Optimization for Accurate Hash Coding in
CNN", NeurIPS 2018. Reference followed: DeepHash-pytorch ``GreedyHash.py`` (swuxyj/DeepHash-pytorch,
commit ab14068) for single-label data; CISiPLab/cisip-FIRe ``functions/loss/greedyhash.py`` for the
multi-label form. Written from their behaviour, no code copied.

With ``u`` the head's real-valued codes ``(B, bits)``, ``b = sign(u)`` forward and the identity
backward (the gradient reaching ``b`` is passed to ``u`` unchanged), and ``W`` a bias-free linear
classifier ``(C, bits)``::

    logits = b @ W.T                                           (B, C)
    single-label:  ce   = mean_i  -log_softmax(logits)_i[y_i]
    multi-label:   ce   = mean_i  -sum_c (y_ic / sum_c' y_ic') * log_softmax(logits)_ic
    loss = ce + alpha * mean(| (|u| - 1)^3 |)

``W`` is the loss's own parameter (``classifier.weight``, PyTorch's default Linear init as in the
references): the engine optimises it at ``lr * lr_multiplier`` (the references put it in the same
optimizer at the same learning rate, ``lr_multiplier = 1``) and checkpoints it.

Deliberate differences: a multi-label row without any class contributes 0 to the cross entropy
(the reference divides by zero and gives NaN); the cross entropy is computed in float32.

Head: ``linear`` (the loss binarises; DeepHash-pytorch's nets output linear codes). With
``sign_ste`` the codes are already +-1 and the cubic regulariser is 0.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashLoss, LossBatch

from ..heads.linear import sign_straight_through

__all__ = ["GreedyHashLoss", "label_smoothed_cross_entropy", "class_cross_entropy"]


def label_smoothed_cross_entropy(logits: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """``mean_i -sum_c (y_ic / sum_c y_ic) log_softmax(logits)_ic`` for ``(B, C)`` logits and multi-hot
    ``(B, C)`` labels (FIRe's multi-label cross entropy); a row without any class contributes 0."""
    target = onehot / onehot.sum(dim=1, keepdim=True).clamp_min(1.0)
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def class_cross_entropy(logits: torch.Tensor, batch: LossBatch) -> torch.Tensor:
    """Cross entropy of ``(B, C)`` logits against the batch's labels: class ids on single-label data,
    :func:`label_smoothed_cross_entropy` on multi-label data."""
    if batch.multi_label:
        return label_smoothed_cross_entropy(logits, batch.onehot)
    assert batch.class_ids is not None
    return F.cross_entropy(logits, batch.class_ids)


class GreedyHashLoss(HashLoss):
    """``(codes (B, bits), labels) -> scalar``: cross entropy of a bias-free classifier on
    ``sign(codes)`` (straight-through) + ``alpha`` * mean(| (|u| - 1)^3 |); see the module docstring."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, alpha: float = 0.1,
                 lr_multiplier: float = 1.0) -> None:
        super().__init__(num_classes, multi_label, lr_multiplier)
        self.bits = int(bits)
        self.alpha = float(alpha)
        self.classifier = nn.Linear(self.bits, self.num_classes, bias=False)

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, num_classes={self.num_classes}, alpha={self.alpha},"
                f" lr_multiplier={self.lr_multiplier}")

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes
        logits = F.linear(sign_straight_through(u), self.classifier.weight.float())  # (B, C)
        ce = class_cross_entropy(logits, batch)
        regulariser = ((u.abs() - 1.0) ** 3).abs().mean()
        return ce + self.alpha * regulariser

    def classify(self, codes: torch.Tensor, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits ``(B, C)`` of the classifier on ``sign(codes)`` (``codes`` (B, bits), relaxed or
        binary); ``features`` is not used."""
        return F.linear(torch.sign(codes.float()), self.classifier.weight.float())
