"""GreedyHash, unsupervised (Su et al., NeurIPS 2018): a linear hash layer whose sign (identity gradient)
keeps the cosine similarities of the input features, plus a cubic push of the real codes to +-1.

Paper: S. Su, C. Zhang, K. Han, Y. Tian, "Greedy Hash: Towards Fast Optimization for Accurate Hash Coding
in CNN", NeurIPS 2018. FIRe followed: CISiPLab/cisip-FIRe at e8826c4 (``functions/loss/greedyhash.py``
``GreedyHashUnsupervisedLoss``; ``models/architectures/arch_norm_unsupervised.py`` with
``configs/templates/greedyhash-unsupervised.yaml``: ``hash_fc_output = identity``, ``hash_layer =
signhash``, frozen backbone). The authors' code (ssppp/GreedyHash) has the same unsupervised loss; FIRe
is followed. With x (B, D) the features, ``h = W x + c`` (B, bits) and ``b = sign(h)`` (gradient: identity)::

    n = B - (B mod 2)                          (an odd batch drops its last item)
    similarity   = MSE(cos(b[:n/2], b[n/2:n]), cos(x[:n/2], x[n/2:n]).detach())   (pairs: first half x second)
    quantisation = mean(| |h| - 1 |^pow)                                             (all B rows)
    loss         = similarity + alpha * quantisation

Defaults = FIRe's template: ``alpha`` 1 (0.1 for CIFAR-10), ``pow`` 3, hash layer a single linear.

Video adaptation: FIRe's frozen image backbone's fc7 feature is the mean over frames of the frame
features (``consumes`` frame features (B, T, D) or vectors (B, D)); the hash layer is FIRe's linear, or
with ``hidden`` > 0 an MLP ``Linear(D, hidden) - ReLU - Linear(hidden, bits)``. Deliberate difference:
``fit`` standardises each feature dimension with the training split's mean and standard deviation
(buffers ``feature_mean``, ``feature_std``; ``standardise = false`` turns it off): pooled frame features
share a large common direction (mean cosine 0.76 on moving_digits_features), which would make every
target similarity near 1. ``encode`` returns ``h``; the code is its sign. No random draws in training.

The pieces shared with :mod:`.bihalf` and :mod:`.uhbdnn` live here: :class:`PooledHashMethod` (pooling,
standardisation, the hash MLP) and :func:`half_cosine_mse` (the similarity term).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hashbench.contract import HashMethod, MethodBatch, pooled_inputs

from ..heads.linear import sign_straight_through

__all__ = ["GreedyHashUnsupervised", "PooledHashMethod", "half_cosine_mse", "hash_mlp"]


def hash_mlp(feature_dim: int, bits: int, hidden: int = 0) -> nn.Module:
    """``Linear(D, bits)`` (``hidden`` 0, FIRe's hash layer) or ``Linear(D, hidden) - ReLU - Linear(hidden, bits)``."""
    if hidden <= 0:
        return nn.Linear(feature_dim, bits)
    return nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, bits))


def half_cosine_mse(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``MSE(cos(b[:n/2], b[n/2:n]), cos(x[:n/2], x[n/2:n]).detach())``, n the even part of the batch; x (B, D),
    b (B, bits). FIRe's similarity term of GreedyHash-unsupervised and bi-half; a batch of one item has no
    pair and gives 0 (with a gradient path; FIRe's training loader drops the last incomplete batch)."""
    n = x.shape[0] - x.shape[0] % 2
    half = n // 2
    if half == 0:
        return (b * 0.0).sum()
    target = F.cosine_similarity(x[:half], x[half:n]).detach()
    return F.mse_loss(F.cosine_similarity(b[:half], b[half:n]), target)


class PooledHashMethod(HashMethod):
    """A method on one vector per video: frame features (B, T, D) are averaged over T, vectors (B, D) kept,
    then standardised with the buffers ``fit`` sets (``feature_mean``, ``feature_std``, (D,))."""

    consumes = ("frame_features", "vector")
    #: buffers whose size ``fit`` sets (e.g. (N, bits)): ``load_state_dict`` gives them the saved shape
    fit_sized: tuple[str, ...] = ()

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, standardise: bool = True) -> None:
        super().__init__(bits, seed)
        self.feature_dim, self.standardise = int(feature_dim), bool(standardise)
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))

    def fit(self, train: Any) -> None:
        """The training split's per-dimension mean and standard deviation (float64, stored float32; a
        constant dimension keeps std 1); identity when ``standardise`` is off."""
        if not self.standardise:
            return
        x = pooled_inputs(train).double()
        std = x.std(dim=0, unbiased=False)
        self.feature_mean = x.mean(dim=0).float().to(self.feature_mean.device)
        self.feature_std = torch.where(std > 0, std, torch.ones_like(std)).float().to(self.feature_std.device)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        for name in self.fit_sized:
            saved = state_dict.get(prefix + name)
            if saved is not None:
                setattr(self, name, torch.empty_like(saved, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Inputs (B, T, D) or (B, D) -> standardised pooled features x (B, D)."""
        x = inputs.float()
        x = x.mean(dim=1) if x.dim() == 3 else x
        return (x - self.feature_mean) / self.feature_std


class GreedyHashUnsupervised(PooledHashMethod):
    """GreedyHash, unsupervised (module docstring): ``encode`` -> h (B, bits); ``loss_terms`` / ``training_loss``."""

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, alpha: float = 1.0, pow: float = 3.0,
                 hidden: int = 0, standardise: bool = True) -> None:
        super().__init__(bits, feature_dim, seed, standardise)
        self.alpha, self.pow = float(alpha), float(pow)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.hash_fc = hash_mlp(feature_dim, bits, hidden)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Real codes h (B, bits); the binary code is sign(h)."""
        return self.hash_fc(self.features(inputs))

    def terms_given(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``similarity`` and ``quantisation`` (unweighted) of standardised features x (B, D)."""
        h = self.hash_fc(x)
        b = sign_straight_through(h)
        return {"similarity": half_cosine_mse(x, b),
                "quantisation": (h.abs() - 1.0).pow(self.pow).abs().mean()}

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """The terms of a batch (module docstring)."""
        return self.terms_given(self.features(batch.inputs))

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """``similarity + alpha * quantisation`` (a scalar)."""
        terms = self.loss_terms(batch)
        return terms["similarity"] + self.alpha * terms["quantisation"]
