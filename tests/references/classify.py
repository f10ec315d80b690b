"""Independent re-derivations of the reference classification losses (GreedyHash through the sign; cross
entropy of a linear classifier on the codes or features), for parity tests.

Written from the references' behaviour (DeepHash-pytorch's method scripts; the authors' code where it
differs; FIRe as a second reading), element by element with Python loops over the batch and the bank,
so that they share no vectorised code with hashbench's implementations. Gradients come from autograd
through these loops. Inputs follow the references: ``u`` the network's real-valued output (B, bits),
``y`` one-hot or multi-hot labels (B, C) float, ``ind`` positions in the training set, banks ``U``
(N, bits) and ``Y`` (N, C) updated in place exactly as the references do (before the loss is computed).

Sources (read, not copied): swuxyj/DeepHash-pytorch ab14068 (CSQ.py, DPSH.py, DSH.py, GreedyHash.py,
DPN.py) and 6fe706c (HashNet.py with the training-set memory); kamwoh/orthohash (OrthoHashLoss);
CISiPLab/cisip-FIRe (multi-label cross entropy as label smoothing).
"""
from __future__ import annotations

import torch


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.sign(x)

    @staticmethod
    def backward(ctx, g):
        return g


def greedyhash_loss(u, y, weight, alpha, multi_label):
    """CE of a bias-free linear classifier on sign(u) (straight-through) + alpha * mean(| (|u|-1)^3 |)."""
    b = _SignSTE.apply(u)
    total = 0.0
    for i in range(u.shape[0]):
        logits = torch.stack([b[i] @ weight[c] for c in range(weight.shape[0])])
        log_p = logits - torch.logsumexp(logits, 0)
        if multi_label:
            total = total - sum(y[i, c] / y[i].sum() * log_p[c] for c in range(weight.shape[0]))
        else:
            total = total - log_p[int(torch.argmax(y[i]))]
    reg = sum(((u[i, k].abs() - 1) ** 3).abs() for i in range(u.shape[0]) for k in range(u.shape[1]))
    return total / u.shape[0] + alpha * reg / u.numel()


def cross_entropy_loss(x, u, y, weight, bias, quantization, multi_label):
    """CE of a linear classifier with bias on ``x`` (the codes, or the backbone's features) +
    quantization * mean((|u| - 1)^2) on the codes ``u`` (FIRe's ``ce``: Linear over the hash layer;
    multi-label as label smoothing, FIRe ``ce.py``)."""
    total = 0.0
    for i in range(x.shape[0]):
        logits = torch.stack([x[i] @ weight[c] + bias[c] for c in range(weight.shape[0])])
        log_p = logits - torch.logsumexp(logits, 0)
        if multi_label:
            total = total - sum(y[i, c] / y[i].sum() * log_p[c] for c in range(weight.shape[0]))
        else:
            total = total - log_p[int(torch.argmax(y[i]))]
    quant = sum((u[i, k].abs() - 1) ** 2 for i in range(u.shape[0]) for k in range(u.shape[1]))
    return total / x.shape[0] + quantization * quant / u.numel()
