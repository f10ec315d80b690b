"""Independent re-derivations of the reference hash-centre losses (CSQ, DPN) and the codebook loss (OrthoHash), for parity tests.

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


def csq_loss(u, y, centers, random_center, lam, multi_label, apply_tanh=True):
    """BCE between (u+1)/2 and the label's centre (c+1)/2, mean over all entries, + lam * mean((|u|-1)^2)."""
    if apply_tanh:
        u = torch.tanh(u)
    b, bits = u.shape
    total_bce = 0.0
    for i in range(b):
        if not multi_label:
            c = centers[int(torch.argmax(y[i]))]
        else:
            s = sum(y[i, k] * centers[k] for k in range(y.shape[1]))
            c = torch.where(s == 0, random_center, s)
            c = torch.where(c > 0, torch.ones_like(c), -torch.ones_like(c))
        for j in range(bits):
            p = 0.5 * (u[i, j] + 1)
            t = 0.5 * (c[j] + 1)
            # torch's BCELoss clamps the log at -100
            total_bce = total_bce - (t * torch.clamp(torch.log(p), min=-100)
                                     + (1 - t) * torch.clamp(torch.log(1 - p), min=-100))
    q = sum((u[i, j].abs() - 1) ** 2 for i in range(b) for j in range(bits))
    return total_bce / (b * bits) + lam * q / (b * bits)


def orthohash_loss(codes, y, codebook, s, m, multi_label, margin_type="cos", quan=0.0, quan_type="cs"):
    """Cosine-margin CE against a fixed ±1 codebook (OrthoHashLoss), optional quantisation."""
    total = 0.0
    bsz, classes = codes.shape[0], codebook.shape[0]
    for i in range(bsz):
        cos = torch.stack([(codes[i] @ codebook[c]) / (codes[i].norm() * codebook[c].norm()) for c in range(classes)])
        if margin_type == "cos":
            logits = s * (cos - m * y[i])
        else:
            logits = s * torch.cos(torch.acos(cos.clamp(-0.99999, 0.99999)) + m * y[i])
        log_p = logits - torch.logsumexp(logits, 0)
        if multi_label:
            total = total - sum(y[i, c] / y[i].sum() * log_p[c] for c in range(classes))
        else:
            total = total - log_p[int(torch.argmax(y[i]))]
    loss = total / bsz
    if quan:
        if quan_type == "cs":
            q = sum(1 - (codes[i] @ torch.sign(codes[i].detach())) / (codes[i].norm() * torch.sign(codes[i].detach()).norm())
                    for i in range(bsz)) / bsz
        elif quan_type == "l1":
            q = (codes - torch.sign(codes.detach())).abs().mean()
        else:
            q = ((codes - torch.sign(codes.detach())) ** 2).mean()
        loss = loss + quan * q
    return loss


def dpn_loss(u, y, targets, random_center, m, multi_label):
    """Polarisation: mean over entries of max(0, m - u * t) with t the label's target vector."""
    total = 0.0
    b, bits = u.shape
    for i in range(b):
        if not multi_label:
            t = targets[int(torch.argmax(y[i]))]
        else:
            s = sum(y[i, k] * targets[k] for k in range(y.shape[1]))
            t = torch.where(s == 0, random_center, s)
            t = torch.where(t > 0, torch.ones_like(t), -torch.ones_like(t))
        for j in range(bits):
            total = total + torch.clamp(m - u[i, j] * t[j], min=0)
    return total / (b * bits)


def sylvester_hadamard(n: int) -> torch.Tensor:
    """The n x n Hadamard matrix of Sylvester's construction (n a power of 2), as scipy.linalg.hadamard."""
    assert n >= 1 and (n & (n - 1)) == 0
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def _is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def csq_hadamard_centers(num_classes: int, bits: int) -> torch.Tensor:
    """[H; -H][:C] when bits is a power of 2 and C <= 2 * bits (the deterministic part of CSQ)."""
    assert _is_power_of_two(bits) and num_classes <= 2 * bits
    h = sylvester_hadamard(bits)
    return torch.cat([h, -h], 0)[:num_classes]


def min_and_mean_distance(centers: torch.Tensor) -> tuple[float, float]:
    """Min and mean pairwise Hamming distance between ±1 rows."""
    c = centers.shape[0]
    d = [float((centers[i] != centers[j]).sum()) for i in range(c) for j in range(i + 1, c)]
    return min(d), sum(d) / len(d)
