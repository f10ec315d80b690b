"""Torch-free factory: its keyword parameters are the keys of the ``[loss]`` table."""
from __future__ import annotations

import math
from typing import Any


def pairwise_similarity(weight: float = 1.0, bits: int = 64, num_classes: int = 2, multi_label: bool = False) -> Any:
    """Pairwise code similarity: the codes' inner products regressed onto the pairs' similarity.
    A :class:`~hashbench.contract.HashLoss` with one override, ``compute_loss``.

    With u = tanh(codes) and s = +1 for two clips that share a class, -1 otherwise (every pair of the
    batch, itself included): ``weight`` * mean((u_i . u_j / bits - s_ij)^2). Works for multi-hot
    labels (share a class). Use the ``linear`` or ``tanh`` head.

    - ``weight`` (> 0, default 1): scale of the loss.
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0 or math.isinf(weight):
        raise ValueError(f"loss.weight: must be a positive number, got {weight!r}")
    from .loss import PairwiseSimilarityLoss

    return PairwiseSimilarityLoss(bits, num_classes, multi_label, float(weight))
