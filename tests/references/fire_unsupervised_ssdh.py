"""Independent float64 re-derivation of FIRe's SSDH (CISiPLab/cisip-FIRe at e8826c4):
``functions/loss/ssdh.py`` SemanticStructureDHLoss (prepare_dataset_from_model and forward); for the
parity tests of ``hashbench_ref.methods.ssdh``.

Written from the released code's behaviour, sharing no code with the method: pairs one at a time in Python
loops, float64 (scipy's pdist for the distances, as FIRe; the histogram, the split and the Gaussian fits
by plain sums); weights come in as a ``{name: tensor}`` dict (see
:func:`references.fire_unsupervised.as_float64`), so autograd through the loops gives the gradients.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.distance import pdist, squareform

from .fire_unsupervised import linear


def _gaussian(values: list) -> tuple[float, float]:
    """Maximum-likelihood mean and std (population) by plain sums."""
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def similarity(x: np.ndarray, alpha: float = 2.0, beta: float = 2.0) -> np.ndarray:
    """prepare_dataset_from_model's S (N, N) of features x (N, D)."""
    d = squareform(pdist(x, "cosine"))
    n = d.shape[0]
    start, fullest, mode = -0.00000001, 0, 0.0
    for _ in range(100):
        end = start + 1.0 / 100
        count = sum(1 for i in range(n) for j in range(n) if start < d[i, j] < end)
        if count > fullest:
            fullest, mode = count, start
        start = end
    entries = [float(d[i, j]) for i in range(n) for j in range(n)]
    left = [v for v in entries if v <= mode]
    right = [v for v in entries if v > mode]
    l_mean, l_std = _gaussian(left + [beta * mode - v for v in left])
    r_mean, r_std = _gaussian([alpha * mode - v for v in right] + right)
    s = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            s[i, j] = (1 if d[i, j] < l_mean - alpha * l_std else 0) - (1 if d[i, j] > r_mean + beta * r_std else 0)
    return s


def ssdh_loss(x: torch.Tensor, s: np.ndarray, index: list, p: dict) -> torch.Tensor:
    """forward: h = tanh(linear hash layer of x (B, D)); mean over the B x B pairs of |S| (h_i . h_j / bits - S)^2."""
    h = torch.tanh(linear(x, p["hash_fc.weight"], p["hash_fc.bias"]))
    bits, b = h.shape[1], h.shape[0]
    total = torch.zeros((), dtype=torch.float64)
    for i in range(b):
        for j in range(b):
            sij = float(s[index[i], index[j]])
            total = total + abs(sij) * (torch.dot(h[i], h[j]) / bits - sij) ** 2
    return total / (b * b)
