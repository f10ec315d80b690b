"""ITQ: PCA to ``bits`` dimensions, then the orthogonal rotation that minimises the quantisation loss.

Paper: Y. Gong and S. Lazebnik, "Iterative Quantization: A Procrustes Approach to Learning Binary
Codes", CVPR 2011 (PAMI 2013 with Gordo and Perronnin).
Reference followed: the authors' ``ITQ.m`` (Yunchao Gong), as kept in dengcai78/MatlabFunc
``ANNS/Hashing/Unsupervised/ITQ/ITQ.m`` and ``ITQ_learn.m`` at commit 97504df; CISiPLab/cisip-FIRe
``functions/loss/itq.py`` at e8826c4 has the same structure. With ``V = (X - mu) @ W.T`` (N, bits) the
PCA projection of :mod:`.pcah` and ``R0`` the left singular vectors of a ``bits x bits`` standard normal
matrix (``numpy.random.default_rng(seed).standard_normal``, then ``numpy.linalg.svd``)::

    for t in 1..iterations (50):
        Z = V R;  B = +1 where Z >= 0 else -1           (ITQ.m: UX(Z>=0) = 1)
        loss_t = ||B - Z||_F^2                          (recorded, non-increasing in t)
        B^T V = U S Q^T  (SVD);  R = Q U^T               (orthogonal Procrustes: argmax_R tr(B^T V R))
    encode(x) = ((x - mu) @ W.T) @ R                     code = sign

Deliberate differences: the authors' loop ``for iter=0:n_iter`` performs n_iter + 1 updates; this one
performs exactly ``iterations``. FIRe defaults to ``max_iters = 3`` and updates ``R = V^T U^T`` from
``torch.svd``'s V (its variable ``VT``), the transpose of the Procrustes solution, whose loss does not
decrease monotonically; this module follows the authors. The random init comes from numpy, not
MATLAB's ``randn``. The loss sequence is kept in the state (``losses``, (iterations,)).
"""
from __future__ import annotations

import numpy as np

from . import ClassicHasher, project, quantise

__all__ = ["ITQ", "random_rotation"]


def random_rotation(bits: int, seed: int) -> np.ndarray:
    """``R0`` (bits, bits): the left singular vectors of ``default_rng(seed).standard_normal((bits, bits))``."""
    u, _, _ = np.linalg.svd(np.random.default_rng(seed).standard_normal((bits, bits)))
    return u


class ITQ(ClassicHasher):
    """PCA + iterative quantisation; ``iterations`` (default 50, the paper's)."""

    state_keys = ("mean", "components", "rotation", "losses")

    def __init__(self, bits: int, seed: int = 0, iterations: int = 50) -> None:
        super().__init__(bits, seed)
        if int(iterations) < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        self.iterations = int(iterations)

    def _fit(self, x: np.ndarray) -> None:
        mean, components = self.pca(x, self.bits)
        v = project(x, mean, components)
        rotation = random_rotation(self.bits, self.seed)
        losses = np.empty(self.iterations, dtype=np.float64)
        for t in range(self.iterations):
            z = v @ rotation
            b = quantise(z)
            losses[t] = float(np.sum((b - z) ** 2))
            u, _, qt = np.linalg.svd(b.T @ v)
            rotation = qt.T @ u.T
        self._set(x, mean=mean, components=components, rotation=rotation, losses=losses)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return project(x, self.state["mean"], self.state["components"]) @ self.state["rotation"]
