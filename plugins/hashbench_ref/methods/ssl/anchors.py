"""The anchor-graph adjacency of BTH, DKPH, MCMSH and S5VH: pair tags from shared nearest anchors.

Paper: BTH (Li et al., "Self-Supervised Video Hashing via Bidirectional Transformers", CVPR 2021).
Reference followed: Lily1994/BTH at c97db40 (``BTH/utils/apro_adj.py``, ``ZZ`` in
``BTH/utils/calculate_neighbors.py``; S5VH 4926cb7 ``utils/preprocess/calculate_neighbors.py`` the same).
With ``Z_s`` (N, m) the anchor graph on the ``s`` nearest anchors (AGH's truncated Gaussian weights,
bandwidth ``mean_i sqrt(d_i,(s))``: :func:`hashbench_ref.methods.classic.agh.anchor_graph`)::

    lambda_s = Z_s^T 1;   S_s = [Z_s diag(lambda_s^-1) Z_s^T > 1e-5]            (N, N) in {0, 1}
    adj = 2 (S_5 - S_4) + S_3

so 1 = similar (they share one of their 3 nearest anchors), 2 = middle distance (they share one of
their 5 but none of their 4), 0 = ignore. Other values (3, -2) can arise only from the threshold and
are kept, as in the reference. Deliberate differences: an anchor no row picks (lambda = 0, which makes the
reference's whole product NaN and so every tag 0) gets weight 0; rows are computed in blocks of ``chunk``
(the reference builds the dense N x N float matrices at once); float64 throughout (the reference's Z is
float32).
"""
from __future__ import annotations

import numpy as np

from ..classic import squared_distances
from ..classic.agh import anchor_graph

__all__ = ["nearest_anchors", "anchor_adjacency", "THRESHOLD", "COUNTS"]

#: Adjacency entries above this count as linked (the reference's ``Adj > 0.00001``).
THRESHOLD = 1e-5
#: Nearest-anchor counts of the three graphs: similar (3), and the middle band between 4 and 5.
COUNTS = (3, 4, 5)


def nearest_anchors(features: np.ndarray, anchors: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` nearest anchors of each row, nearest first -> (N, count) int64 (``train_assit.h5``'s
    ``pos``; ``[:, 0]`` is the pseudo-label); ties: the lowest index."""
    dist = squared_distances(np.asarray(features), np.asarray(anchors, dtype=np.float64))
    return np.argsort(dist, axis=1, kind="stable")[:, :count].astype(np.int64)


def _graph(features: np.ndarray, anchors: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Z diag(1/lambda), Z)`` (N, m) each for the ``count`` nearest anchors (1/0 taken as 0)."""
    z, _ = anchor_graph(features, anchors, count)
    weight = z.sum(axis=0)
    return z * np.divide(1.0, weight, out=np.zeros_like(weight), where=weight > 0), z


def anchor_adjacency(features: np.ndarray, anchors: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The tags ``2 (S_5 - S_4) + S_3`` (N, N) int8 of ``features`` (N, D) on ``anchors`` (m, D), built
    ``chunk`` rows at a time (the only N x N array is the int8 result)."""
    if anchors.shape[0] < max(COUNTS):
        raise ValueError(f"the anchor graph needs at least {max(COUNTS)} anchors, got {anchors.shape[0]}")
    x, a = np.asarray(features, dtype=np.float64), np.asarray(anchors, dtype=np.float64)
    graphs = [_graph(x, a, count) for count in COUNTS]
    out = np.empty((x.shape[0], x.shape[0]), dtype=np.int8)
    for start in range(0, x.shape[0], chunk):
        near, mid, far = ((scaled[start:start + chunk] @ z.T > THRESHOLD).astype(np.int8) for scaled, z in graphs)
        out[start:start + chunk] = 2 * (far - mid) + near
    return out
