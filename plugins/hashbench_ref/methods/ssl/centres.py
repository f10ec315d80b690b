"""S5VH's hash centres: a CSQ Hadamard start refined by l_p-box ADMM against semantic (k-means) centroids.

Paper: S5VH (Wang et al., AAAI 2025), crediting SHC-IR (Wangld5/SHC-IR) for the centre optimisation.
Reference followed: gimpong/AAAI25-S5VH at 4926cb7 (``utils/preprocess/optimize_hash_center.py``:
``CSQ_init``, ``get_margin``, ``Lp_box``, ``Lp_box_one``, ``eval_metrics``). With ``B`` (K, bits) ±1
centres and ``W`` (K, D) the semantic centroids, the objective (lower is better; the reference maximises
its negative, ``eval_metrics``) is::

    objective(B, W) = -( sum_{i<j} ham(B_i, B_j) / K^2 - sum_{i<j} [cos(B_i, B_j) - cos(W_i, W_j)] )

Start (:func:`hadamard_start`): the first rows of ``[H; -H]`` (Sylvester's H, as
:func:`hashbench_ref.losses.centres.sylvester_hadamard`) and, beyond ``2 bits`` rows, random rows with
``bits // 2`` entries -1. Refinement (:func:`optimise_centres`): up to ``sweeps`` (20) Gauss-Seidel sweeps
over the centres, stopping after ``patience`` (5) sweeps without a better objective; each centre ``b``
solves, against the others ``H`` (K-1, bits), ``d = bits - 2 d_max`` (:func:`margin`) and target inner
products ``t`` (``W_others W_i`` centred and rescaled to [-bits, bits])::

    b = (2 rho I + (rho + 2) H^T H)^-1 (rho z1 + rho z2 + rho H^T (d - z3) - y1 - y2 - H^T y3 - mean(H) + 2 H^T t)
    z1 = clip(b + y1 / rho, -1, 1); z2 = sqrt(bits) unit(b + y2 / rho); z3 = max(d - H b - y3 / rho, 0)
    y1 += gamma rho (b - z1); y2 += gamma rho (b - z2); y3 += gamma rho (H b + z3 - d)

with up to 10 inner steps (stopping early when the unprojected ``z2`` already has norm^2 = bits within
1e-3 and ``z3 >= 0``), ``rho`` from 5e-5 times 1.07 per outer step up to 1e9, then 100 more outer steps at
1e9; ``sign(b)`` replaces the centre when it raises mean + min Hamming distance to the others.
Deliberate differences: the start counts as a candidate (the reference's best starts at -999999, so its
first sweep is kept even if worse); the duals start from a seeded ``numpy`` generator (the reference:
global ``np.random.seed(80)``); ``H^T H`` is factorised once per centre (eigendecomposition) instead of
inverting the left side at every step; the reference's 10-try loop for random rows never stops early (it
counts each centre's distance 0 to itself), so one draw is used, from a seeded ``torch.Generator``.
"""
from __future__ import annotations

import math

import numpy as np

from ...losses.centres import balanced_signs, generator, sylvester_hadamard

__all__ = ["hadamard_start", "margin", "centre_objective", "optimise_centres"]

RHO, GAMMA, LEARNING, UPPER_RHO, INNER, TAIL = 5e-5, (1 + 5 ** 0.5) / 2, 1.07, 1e9, 10, 100


