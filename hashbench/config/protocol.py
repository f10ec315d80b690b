"""``[eval] protocol``: named metric presets, as plain spec tables (no dataset knowledge here).

``"ssvh"`` is the self-supervised video hashing papers' metric: ``map_over_k@K`` (AP over the top K
divided by K) at each K of :data:`SSVH_K`, labelled ``map_over_k@K``. Whether a query's own entry counts
(``include_self``) depends on the dataset, so the caller passes it: :mod:`hashbench.run.build` resolves it
from the built dataset (True when query and database are the same rows, as FCVID's all-vs-all).
:mod:`hashbench.eval.ssvh` re-exports :data:`SSVH_K` and :func:`ssvh_metrics`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["EVAL_PROTOCOLS", "SSVH_K", "ssvh_metrics", "protocol_metrics"]

#: ``[eval] protocol`` values; ``"none"`` (the default) adds no metric.
EVAL_PROTOCOLS = ("none", "ssvh")
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


def protocol_metrics(protocol: str | None, include_self: bool | None = None) -> list[dict[str, Any]]:
    """The metric specs ``protocol`` adds (none for None or ``"none"``), ``include_self`` as in
    :func:`ssvh_metrics`."""
    if protocol == "ssvh":
        return ssvh_metrics(include_self)
    return []
