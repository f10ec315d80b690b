"""Independent re-derivations of four FIRe losses (DTSH, OrthoArc, DFH, SDH-C), for parity tests.

Written from the behaviour of CISiPLab/cisip-FIRe at commit e8826c4 (``functions/loss/dtsh.py``,
``orthoarc.py``, ``dfh.py``, ``sdh.py``: ``SDHLossC``), read, not copied: element by element with
Python loops over anchors, triplets, pairs, classes and bits, so that they share no vectorised code
with hashbench's implementations. Gradients come from autograd through the loops. Inputs follow FIRe:
``u`` the network's real-valued codes (B, bits), ``y`` one-hot or multi-hot labels (B, C) float.
The callers pass float64 copies where they want the re-derivation's own rounding out of the way.
"""
from __future__ import annotations

import math

import torch


def _nll_sigmoid(t):
    """-(t - log(1 + exp(t))) = -log sigmoid(t), written as FIRe writes it (t within [-100, 50])."""
    return -(t - torch.log(1.0 + torch.exp(t)))


def _shares(a, b) -> bool:
    """Two label rows share a class."""
    return bool((a * b).sum() > 0)


def dtsh_loss(u, y, alpha, lmbd):
    """FIRe's DTSHLoss: per anchor with a positive and a negative (itself a positive), the mean over its
    (positive, negative) pairs of -log sigmoid(clamp(u_a.u_p - u_a.u_n - alpha, -100, 50)), averaged
    over those anchors; + lmbd * mean((u - sign u)^2)."""
    b, bits = u.shape
    anchors = []
    for a in range(b):
        pos = [j for j in range(b) if _shares(y[a], y[j])]
        neg = [j for j in range(b) if not _shares(y[a], y[j])]
        if not pos or not neg:
            continue
        terms = []
        for p in pos:
            for n in neg:
                t = torch.clamp(u[a] @ u[p] - u[a] @ u[n] - alpha, min=-100.0, max=50.0)
                terms.append(_nll_sigmoid(t))
        anchors.append(sum(terms) / len(terms))
    likelihood = sum(anchors) / len(anchors) if anchors else 0.0
    quant = sum((u[i, k] - torch.sign(u[i, k])) ** 2 for i in range(b) for k in range(bits)) / (b * bits)
    return likelihood + lmbd * quant


def orthoarc_loss(codes, y, codebook, s, m, multi_label, quan=0.0, quan_type="cs"):
    """FIRe's OrthoArcLoss on the cosines of CosSim(codes, codebook): per clip and class the logit
    s * cos(acos(clamp(cos, +-0.99999)) + m * y), cross entropy (multi-label: against y / sum y),
    averaged over the batch; + quan * the quantisation error against the detached sign."""
    b, classes = codes.shape[0], codebook.shape[0]
    total = 0.0
    for i in range(b):
        logits = []
        for c in range(classes):
            cos = (codes[i] @ codebook[c]) / (torch.sqrt((codes[i] ** 2).sum()) * torch.sqrt((codebook[c] ** 2).sum()))
            angle = torch.acos(torch.clamp(cos, -0.99999, 0.99999))
            logits.append(s * torch.cos(angle + m * y[i, c]))
        norm = torch.log(sum(torch.exp(v) for v in logits))
        if multi_label:
            total = total - sum(y[i, c] / y[i].sum() * (logits[c] - norm) for c in range(classes))
        else:
            target = int(torch.argmax(y[i]))
            total = total - (logits[target] - norm)
    loss = total / b
    if quan:
        sign = torch.sign(codes.detach())
        if quan_type == "cs":
            q = sum(1.0 - (codes[i] @ sign[i]) / (codes[i].norm() * sign[i].norm()) for i in range(b)) / b
        elif quan_type == "l1":
            q = sum((codes[i, k] - sign[i, k]).abs() for i in range(b) for k in range(codes.shape[1])) / codes.numel()
        else:
            q = sum((codes[i, k] - sign[i, k]) ** 2 for i in range(b) for k in range(codes.shape[1])) / codes.numel()
        loss = loss + quan * q
    return loss


