"""Independent re-derivation of AutoSSVH's extra pieces (EliSpectre/CVPR25-AutoSSVH at bf07c35), for parity
tests: ``Loss_CVH`` (ProtoNCE over prototypes, one clustering), ``run_kmeans``'s density and the "paper"
variant's adversarial frame sampler (``SampleNet`` / ``SoftChooseDenseGrad``, given its noise) and terms,
written with Python loops in float64 from the released code's behaviour; the masked-transformer terms are
ConMH's (:mod:`.ssvh_conmh`, whose ``decoder_positions`` reads AutoSSVH's learned table). The gradient
reversal is written as ``h * stopgrad(r) + stopgrad(h) * (stopgrad(r) - r)``: value ``h r``, gradient
``r`` to ``h`` and ``-h`` to ``r``."""
from __future__ import annotations

import math

import numpy as np
import torch

from .ssl_blocks import dcl
from .ssvh_conmh import conmh_terms, decoder_positions, embed, gelu, inference_codes, layer_norm, reconstruct, \
    token_codes


def proto_nce(h: torch.Tensor, positives: list[int], negatives: list[int], centroids: torch.Tensor,
              density: torch.Tensor) -> torch.Tensor:
    """Cross entropy, row by row: row i's target is column i of [positives; negatives]."""
    ids = list(positives) + list(negatives)
    total = 0.0
    for i in range(h.shape[0]):
        logits = [sum(h[i, j] * centroids[c, j] for j in range(h.shape[1])) / density[c] for c in ids]
        top = max(float(v.detach()) for v in logits)
        log_z = top + torch.log(sum(torch.exp(v - top) for v in logits))
        total = total + (log_z - logits[i])
    return total / h.shape[0]


def density(features: np.ndarray, centroids: np.ndarray, labels: np.ndarray, temperature: float) -> np.ndarray:
    """run_kmeans's concentration: per-cluster lists of distances, mean / log(n + 10), the max for clusters of
    one or none, clipped to the 10th-90th percentile, scaled to mean ``temperature``."""
    members: list[list[float]] = [[] for _ in range(centroids.shape[0])]
    for row, label in zip(features, labels):
        members[label].append(float(((row - centroids[label]) ** 2).sum()))  # faiss's squared L2
    out = np.zeros(len(members))
    for i, dist in enumerate(members):
        if len(dist) > 1:
            out[i] = np.mean([math.sqrt(d) for d in dist]) / math.log(len(dist) + 10)
    top = out.max()
    for i, dist in enumerate(members):
        if len(dist) <= 1:
            out[i] = top
    out = out.clip(np.percentile(out, 10), np.percentile(out, 90))
    return temperature * out / out.mean()


def normalised_codes(x: torch.Tensor, p: dict, heads: int) -> torch.Tensor:
    """get_features: the frame-mean +-1 codes of all frames, L2-normalised (what k-means clusters)."""
    mean = inference_codes(x, p, heads)
    return torch.stack([row / torch.sqrt((row ** 2).sum()) for row in mean])


def sampler_score(a: torch.Tensor, p: dict) -> torch.Tensor:
    """ImportantScore of one embedded frame (C,): sigmoid(w . (a + LN(mlp(a))) + c), LayerNorm eps 1e-5."""
    m = gelu(a @ p["sampler.mlp.0.weight"].T + p["sampler.mlp.0.bias"])
    m = m @ p["sampler.mlp.2.weight"].T + p["sampler.mlp.2.bias"]
    z = (a + layer_norm(m, p["sampler.norm.weight"], p["sampler.norm.bias"], 1e-5)) @ p["sampler.out.weight"][0]
    return 1.0 / (1.0 + torch.exp(-(z + p["sampler.out.bias"][0])))


def sample(h: list, noise: torch.Tensor, p: dict, keep: int) -> tuple[list, list, list]:
    """SampleNet in training, given its noise (B, T): per video, the kept frames (ascending), the
    straight-through values ``ret`` (T,) and the picked tokens (keep, C) with the reversed gradient."""
    b, t = noise.shape
    noisy = [[sampler_score(h[v][f], p) + float(noise[v, f]) for f in range(t)] for v in range(b)]
    flat = [value for row in noisy for value in row]
    mean = sum(flat) / len(flat)
    std = torch.sqrt(sum((value - mean) ** 2 for value in flat) / (len(flat) - 1))
    kept, rets, picked = [], [], []
    for v in range(b):
        logits = [(value - mean) / std / 0.5 for value in noisy[v]]
        top = max(float(value.detach()) for value in logits)
        total = sum(torch.exp(value - top) for value in logits)
        soft = [torch.exp(value - top) / total for value in logits]
        order = sorted(range(t), key=lambda f: -float(soft[f].detach()))
        chosen = sorted(order[:keep])
        ret = [(1.0 if f in chosen else 0.0) - soft[f].detach() + soft[f] for f in range(t)]
        kept.append(chosen)
        rets.append(torch.stack(ret))
        picked.append(torch.stack([h[v][f] * ret[f].detach() + h[v][f].detach() * (ret[f].detach() - ret[f])
                                   for f in chosen]))
    return kept, rets, picked


def paper_terms(x: torch.Tensor, noises: list, p: dict, heads: tuple[int, int], keep: int, temperature: float,
                tau_plus: float) -> dict:
    """The "paper" variant's ``reconstruction``, ``contrastive``, mean codes ``codes1`` / ``codes2`` and the
    kept frames ``kept`` of each view, one sampler noise (B, T) per view."""
    h = [embed(x[v], p) for v in range(x.shape[0])]
    positions = decoder_positions(p, x.shape[1])
    out: dict = {"reconstruction": 0.0, "kept": []}
    for view, noise in enumerate(noises):
        kept, _, picked = sample(h, noise, p, keep)
        errors, means = [], []
        for v in range(x.shape[0]):
            drop = [f for f in range(x.shape[1]) if f not in kept[v]]
            codes = token_codes(picked[v], p, heads[0])
            pred = reconstruct(codes, kept[v], drop, p, heads[1], positions)
            errors.append(((pred - x[v][drop]) ** 2).sum() / pred.numel())
            means.append(codes.sum(dim=0) / keep)
        out["reconstruction"] = out["reconstruction"] + sum(errors) / len(errors)
        out[f"codes{view + 1}"] = torch.stack(means)
        out["kept"].append(kept)
    out["contrastive"] = dcl(out["codes1"], out["codes2"], temperature, tau_plus)
    return out


__all__ = ["proto_nce", "density", "normalised_codes", "conmh_terms", "sample", "paper_terms"]
