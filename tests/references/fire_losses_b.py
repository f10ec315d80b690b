"""Independent re-derivations of FIRe's DBDH and JMLH losses and of Video_Retrieval's released objective.

Written from the references' behaviour as explicit Python loops in float64 (no vectorised code shared
with hashbench's implementations); gradients come from autograd through the loops (or, for JMLH's
binary layer, a hand-written backward). Inputs follow the references: ``x`` the network's real-valued
output (B, bits), ``y`` one-hot or multi-hot labels (B, C) float.

Sources read (not copied): CISiPLab/cisip-FIRe e8826c4 (functions/loss/dbdh.py, functions/loss/jmlh.py,
models/architectures/arch_jmlh.py, models/layers/activation.py, functions/hashing.py); zhongzhou-code/
Video_Retrieval bf51c0c (train.py, loss_function/triplet_loss.py, loss_function/ap_loss.py,
model/C3D_Hash_Model.py).
"""
from __future__ import annotations

import math

import torch


def _share(a, b) -> bool:
    return float(a @ b) > 0


def _softplus(t):
    return torch.log(1 + torch.exp(-t.abs())) + t.clamp(min=0)


def dbdh_loss(x, y, ind, U, Y, alpha, power=2, weighting="mean"):
    """FIRe's DBDHLoss: u = x clipped to [-1, 1]; bank (U, Y) written at ``ind`` first (``ind`` None: pairs
    within the batch); mean over pairs of log(1 + e^t) - s t with t = u_i.U_j / 2; + alpha * balance.
    ``weighting = "balanced"`` (hashbench's option, not FIRe's): similar pairs' terms times S / S1,
    dissimilar ones' times S / S0 (S1, S0 their counts, S all pairs) before the mean."""
    xd = x.double()
    b, k = xd.shape
    rows = []
    for i in range(b):
        row = []
        for j in range(k):
            v = xd[i, j]
            s = float(v.detach())
            row.append(v if -1.0 <= s <= 1.0 else torch.tensor(math.copysign(1.0, s), dtype=v.dtype))
        rows.append(torch.stack(row))
    u = torch.stack(rows)
    yd = y.double()
    if ind is None:
        other, other_y = u, yd
    else:
        for row, i in enumerate(ind.tolist()):
            U[i] = u[row].detach().to(U.dtype)
            Y[i] = y[row].to(Y.dtype)
        other, other_y = U.double(), Y.double()
    n = other.shape[0]
    pairs = [(i, j, _share(yd[i], other_y[j])) for i in range(b) for j in range(n)]
    s1 = sum(1 for _, _, sim in pairs if sim)
    s0 = len(pairs) - s1
    total = 0.0
    for i, j, sim in pairs:
        t = 0.5 * (u[i] @ other[j])
        term = _softplus(t) - (1.0 if sim else 0.0) * t
        if weighting == "balanced":
            term = term * (len(pairs) / s1 if sim else len(pairs) / s0)
        total = total + term
    likelihood = total / (b * n)
    balance = 0.0
    for i in range(b):
        m = sum(u[i, j] for j in range(k)) / k
        balance = balance + (m.abs() if power == 1 else m * m)
    return likelihood + alpha * balance / b


class _StochasticBinary(torch.autograd.Function):
    """FIRe's stochastic binary layer on probabilities' logits: forward (sign(sigmoid(x) - eps) + 1) / 2,
    backward sigmoid(x) (1 - sigmoid(x)) times the incoming gradient."""

    @staticmethod
    def forward(ctx, logits, eps):
        prob = 1.0 / (1.0 + torch.exp(-logits))
        ctx.save_for_backward(prob)
        out = torch.empty_like(logits)
        for i in range(logits.shape[0]):
            for k in range(logits.shape[1]):
                d = float(prob[i, k]) - float(eps[i, k])
                out[i, k] = 1.0 if d > 0 else (0.0 if d < 0 else 0.5)
        return out

    @staticmethod
    def backward(ctx, grad):
        prob, = ctx.saved_tensors
        return prob * (1 - prob) * grad, None


