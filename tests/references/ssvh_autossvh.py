"""Independent re-derivation of AutoSSVH's extra pieces (EliSpectre/CVPR25-AutoSSVH at bf07c35), for parity
tests: ``Loss_CVH`` (ProtoNCE over prototypes, one clustering) and ``run_kmeans``'s density, written with
Python loops in float64 from the released code's behaviour; the masked-transformer terms are ConMH's
(:mod:`.ssvh_conmh`, whose ``decoder_positions`` reads AutoSSVH's learned table)."""
from __future__ import annotations

import math

import numpy as np
import torch

from .ssvh_conmh import conmh_terms, inference_codes


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


__all__ = ["proto_nce", "density", "normalised_codes", "conmh_terms"]
