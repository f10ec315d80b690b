"""Independent re-derivations of the six classic unsupervised hashing baselines, for parity tests.

Written from the papers and the reference codes' behaviour (the MATLAB files' steps, in their order and
with their names), with Python loops where the references loop; nothing here is shared with
``hashbench_ref.methods.classic``:

- LSH: CISiPLab/cisip-FIRe ``functions/loss/lsh.py`` (``W = torch.randn(nbit, D)``, ``v = x @ W.T``);
- PCA: FIRe ``functions/loss/pca.py``, i.e. scikit-learn's ``PCA`` (here ``svd_solver="full"``: exact);
- ITQ: Gong's ``ITQ.m`` (``UX(Z>=0) = 1``; ``[UB,sigma,UA] = svd(UX'*V)``; ``R = UA*UB'``);
- SH: Weiss's ``trainSH.m`` / ``compressSH.m`` as FIRe's ``functions/loss/sh.py`` runs them (eps 1e-7);
- SpH: Heo's ``SphericalHashing.m`` (dengcai78/MatlabFunc), with a cap on its open loop;
- AGH: Liu's ``OneLayerAGH_Train.m`` / ``OneLayerAGH_Test.m`` (ColumbiaDVMM/Anchor-Graph-Hashing), with
  MATLAB's ``eig`` replaced by numpy's general ``eig`` and eigenvector signs fixed by the rule below.

Conventions the implementations document, restated here from their definitions: random numbers come
from ``numpy.random.default_rng(seed)`` (ITQ's initial rotation, SpH's pivots) or a seeded
``torch.Generator`` (LSH, as FIRe); an eigenvector's sign makes its entry of largest magnitude positive.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.decomposition import PCA


def largest_entry_positive(columns: np.ndarray) -> np.ndarray:
    """Each column multiplied by the sign of its entry of largest magnitude (first one on ties)."""
    out = columns.copy()
    for c in range(out.shape[1]):
        r = int(np.argmax(np.abs(out[:, c])))
        if out[r, c] < 0:
            out[:, c] = -out[:, c]
    return out


def lsh(train: np.ndarray, x: np.ndarray, bits: int, seed: int, center: bool = False) -> np.ndarray:
    """FIRe's LSH, one dot product at a time: ``(B, bits)`` real projections."""
    w = torch.randn(bits, train.shape[1], generator=torch.Generator().manual_seed(seed)).double().numpy()
    mu = train.astype(np.float64).mean(axis=0) if center else np.zeros(train.shape[1])
    out = np.zeros((x.shape[0], bits))
    for i in range(x.shape[0]):
        for b in range(bits):
            out[i, b] = float(np.dot(x[i].astype(np.float64) - mu, w[b]))
    return out


def pca(train: np.ndarray, k: int) -> PCA:
    """scikit-learn's exact PCA, the way FIRe fits it (``PCA(n_components=nbit)``)."""
    return PCA(n_components=k, svd_solver="full").fit(train.astype(np.float64))


def pca_project(model: PCA, x: np.ndarray) -> np.ndarray:
    """FIRe's eval branch: ``(x - mean_) @ components_.T``."""
    return (x.astype(np.float64) - model.mean_) @ model.components_.T


def itq(train: np.ndarray, bits: int, seed: int, n_iter: int = 50) -> tuple[PCA, np.ndarray, list[float]]:
    """``(pca, R, losses)`` by ITQ.m's loop, ``n_iter`` updates, loss ``||UX - V R||_F^2`` before each."""
    model = pca(train, bits)
    v = pca_project(model, train)
    u11, _, _ = np.linalg.svd(np.random.default_rng(seed).standard_normal((bits, bits)))
    r = u11[:, :bits]
    losses = []
    for _ in range(n_iter):
        z = v @ r
        ux = -np.ones(z.shape)
        ux[z >= 0] = 1
        losses.append(float(((ux - z) ** 2).sum()))
        ub, _, ua_t = np.linalg.svd(ux.T @ v)
        r = ua_t.T @ ub.T
    return model, r, losses


def train_sh(train: np.ndarray, bits: int) -> dict[str, object]:
    """trainSH: PCA, a uniform box from min/max, the ``bits`` smallest non-constant 1-D modes."""
    npca = min(bits, train.shape[1])
    model = pca(train, npca)
    y = pca_project(model, train)
    mn = y.min(axis=0) - 1e-7
    mx = y.max(axis=0) + 1e-7
    r = mx - mn
    max_mode = np.ceil((bits + 1) * r / r.max()).astype(int)
    n_modes = int(max_mode.sum()) - len(max_mode) + 1
    modes = np.ones((n_modes, npca))
    m = 1  # MATLAB's 1-based row counter
    for i in range(npca):
        for value in range(2, max_mode[i] + 1):  # modes(m+1:m+maxMode(i)-1, i) = 2:maxMode(i)
            modes[m + value - 2, i] = value
        m = m + max_mode[i] - 1
    modes = modes - 1
    omegas = modes * np.tile(math.pi / r, (n_modes, 1))
    eig_val = -(omegas ** 2).sum(axis=1)
    ii = np.argsort(-eig_val, kind="mergesort")
    return {"pca": model, "mn": mn, "mx": mx, "modes": modes[ii[1:bits + 1]]}


