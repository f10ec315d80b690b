"""Tie-aware closed forms: expected AP (and AP@k) over all orderings within equal Hamming distances.

McSherry & Najork, ECIR 2008; the @k form is hypergeometric over the tie group at rank k.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np


from .stats import RankStats

logger = logging.getLogger(__name__)

__all__ = ["harmonic_diff", "tie_aware_ap", "tie_aware_ap_at_k"]


_SMALL = 64
_H_SMALL = np.array([math.fsum(1.0 / i for i in range(1, n + 1)) for n in range(_SMALL)])


def _harmonic_tail(x: np.ndarray) -> np.ndarray:
    """``H(x) - ln(x) - gamma`` for x >= 64 (asymptotic series; error < 1e-18)."""
    inv = 1.0 / x
    inv2 = inv * inv
    return inv / 2 - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 / 240)))


def harmonic_diff(a: Any, b: Any) -> np.ndarray:
    """``H(a) - H(b) = sum_{i=b+1..a} 1/i`` for integer arrays ``a >= b >= 0``, to ~1e-16 relative."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    out = np.empty(a.shape, dtype=np.float64)
    small_a, small_b = a < _SMALL, b < _SMALL
    both = small_a & small_b
    out[both] = _H_SMALL[a[both].astype(np.intp)] - _H_SMALL[b[both].astype(np.intp)]
    large = ~small_a & ~small_b
    al, bl = a[large], b[large]
    out[large] = np.log1p((al - bl) / bl) + _harmonic_tail(al) - _harmonic_tail(bl)
    mixed = ~small_a & small_b
    am, bm = a[mixed], b[mixed]
    out[mixed] = (np.log(am) + np.euler_gamma + _harmonic_tail(am)) - _H_SMALL[bm.astype(np.intp)]
    return out


def _tie_group_sum(n: np.ndarray, r: np.ndarray, before: np.ndarray, rel_before: np.ndarray,
                   m: np.ndarray | None = None) -> np.ndarray:
    """Expected ``sum precision@rank`` over the relevant items among the first ``m`` (default all ``n``)
    places of a tie group of ``n`` items, ``r`` relevant, after ``before`` items (``rel_before`` relevant),
    over uniformly random orderings of the group: ``(r/n) sum_{i<=m} (rel_before + 1 + (i-1)(r-1)/(n-1))
    / (before + i)``."""
    m = n if m is None else m
    n_f, r_f, m_f = n.astype(np.float64), r.astype(np.float64), m.astype(np.float64)
    s0 = harmonic_diff(before + m, before)
    s1 = m_f - (before + 1.0) * s0  # sum (i-1)/(before+i)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (r_f - 1.0) / (n_f - 1.0)
        inner = np.where(n > 1, inner, 0.0)
        total = (r_f / n_f) * ((rel_before + 1.0) * s0 + inner * s1)
    return np.where((r > 0) & (m > 0), total, 0.0)


def tie_aware_ap(stats: RankStats) -> np.ndarray:
    """Expected AP (divided by all relevant items) per query; 0 where nothing is relevant."""
    n, r = stats.hist_all, stats.hist_rel
    before = np.cumsum(n, axis=1) - n
    rel_before = np.cumsum(r, axis=1) - r
    total = _tie_group_sum(n, r, before, rel_before).sum(axis=1)
    n_rel = r.sum(axis=1)
    return np.divide(total, n_rel, out=np.zeros_like(total), where=n_rel > 0)


def _log_factorials(upper: int) -> np.ndarray:
    """``log(i!)`` for ``i = 0..upper`` (float64)."""
    out = np.zeros(upper + 1, dtype=np.float64)
    np.cumsum(np.log(np.arange(1, upper + 1, dtype=np.float64)), out=out[1:])
    return out


def tie_aware_ap_at_k(stats: RankStats, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected AP@k divided by the relevant items in the top k (0 when none), over tie orderings.

    The tie group at the k-th rank contributes its first ``m`` places; the number ``t`` of relevant items
    among them is hypergeometric, and given ``t`` the expectation has the closed form of
    ``_tie_group_sum`` (a group of ``m`` items, ``t`` relevant). Returns (values, possible) where
    ``possible`` marks queries with any chance of a relevant item in the top k.
    """
    n, r = stats.hist_all, stats.hist_rel
    nq, width = n.shape
    k_eff = min(k, stats.n_db)
    cum = np.cumsum(n, axis=1)
    before = cum - n
    rel_before = np.cumsum(r, axis=1) - r
    edge = (cum < k_eff).sum(axis=1)
    full = np.arange(width)[None, :] < edge[:, None]
    inside = np.where(full, _tie_group_sum(n, r, before, rel_before), 0.0).sum(axis=1)
    q = np.arange(nq)
    n_e, r_e, b_e, rb_e = n[q, edge], r[q, edge], before[q, edge], rel_before[q, edge]
    m_e = k_eff - b_e
    values = np.zeros(nq, dtype=np.float64)
    possible = (rb_e + np.minimum(m_e, r_e)) > 0
    t_lo = np.maximum(0, m_e - (n_e - r_e))
    t_hi = np.minimum(m_e, r_e)
    idx = np.flatnonzero(possible)
    span = int((t_hi - t_lo)[idx].max()) + 1 if idx.size else 1
    chunk = max(1, (1 << 22) // span)
    log_fact = _log_factorials(int(n_e[idx].max()) if idx.size else 0)
    for c0 in range(0, idx.size, chunk):
        i = idx[c0:c0 + chunk]
        t = t_lo[i, None] + np.arange(span)[None, :]
        valid = t <= t_hi[i, None]
        t = np.where(valid, t, t_lo[i, None])
        nn, rr, mm = n_e[i, None], r_e[i, None], m_e[i, None]
        log_p = (log_fact[rr] - log_fact[t] - log_fact[rr - t] + log_fact[nn - rr] - log_fact[mm - t]
                 - log_fact[nn - rr - mm + t] - log_fact[nn] + log_fact[mm] + log_fact[nn - mm])
        log_p = np.where(valid, log_p, -np.inf)
        p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        gain = _tie_group_sum(np.broadcast_to(mm, t.shape), t, np.broadcast_to(b_e[i, None], t.shape),
                              np.broadcast_to(rb_e[i, None], t.shape))
        denom = rb_e[i, None] + t
        term = np.divide(inside[i, None] + gain, denom, out=np.zeros(t.shape), where=denom > 0)
        values[i] = (p * term).sum(axis=1)
    return values, possible
