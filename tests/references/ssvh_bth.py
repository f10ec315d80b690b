"""Independent re-derivation of BTH's forward and loss terms (Lily1994/BTH at c97db40: ``BTH/model/*``
BERTLM, ``BTH/train.py``'s mask_loss, nei_loss and mu_loss), for parity tests; DKPH reuses its BERT.

Written from the released code's behaviour, sharing no code with ``hashbench_ref.methods.bth``: float64,
one video and one frame at a time, attention one head at a time, the reference LayerNorm (unbiased std,
eps added to the std) and the tanh GELU written out, the sinusoid table element by element; weights come
in as a plain ``{name: tensor}`` dict (the method's ``net.`` state with that prefix removed). No dropout
(the parity is checked at dropout 0). Gradients come from autograd through these loops; the binary
unit's derivative is written out (:func:`tests.references.ssl_blocks.binary_unit`).
"""
from __future__ import annotations

import math

import torch

from .ssl_blocks import binary_unit


def ste(x: torch.Tensor) -> torch.Tensor:
    """binary_tanh_unit with Round3's straight-through derivative."""
    value, grad = binary_unit(x)
    return value + (x - x.detach()) * grad


def position(frames: int, width: int) -> torch.Tensor:
    """(frames, width): sin(p / 10000^(j/width)) at even j, cos(p / 10000^((j-1)/width)) at odd j."""
    out = torch.zeros(frames, width, dtype=torch.float64)
    for p in range(frames):
        for j in range(width):
            angle = p / 10000.0 ** ((j - j % 2) / width)
            out[p, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return out


def norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One vector: w (x - mean) / (unbiased std + 1e-6) + b."""
    mean = x.sum() / x.numel()
    std = torch.sqrt(((x - mean) ** 2).sum() / (x.numel() - 1))
    return w * (x - mean) / (std + 1e-6) + b


def gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def linear(x: torch.Tensor, p: dict, name: str) -> torch.Tensor:
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def block(h: list, p: dict, pre: str, heads: int) -> list:
    """One BTH transformer block on a list of frame vectors."""
    t, width = len(h), h[0].numel()
    dk = width // heads
    normed = [norm(v, p[f"{pre}.norm1.weight"], p[f"{pre}.norm1.bias"]) for v in h]
    q = [linear(v, p, f"{pre}.qkv.0") for v in normed]
    k = [linear(v, p, f"{pre}.qkv.1") for v in normed]
    v_ = [linear(v, p, f"{pre}.qkv.2") for v in normed]
    mixed = []
    for i in range(t):
        parts = []
        for head in range(heads):
            cut = slice(head * dk, (head + 1) * dk)
            scores = torch.stack([q[i][cut] @ k[j][cut] / math.sqrt(dk) for j in range(t)])
            weights = torch.exp(scores - scores.max())
            weights = weights / weights.sum()
            parts.append(sum(weights[j] * v_[j][cut] for j in range(t)))
        mixed.append(linear(torch.cat(parts), p, f"{pre}.out"))
    h = [h[i] + mixed[i] for i in range(t)]
    out = []
    for v in h:
        inner = gelu(linear(norm(v, p[f"{pre}.norm2.weight"], p[f"{pre}.norm2.bias"]), p, f"{pre}.ffn_in"))
        out.append(v + linear(inner, p, f"{pre}.ffn_out"))
    return out


def bert(video: torch.Tensor, p: dict, heads: int) -> torch.Tensor:
    """One video (T, D) -> hidden states (T, hidden)."""
    width = p["bert.frame_map.weight"].shape[0]
    table = position(video.shape[0], width)
    h = [linear(video[t], p, "bert.frame_map") + table[t] for t in range(video.shape[0])]
    layer = 0
    while f"bert.blocks.{layer}.out.weight" in p:
        h = block(h, p, f"bert.blocks.{layer}", heads)
        layer += 1
    return torch.stack(h)


def bthlm(video: torch.Tensor, p: dict, heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BERTLM on one video: (bb (T, bits), frames (T, D), hid (T, hidden))."""
    hid = bert(video, p, heads)
    bb = torch.stack([ste(linear(row, p, "binary")) for row in hid])
    frames = torch.stack([linear(row, p, "restore") for row in bb])
    return bb, frames, hid


def code(video: torch.Tensor, p: dict, heads: int) -> torch.Tensor:
    """eval.py: the frame mean of the per-frame codes (bits,)."""
    bb, _, _ = bthlm(video, p, heads)
    return bb.sum(0) / bb.shape[0]


def terms(draw: dict, p: dict, heads: int, anchors: torch.Tensor, labels: list) -> dict:
    """train.py's mask_loss, nei_loss and mu_loss, video by video. ``labels``: the pseudo-label of each
    batch video; the partner of video i is ``draw["partner"][i]`` of the batch."""
    c1, c2, y1, y2 = (draw[k].double() for k in ("c1", "c2", "y1", "y2"))
    b, t, d = c1.shape
    mask, nei, mu = 0.0, 0.0, 0.0
    for i in range(b):
        j = int(draw["partner"][i])
        bb1, f1, h1 = bthlm(c1[i], p, heads)
        bb2, f2, h2 = bthlm(c2[i], p, heads)
        mask = mask + ((f1 - y1[i]) ** 2).sum() + ((f2 - y2[i]) ** 2).sum()
        m1, m2 = bb1.sum(0) / t, bb2.sum(0) / t
        nei = nei + (float(draw["target"][i]) - (m1 * m2).sum() / bb1.shape[1]) ** 2
        mu = mu + ((h1.sum(0) / t - anchors[labels[i]]) ** 2).sum() + ((h2.sum(0) / t - anchors[labels[j]]) ** 2).sum()
    hidden = anchors.shape[1]
    return {"mask": mask / (2 * t * d * b), "nei": nei / b, "mu": mu / (hidden * b)}
