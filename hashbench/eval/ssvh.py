"""The self-supervised video hashing (SSVH) protocol's metric specs: ``map_over_k@K`` (AP over the top K
divided by K) at the K every SSVH-family paper reports, for :func:`hashbench.score` and the ``[eval]``
section (:mod:`hashbench.config.protocol` owns the K and the specs; ``[eval] protocol = "ssvh"`` selects
them).

All K share one ranking pass (the top ``max(K)`` ranks of each query; on the CPU the numba kernel tests
relevance for those items only). Ties at equal Hamming distance are broken by database index (a
stable order); the papers' code uses numpy's unstable default ``argsort`` instead, whose order among
ties is implementation-defined (``benchmarks/bench_ssvh_metric.py`` measures how much that moves the
numbers).
"""
from __future__ import annotations

from ..config.protocol import SSVH_K, ssvh_metrics

__all__ = ["SSVH_K", "SSVH_METRICS", "ssvh_metrics"]

#: the specs for separate query and database sets (plain strings, as ``hashbench.score`` takes them)
SSVH_METRICS: tuple[str, ...] = tuple(f"map_over_k@{k}" for k in SSVH_K)