def dfh_centres_update(centres, y, b_codes, vul):
    """FIRe's discrete cyclic coordinate descent of the class centres, in place: for class i in order,
    c_i = sign(sum_j y_ij b_j - sum_{k != i} (sum_j y_ij y_kj) c_k - vul * sum_{k != i} c_k), using the
    centres already updated this sweep. ``centres`` (C, bits), ``y`` (B, C), ``b_codes`` (B, bits)."""
    classes, bits = centres.shape
    for i in range(classes):
        for bit in range(bits):
            value = sum(float(y[j, i]) * float(b_codes[j, bit]) for j in range(y.shape[0]))
            for k in range(classes):
                if k == i:
                    continue
                overlap = sum(float(y[j, i]) * float(y[j, k]) for j in range(y.shape[0]))
                value -= overlap * float(centres[k, bit]) + vul * float(centres[k, bit])
            centres[i, bit] = math.copysign(1.0, value) if value != 0 else 0.0


def dfh_loss(u, y, ind, U, Y, centres, mu, vul, m, eta, weighting="mean"):
    """FIRe's DFHLoss for one batch; updates the banks ``U`` (N, bits), ``Y`` (N, C) and ``centres``
    (C, bits) in place, in FIRe's order: write the batch into the banks, b = sign(mu * centres[y] + u)
    with the centres before this batch, update the centres from b, then the margin likelihood over
    batch x bank (theta = u . U_j / 2 clamped to [-100, 50]; similar pairs log(1 + exp(m - theta)),
    dissimilar log(1 + exp(m + theta)), mean over all pairs, or with ``weighting = "balanced"`` the mean
    over similar pairs plus the mean over dissimilar ones) + eta * mean((b - u)^2)."""
    b, bits = u.shape
    for row, i in enumerate(ind.tolist()):
        U[i] = u[row].detach()
        Y[i] = y[row]
    b_codes = torch.zeros(b, bits, dtype=u.dtype)
    for i in range(b):
        for k in range(bits):
            pull = mu * sum(float(y[i, c]) * float(centres[c, k]) for c in range(centres.shape[0]))
            b_codes[i, k] = torch.sign(pull + u[i, k].detach())
    dfh_centres_update(centres, y, b_codes, vul)
    sums, counts = [0.0, 0.0], [0, 0]  # dissimilar, similar
    for i in range(b):
        for j in range(U.shape[0]):
            theta = torch.clamp(0.5 * (u[i] @ U[j]), min=-100.0, max=50.0)
            shared = int(_shares(y[i], Y[j]))
            sums[shared] = sums[shared] + torch.log(1.0 + torch.exp((m - theta) if shared else (m + theta)))
            counts[shared] += 1
    if weighting == "balanced":
        metric = sum(total / n for total, n in zip(sums, counts) if n)
    else:
        metric = (sums[0] + sums[1]) / (b * U.shape[0])
    quant = sum((b_codes[i, k] - u[i, k]) ** 2 for i in range(b) for k in range(bits)) / (b * bits)
    return metric + eta * quant


def sdh_c_loss(u, y, weight, bias, lmbd0, lmbd1, alpha, lmbd2=0.0, projection=None):
    """FIRe's SDHLossC: lmbd0 * mean((u - sign u)^2) - lmbd1 * (sum u^2 / bits) / 2
    + alpha * CE(u @ weight.T + bias, argmax y) + lmbd2 * mean((P P^T - 1)^2) with P the hash layer's
    weight (bits, D) when given."""
    b, bits = u.shape
    j1 = sum((u[i, k] - torch.sign(u[i, k])) ** 2 for i in range(b) for k in range(bits)) / (b * bits)
    j2 = sum(u[i, k] ** 2 for i in range(b) for k in range(bits)) / bits / 2
    ce = 0.0
    for i in range(b):
        logits = [u[i] @ weight[c] + bias[c] for c in range(weight.shape[0])]
        norm = torch.log(sum(torch.exp(v) for v in logits))
        ce = ce - (logits[int(torch.argmax(y[i]))] - norm)
    loss = lmbd0 * j1 - lmbd1 * j2 + alpha * ce / b
    if projection is not None:
        rows = projection.shape[0]
        j3 = sum((projection[r] @ projection[q] - 1.0) ** 2 for r in range(rows) for q in range(rows)) / rows ** 2
        loss = loss + lmbd2 * j3
    return loss
