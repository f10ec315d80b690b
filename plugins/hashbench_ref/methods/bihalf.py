"""Bi-half (Li & van Gemert, AAAI 2021): codes whose every bit is +1 for half of the batch and -1 for the
other half (the optimal transport of the real codes to a half-half bit distribution), trained to keep the
cosine similarities of the input features.

Paper: Y. Li, J. van Gemert, "Deep Unsupervised Image Hashing by Maximizing Bit Entropy", AAAI 2021.
FIRe followed: CISiPLab/cisip-FIRe at e8826c4 (``functions/loss/bihalf.py`` ``BiHalfLoss``,
``models/layers/bihalf.py`` ``BiHalfFunction``, ``models/architectures/arch_norm_unsupervised.py`` with
``configs/templates/bihalf.yaml``: ``hash_fc_output = bihalf``, ``bihalf_gamma = 6``, frozen backbone,
batch 64, lr 1e-4). With x (B, D) the features and ``h = W x + c`` (B, bits), in training::

    b[:, k] = +1 where h[:, k] > median_k, else -1      (median over the batch: torch's lower middle value)
    d loss / d h = d loss / d b + gamma / (B bits) * (h - b)                          (straight through + pull)
    loss = MSE(cos(b[:n/2], b[n/2:n]), cos(x[:n/2], x[n/2:n]).detach())     (n: B less an odd last item)

FIRe's forward is a median threshold (it credits "JT"); the authors' code (liyunqianggyn/Deep-Unsupervised-
Image-Hashing) sorts each bit and gives +1 to the top ``int(B / 2)`` rows. Without ties both make the
same codes for even and odd B (the lower middle value of an even batch leaves exactly B/2 rows above it);
FIRe's is followed. In evaluation the layer is the identity: ``encode`` returns ``h`` and the code is
``sign(h)`` (threshold 0, as in FIRe and the authors' test code), so bi-half keeps no running statistics:
its whole state is the hash layer's weights and fit's standardisation buffers.

Defaults = FIRe's template: ``gamma`` 6 (the authors' value), hash layer a single linear layer.

Video adaptation (as in :mod:`.greedyhash_u`, whose :class:`~.greedyhash_u.PooledHashMethod` and
:func:`~.greedyhash_u.half_cosine_mse` this module uses): the frozen backbone's feature is the frame mean
of the frame features; ``hidden`` > 0 makes the hash layer an MLP. Deliberate difference: ``fit``
standardises the features (``standardise``; FIRe feeds raw fc7). FIRe sets ``gamma`` on the autograd
class (global to every layer); here each method keeps its own. No random draws in training.
"""
from __future__ import annotations

from typing import Any

import torch

from hashbench.contract import MethodBatch

from .greedyhash_u import PooledHashMethod, half_cosine_mse, hash_mlp

__all__ = ["BiHalf", "bi_half"]


class _BiHalf(torch.autograd.Function):
    """Median split per bit forward; ``grad + gamma / (B bits) * (h - b)`` backward."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, gamma: float) -> torch.Tensor:  # type: ignore[override]
        b = (h > h.median(dim=0).values).to(h.dtype) * 2.0 - 1.0
        ctx.save_for_backward(h, b)
        ctx.gamma = gamma
        return b

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        h, b = ctx.saved_tensors
        return grad + ctx.gamma / b.numel() * (h - b), None


def bi_half(h: torch.Tensor, gamma: float = 6.0) -> torch.Tensor:
    """Bi-half codes of real codes h (B, bits): +-1, half of the batch each way per bit (module docstring)."""
    return _BiHalf.apply(h, float(gamma))


class BiHalf(PooledHashMethod):
    """Bi-half hashing (module docstring): ``encode`` -> h (B, bits); ``loss_terms`` / ``training_loss``."""

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, gamma: float = 6.0, hidden: int = 0,
                 standardise: bool = True) -> None:
        super().__init__(bits, feature_dim, seed, standardise)
        self.gamma = float(gamma)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.hash_fc = hash_mlp(feature_dim, bits, hidden)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Real codes h (B, bits); the binary code is sign(h) (the bi-half layer is the identity in evaluation)."""
        return self.hash_fc(self.features(inputs))

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """``similarity``: the pair-cosine MSE of the batch's bi-half codes (module docstring)."""
        x = self.features(batch.inputs)
        return {"similarity": half_cosine_mse(x, bi_half(self.hash_fc(x), self.gamma))}

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """The ``similarity`` term (bi-half has no other)."""
        return self.loss_terms(batch)["similarity"]
