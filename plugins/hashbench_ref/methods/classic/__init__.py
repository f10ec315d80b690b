"""Classic unsupervised hashing baselines (closed form, no gradient step), on one vector per video.

Every baseline is a :class:`ClassicHasher`: ``fit(features)`` over the training split, an ``(N, D)`` float
array or tensor (an ``(N, T, D)`` one is mean-pooled over frames first), then ``encode(features)`` ->
``(B, bits)`` float32 tensor whose sign is the code. ``state_dict()`` holds every fitted array as a
float64 CPU tensor and ``load_state_dict()`` restores it, so encoding after a load equals encoding
before. Fitting is deterministic from ``seed`` (numpy ``default_rng(seed)`` or a seeded
``torch.Generator``, as each module says).

Shared pieces live here: :func:`as_matrix` (input checks and pooling), :func:`pca_fit` (the exact PCA
every PCA-based baseline uses: covariance route, chunked, float64 accumulation) and
:func:`fix_signs` (the eigenvector sign convention, scikit-learn's ``svd_flip(u_based_decision=False)``).

The fit cache (:func:`hashbench.data.memo`): a hasher's bits-independent preprocessing goes through
:meth:`ClassicHasher.cached`, keyed by the sha256 of the training matrix (computed at most once per fit)
and the stage's parameters, so a sweep over bits or seeds computes it once. PCAH, ITQ and SH share the
``covariance`` stage (mean and covariance, the O(N D^2) part) and the ``pca`` stage (the top ``k``
eigenvectors, by ``k``); AGH caches its ``kmeans`` anchors and its ``anchor_graph``. The cached arrays
are the computed ones, so codes are bit-identical with the cache on, off (``HASHBENCH_FIT_CACHE=off``)
or cold. Bump :data:`CACHE_CODE` when a cached computation changes.

The families, one per module: :mod:`.lsh`, :mod:`.pcah`, :mod:`.itq`, :mod:`.sh`, :mod:`.sph`, :mod:`.agh`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch

from hashbench.data import data_digest, fit_cache_root, memo
from hashbench.errors import CheckpointError, ContractError, DataError

__all__ = ["ClassicHasher", "as_matrix", "covariance", "fix_signs", "pca_fit", "principal_components",
           "project", "quantise", "squared_distances", "top_eigenvectors", "CACHE_CODE"]

#: Rows per block when accumulating the covariance (bounds the float64 temporaries to ~CHUNK x D).
CHUNK = 4096
#: The version of the cached computations, part of every fit-cache key of these baselines.
CACHE_CODE = 1


def as_matrix(features: Any, name: str = "features") -> np.ndarray:
    """``features`` (N, D) or (N, T, D), numpy or torch -> a finite (N, D) float array (float32 stays
    float32, anything else becomes float64; (N, T, D) is averaged over T). Raises DataError otherwise."""
    x = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if x.ndim == 3:
        x = x.mean(axis=1)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"{name}: expected a non-empty (N, D) or (N, T, D) float array, got shape {x.shape}")
    if x.dtype != np.float32:
        x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{name}: contains NaN or infinite values; clean the feature file first")
    return x


def fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each column of ``vectors`` (D, k) so that its entry of largest magnitude is positive (the
    first such entry on ties): scikit-learn's PCA convention, applied to every eigenvector here."""
    rows = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def pca_fit(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact PCA of ``x`` (N, D): ``(mean (D,), components (k, D))``, components ordered by decreasing
    variance, signs by :func:`fix_signs`: :func:`covariance`, then :func:`principal_components`.
    O(N D^2) time without an N x D copy; 45,585 x 4,096 takes seconds, where a dense float64 ``eigh``
    of the 4,096 x 4,096 covariance alone takes minutes on two cores."""
    stats = covariance(x)
    return stats["mean"], principal_components(stats["cov"], k)


def covariance(x: np.ndarray) -> dict[str, np.ndarray]:
    """``{"mean": (D,), "cov": (D, D)}`` of ``x`` (N, D), float64: the covariance is accumulated over row
    blocks of the centred data (a block's product runs in the input's dtype: float32 stays fast)."""
    n, d = x.shape
    mean = x.mean(axis=0, dtype=np.float64)
    cov = np.zeros((d, d), dtype=np.float64)
    for start in range(0, n, CHUNK):
        block = x[start:start + CHUNK] - mean.astype(x.dtype)
        cov += (block.T @ block).astype(np.float64)
    cov /= max(n - 1, 1)
    return {"mean": mean, "cov": cov}


def principal_components(cov: np.ndarray, k: int) -> np.ndarray:
    """The top ``k`` eigenvectors (k, D) of ``cov`` (D, D), by decreasing eigenvalue, signs by
    :func:`fix_signs`; found as ``ITQ_learn.m`` does (:func:`top_eigenvectors`)."""
    d = cov.shape[0]
    if not 1 <= k <= d:
        raise DataError(f"features: {k} components asked of {d}-dimensional data; use bits <= {d}")
    values, vectors = top_eigenvectors(cov, k)
    order = np.argsort(-values, kind="stable")
    return fix_signs(vectors[:, order]).T.copy()


def top_eigenvectors(sym: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenpairs ``(values (k,), vectors (D, k))`` of a symmetric ``sym`` (D, D), in
    any order; deterministic (ARPACK starts from a vector of ones)."""
    d = sym.shape[0]
    if 2 * k <= d and d > 64:
        from scipy.sparse.linalg import eigsh

        return eigsh(sym, k=k, which="LA", v0=np.ones(d), tol=0)
    values, vectors = np.linalg.eigh(sym)
    return values[d - k:], vectors[:, d - k:]


def project(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``(x - mean) @ components.T`` in float64, ``CHUNK`` rows at a time (no float64 copy of ``x``)."""
    out = np.empty((x.shape[0], components.shape[0]), dtype=np.float64)
    for start in range(0, x.shape[0], CHUNK):
        out[start:start + CHUNK] = (x[start:start + CHUNK] - mean) @ components.T
    return out


def squared_distances(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``||x_i - p_j||^2`` (N, m) float64 for ``x`` (N, D) and ``points`` (m, D), ``CHUNK`` rows of ``x``
    at a time (expanded form, clipped at 0)."""
    out = np.empty((x.shape[0], points.shape[0]), dtype=np.float64)
    norms = (points ** 2).sum(axis=1)[None]
    for start in range(0, x.shape[0], CHUNK):
        block = x[start:start + CHUNK].astype(np.float64)
        out[start:start + CHUNK] = (block ** 2).sum(axis=1)[:, None] - 2.0 * (block @ points.T) + norms
    return np.maximum(out, 0.0, out=out)


def quantise(z: np.ndarray) -> np.ndarray:
    """The authors' binarisation ``B = 1 where z >= 0 else -1`` (ITQ.m: ``UX(Z>=0) = 1``), float64."""
    return np.where(z >= 0, 1.0, -1.0)


class ClassicHasher:
    """Base of the baselines: ``bits`` (code length), ``seed``; subclasses set :attr:`state_keys` and
    implement :meth:`_fit` (fill ``self.state``) and :meth:`_encode` (float64 (B, D) -> (B, bits))."""

    #: Names of the fitted arrays, exactly the keys of :meth:`state_dict`.
    state_keys: tuple[str, ...] = ()

    def __init__(self, bits: int, seed: int = 0) -> None:
        if int(bits) < 1:
            raise ValueError(f"bits must be a positive integer, got {bits}")
        self.bits = int(bits)
        self.seed = int(seed)
        self.state: dict[str, np.ndarray] = {}
        self._train: Optional[np.ndarray] = None  # the matrix being fitted (set during fit only)
        self._digest: Optional[str] = None

    def fit(self, features: Any) -> None:
        """Fit on the training split ``features`` (N, D) (or (N, T, D), mean-pooled)."""
        self.state = {}
        x = as_matrix(features, "train features")
        self._train, self._digest = x, None
        try:
            self._fit(x)
        finally:
            self._train, self._digest = None, None

    def cached(self, stage: str, params: Mapping[str, Any],
               compute: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """``compute()`` through the fit cache (:func:`hashbench.data.memo`), keyed by ``stage``,
        ``params`` (+ :data:`CACHE_CODE`) and the digest of the matrix being fitted (hashed once per fit,
        only when the cache is on). Only valid inside :meth:`fit`."""
        if self._train is None:
            raise ContractError(f"{type(self).__name__}.cached is only valid while fitting")
        if fit_cache_root() is None:
            return {name: np.asarray(value) for name, value in compute().items()}
        if self._digest is None:
            self._digest = data_digest(self._train)
        return memo(stage, {**params, "code": CACHE_CODE}, self._digest, compute)

    def pca(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`pca_fit` of the matrix being fitted ``x``, through the fit cache: the ``pca`` stage
        (by ``k``) and, when that misses, the shared ``covariance`` stage."""
        def components() -> dict[str, np.ndarray]:
            stats = self.cached("covariance", {}, lambda: covariance(x))
            return {"mean": stats["mean"], "components": principal_components(stats["cov"], k)}

        out = self.cached("pca", {"k": int(k)}, components)
        return out["mean"], out["components"]

    def encode(self, features: Any) -> torch.Tensor:
        """``features`` (B, D) (or (B, T, D)) -> real ``(B, bits)`` float32 tensor; the code is its sign."""
        if not self.state:
            raise ContractError(f"{type(self).__name__}.encode called before fit (or load_state_dict)")
        x = as_matrix(features).astype(np.float64)
        dim = self.input_dim
        if x.shape[1] != dim:
            raise DataError(f"features: {x.shape[1]}-dimensional, but {type(self).__name__} was fitted on {dim}")
        return torch.from_numpy(np.ascontiguousarray(self._encode(x), dtype=np.float32))

    @property
    def input_dim(self) -> int:
        """D of the training features (from the fitted state)."""
        return int(self.state["input_dim"].item())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every fitted array as a CPU tensor (float64, or int64 for counts), keyed by :attr:`state_keys`."""
        return {key: torch.from_numpy(np.array(value, copy=True)) for key, value in self.state.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; a missing or unexpected key is a CheckpointError."""
        wanted = set(self.state_keys) | {"input_dim"}
        if set(state) != wanted:
            raise CheckpointError(f"{type(self).__name__} state: keys {sorted(state)}, expected {sorted(wanted)}")
        self.state = {key: (value.detach().cpu().numpy() if isinstance(value, torch.Tensor)
                            else np.asarray(value)).copy() for key, value in state.items()}

    def _set(self, x: np.ndarray, **arrays: np.ndarray) -> None:
        """Store the fitted arrays, plus ``input_dim`` from ``x`` (N, D)."""
        self.state = {"input_dim": np.array(x.shape[1], dtype=np.int64),
                      **{key: np.asarray(value) for key, value in arrays.items()}}

    def _fit(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _encode(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError
