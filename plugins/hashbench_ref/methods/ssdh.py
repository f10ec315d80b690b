"""SSDH (Yang et al., IJCAI 2018): semantic structure-based unsupervised deep hashing. The cosine distances
between the training videos' features form a distribution whose two sides are fitted by Gaussians; pairs
far in the left tail are similar (+1), far in the right tail dissimilar (-1), the rest unknown (0); the
codes' scaled inner products regress these pseudo-similarities.

Paper: E. Yang, C. Deng, T. Liu, W. Liu, D. Tao, "Semantic Structure-based Unsupervised Deep Hashing",
IJCAI 2018. FIRe followed: CISiPLab/cisip-FIRe at e8826c4 (``functions/loss/ssdh.py``
``SemanticStructureDHLoss``, its ``prepare_dataset_from_model``; ``configs/templates/ssdh.yaml``: alpha 2,
beta 2, ``hash_layer = tanh``, arch ``norm-unsupervised``: one linear hash layer on the frozen backbone's
feature). FIRe states it follows the authors' code (yangerkun/IJCAI2018_SSDH), whose thresholds it keeps.

``fit`` (the similarity structure, cached with :func:`hashbench.data.memo`), on the N training
features x (N, D): the cosine distance matrix d (N, N, zero diagonal); a histogram of d over 100 bins of
0.01 from -1e-8; m = the left edge of the first fullest bin; left = d[d <= m], right = d[d > m] (every
entry of the N x N matrix); each side mirrored about its scaled mode (``alpha m - right``, ``beta m -
left``) and fitted by a Gaussian (mean, population std)::

    S_ij = +1 if d_ij < mu_l - alpha sigma_l;  -1 if d_ij > mu_r + beta sigma_r;  0 otherwise

kept as the int8 buffer ``similarity`` (N, N), restored by ``load_state_dict``. Training, with the
batch's training-split ``indices``, h = tanh(W x + c) (B, bits)::

    loss = mean_{i,j in batch} |S_ij| (h_i . h_j / bits - S_ij)^2      (diagonal included, as FIRe)

Defaults = FIRe's template: ``alpha`` 2, ``beta`` 2, a single linear hash layer (``hidden`` > 0: an MLP).
``encode`` returns h; the code is its sign. No random draws in training.

Video adaptation: FIRe's frozen backbone feature is the frame mean of the frame features (as in
:class:`~.greedyhash_u.PooledHashMethod`). Deliberate difference: the distances (and the hash layer's
input) are of the standardised features (``standardise``): FIRe's fc7 features are non-negative, so
their cosine distances fill the histogram's [0, 1]; the raw pooled frame features share one large
direction (mean cosine 0.76 on moving_digits_features) and with them no pair beyond the diagonal is
similar. S needs the whole training split in memory, N x N int8 (1 GB at N = 32k).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hashbench.contract import MethodBatch, pooled_inputs
from hashbench.data import data_digest, memo

from .greedyhash_u import PooledHashMethod, hash_mlp

__all__ = ["SSDH", "semantic_similarity"]


def semantic_similarity(x: np.ndarray, alpha: float = 2.0, beta: float = 2.0) -> np.ndarray:
    """FIRe's pseudo-similarity S (N, N) int8 in {-1, 0, 1} of features x (N, D) (module docstring)."""
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    d = 1.0 - unit @ unit.T
    np.fill_diagonal(d, 0.0)
    start, mode, fullest = -0.00000001, 0.0, 0.0
    for _ in range(100):  # FIRe's accumulated edges; its (start, end) is open on both sides
        end = start + 0.01
        count = float(np.count_nonzero((d > start) & (d < end)))
        if count > fullest:
            fullest, mode = count, start
        start = end
    flat = d.reshape(-1)
    left, right = flat[flat <= mode], flat[flat > mode]
    left_all = np.concatenate([left, beta * mode - left])
    right_all = np.concatenate([alpha * mode - right, right])
    # an empty side (the fullest bin is the diagonal's zeros) has no pairs: FIRe's NaN bounds compare False
    similar = d < left_all.mean() - alpha * left_all.std() if left.size else np.zeros_like(d, dtype=bool)
    dissimilar = d > right_all.mean() + beta * right_all.std() if right.size else np.zeros_like(d, dtype=bool)
    return similar.astype(np.int8) - dissimilar.astype(np.int8)


class SSDH(PooledHashMethod):
    """SSDH (module docstring): ``encode`` -> tanh(W x + c) (B, bits); ``loss_terms`` / ``training_loss``."""

    fit_sized = ("similarity",)

    def __init__(self, bits: int, feature_dim: int, seed: int = 0, alpha: float = 2.0, beta: float = 2.0,
                 hidden: int = 0, standardise: bool = True) -> None:
        super().__init__(bits, feature_dim, seed, standardise)
        self.alpha, self.beta = float(alpha), float(beta)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.hash_fc = hash_mlp(feature_dim, bits, hidden)
        self.register_buffer("similarity", torch.zeros(0, 0, dtype=torch.int8))

    def fit(self, train: Any) -> None:
        """Standardisation (the base's), then S of the standardised frame-mean features (cached)."""
        super().fit(train)
        x = self.features(pooled_inputs(train)).double().numpy()
        found = memo("ssdh.similarity", {"version": 1, "alpha": self.alpha, "beta": self.beta}, data_digest(x),
                     lambda: {"similarity": semantic_similarity(x, self.alpha, self.beta)})["similarity"]
        self.similarity = torch.as_tensor(found, dtype=torch.int8, device=self.similarity.device)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``tanh(W x + c)`` (B, bits); the binary code is its sign."""
        return torch.tanh(self.hash_fc(self.features(inputs)))

    def loss_terms(self, batch: MethodBatch) -> dict[str, torch.Tensor]:
        """``similarity``: the masked regression of h h^T / bits to the batch's S (fit must have run)."""
        if self.similarity.shape[0] == 0:
            raise RuntimeError("SSDH: fit(train) sets the pseudo-similarity S; call it before training")
        rows = batch.indices.to(self.similarity.device)
        s = self.similarity[rows][:, rows].to(torch.float32)
        h = self.encode(batch.inputs)
        s = s.to(h.device)
        return {"similarity": (s.abs() * (h @ h.T / self.bits - s).pow(2)).mean()}

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """The similarity term (a scalar)."""
        return self.loss_terms(batch)["similarity"]
