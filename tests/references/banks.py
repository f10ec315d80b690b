"""Independent re-derivations of the reference memory-bank losses (DPSH, HashNet, DSH), for parity tests.

Written from the references' behaviour (DeepHash-pytorch's method scripts; the authors' code where it
differs; FIRe as a second reading), element by element with Python loops over the batch and the bank,
so that they share no vectorised code with hashbench's implementations. Gradients come from autograd
through these loops. Inputs follow the references: ``u`` the network's real-valued output (B, bits),
``y`` one-hot or multi-hot labels (B, C) float, ``ind`` positions in the training set, banks ``U``
(N, bits) and ``Y`` (N, C) updated in place exactly as the references do (before the loss is computed).

Sources (read, not copied): swuxyj/DeepHash-pytorch ab14068 (CSQ.py, DPSH.py, DSH.py, GreedyHash.py,
DPN.py) and 6fe706c (HashNet.py with the training-set memory); kamwoh/orthohash (OrthoHashLoss);
CISiPLab/cisip-FIRe (multi-label cross entropy as label smoothing; DPSH's balanced weighting).
"""
from __future__ import annotations

import torch


def _softplus_stable(x: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(x)) written as the references write it: log(1 + exp(-|x|)) + max(x, 0)."""
    return torch.log(1 + torch.exp(-x.abs())) + x.clamp(min=0)


def _similar_pairs(y, Y):
    """``sims[i][j]`` = rows i of ``y`` and j of ``Y`` share a label; with S1 (similar) and S0 (dissimilar) counts."""
    sims = [[float(y[i] @ Y[j]) > 0 for j in range(Y.shape[0])] for i in range(y.shape[0])]
    s1 = sum(v for r in sims for v in r)
    return sims, s1, y.shape[0] * Y.shape[0] - s1


def dpsh_loss(u, y, ind, U, Y, alpha, weighting="mean"):
    """Pairwise likelihood over batch x bank (bank updated first) + alpha * mean((u - sign u)^2).

    ``weighting = "mean"``: DeepHash-pytorch's DPSH.py, the plain mean over the B x N pairs;
    ``"balanced"``: FIRe's dpsh.py, each similar pair's term times S / S1 and each dissimilar one's times
    S / S0 (S1, S0 their counts, S = B x N), the sum divided by S.
    """
    for row, i in enumerate(ind.tolist()):
        U[i] = u[row].detach()
        Y[i] = y[row]
    b, n = u.shape[0], U.shape[0]
    sims, s1, s0 = _similar_pairs(y, Y)
    total = 0.0
    for i in range(b):
        for j in range(n):
            s = 1.0 if sims[i][j] else 0.0
            theta = 0.5 * (u[i] @ U[j])
            term = _softplus_stable(theta) - s * theta
            if weighting == "balanced":
                term = term * ((b * n) / s1 if sims[i][j] else (b * n) / s0)
            total = total + term
    likelihood = total / (b * n)
    quant = sum(((u[i, k] - torch.sign(u[i, k].detach())) ** 2) for i in range(b) for k in range(u.shape[1]))
    return likelihood + alpha * quant / u.numel()


def hashnet_scale(epoch0: int, step: int = 20, power: float = 0.5) -> float:
    """The continuation of DeepHash's HashNet.py: (epoch // step_continuation + 1) ** 0.5, epoch 0-based."""
    return (epoch0 // step + 1) ** power


def hashnet_loss(x, y, ind, U, Y, alpha, scale):
    """u = tanh(scale x); bank updated; weighted pairwise cross entropy over batch x bank."""
    u = torch.tanh(scale * x)
    for row, i in enumerate(ind.tolist()):
        U[i] = u[row].detach()
        Y[i] = y[row]
    b, n = u.shape[0], U.shape[0]
    sims, s1, s0 = _similar_pairs(y, Y)
    s = s0 + s1
    total = 0.0
    for i in range(b):
        for j in range(n):
            d = alpha * (u[i] @ U[j])
            sim = 1.0 if sims[i][j] else 0.0
            e = _softplus_stable(d) - sim * d
            total = total + e * (s / s1 if sims[i][j] else s / s0)
    return total / s


def dsh_loss(u, y, ind, U, Y, alpha, margin):
    """Contrastive over batch x bank (bank updated first) + alpha * mean(| |u| - 1 |)."""
    for row, i in enumerate(ind.tolist()):
        U[i] = u[row].detach()
        Y[i] = y[row]
    b, n = u.shape[0], U.shape[0]
    total = 0.0
    for i in range(b):
        for j in range(n):
            dist = ((u[i] - U[j]) ** 2).sum()
            dissimilar = float(y[i] @ Y[j]) == 0
            total = total + (torch.clamp(margin - dist, min=0) / 2 if dissimilar else dist / 2)
    reg = sum((u[i, k].abs() - 1).abs() for i in range(b) for k in range(u.shape[1]))
    return total / (b * n) + alpha * reg / u.numel()


def hashnet_batch_loss(x, y, alpha, scale):
    """DeepHash-pytorch HEAD's HashNet.py: u = tanh(scale x); the same weighting over batch x batch pairs,
    the gradient through both codes of a pair."""
    u = torch.tanh(scale * x)
    b = u.shape[0]
    sims, s1, s0 = _similar_pairs(y, y)
    s = s0 + s1
    total = 0.0
    for i in range(b):
        for j in range(b):
            d = alpha * (u[i] @ u[j])
            sim = 1.0 if sims[i][j] else 0.0
            e = _softplus_stable(d) - sim * d
            total = total + e * (s / s1 if sims[i][j] else s / s0)
    return total / s


def dsh_batch_loss(u, y, alpha, margin):
    """The paper's DSH: contrastive over batch x batch pairs (both codes with a gradient) + alpha * mean(| |u| - 1 |)."""
    b = u.shape[0]
    total = 0.0
    for i in range(b):
        for j in range(b):
            dist = ((u[i] - u[j]) ** 2).sum()
            dissimilar = float(y[i] @ y[j]) == 0
            total = total + (torch.clamp(margin - dist, min=0) / 2 if dissimilar else dist / 2)
    reg = sum((u[i, k].abs() - 1).abs() for i in range(b) for k in range(u.shape[1]))
    return total / (b * b) + alpha * reg / u.numel()
