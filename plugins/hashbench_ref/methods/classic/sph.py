"""SpH: spherical hashing, one hypersphere per bit, bit = 1 inside the sphere.

Paper: J.-P. Heo, Y. Lee, J. He, S.-F. Chang, S.-E. Yoon, "Spherical Hashing", CVPR 2012.
Reference followed: ``SphericalHashing.m`` ("Spherical Hashing method by Jae-Pil Heo") with
``SpH_learn.m`` / ``SpH_compress.m``, as kept in dengcai78/MatlabFunc ``ANNS/Hashing/Unsupervised/`` at
commit 97504df. On the N training points::

    pivot_i = mean of 5 distinct random training points   (default_rng(seed).permutation(N)[:5], per i)
    radius_i = the floor(N/2)-th smallest distance from pivot_i      (each sphere holds half the points)
    o_ij = #points inside both i and j
    repeat: f_ij = 0.5 (o_ij - N/4) / (N/4) (p_i - p_j);  p_i += (1/bits) sum_{j != i} f_ij
            recompute radii and o;  stop when mean_{i<j} |o_ij - N/4| <= 0.1 N/4
            and std_{i<j}(o_ij) <= 0.15 N/4
    encode(x)_i = radius_i - ||x - pivot_i||                  code = sign (+1 inside, as the paper)

Deliberate differences: ``SpH_compress.m`` returns 1 *outside* the sphere (``D > radii``); the paper and
this module use 1 inside, which flips every bit and leaves Hamming distances unchanged. The MATLAB loop
has no cap (it only warns past 100 iterations); this one stops after ``max_iter`` (default 100) and keeps
the number of updates made in the state (``iterations``). Retrieval here uses the plain Hamming
distance, not the paper's spherical Hamming distance. Random draws come from numpy, not MATLAB.
Nothing is fit-cached: every pivot update couples all ``bits`` spheres, so no stage is bits-independent.
"""
from __future__ import annotations

import numpy as np

from hashbench.errors import DataError

from . import ClassicHasher, squared_distances

__all__ = ["SpH", "sphere_statistics"]

#: Training points averaged into each initial pivot (``random_center`` in the reference).
SAMPLES_PER_PIVOT = 5


def distances(x: np.ndarray, pivots: np.ndarray) -> np.ndarray:
    """Euclidean distances (bits, N) of every pivot (bits, D) to every row of ``x`` (N, D), float64."""
    return np.sqrt(squared_distances(x, pivots).T)


def sphere_statistics(x: np.ndarray, pivots: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """``(radii (bits,), overlaps o (bits, bits), mean |o_ij - N/4|, std o_ij)`` over pairs i < j."""
    n = x.shape[0]
    dist = distances(x, pivots)
    k = n // 2 - 1  # the floor(N/2)-th smallest, 0-based
    radii = np.partition(dist, k, axis=1)[:, k]
    inside = (dist <= radii[:, None]).astype(np.float64)
    overlaps = inside @ inside.T
    pairs = overlaps[np.triu_indices(pivots.shape[0], k=1)]
    return radii, overlaps, float(np.abs(pairs - n / 4).mean()), float(pairs.std())


class SpH(ClassicHasher):
    """Spherical hashing; ``max_iter`` caps the pivot updates (default 100). Needs bits >= 2, N >= 2."""

    state_keys = ("pivots", "radii", "iterations")

    def __init__(self, bits: int, seed: int = 0, max_iter: int = 100) -> None:
        super().__init__(bits, seed)
        if self.bits < 2 or int(max_iter) < 1:
            raise ValueError(f"SpH needs bits >= 2 and max_iter >= 1, got bits={bits}, max_iter={max_iter}")
        self.max_iter = int(max_iter)

    def _fit(self, x: np.ndarray) -> None:
        n, quarter = x.shape[0], x.shape[0] / 4
        if n < 2:
            raise DataError(f"train features: SpH needs at least 2 training rows, got {n}")
        rng = np.random.default_rng(self.seed)
        pivots = np.stack([x[rng.permutation(n)[:SAMPLES_PER_PIVOT]].astype(np.float64).mean(axis=0)
                           for _ in range(self.bits)])
        radii, overlaps, _, _ = sphere_statistics(x, pivots)
        iterations = 0
        while iterations < self.max_iter:
            weight = 0.5 * (overlaps - quarter) / quarter
            np.fill_diagonal(weight, 0.0)
            pivots = pivots + (weight.sum(axis=1)[:, None] * pivots - weight @ pivots) / self.bits
            radii, overlaps, mean_err, std = sphere_statistics(x, pivots)
            iterations += 1
            if mean_err <= 0.1 * quarter and std <= 0.15 * quarter:
                break
        self._set(x, pivots=pivots, radii=radii, iterations=np.array(iterations, dtype=np.int64))

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return self.state["radii"][None, :] - distances(x, self.state["pivots"]).T
