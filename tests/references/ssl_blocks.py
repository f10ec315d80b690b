"""Independent re-derivations of the self-supervised video hashing building blocks, for parity tests.

Written from the released code's behaviour (ConMH d6dd5b5 ``model/conmh.py`` Round3 and
``Loss/conmh_loss.py`` dcl; BTH c97db40 ``utils/calculate_neighbors.py`` ZZ and ``apro_adj.py``; S5VH
4926cb7 ``optimize_hash_center.py`` eval_metrics; mamba-ssm ``selective_scan_ref``), element by element
with Python loops in float64, sharing no code with ``hashbench_ref.methods.ssl``. Gradients come from
autograd through these loops, except the binary unit's, which is written out.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def binary_unit(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(value, d value / d x)`` elementwise: 2 round(clip((x+1)/2)) - 1 (half to even), and the
    gradient 1 where the clip passes it (0 <= y <= 1) and Round3's input y is not 0."""
    flat = x.detach().double().flatten().tolist()
    values, grads = [], []
    for v in flat:
        y = min(max((v + 1.0) / 2.0, 0.0), 1.0)
        values.append(2.0 * round(y) - 1.0)  # Python's round is half to even, like torch.round
        grads.append(1.0 if (0.0 <= (v + 1.0) / 2.0 <= 1.0 and y != 0.0) else 0.0)
    shape = x.shape
    return torch.tensor(values).reshape(shape), torch.tensor(grads).reshape(shape)


def dcl(x1: torch.Tensor, x2: torch.Tensor, temperature: float, tau_plus: float, debiased: bool = True):
    """ConMH's dcl, with loops over the 2B rows and their 2B - 2 negatives."""
    b = x1.shape[0]
    rows = [x1[i] / x1[i].norm() for i in range(b)] + [x2[i] / x2[i].norm() for i in range(b)]
    n = 2 * b - 2
    total = 0.0
    for i in range(2 * b):
        partner = (i + b) % (2 * b)
        pos = torch.exp(rows[i] @ rows[partner] / temperature)
        neg = sum(torch.exp(rows[i] @ rows[j] / temperature) for j in range(2 * b) if j not in (i, partner))
        if debiased:
            neg = torch.clamp((-tau_plus * n * pos + neg) / (1 - tau_plus), min=n * math.e ** (-1 / temperature))
        total = total - torch.log(pos / (pos + neg))
    return total / (2 * b)


def nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid per row by a loop (strict < keeps the lowest index on ties)."""
    out = []
    for row in x:
        best, best_d = 0, float("inf")
        for j, c in enumerate(centroids):
            d = float(((row - c) ** 2).sum())
            if d < best_d:
                best, best_d = j, d
        out.append(best)
    return np.array(out)


def zz(data: np.ndarray, anchors: np.ndarray, count: int) -> np.ndarray:
    """BTH's ZZ: repeated argmin for the nearest anchors, sigma = mean(sqrt(d_last)) / sqrt(2), weights
    exp(-d / (2 sigma^2)) normalised in log space."""
    sq = ((data[:, None, :] - anchors[None, :, :]) ** 2).sum(-1)
    n, m = sq.shape
    pos = np.zeros((n, count), dtype=int)
    val = np.zeros((n, count))
    for i in range(count):
        pos[:, i] = np.argmin(sq, 1)
        val[:, i] = sq[np.arange(n), pos[:, i]]
        sq[np.arange(n), pos[:, i]] = np.inf
    sigma = np.mean(np.sqrt(val[:, -1])) / np.sqrt(2)
    exponent = -val / (2 * sigma ** 2)
    z = np.zeros((n, m))
    for r in range(n):
        w = [math.exp(e) for e in exponent[r]]
        for i in range(count):
            z[r, pos[r, i]] = w[i] / sum(w)
    return z


def adjacency(data: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """apro_adj.py: SS_k = (Z diag(1/s) Z^T > 1e-5) for k = 3, 4, 5; adj = 2 (SS5 - SS4) + SS1."""
    ss = []
    for count in (3, 4, 5):
        z = zz(data, anchors, count)
        s = z.sum(0)
        n = z.shape[0]
        adj = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                adj[i, j] = sum(z[i, k] * z[j, k] / s[k] for k in range(z.shape[1]) if s[k] > 0)
        ss.append((adj > 1e-5).astype(int))
    return 2 * (ss[2] - ss[1]) + ss[0]


def centre_metric(h: np.ndarray, w: np.ndarray) -> float:
    """S5VH's eval_metrics (higher is better): sum of pairwise Hamming / K^2 minus the summed cosine gap."""
    k = h.shape[0]
    ham, gap = 0.0, 0.0
    for i in range(k):
        for j in range(i + 1, k):
            ham += float(np.sum(h[i] != h[j]))
            cos_h = h[i] @ h[j] / (np.linalg.norm(h[i]) * np.linalg.norm(h[j]))
            cos_w = w[i] @ w[j] / (np.linalg.norm(w[i]) * np.linalg.norm(w[j]))
            gap += cos_h - cos_w
    return ham / (k * k) - gap


def selective_scan(u, delta, A, B, C, D, z, delta_bias, softplus: bool):
    """The state-space recurrence one (batch, channel, state) entry at a time, float64."""
    batch, dim, length = u.shape
    n = A.shape[1]
    out = []
    for b in range(batch):
        rows = []
        for d in range(dim):
            h = [torch.zeros((), dtype=torch.float64) for _ in range(n)]
            ys = []
            for t in range(length):
                dt = delta[b, d, t] + delta_bias[d]
                dt = torch.log1p(torch.exp(dt)) if softplus else dt
                h = [torch.exp(dt * A[d, k]) * h[k] + dt * u[b, d, t] * B[b, k, t] for k in range(n)]
                y = sum(h[k] * C[b, k, t] for k in range(n)) + D[d] * u[b, d, t]
                ys.append(y * z[b, d, t] * torch.sigmoid(z[b, d, t]))
            rows.append(torch.stack(ys))
        out.append(torch.stack(rows))
    return torch.stack(out)
