"""Independent float64 re-derivations of FIRe's deep unsupervised losses (CISiPLab/cisip-FIRe at e8826c4):
``functions/loss/greedyhash.py`` GreedyHashUnsupervisedLoss, ``functions/loss/bihalf.py`` with
``models/layers/bihalf.py``, ``functions/loss/uhbdnn.py`` with ``models/architectures/arch_uhbdnn.py``;
for the parity tests of ``hashbench_ref.methods.{greedyhash_u, bihalf, uhbdnn}``.

Written from the released code's behaviour, sharing no code with the methods: one item (and one pair) at a
time in Python loops, float64; weights come in as a plain ``{name: tensor}`` dict copied from the method's
state dict (leaves with ``requires_grad``), so autograd through these loops gives the gradients.
"""
from __future__ import annotations

import torch


#: The float32 tolerance the parity tests reach against these float64 loops (relative, absolute).
RTOL, ATOL = 1e-5, 1e-6


def assert_close(method_value: torch.Tensor, reference: torch.Tensor) -> None:
    """A float32 value of a method equals a float64 reference within :data:`RTOL` / :data:`ATOL`."""
    torch.testing.assert_close(method_value.detach().double(), reference.detach(), rtol=RTOL, atol=ATOL)


def as_float64(state: dict) -> dict:
    """The state dict's tensors as float64 leaves that require grad (buffers too; they get no gradient)."""
    return {k: v.detach().double().clone().requires_grad_(v.is_floating_point()) for k, v in state.items()}


def linear(x: torch.Tensor, w: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Rows of x (B, D) through ``w`` (out, D), ``c`` (out,), one row and one output at a time."""
    rows = []
    for i in range(x.shape[0]):
        rows.append(torch.stack([torch.dot(w[k], x[i]) + c[k] for k in range(w.shape[0])]))
    return torch.stack(rows)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos of two vectors: dot / (|a| |b|)."""
    return torch.dot(a, b) / (torch.sqrt(torch.dot(a, a)) * torch.sqrt(torch.dot(b, b)))


def pair_similarity(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """FIRe's pair term: an odd batch loses its last row; pairs (i, i + n/2); mean squared gap between
    the codes' cosine and the (detached) features' cosine."""
    n = x.shape[0] if x.shape[0] % 2 == 0 else x.shape[0] - 1
    half = n // 2
    total = torch.zeros((), dtype=torch.float64)
    for i in range(half):
        gap = cosine(b[i], b[i + half]) - cosine(x[i], x[i + half]).detach()
        total = total + gap * gap
    return total / half


def straight_sign(h: torch.Tensor) -> torch.Tensor:
    """sign(h) forward, identity gradient."""
    return h + (torch.sign(h) - h).detach()


def greedyhash_u_terms(x: torch.Tensor, p: dict, pow: int = 3) -> dict:
    """GreedyHashUnsupervisedLoss on standardised features x (B, D): ``similarity`` and ``quantisation``;
    ``p`` holds ``hash_fc.weight``/``hash_fc.bias`` (one linear layer)."""
    h = linear(x, p["hash_fc.weight"], p["hash_fc.bias"])
    b = straight_sign(h)
    quantisation = torch.zeros((), dtype=torch.float64)
    for i in range(h.shape[0]):
        for k in range(h.shape[1]):
            quantisation = quantisation + abs((abs(h[i, k]) - 1.0) ** pow)
    return {"similarity": pair_similarity(x, b), "quantisation": quantisation / h.numel(), "h": h}


def standardised(x: torch.Tensor) -> torch.Tensor:
    """Column-wise (x - mean) / std (population std) of a training matrix (N, D), one column at a time."""
    cols = []
    for j in range(x.shape[1]):
        col = x[:, j].double()
        mean = col.sum() / col.numel()
        std = torch.sqrt(((col - mean) ** 2).sum() / col.numel())
        cols.append((col - mean) / std)
    return torch.stack(cols, dim=1)


def bihalf_codes(h: torch.Tensor, gamma: float) -> torch.Tensor:
    """Bi-half codes of h (B, bits), column by column: +1 above the column's lower middle value, else -1;
    the gradient is the identity plus ``gamma / (B bits) * (h - b)``. Returns the codes, the codes with that
    identity gradient, and the term whose gradient is the pull (its value is 0)."""
    rows, bits = h.shape
    b = torch.zeros(rows, bits, dtype=torch.float64)
    for k in range(bits):
        column = sorted(float(v) for v in h[:, k].detach())
        middle = column[(rows - 1) // 2]
        for i in range(rows):
            b[i, k] = 1.0 if float(h[i, k].detach()) > middle else -1.0
    pull = 0.5 * gamma / (rows * bits) * ((h - b) ** 2).sum()
    return b, h + (b - h).detach(), pull - pull.detach()


def bihalf_terms(x: torch.Tensor, p: dict, gamma: float = 6.0) -> dict:
    """BiHalfLoss on standardised features x (B, D): ``similarity`` (the gradient pull rides on it)."""
    h = linear(x, p["hash_fc.weight"], p["hash_fc.bias"])
    codes, b, pull = bihalf_codes(h, gamma)
    return {"similarity": pair_similarity(x, b) + pull, "b": codes, "h": h}


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-z))


def uhbdnn_terms(x: torch.Tensor, targets: torch.Tensor, p: dict, layers: int) -> dict:
    """UHBDNNLoss on standardised features x (B, D) and their ITQ targets (B, bits): the four unweighted
    terms; ``p`` holds ``hash_fc.{0,2,..}`` (``layers`` sigmoid layers, then the code layer) and ``rec_fc``."""
    a = x
    for i in range(layers):
        a = sigmoid(linear(a, p[f"hash_fc.{2 * i}.weight"], p[f"hash_fc.{2 * i}.bias"]))
    h = linear(a, p[f"hash_fc.{2 * layers}.weight"], p[f"hash_fc.{2 * layers}.bias"])
    r = linear(h, p["rec_fc.weight"], p["rec_fc.bias"])
    rows, bits = h.shape
    reconstruction = sum((r[i, j] - x[i, j]) ** 2 for i in range(rows) for j in range(x.shape[1])) / x.numel()
    quantisation = sum((h[i, k] - targets[i, k]) ** 2 for i in range(rows) for k in range(bits)) / h.numel()
    independence = torch.zeros((), dtype=torch.float64)
    for k in range(bits):
        for m in range(bits):
            inner = sum(h[i, k] * h[i, m] for i in range(rows)) / rows
            independence = independence + (inner - (1.0 if k == m else 0.0)) ** 2
    balance = sum(sum(h[i, k] for i in range(rows)) ** 2 for k in range(bits)) / bits
    return {"reconstruction": reconstruction, "quantisation": quantisation, "independence": independence,
            "balance": balance, "h": h}
