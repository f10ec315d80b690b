"""Pieces shared by the memory-bank pairwise losses (DPSH, HashNet, DSH).

- :class:`PairBankLoss`: the base of the losses whose pairs span a memory bank of the training split
  (``memory = "bank"``) or the batch (``"batch"``): HashNet, DSH, DBDH, and DPSH (bank only);
- :func:`bank_on_device`: move a loss's :class:`MemoryBank` to the codes' device (lazily, once).
- :func:`pair_likelihood`: the pairwise logistic likelihood ``log(1 + exp(d)) - s * d`` of pair scores
  ``d`` (B, M), averaged over all pairs (``"mean"``, DPSH's paper and DeepHash-pytorch) or with
  positives and negatives balanced (``"balanced"``, HashNet's weighting, which FIRe also applies to DPSH).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from hashbench.contract import HashLoss, LossBatch, MemoryBank, choice

from . import MEMORIES

__all__ = ["PAIR_WEIGHTINGS", "PairBankLoss", "bank_on_device", "pair_likelihood", "balanced_pair_loss"]

PAIR_WEIGHTINGS = ("mean", "balanced")


class PairBankLoss(HashLoss):
    """A pairwise loss over the batch x a memory bank (``memory = "bank"``) or the batch x itself.

    ``memory = "bank"``: ``bank`` (a :class:`MemoryBank` of ``num_train`` rows, checkpointed and restored
    by ``--resume``) and ``needs_indices`` is True; ``memory = "batch"``: no bank, no indices. ``alpha``: the
    loss's weight (its meaning is the subclass's).
    """

    needs_indices = True

    def __init__(self, bits: int, num_classes: int, multi_label: bool, num_train: int, alpha: float,
                 memory: str) -> None:
        super().__init__(num_classes, multi_label)
        choice("memory", memory, MEMORIES)
        self.bits = int(bits)
        self.alpha = float(alpha)
        self.memory = memory
        self.bank: Optional[MemoryBank] = MemoryBank(int(num_train), self.bits, self.num_classes) \
            if memory == "bank" else None
        self.needs_indices = self.bank is not None  # read by the engine on the instance

    def extra_repr(self) -> str:
        size = f", num_train={self.bank.size}" if self.bank is not None else ""
        return f"bits={self.bits}, alpha={self.alpha}, memory={self.memory!r}{size}"

    def pair_sides(self, batch: LossBatch, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The other side of the pairs of ``u`` (B, bits) and which pairs are similar.

        With a bank: ``u`` (detached) and the batch's labels are written into it first (as the references
        do), then its codes (N, bits) and the (B, N) bool similarity; with ``memory = "batch"``: ``u``
        itself (the gradient flows through both codes of a pair) and the batch's (B, B) similarity.
        """
        if self.bank is None:
            return u, batch.similarity
        bank = bank_on_device(self.bank, u.device)
        bank.update(batch.indices, u, batch.onehot)
        return bank.codes, bank.similarity(batch.onehot)


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
    return pair_mean(F.softplus(dot) - similar.to(dot.dtype) * dot, similar, "balanced")


def pair_mean(errors: torch.Tensor, similar: torch.Tensor, weighting: str = "mean") -> torch.Tensor:
    """The mean of per-pair ``errors`` (B, M): over all pairs (``"mean"``), or ``"balanced"``: each similar
    pair weighted by S / S1 and each dissimilar one by S / S0, the sum divided by S (the mean over similar
    pairs plus the mean over dissimilar ones; an empty group contributes nothing)."""
    if weighting != "balanced":
        return errors.mean()
    total = float(similar.numel())
    positives = similar.sum().to(errors.dtype)
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
