"""Independent re-derivation of DKPH's forward and loss terms (IMCCretrieval/DKPH at 66fa2c0:
``model/model.py`` DKPH, ``train_dkph.py``'s recon_loss, tsim_loss and bsim_loss), for parity tests.

Written from the released code's behaviour, sharing no code with ``hashbench_ref.methods.dkph``: float64,
one video at a time; the BERT is the BTH re-derivation's (:func:`tests.references.ssvh_bth.bert`, written
apart from the method); the flattened hash stream and the triplet margin loss (``||a - b + eps||``,
eps 1e-6) are written out. Weights come as a plain ``{name: tensor}`` dict (the method's ``net.`` state).
"""
from __future__ import annotations

import torch

from .ssvh_bth import bert, linear, ste


def dkph(video: torch.Tensor, p: dict, heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One video (T, D) -> (code bb (bits,), frames (T, D), emb (T, hidden))."""
    emb = bert(video, p, heads)
    flat = torch.cat([emb[t] for t in range(emb.shape[0])])
    bb = ste(linear(flat, p, "hid_b"))
    frames = torch.stack([linear(bb + linear(emb[t], p, "temporal"), p, "decoder") for t in range(emb.shape[0])])
    return bb, frames, emb


def distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return torch.sqrt(sum((a[k] - b[k] + eps) ** 2 for k in range(a.numel())))


def terms(draw: dict, p: dict, heads: int, anchors: torch.Tensor, labels: list, margin: float = 0.5) -> dict:
    """recon, centre (tsim's regression), triplet (inside tsim) and bsim, video by video."""
    c1, c2, y1, y2 = (draw[k].double() for k in ("c1", "c2", "y1", "y2"))
    b, t, d = c1.shape
    recon, centre, triplet, bsim = 0.0, 0.0, 0.0, 0.0
    for i in range(b):
        j = int(draw["partner"][i])
        s = float(draw["target"][i])
        bb1, f1, e1 = dkph(c1[i], p, heads)
        bb2, f2, e2 = dkph(c2[i], p, heads)
        recon = recon + ((f1 - y1[i]) ** 2).sum() + ((f2 - y2[i]) ** 2).sum()
        h1, h2 = e1.sum(0) / t, e2.sum(0) / t
        n1, n2 = anchors[labels[i]], anchors[labels[j]]
        centre = centre + ((h1 - n1) ** 2).sum() + ((h2 - n2) ** 2).sum()
        w = 0.5 * (1.0 - s)
        triplet = triplet + torch.clamp(distance(h1, w * n1) - distance(h1, w * n2) + margin, min=0.0)
        bsim = bsim + (s - (bb1 * bb2).sum() / bb1.numel()) ** 2
    hidden = anchors.shape[1]
    return {"recon": recon / (2 * t * d * b), "centre": centre / (hidden * b), "triplet": triplet / b,
            "bsim": bsim / b}
