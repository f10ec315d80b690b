"""Independent re-derivation of MCMSH's forward and loss terms (haoyanbin918/MCMSH at a483446,
``model/MC_MLP.py`` MixerLayer / LRD / MRD / SRD, ``model/Model.py`` MC_MLP / LBSign, ``train.py``), for
parity tests.

Written from the released code's behaviour, sharing no code with ``hashbench_ref.methods.mcmsh``: float64;
1x1 and 3-tap (grouped) convolutions as sums over taps and input channels, training-mode batch norm with
the batch mean and biased variance written out, adaptive average pooling by its bins
(``floor(j L / O)`` to ``ceil((j + 1) L / O)``), GELU by erf, ``F.pairwise_distance`` as
``||a - b + 1e-6||``; no dropout (the parity tests use rate 0). Weights come in as the plain
``{name: tensor}`` dict of :func:`.ssvh_conmh.as_float64` (the method's names without ``net.``).
"""
from __future__ import annotations

import math

import torch


def batch_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d in training mode on (B, C) or (B, C, L): statistics per channel over the rest."""
    dims = [0] if x.dim() == 2 else [0, 2]
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    shape = (1, -1) if x.dim() == 2 else (1, -1, 1)
    return (x - mean) / torch.sqrt(var + 1e-5) * w.reshape(shape) + b.reshape(shape)


def conv_taps(x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """Conv1d (B, Cin, L) -> (B, Cout, L), kernel 3, padding 1, no bias, ``groups`` groups."""
    batch, cin, length = x.shape
    cout = w.shape[0]
    per_in, per_out = cin // groups, cout // groups
    padded = torch.cat([x.new_zeros(batch, cin, 1), x, x.new_zeros(batch, cin, 1)], dim=2)
    rows = []
    for o in range(cout):
        g = o // per_out
        acc = x.new_zeros(batch, length)
        for i in range(per_in):
            for k in range(3):
                acc = acc + w[o, i, k] * padded[:, g * per_in + i, k:k + length]
        rows.append(acc)
    return torch.stack(rows, dim=1)


def pointwise(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Conv1d kernel 1 over (B, n, c): channel o = sum_i w[o, i] x[:, i] + b[o]."""
    return torch.stack([sum(w[o, i, 0] * x[:, i] for i in range(x.shape[1])) + b[o] for o in range(w.shape[0])],
                       dim=1)


def adaptive_pool(x: torch.Tensor, out: int) -> torch.Tensor:
    length = x.shape[-1]
    bins = [x[..., (j * length) // out: -((-(j + 1) * length) // out)].mean(dim=-1) for j in range(out)]
    return torch.stack(bins, dim=-1)


def gate(x: torch.Tensor, p: dict, pre: str, kind: str, groups: int) -> torch.Tensor:
    """LRD / MRD / SRD of ``x`` (B, n, c)."""
    n = x.shape[1]
    x = pointwise(x, p[pre + "fc1.weight"], p[pre + "fc1.bias"]).permute(0, 2, 1)  # (B, c, n)
    if kind == "long":
        y = x.mean(dim=2) @ p[pre + "conv.weight"].T
        y = torch.relu(batch_norm(y, p[pre + "bn1.weight"], p[pre + "bn1.bias"])) @ p[pre + "deconv.weight"].T
        y = torch.sigmoid(batch_norm(y, p[pre + "bn2.weight"], p[pre + "bn2.bias"])).unsqueeze(-1)
    else:
        y = adaptive_pool(x, n // 3) if kind == "middle" else x
        y = torch.relu(batch_norm(conv_taps(y, p[pre + "conv.weight"], groups), p[pre + "bn1.weight"],
                                  p[pre + "bn1.bias"]))
        y = torch.sigmoid(batch_norm(conv_taps(y, p[pre + "deconv.weight"], groups), p[pre + "bn2.weight"],
                                     p[pre + "bn2.bias"]))
        y = adaptive_pool(y, n) if kind == "middle" else y
    return pointwise((x * y).permute(0, 2, 1), p[pre + "fc2.weight"], p[pre + "fc2.bias"])


def three(x: torch.Tensor, p: dict, pre: str, groups: int) -> torch.Tensor:
    return gate(x, p, pre + "lrd.", "long", 1) + gate(x, p, pre + "mrd.", "middle", groups) + \
        gate(x, p, pre + "srd.", "short", groups)


def mlp(x: torch.Tensor, p: dict, pre: str) -> torch.Tensor:
    h = x @ p[pre + "fc1.weight"].T + p[pre + "fc1.bias"]
    h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
    return h @ p[pre + "fc2.weight"].T + p[pre + "fc2.bias"]


def forward(x: torch.Tensor, p: dict, alpha: float, r_max: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MC_MLP.forward: (b with LBSign's clamped gradient, h, e) of ``x`` (B, T, D)."""
    hidden = p["preproj.weight"].shape[0]
    x = torch.relu(x @ p["preproj.weight"].T + p["preproj.bias"])
    tokens = mlp(x.transpose(1, 2), p, "token_mlp.")
    x = x + three(tokens, p, "token_mix.", 1).transpose(1, 2)
    x = x + three(mlp(x, p, "channel_mlp."), p, "channel_mix.", hidden // r_max)
    e = three(x, p, "out.", hidden // r_max)
    h = torch.tanh(alpha * (e @ p["binary.weight"].T + p["binary.bias"])).mean(dim=1)
    return _LBSign.apply(h), h, e


class _LBSign(torch.autograd.Function):
    """LBSign as released: sign forward, the incoming gradient clamped to [-1, 1] backward."""

    @staticmethod
    def forward(ctx, h):
        return torch.sign(h)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(-1, 1)


def mcmsh_terms(x: torch.Tensor, draw: dict, centres: torch.Tensor, p: dict, alpha: float, bits: int,
                r_max: int) -> dict:
    """The four terms of train.py on a batch ``x`` (B, T, D) with its ``draw`` (partner, target, similar,
    far1, far2, c1, c2) and each video's centroid ``centres`` (B, hidden)."""
    batch = x.shape[0]
    hidden = p["preproj.weight"].shape[0]
    b1, h1, e1 = forward(draw["c1"], p, alpha, r_max)
    b2, h2, e2 = forward(draw["c2"], p, alpha, r_max)
    hp, hn1, hn2 = (forward(x[draw[k]], p, alpha, r_max)[1] for k in ("similar", "far1", "far2"))
    cluster = sum(((e1[i].mean(0) - centres[i]) ** 2).sum() + ((e2[i].mean(0) - centres[draw["partner"][i]]) ** 2)
                  .sum() for i in range(batch)) / (hidden * batch)
    sim = sum((draw["target"][i] - (h1[i] * h2[i]).sum() / bits) ** 2 for i in range(batch)) / batch
    quant = sum(((h1[i] - b1[i]) ** 2).sum() + ((h2[i] - b2[i]) ** 2).sum() for i in range(batch)) / (batch * bits)

    def dist(a, c):
        return ((a - c + 1e-6) ** 2).sum()

    quad = sum(torch.relu(bits / 4.0 + dist(h1[i], hp[i]) - dist(h1[i], hn1[i]))
               + torch.relu(bits / 64.0 + dist(h1[i], hp[i]) - dist(hn1[i], hn2[i])) for i in range(batch)) / batch
    return {"cluster": cluster, "sim": sim, "quant": quant, "quadruplet": quad}


__all__ = ["forward", "mcmsh_terms", "batch_norm", "conv_taps", "adaptive_pool"]
