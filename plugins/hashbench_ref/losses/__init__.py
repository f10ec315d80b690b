"""Reference losses: torch-free factory functions (see hashbench.contract)."""
from __future__ import annotations

import math
from typing import Any

from hashbench.errors import ConfigError

WEIGHTINGS = ("original", "uniform")


def batch_all_triplet(margin: float = 14.0, weighting: str = "original",
                      multi_label: bool = False) -> Any:
    """Batch-all triplet loss of the original repo (squared L2 distances, margin).

    Every (anchor, positive, negative) in the batch with anchor index < positive index contributes
    ``relu(margin + ||x_a - x_p||^2 - ||x_a - x_n||^2)``; the loss is the mean over triplets, zero ones
    included. Keys:

    - ``margin`` (> 0, default 14): the original used 14 for 48 bits and 20 for 64 ("a bit more than a
      quarter of the bits"; ``||a - b||^2`` between +-1 codes is 4 x Hamming distance).
    - ``weighting``: ``"original"`` (default) counts each class's triplets once per member of that class
      in the batch, exactly like the original repo (single-label data only); ``"uniform"`` is the
      textbook mean over distinct triplets (also for multi-label data: positive = share a class).

    ``multi_label`` is injected from the dataset. A batch without any valid triplet gives a zero loss
    that is still connected to the graph.
    """
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin > 0 \
            or math.isinf(margin):
        raise ConfigError(f"loss.margin: must be a positive number (the original used 14 for 48 bits,"
                          f" 20 for 64), got {margin!r}")
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"loss.weighting: unknown value {weighting!r}; use one of"
                          f" {', '.join(map(repr, WEIGHTINGS))}")
    if multi_label and weighting == "original":
        raise ConfigError("loss.weighting: 'original' is defined for single-label data only and this"
                          " dataset is multi-label; set weighting = \"uniform\" (positive = share a class)")
    from .triplet import BatchAllTripletLoss

    return BatchAllTripletLoss(margin=float(margin), weighting=weighting)


FACTORIES: dict = {"batch_all_triplet": batch_all_triplet}
