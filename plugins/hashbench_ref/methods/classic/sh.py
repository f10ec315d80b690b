"""SH: spectral hashing with the analytical eigenfunctions of a uniform box in PCA space.

Paper: Y. Weiss, A. Torralba, R. Fergus, "Spectral Hashing", NIPS 2008.
Reference followed: the authors' ``trainSH.m`` / ``compressSH.m`` through CISiPLab/cisip-FIRe
``functions/loss/sh.py`` at commit e8826c4 (itself after TreezzZ/SH_PyTorch ``sh.py``). With ``P`` the
top ``k = min(bits, D)`` principal directions and ``Y = (X - mu) @ P.T`` the training projection::

    mn = min(Y) - eps,  mx = max(Y) + eps   (per dimension, eps = 1e-7 as FIRe),  R = mx - mn
    maxMode_j = ceil((bits + 1) R_j / max(R))
    modes: the all-zero row, then for each dimension j the rows e_j * 1..maxMode_j - 1
    omega = modes * pi / R;   lambda = sum_j omega_j^2
    keep the rows with the 2nd..(bits+1)-th smallest lambda (the constant mode is dropped)
    encode(x)_i = prod_j sin(((x - mu) @ P.T - mn)_j * omega_ij + pi / 2)     code = sign

Deliberate differences: exact PCA with scikit-learn's component signs (:func:`~.pca_fit`), which
FIRe's ``PCA(n_components=nbit)`` gives too where its solver is exact; the eigenvalues are sorted with
a stable sort (FIRe's ``torch.argsort`` is unstable among equal values; MATLAB's ``sort`` is stable).
``seed`` is unused: SH is deterministic.
"""
from __future__ import annotations

import math

import numpy as np

from . import ClassicHasher, project

__all__ = ["SH", "select_modes"]

EPS = 1e-7


def select_modes(ranges: np.ndarray, bits: int) -> np.ndarray:
    """The ``bits`` one-dimensional modes (bits, k) with the smallest box eigenvalues ``sum (m pi / R)^2``,
    the constant mode excluded; ``ranges`` (k,) are the box sides R."""
    k = ranges.shape[0]
    max_mode = np.ceil((bits + 1) * ranges / ranges.max()).astype(np.int64)
    rows = [np.zeros(k)]
    for j in range(k):
        for m in range(1, int(max_mode[j])):
            row = np.zeros(k)
            row[j] = m
            rows.append(row)
    modes = np.stack(rows)
    eigenvalues = ((modes * (math.pi / ranges)) ** 2).sum(axis=1)
    order = np.argsort(eigenvalues, kind="stable")
    return modes[order[1:bits + 1]]


class SH(ClassicHasher):
    """Spectral hashing (uniform box model on PCA directions); deterministic."""

    state_keys = ("mean", "components", "minimum", "ranges", "modes")

    def _fit(self, x: np.ndarray) -> None:
        mean, components = self.pca(x, min(self.bits, x.shape[1]))
        y = project(x, mean, components)
        minimum = y.min(axis=0) - EPS
        ranges = (y.max(axis=0) + EPS) - minimum
        modes = select_modes(ranges, self.bits)
        self._set(x, mean=mean, components=components, minimum=minimum, ranges=ranges, modes=modes)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        s = self.state
        y = project(x, s["mean"], s["components"]) - s["minimum"]
        omegas = s["modes"] * (math.pi / s["ranges"])
        out = np.empty((x.shape[0], omegas.shape[0]), dtype=np.float64)
        for i, omega in enumerate(omegas):
            out[:, i] = np.prod(np.sin(y * omega + math.pi / 2), axis=1)
        return out
