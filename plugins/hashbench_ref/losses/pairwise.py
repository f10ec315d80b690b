"""Pieces shared by the memory-bank pairwise losses (DPSH, HashNet, DSH).

- :func:`bank_on_device`: move a loss's :class:`MemoryBank` to the codes' device (lazily, once).
- :func:`pair_likelihood`: the pairwise logistic likelihood ``log(1 + exp(d)) - s * d`` of pair scores
  ``d`` (B, M), averaged over all pairs (``"mean"``, DPSH's paper and DeepHash-pytorch) or with
  positives and negatives balanced (``"balanced"``, HashNet's weighting, which FIRe also applies to DPSH).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hashbench.contract import MemoryBank

__all__ = ["PAIR_WEIGHTINGS", "bank_on_device", "pair_likelihood", "balanced_pair_loss"]

PAIR_WEIGHTINGS = ("mean", "balanced")


def bank_on_device(bank: MemoryBank, device: torch.device) -> MemoryBank:
    """Move ``bank`` (its buffers) to ``device`` if it lives elsewhere; returns it."""
    if bank.codes.device != device:
        bank.to(device)
    return bank


def balanced_pair_loss(dot: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
    """HashNet's weighted cross entropy of pair scores ``dot`` (B, M) given ``similar`` (B, M) bool.

    With S1 / S0 the numbers of similar / dissimilar pairs and S = S0 + S1, each similar pair's error is
    weighted by S / S1 and each dissimilar one's by S / S0, and the sum is divided by S (so it is the
    mean over similar pairs plus the mean over dissimilar ones). An empty group contributes nothing.
    """
    errors = F.softplus(dot) - similar.to(dot.dtype) * dot
    total = float(similar.numel())
    positives = similar.sum().to(dot.dtype)
    negatives = total - positives
    weights = torch.where(similar, total / positives.clamp(min=1), total / negatives.clamp(min=1))
    return (errors * weights).sum() / max(total, 1.0)


def pair_likelihood(dot: torch.Tensor, similar: torch.Tensor, weighting: str = "mean") -> torch.Tensor:
    """Pairwise logistic likelihood of scores ``dot`` (B, M) given ``similar`` (B, M) bool -> scalar.

    ``weighting``: ``"mean"`` (default) averages ``log(1 + exp(d)) - s * d`` over all B x M pairs;
    ``"balanced"`` is :func:`balanced_pair_loss`.
    """
    if weighting == "balanced":
        return balanced_pair_loss(dot, similar)
    return (F.softplus(dot) - similar.to(dot.dtype) * dot).mean()
