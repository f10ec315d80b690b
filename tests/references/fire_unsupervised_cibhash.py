"""Independent float64 re-derivation of FIRe's CIBHash (CISiPLab/cisip-FIRe at e8826c4):
``functions/loss/cibhash.py`` CIBHashLoss / NtXentLoss with ``models/architectures/arch_cibhash.py``;
for the parity tests of ``hashbench_ref.methods.cibhash``.

Written from the released code's behaviour, sharing no code with the method: one item (and one pair) at a
time in Python loops, float64; weights come in as a ``{name: tensor}`` dict (see
:func:`references.fire_unsupervised.as_float64`), so autograd through these loops gives the gradients.
"""
from __future__ import annotations

import torch

from .fire_unsupervised import cosine, linear, straight_sign


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-z)), elementwise."""
    return 1.0 / (1.0 + torch.exp(-z))


def encoder_probs(x: torch.Tensor, p: dict) -> torch.Tensor:
    """FIRe's encoder: sigmoid(Linear - ReLU - Linear) of x (B, D); weights ``encoder.0`` / ``encoder.2``."""
    hidden = torch.relu(linear(x, p["encoder.0.weight"], p["encoder.0.bias"]))
    return sigmoid(linear(hidden, p["encoder.2.weight"], p["encoder.2.bias"]))


def kl(prob: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """compute_kl: per row the summed Bernoulli KL(prob || other.detach()) with eps 1e-8, mean over rows."""
    other = other.detach()
    total = torch.zeros((), dtype=torch.float64)
    for i in range(prob.shape[0]):
        for k in range(prob.shape[1]):
            a, b = prob[i, k], other[i, k]
            total = total + a * (torch.log(a + 1e-8) - torch.log(b + 1e-8)) \
                + (1 - a) * (torch.log(1 - a + 1e-8) - torch.log(1 - b + 1e-8))
    return total / prob.shape[0]


def nt_xent(z_i: torch.Tensor, z_j: torch.Tensor, temperature: float) -> torch.Tensor:
    """NtXentLoss: for each of the 2B codes, -log(exp(s_pos) / sum over the 2B - 1 others exp(s)), s = cos / t;
    summed, divided by 2B."""
    z = torch.cat([z_i, z_j])
    n, batch = z.shape[0], z_i.shape[0]
    total = torch.zeros((), dtype=torch.float64)
    for a in range(n):
        positive = (a + batch) % n
        logits = [cosine(z[a], z[c]) / temperature for c in range(n) if c != a]
        others = [c for c in range(n) if c != a]
        denominator = sum(torch.exp(s) for s in logits)
        total = total - (logits[others.index(positive)] - torch.log(denominator))
    return total / n


def cibhash_terms(x1: torch.Tensor, x2: torch.Tensor, p: dict, temperature: float = 0.3) -> dict:
    """CIBHashLoss on two views (B, D): ``contrast`` (NT-Xent of the straight-through signs of p - 0.5) and
    ``kl`` (the symmetric mean of the two KLs), plus the probabilities ``p1``, ``p2``."""
    p1, p2 = encoder_probs(x1, p), encoder_probs(x2, p)
    z1, z2 = straight_sign(p1 - 0.5), straight_sign(p2 - 0.5)
    return {"contrast": nt_xent(z1, z2, temperature), "kl": (kl(p1, p2) + kl(p2, p1)) / 2, "p1": p1, "p2": p2}


def frame_views(inputs: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two views (B, D) of frame features (B, T, D): per video the mean of the frames its mask (B, 2, T),
    True = masked, leaves visible, one frame at a time."""
    views = []
    for v in range(2):
        rows = []
        for i in range(inputs.shape[0]):
            kept = [inputs[i, t].double() for t in range(inputs.shape[1]) if not bool(masks[i, v, t])]
            rows.append(sum(kept) / len(kept))
        views.append(torch.stack(rows))
    return views[0], views[1]
