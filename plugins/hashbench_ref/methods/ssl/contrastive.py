"""The debiased contrastive loss (DCL) between two views' codes, as ConMH, S5VH and AutoSSVH compute it.

Paper: C.-Y. Chuang, J. Robinson, L. Yen-Chen, A. Torralba, S. Jegelka, "Debiased Contrastive Learning",
NeurIPS 2020. Reference followed: ConMH at d6dd5b5 (``Loss/conmh_loss.py``, ``dcl``; S5VH 4926cb7 and
AutoSSVH bf07c35 the same function). With ``o = [normalize(x1); normalize(x2)]`` (2B, bits), ``t`` the
temperature (0.5) and ``tau_plus`` the class prior (0.1 for FCVID, 0.05 for ActivityNet)::

    pos_i = exp(<o_i, o_{i +- B}> / t)                    (the other view of the same video)
    neg_i = sum_{j != i, j != i +- B} exp(<o_i, o_j> / t)  (2B - 2 terms, N = 2B - 2)
    Ng_i = max((neg_i - tau_plus * N * pos_i) / (1 - tau_plus), N * exp(-1 / t))
    loss = mean_i -log(pos_i / (pos_i + Ng_i))             over the 2B rows

``debiased=False`` gives the plain NT-Xent denominator ``Ng_i = neg_i`` (the reference's dead ``else``
branch). No deliberate difference (the reference builds its mask on ``.cuda()``; this one on the input's
device).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["debiased_contrastive_loss"]


def debiased_contrastive_loss(x1: torch.Tensor, x2: torch.Tensor, temperature: float = 0.5,
                              tau_plus: float = 0.1, debiased: bool = True) -> torch.Tensor:
    """Scalar DCL of two views ``x1``, ``x2`` (B, bits) (module docstring); needs B >= 2."""
    b = x1.shape[0]
    if b < 2 or x2.shape != x1.shape:
        raise ValueError(f"DCL needs two views of the same shape with batch >= 2, got {tuple(x1.shape)}, "
                         f"{tuple(x2.shape)}")
    o = torch.cat([F.normalize(x1, dim=1), F.normalize(x2, dim=1)], dim=0)
    sim = torch.exp(o @ o.T / temperature)
    index = torch.arange(2 * b, device=o.device)
    keep = torch.ones(2 * b, 2 * b, dtype=torch.bool, device=o.device)
    keep[index, index] = False
    keep[index, (index + b) % (2 * b)] = False
    neg = (sim * keep).sum(dim=1)
    pos = torch.exp((o[:b] * o[b:]).sum(dim=1) / temperature).repeat(2)
    if debiased:
        n = 2 * b - 2
        neg = torch.clamp((neg - tau_plus * n * pos) / (1.0 - tau_plus), min=n * math.exp(-1.0 / temperature))
    return -torch.log(pos / (pos + neg)).mean()
