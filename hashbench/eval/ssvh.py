"""The self-supervised video hashing (SSVH) protocol's metric specs: ``map_over_k@K`` (AP over the top K
divided by K) at the K every SSVH-family paper reports, for :func:`hashbench.score` and the ``[eval]``
section.

All K share one ranking pass (the top ``max(K)`` ranks of each query; on the CPU the numba kernel tests
relevance for those items only). Ties at equal Hamming distance are broken by database index (a
stable order); the papers' code uses numpy's unstable default ``argsort`` instead, whose order among
ties is implementation-defined (``benchmarks/bench_ssvh_metric.py`` measures how much that moves the
numbers).
"""
from __future__ import annotations

from typing import Any

__all__ = ["SSVH_K", "SSVH_METRICS", "ssvh_metrics"]

#: the K of BTH, DKPH, MCMSH and ConMH (S5VH and AutoSSVH report the same without 10)
SSVH_K: tuple[int, ...] = (5, 10, 20, 40, 60, 80, 100)


def ssvh_metrics(include_self: bool | None = None, ks: tuple[int, ...] = SSVH_K) -> list[dict[str, Any]]:
    """Metric specs ``{"name": "map_over_k@k", "k": K, "label": "map_over_k@K"}`` for each K.

    ``include_self``: absent for separate query and database sets (ActivityNet, YFCC, UCF101, HMDB51);
    ``True`` for FCVID's all-vs-all protocol, where the queries are the database and each query's own
    entry counts (``False`` removes it). The label stays ``map_over_k@K`` either way.
    """
    specs: list[dict[str, Any]] = []
    for k in ks:
        spec: dict[str, Any] = {"name": "map_over_k@k", "k": int(k), "label": f"map_over_k@{int(k)}"}
        if include_self is not None:
            spec["include_self"] = bool(include_self)
        specs.append(spec)
    return specs


#: the specs for separate query and database sets (plain strings, as ``hashbench.score`` takes them)
SSVH_METRICS: tuple[str, ...] = tuple(f"map_over_k@{k}" for k in SSVH_K)
