"""AGH: one-layer anchor graph hashing, spectral codes from a low-rank anchor graph.

Paper: W. Liu, J. Wang, S. Kumar, S.-F. Chang, "Hashing with Graphs", ICML 2011.
Reference followed: the author's ``OneLayerAGH_Train.m`` / ``OneLayerAGH_Test.m`` (Wei Liu) in
ColumbiaDVMM/Anchor-Graph-Hashing at commit b15951c, with ``demo_AGH.m``'s defaults (m = 300 k-means
anchors, s = 2). With ``A`` (m, D) the anchors, ``d_ij = ||x_i - a_j||^2``::

    S_i = the s nearest anchors of x_i (ties: lowest index, as MATLAB's repeated min)
    sigma = mean_i sqrt(d_i,(s)) over the training points (the s-th nearest), kept for encoding
    Z_ij = exp(-d_ij / sigma^2) / sum_{k in S_i} exp(-d_ik / sigma^2) for j in S_i, else 0   (N, m)
    lambda = Z^T 1;  M = diag(lambda^-1/2) Z^T Z diag(lambda^-1/2)
    eigenpairs (v_k, e_k) of M by decreasing e, keeping 0 < e < 1 - 1e-3 (drops the trivial e = 1)
    W = diag(lambda^-1/2) [v_1..v_bits] diag(e_1..e_bits)^-1/2                               (m, bits)
    encode(x) = Z(x) W                                        code = sign (MATLAB: Z*W > 0)

Anchors: scikit-learn ``KMeans(n_clusters=anchors, n_init=1, random_state=seed)`` on the training
features (the README: "I used K-means clustering centers as anchors"; the demo loads precomputed ones).
Fit cache (:meth:`~.ClassicHasher.cached`): the anchors (stage ``kmeans``) and the graph's sigma, anchor
degrees ``Z^T 1`` and ``Z^T Z`` (stage ``anchor_graph``), so a sweep over bits reruns only the m x m
eigenproblem.
Deliberate differences: eigenvector signs are fixed (largest entry positive, :func:`~.fix_signs`;
MATLAB's ``eig`` leaves them to LAPACK, and a flipped column flips one bit everywhere); an anchor that
no point picks (lambda = 0, which gives Inf in MATLAB) gets weight 0 instead of lambda^-1/2; the paper's
sqrt(N) scale of W is left out, as in the code (it does not change a sign).
"""
from __future__ import annotations

import numpy as np

from hashbench.errors import DataError

from . import ClassicHasher, fix_signs, squared_distances

__all__ = ["AGH", "anchor_graph", "kmeans_anchors", "spectral_projection"]

#: Eigenvalues at or above ``1 - TRIVIAL`` count as the trivial eigenvalue 1 and are dropped.
TRIVIAL = 1e-3


def anchor_graph(x: np.ndarray, anchors: np.ndarray, nearest: int, sigma: float = 0.0) -> tuple[np.ndarray, float]:
    """``(Z (N, m), sigma)``: the truncated, row-normalised Gaussian weights of ``x`` (N, D) on its
    ``nearest`` closest ``anchors`` (m, D); ``sigma <= 0`` estimates the bandwidth from ``x``."""
    n, m = x.shape[0], anchors.shape[0]
    sq = squared_distances(x, anchors)
    pos = np.argsort(sq, axis=1, kind="stable")[:, :nearest]
    val = np.take_along_axis(sq, pos, axis=1)
    if sigma <= 0:
        sigma = float(np.mean(np.sqrt(val[:, -1])))
    weights = np.exp(-val / sigma ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    z = np.zeros((n, m), dtype=np.float64)
    np.put_along_axis(z, pos, weights, axis=1)
    return z, sigma


class AGH(ClassicHasher):
    """One-layer AGH; ``anchors`` m (default 300), ``nearest`` s (default 2), ``kmeans_iter`` (default 300,
    scikit-learn's); ``sigma`` 0 (default) estimates the bandwidth as the reference does."""

    state_keys = ("anchors", "projection", "sigma", "nearest")

    def __init__(self, bits: int, seed: int = 0, anchors: int = 300, nearest: int = 2, kmeans_iter: int = 300,
                 sigma: float = 0.0) -> None:
        super().__init__(bits, seed)
        if not 1 <= int(nearest) <= int(anchors):
            raise ValueError(f"AGH needs 1 <= nearest <= anchors, got nearest={nearest}, anchors={anchors}")
        self.num_anchors, self.nearest = int(anchors), int(nearest)
        self.kmeans_iter, self.sigma = int(kmeans_iter), float(sigma)

    def _fit(self, x: np.ndarray) -> None:
        if x.shape[0] < self.num_anchors:
            raise DataError(f"train features: {x.shape[0]} rows, fewer than anchors = {self.num_anchors}")
        kmeans = {"anchors": self.num_anchors, "kmeans_iter": self.kmeans_iter, "seed": self.seed}

        def graph() -> dict[str, np.ndarray]:
            anchors = self.cached("kmeans", kmeans, lambda: {"anchors": kmeans_anchors(x, **kmeans)})["anchors"]
            z, sigma = anchor_graph(x, anchors, self.nearest, self.sigma)
            return {"anchors": anchors, "sigma": np.array(sigma), "degrees": z.sum(axis=0), "gram": z.T @ z}

        g = self.cached("anchor_graph", {**kmeans, "nearest": self.nearest, "sigma": self.sigma}, graph)
        self._set(x, anchors=g["anchors"], projection=spectral_projection(g["degrees"], g["gram"], self.bits),
                  sigma=g["sigma"], nearest=np.array(self.nearest, dtype=np.int64))

    def _encode(self, x: np.ndarray) -> np.ndarray:
        s = self.state
        z, _ = anchor_graph(x, s["anchors"], int(s["nearest"]), float(s["sigma"]))
        return z @ s["projection"]


def kmeans_anchors(x: np.ndarray, anchors: int, kmeans_iter: int, seed: int) -> np.ndarray:
    """``anchors`` k-means centres (anchors, D) float64 of ``x`` (N, D): scikit-learn ``KMeans`` with one
    initialisation, ``max_iter = kmeans_iter`` and ``random_state = seed``."""
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=anchors, n_init=1, max_iter=kmeans_iter, random_state=seed)
    return kmeans.fit(x).cluster_centers_.astype(np.float64)


def spectral_projection(lam: np.ndarray, gram: np.ndarray, bits: int) -> np.ndarray:
    """``W`` (m, bits) from the anchor degrees ``lam = Z^T 1`` (m,) and ``gram = Z^T Z`` (m, m) of the
    training graph ``Z`` (N, m): the reduced eigenproblem of the anchor graph (module docstring)."""
    scale = np.zeros_like(lam)
    scale[lam > 0] = lam[lam > 0] ** -0.5
    m = scale[:, None] * gram * scale[None, :]
    values, vectors = np.linalg.eigh(m)
    order = np.argsort(-values, kind="stable")
    values, vectors = values[order], vectors[:, order]
    keep = (values > 0) & (values < 1 - TRIVIAL)
    if keep.sum() < bits:
        raise DataError(f"train features: the anchor graph has {int(keep.sum())} usable eigenvectors, fewer "
                        f"than bits = {bits}; use more anchors (or fewer bits)")
    values, vectors = values[keep][:bits], fix_signs(vectors[:, keep][:, :bits])
    return scale[:, None] * vectors * values[None, :] ** -0.5