def hadamard_start(clusters: int, bits: int, seed: int) -> np.ndarray:
    """``(clusters, bits)`` float64 ±1: rows of ``[H; -H]``, then balanced random rows (module docstring);
    ``bits`` a power of 2 (scipy's ``hadamard`` in the reference has the same limit)."""
    h = sylvester_hadamard(bits)
    rows = np.concatenate([h.numpy(), -h.numpy()])[:clusters].astype(np.float64)
    extra = clusters - rows.shape[0]
    if extra > 0:
        rows = np.concatenate([rows, balanced_signs(extra, bits, bits // 2, generator(seed)).numpy()])
    return rows


def margin(bits: int, clusters: int) -> int:
    """``d_max`` of ``get_margin``: the least d with sum_{j<d} C(bits, j) >= 2^bits / clusters."""
    target, total = 2.0 ** bits / clusters, 0.0
    for d in range(2 * bits + 4):
        if total >= target and d >= 1:
            return d
        total += math.comb(bits, d) if d <= bits else 0
    return 0


def centre_objective(centres: np.ndarray, semantic: np.ndarray) -> float:
    """``-(sum_{i<j} ham / K^2 - sum_{i<j} [cos(B_i, B_j) - cos(W_i, W_j)])``; lower is better."""
    k, bits = centres.shape
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    ham = 0.5 * (bits - centres @ centres.T)
    unit_b = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    unit_w = semantic / np.linalg.norm(semantic, axis=1, keepdims=True)
    consistency = (unit_b @ unit_b.T - unit_w @ unit_w.T)[upper].sum()
    return float(-(ham[upper].sum() / k ** 2 - consistency))


def _spread(b: np.ndarray, others: np.ndarray) -> float:
    """Mean + min Hamming distance of ``b`` to the rows of ``others``."""
    dist = 0.5 * (b.shape[0] - others @ b)
    return float(dist.mean() + dist.min())


def _refine(b: np.ndarray, others: np.ndarray, target: np.ndarray, d: float, rng: np.random.Generator) -> np.ndarray:
    """One centre's l_p-box ADMM (module docstring) -> its new ±1 row."""
    bits = b.shape[0]
    eig, vec = np.linalg.eigh(others.T @ others)
    fixed = 2.0 * others.T @ target - others.mean(axis=0)
    z1, z2, z3 = b.copy(), b.copy(), d - others @ b
    y1, y2, y3 = rng.random(bits), rng.random(bits), rng.random(others.shape[0])
    best, best_spread, rho, at_upper = b, _spread(b, others), RHO, 0
    while at_upper < TAIL:
        solve = (vec / (2.0 * rho + (rho + 2.0) * eig)) @ vec.T  # the left side's inverse at this rho
        for _ in range(INNER):
            x = solve @ (rho * (z1 + z2) + others.T @ (rho * (d - z3) - y3) - y1 - y2 + fixed)
            hx = others @ x
            z1, z2, z3 = x + y1 / rho, x + y2 / rho, d - hx - y3 / rho
            feasible = abs(float(z2 @ z2) - bits) <= 1e-3 and bool((z3 >= 0).all())
            if not feasible:
                z1, z2, z3 = np.clip(z1, -1.0, 1.0), math.sqrt(bits) * z2 / np.linalg.norm(z2), np.maximum(z3, 0.0)
            y1, y2 = y1 + GAMMA * rho * (x - z1), y2 + GAMMA * rho * (x - z2)
            y3 = y3 + GAMMA * rho * (hx + z3 - d)
            if feasible:
                break
        rho = min(LEARNING * rho, UPPER_RHO)
        if rho == UPPER_RHO:
            at_upper += 1
            candidate = np.sign(x)
            if _spread(candidate, others) > best_spread:
                best, best_spread = candidate, _spread(candidate, others)
    return best


def optimise_centres(start: np.ndarray, semantic: np.ndarray, seed: int, sweeps: int = 20,
                     patience: int = 5) -> np.ndarray:
    """Refined centres ``(K, bits)`` ±1 from ``start`` (K, bits) against ``semantic`` (K, D) centroids;
    never worse than ``start`` by :func:`centre_objective`."""
    rng = np.random.default_rng(seed)
    centres = np.array(start, dtype=np.float64)
    k, bits = centres.shape
    d = bits - 2 * margin(bits, k)
    best, best_value, stale = centres.copy(), centre_objective(centres, semantic), 0
    for _ in range(sweeps):
        for i in range(k):
            others = np.delete(centres, i, axis=0)
            raw = np.delete(semantic, i, axis=0) @ semantic[i]
            raw = raw - raw.mean()
            target = -bits + (raw - raw.min()) / max(raw.max() - raw.min(), 1e-12) * 2 * bits
            centres[i] = _refine(centres[i], others, target, d, rng)
        value = centre_objective(centres, semantic)
        if value < best_value:
            best, best_value, stale = centres.copy(), value, 0
        else:
            stale += 1
            if stale >= patience:
                break
    return best
