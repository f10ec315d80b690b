"""Seeds: the process-wide seed of a run and the seed of each of its epochs."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "epoch_seed"]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (1-based) of a run seeded with ``seed``: its shuffle, its global
    batches and its random training windows. A function of both alone, so a resumed run draws the
    same epoch as an uninterrupted one."""
    return seed * 100_003 + epoch