def jmlh_loss(x, y, eps, weight, bias, lmbd, multi_label):
    """FIRe's JMLH: cross entropy of ``Linear(bits, C)`` (``weight`` (C, bits), ``bias`` (C,)) on the
    stochastic code of ``x`` thresholded at ``eps``, + lmbd * KL(sigmoid(x) || 1/2) (summed over bits,
    averaged over clips, + 1e-7 inside each log)."""
    xd, w, c, yd = x.double(), weight.double(), bias.double(), y.double()
    code = _StochasticBinary.apply(xd, eps.double())
    b, k = xd.shape
    ce = 0.0
    kl = 0.0
    for i in range(b):
        logits = [c[m] + sum(code[i, j] * w[m, j] for j in range(k)) for m in range(w.shape[0])]
        top = max(float(v.detach()) for v in logits)
        log_norm = top + torch.log(sum(torch.exp(v - top) for v in logits))
        if multi_label:
            count = float(yd[i].sum())
            ce = ce - sum((yd[i, m] / count) * (logits[m] - log_norm) for m in range(len(logits)) if yd[i, m] > 0)
        else:
            ce = ce - (logits[int(yd[i].argmax())] - log_norm)
        for j in range(k):
            q = torch.sigmoid(xd[i, j])
            e = 1e-7
            kl = kl + (q * torch.log(q + e) - q * math.log(0.5 + e) + (1 - q) * torch.log(1 - q + e)
                       - (1 - q) * math.log(0.5 + e))
    return ce / b + lmbd * kl / b


def _sg(t, anneal):
    """The release's temperature sigmoid: 1 / (1 + exp(clamp(-t / anneal, -50, 50)))."""
    return 1.0 / (1.0 + torch.exp((-t / anneal).clamp(-50.0, 50.0)))


def smooth_ap_grouped(h, group, anneal):
    """Video_Retrieval's ap_loss.py (bf51c0c) on a batch sorted by class in equal groups of ``group``:
    1 - sum over classes, anchors a and members j of the class of R+_a(j) / R_a(j) / group / B, where
    R_a(j) = 1 + sum_{k != j} sg(s_ak - s_aj) over the batch and R+ the same over the class."""
    hd = h.double()
    b = hd.shape[0]
    s = [[hd[i] @ hd[j] for j in range(b)] for i in range(b)]
    ap = 0.0
    for start in range(0, b, group):
        members = range(start, start + group)
        for a in members:
            for j in members:
                r_all = 1.0 + sum(_sg(s[a][k] - s[a][j], anneal) for k in range(b) if k != j)
                r_pos = 1.0 + sum(_sg(s[a][k] - s[a][j], anneal) for k in members if k != j)
                ap = ap + r_pos / r_all / group / b
    return 1.0 - ap


def batch_hard_triplet_ref(h, y, margin):
    """open-reid's TripletLoss as the release uses it: per anchor, the largest Euclidean distance to a clip
    of its class (itself included) and the smallest to another class; mean of max(0, margin + ap - an)
    over the anchors that have a negative."""
    hd = h.double()
    b = hd.shape[0]
    dist = [[torch.sqrt(torch.clamp(((hd[i] - hd[j]) ** 2).sum(), min=1e-12)) for j in range(b)] for i in range(b)]
    terms = []
    for i in range(b):
        pos = [dist[i][j] for j in range(b) if _share(y[i], y[j])]
        neg = [dist[i][j] for j in range(b) if not _share(y[i], y[j])]
        if neg:
            hardest_pos = max(pos, key=lambda d: float(d.detach()))
            hardest_neg = min(neg, key=lambda d: float(d.detach()))
            terms.append(torch.clamp(margin + hardest_pos - hardest_neg, min=0.0))
    return sum(terms) / len(terms) if terms else hd.sum() * 0.0