def compress_sh(x: np.ndarray, param: dict[str, object]) -> np.ndarray:
    """compressSH: ``U(:, i) = prod(sin(X .* omega_i + pi/2), 2)`` with X the PCA projection minus mn."""
    y = pca_project(param["pca"], x) - param["mn"]
    omegas = param["modes"] * (math.pi / (param["mx"] - param["mn"]))
    u = np.zeros((x.shape[0], omegas.shape[0]))
    for i in range(omegas.shape[0]):
        u[:, i] = np.prod(np.sin(y * omegas[i] + math.pi / 2), axis=1)
    return u


def _sph_statistics(data: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """compute_statistics of SphericalHashing.m: radii, O2, avg |O2 - N/4| and the std of O2 over pairs."""
    n, bit = data.shape[0], centers.shape[0]
    dist = np.array([[math.sqrt(float(((c - p) ** 2).sum())) for p in data] for c in centers])
    radii = np.sort(dist, axis=1)[:, n // 2 - 1]
    inside = (dist <= radii[:, None]) * 1.0
    o2 = inside @ inside.T
    avg, avg2, npairs = 0.0, 0.0, bit * (bit - 1) / 2
    for i in range(bit - 1):
        for j in range(i + 1, bit):
            avg += abs(o2[i, j] - n / 4)
            avg2 += o2[i, j]
    avg, avg2 = avg / npairs, avg2 / npairs
    var = sum((o2[i, j] - avg2) ** 2 for i in range(bit - 1) for j in range(i + 1, bit))
    return radii, o2, avg, math.sqrt(var / npairs)


def spherical_hashing(data: np.ndarray, bit: int, seed: int, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, int]:
    """SphericalHashing.m: ``(centers (bit, D), radii (bit,), updates made)``."""
    data = data.astype(np.float64)
    n = data.shape[0]
    rng = np.random.default_rng(seed)
    centers = np.zeros((bit, data.shape[1]))
    for i in range(bit):
        centers[i] = data[rng.permutation(n)[:5]].sum(axis=0) / 5
    radii, o2, avg, stddev = _sph_statistics(data, centers)
    it = 0
    while it < max_iter:
        forces = np.zeros(centers.shape)
        for i in range(bit - 1):
            for j in range(i + 1, bit):
                force = 0.5 * (o2[i, j] - n / 4) / (n / 4) * (centers[i] - centers[j])
                forces[i] += force / bit
                forces[j] -= force / bit
        centers = centers + forces
        radii, o2, avg, stddev = _sph_statistics(data, centers)
        it += 1
        if avg <= 0.1 * n / 4 and stddev <= 0.15 * n / 4:
            break
    return centers, radii, it


def sph_inside(x: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """The paper's bits: 1 where a point lies inside (distance <= radius), (B, bits) bool."""
    dist = np.sqrt(((x.astype(np.float64)[:, None, :] - centers[None]) ** 2).sum(axis=2))
    return dist <= radii[None]


def agh_z(x: np.ndarray, anchor: np.ndarray, s: int, sigma: float) -> tuple[np.ndarray, float]:
    """The "get Z" block of OneLayerAGH_Train.m / _Test.m (repeated min, 1e60 masking)."""
    n = x.shape[0]
    dis = ((x.astype(np.float64)[:, None, :] - anchor[None]) ** 2).sum(axis=2)
    val, pos = np.zeros((n, s)), np.zeros((n, s), dtype=int)
    for i in range(s):
        pos[:, i] = np.argmin(dis, axis=1)
        val[:, i] = dis[np.arange(n), pos[:, i]]
        dis[np.arange(n), pos[:, i]] = 1e60
    if sigma == 0:
        sigma = float(np.mean(val[:, s - 1] ** 0.5))
    val = np.exp(-val / (1 / 1 * sigma ** 2))
    val = (val.sum(axis=1) ** -1)[:, None] * val
    z = np.zeros((n, anchor.shape[0]))
    for i in range(n):
        z[i, pos[i]] = val[i]
    return z, sigma


def agh_train(x: np.ndarray, anchor: np.ndarray, r: int, s: int) -> tuple[np.ndarray, float]:
    """OneLayerAGH_Train.m: ``(W (m, r), sigma)``."""
    z, sigma = agh_z(x, anchor, s, 0)
    lamda = z.sum(axis=0)
    m = np.diag(lamda ** -0.5) @ (z.T @ z) @ np.diag(lamda ** -0.5)
    eigenvalue, w = np.linalg.eig(m)
    eigenvalue, w = eigenvalue.real, w.real
    order = np.argsort(-eigenvalue, kind="mergesort")
    eigenvalue, w = eigenvalue[order], w[:, order]
    ind = np.nonzero((eigenvalue > 0) & (eigenvalue < 1 - 1e-3))[0]
    eigenvalue, w = eigenvalue[ind], largest_entry_positive(w[:, ind][:, :r])
    return np.diag(lamda ** -0.5) @ w @ np.diag(eigenvalue[:r] ** -0.5), sigma


def agh_test(x: np.ndarray, anchor: np.ndarray, w: np.ndarray, s: int, sigma: float) -> np.ndarray:
    """OneLayerAGH_Test.m before the threshold: ``Z W`` (B, r) (the code is ``Z W > 0``)."""
    z, _ = agh_z(x, anchor, s, sigma)
    return z @ w
