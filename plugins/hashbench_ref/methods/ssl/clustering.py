"""k-means pseudo-labels: centroids from a seeded k-means on CPU, and the nearest-centroid assignment.

Used by BTH/DKPH (anchors over latent features), MCMSH (over frame-mean features), S5VH (over PCA
features; ``nclusters`` 450 FCVID, 100 ActivityNet, 101 UCF101, 100 HMDB51) and AutoSSVH (over the
current codes, every epoch). References followed: S5VH at 4926cb7 (``utils/tools.py::run_kmeans``, a
faiss-GPU k-means; ``utils/preprocess/calculate_neighbors.py``: the pseudo-label is the nearest anchor,
``pos[:, 0]`` of repeated ``np.argmin`` over squared distances) and BTH at c97db40
(``BTH/utils/get_anchors.py``)::

    centroids = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(features)     (k, D)
    label_i = argmin_j ||x_i - c_j||^2   (ties: the lowest j, as np.argmin)

Deliberate difference: scikit-learn's ``KMeans`` (k-means++ start, Lloyd iterations, fixed seed) replaces
faiss-GPU's k-means, so centroids differ in detail from the released files; the assignment given fixed
centroids is exact.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..classic import squared_distances

__all__ = ["KMeansResult", "kmeans", "assign"]


class KMeansResult(NamedTuple):
    """``centroids`` (k, D) float64 and ``labels`` (N,) int64, the nearest centroid of each row."""

    centroids: np.ndarray
    labels: np.ndarray


def assign(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid of each row of ``features`` (N, D) -> (N,) int64 (lowest index on ties)."""
    return np.argmin(squared_distances(np.asarray(features), np.asarray(centroids, dtype=np.float64)),
                     axis=1).astype(np.int64)


def kmeans(features: np.ndarray, clusters: int, seed: int, max_iter: int = 300) -> KMeansResult:
    """Seeded k-means of ``features`` (N, D) into ``clusters`` centroids, and each row's pseudo-label."""
    from sklearn.cluster import KMeans

    x = np.asarray(features, dtype=np.float64)
    if not 1 <= clusters <= x.shape[0]:
        raise ValueError(f"k-means needs 1 <= clusters <= rows, got clusters={clusters}, rows={x.shape[0]}")
    fitted = KMeans(n_clusters=clusters, n_init=1, max_iter=max_iter, random_state=seed).fit(x)
    centroids = fitted.cluster_centers_.astype(np.float64)
    return KMeansResult(centroids, assign(x, centroids))