def video_retrieval_loss(h, f, y, weight, bias, group, margin=0.3, weights=(1.0, 0.1, 0.1), anneal=0.01):
    """Video_Retrieval's train.py objective on a class-sorted batch of equal groups: triplet + CE of
    relu(fc9(features)) + Smooth-AP, with the given weights (single-label ``y`` one-hot)."""
    fd, w, c, yd = f.double(), weight.double(), bias.double(), y.double()
    ce = 0.0
    for i in range(fd.shape[0]):
        scores = [torch.clamp(c[m] + (fd[i] * w[m]).sum(), min=0.0) for m in range(w.shape[0])]
        top = max(float(v.detach()) for v in scores)
        log_norm = top + torch.log(sum(torch.exp(v - top) for v in scores))
        ce = ce - (scores[int(yd[i].argmax())] - log_norm)
    ce = ce / fd.shape[0]
    return (weights[0] * batch_hard_triplet_ref(h, yd, margin) + weights[1] * ce
            + weights[2] * smooth_ap_grouped(h, group, anneal))


def adsh_state(num_train, bits, classes):
    """The authors' ADSH state for :func:`adsh_step` / :func:`adsh_update`: latest codes U, labels Y, database
    codes V (zeros, as the authors start), the set of seen clips."""
    return {"U": torch.zeros(num_train, bits, dtype=torch.float64), "Y": torch.zeros(num_train, classes,
            dtype=torch.float64), "V": torch.zeros(num_train, bits, dtype=torch.float64), "seen": set()}


def _soft(y_rows, Y_rows):
    """The authors' calc_sim: s in {0, 1}, r = sum s / sum (1 - s), S = s (1 + r) - r (lists of rows)."""
    s = [[1.0 if _share(a, b) else 0.0 for b in Y_rows] for a in y_rows]
    ones = sum(map(sum, s))
    zeros = len(y_rows) * len(Y_rows) - ones
    r = ones / zeros if zeros else 0.0
    return [[v * (1 + r) - r for v in row] for row in s]


def adsh_step(x, y, ind, state, gamma):
    """The authors' ADSHLoss for one batch: write (x, y) at ``ind`` first, then over the seen database rows
    (sum (u_i.V_j - bits S_ij)^2 + gamma sum (V_ind - u)^2) / (N B)."""
    u = x.double()
    for row, i in enumerate(ind.tolist()):
        state["U"][i] = u[row].detach()
        state["Y"][i] = y[row].double()
        state["seen"].add(i)
    rows = sorted(state["seen"])
    S = _soft([y[r].double() for r in range(u.shape[0])], [state["Y"][j] for j in rows])
    b, bits = u.shape
    total = 0.0
    for i in range(b):
        for col, j in enumerate(rows):
            total = total + (u[i] @ state["V"][j] - bits * S[i][col]) ** 2
        for k in range(bits):
            total = total + gamma * (state["V"][int(ind[i]), k] - u[i, k]) ** 2
    return total / (state["V"].shape[0] * b)


def adsh_update(state, gamma):
    """The authors' discrete coding step on the seen rows: Q = -2 bits S^T U - 2 gamma U, then for each bit
    k in turn V[:, k] = -sign(Q[:, k] + 2 V[:, -k] (U[:, -k]^T U[:, k]))."""
    rows = sorted(state["seen"])
    U = [state["U"][j] for j in rows]
    S = _soft([state["Y"][j] for j in rows], [state["Y"][j] for j in rows])
    bits = state["V"].shape[1]
    n = len(rows)
    Q = [[-2 * bits * sum(S[a][i] * float(U[a][k]) for a in range(n)) - 2 * gamma * float(U[i][k])
          for k in range(bits)] for i in range(n)]
    V = [[float(state["V"][j, k]) for k in range(bits)] for j in rows]
    for k in range(bits):
        others = [m for m in range(bits) if m != k]
        gram = {m: sum(float(U[a][m]) * float(U[a][k]) for a in range(n)) for m in others}
        for i in range(n):
            t = Q[i][k] + 2 * sum(V[i][m] * gram[m] for m in others)
            V[i][k] = -float(math.copysign(1.0, t)) if t != 0 else 0.0
    for i, j in enumerate(rows):
        state["V"][j] = torch.tensor(V[i], dtype=torch.float64)
