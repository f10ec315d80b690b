"""Cross entropy of a linear classifier on the codes (or on the backbone's features), optional quantisation.

The objective of the video classification projects pytorch-video-recognition (jfzhang95) and
Video_Classification_ResNet3D: a fully connected layer (with bias) over the clip representation,
trained with softmax cross entropy. Used for hashing, the classifier reads the head's codes, so the
codes learn from the classes (FIRe's ``ce`` method, CISiPLab/cisip-FIRe ``functions/loss/ce.py`` and
``models/architectures/arch_ce.py``: a ``Linear(bits, C)`` over the hash layer). Written from their
behaviour, no code copied.

With ``x`` the classifier's input ``(B, D)`` (the codes ``u``, D = bits, or the backbone's features,
D = feature_dim, when ``on = "features"``) and ``W`` ``(C, D)``, ``c`` ``(C,)`` its weights::

    logits = x @ W.T + c                                       (B, C)
    single-label:  ce = mean_i -log_softmax(logits)_i[y_i]
    multi-label:   ce = mean_i -sum_c (y_ic / sum_c' y_ic') * log_softmax(logits)_ic   (FIRe's form)
    loss = ce + quantization * mean((|u| - 1)^2)

The classifier is the loss's own parameter (``classifier.weight``/``.bias``, PyTorch's default Linear
init): optimised at ``lr * lr_multiplier``, checkpointed. The quantisation term is always part of the
graph (times 0 by default), so the loss keeps a gradient path to the codes even when it classifies
the features. A multi-label row without any class contributes 0 (the reference would give NaN).

Head: ``tanh`` (codes in (-1, 1); add ``quantization`` to push them to +-1) or ``linear``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashLoss, LossBatch, choice
from hashbench.errors import ContractError

from . import CE_INPUTS
from .greedyhash import label_smoothed_cross_entropy

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(HashLoss):
    """``(codes (B, bits), labels[, features (B, D)]) -> scalar``: cross entropy of ``Linear(D, C)`` on
    the codes (``on = "codes"``) or the features (``on = "features"``) + ``quantization`` * mean((|u| - 1)^2)."""

    def __init__(self, bits: int, num_classes: int, multi_label: bool = False, on: str = "codes",
                 feature_dim: int = 0, quantization: float = 0.0, lr_multiplier: float = 1.0) -> None:
        super().__init__(num_classes, multi_label, lr_multiplier)
        choice("loss.on", on, CE_INPUTS)
        if on == "features" and (isinstance(feature_dim, bool) or not isinstance(feature_dim, int)
                                 or feature_dim < 1):
            raise ValueError(f"loss.on = 'features' needs the backbone's feature_dim (a positive integer),"
                             f" got {feature_dim!r}")
        self.bits = int(bits)
        self.on = on
        self.quantization = float(quantization)
        self.needs_features = on == "features"  # instance attribute: read by the engine and make_batch
        in_features = int(feature_dim) if self.needs_features else self.bits
        self.classifier = nn.Linear(in_features, self.num_classes)

    def extra_repr(self) -> str:
        return (f"on={self.on!r}, in_features={self.classifier.in_features}, num_classes={self.num_classes},"
                f" quantization={self.quantization}, lr_multiplier={self.lr_multiplier}")

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.float(), self.classifier.weight.float(), self.classifier.bias.float())

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:
        u = batch.codes
        x = batch.features if self.needs_features else u
        assert x is not None
        if x.shape != (batch.size, self.classifier.in_features):
            raise ContractError(f"cross_entropy: the classifier reads {self.on} ({batch.size},"
                                f" {self.classifier.in_features}), got {tuple(x.shape)}")
        logits = self._logits(x)  # (B, C)
        if batch.multi_label:
            ce = label_smoothed_cross_entropy(logits, batch.onehot)
        else:
            assert batch.class_ids is not None
            ce = F.cross_entropy(logits, batch.class_ids)
        return ce + self.quantization * ((u.abs() - 1.0) ** 2).mean()

    def classify(self, codes: torch.Tensor, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits ``(B, C)``: the classifier on ``codes`` (B, bits) as given (relaxed as in training,
        or their sign), or on ``features`` (B, feature_dim) when ``on = "features"``."""
        if self.needs_features:
            if features is None:
                raise ValueError("cross_entropy (on = 'features') classifies the backbone's features;"
                                 " pass features (B, feature_dim)")
            return self._logits(features)
        return self._logits(codes)
