"""Scoring binary codes with named metrics (``hashbench.score``, the runner, ``hashbench score/eval``).

Metrics come from the registry (``"map"``, ``"map@100"``, ``"precision@r2"`` or a table with ``name``).
Reference metrics (:class:`hashbench.eval.metrics.Metric`) share one ranking pass: the per-query statistics
are computed once for all of them. Any other metric plugin is called through the plain contract
``metric(query_codes: PackedCodes, query_labels, db_codes: PackedCodes, db_labels) -> float``.
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..codes import check_labels, pack_codes
from ..config import DEFAULT_METRIC
from ..errors import DataError, HashbenchError, PluginError
from ..failures import first_line
from .metrics import Metric
from .ranking import Needs, compute_stats
from .relevance import Relevance

log = logging.getLogger(__name__)

__all__ = ["Evaluation", "build_metrics", "evaluate", "evaluate_metrics", "score_codes"]


@dataclass
class Evaluation:
    """Metric values plus what a reader needs to trust them.

    ``values``: ``{label: float}`` in the order asked. ``details``: per label, the convention and how many
    queries were undefined under it (and why). ``queries_without_relevant``: queries with no relevant
    item anywhere in the database.
    """

    values: dict[str, float]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_queries: int = 0
    n_db: int = 0
    bits: int = 0
    queries_without_relevant: int = 0
    multi_label: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes None)."""
        return {
            "metrics": {k: _json_float(v) for k, v in self.values.items()},
            "details": self.details,
            "n_queries": self.n_queries, "n_db": self.n_db, "bits": self.bits,
            "queries_without_relevant": self.queries_without_relevant,
            "relevance": "share a label (multi-hot)" if self.multi_label else "same class id",
        }


def _json_float(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def build_metrics(registry: Any, metrics: Sequence[str | Mapping[str, Any]]) -> list[tuple[str, Any]]:
    """``[(label, metric), ...]`` built from metric specs by ``registry`` (a label given twice counts once)."""
    built: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for spec in metrics:
        label, metric = registry.build_metric(spec)
        if label not in seen:
            seen.add(label)
            built.append((label, metric))
    return built


def evaluate(registry: Any, query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any,
             metrics: Sequence[str | Mapping[str, Any]] = (DEFAULT_METRIC,), *, device: Any = "auto",
             block: int | None = None, workers: int | None = None) -> Evaluation:
    """Score codes with metric specs; returns an :class:`Evaluation` (values, conventions, counts).

    Codes: ±1 / 0-1 / real (sign) arrays or tensors ``(N, bits)``, or :class:`PackedCodes`. Labels:
    int ``(N,)`` or multi-hot ``(N, C)``. ``device``/``block``/``workers`` go to the ranking pass
    (:func:`hashbench.eval.ranking.compute_stats`; they change speed and memory, never the values).
    """
    return evaluate_metrics(build_metrics(registry, metrics), query_codes, query_labels, db_codes, db_labels,
                            device=device, block=block, workers=workers)


def evaluate_metrics(metrics: Sequence[tuple[str, Any]], query_codes: Any, query_labels: Any, db_codes: Any,
                     db_labels: Any, *, device: Any = "auto", block: int | None = None,
                     workers: int | None = None) -> Evaluation:
    """:func:`evaluate` with metrics already built (``[(label, metric)]``, see :func:`build_metrics`):
    a run builds its metrics once and scores every evaluation with them."""
    qc = pack_codes(query_codes, what="query codes")
    dc = pack_codes(db_codes, what="database codes")
    if qc.bits != dc.bits:
        raise DataError(f"query codes have {qc.bits} bits but database codes have {dc.bits}")
    ql = check_labels(query_labels, qc.n, "query labels")
    dl = check_labels(db_labels, dc.n, "database labels")
    built = list(metrics)
    relevance = Relevance(ql, dl, qc.n, dc.n)
    shared = [(label, m) for label, m in built if isinstance(m, Metric)]
    results: dict[str, Any] = {}
    if shared:
        needs = Needs.union(metric.needs for _, metric in shared)
        stats = compute_stats(qc, relevance, dc, None, needs, device=device, block=block, workers=workers)
        for label, metric in shared:
            results[label] = metric.from_stats(stats)
    evaluation = Evaluation(values={}, n_queries=qc.n, n_db=dc.n, bits=qc.bits,
                            multi_label=not relevance.single,
                            queries_without_relevant=int((~relevance.has_relevant()).sum()))
    for label, metric in built:
        if label in results:
            result = results[label]
            evaluation.values[label] = result.value
            evaluation.details[label] = {"convention": result.convention, "undefined": result.undefined,
                                         "undefined_reason": result.undefined_reason}
        else:
            evaluation.values[label] = _call_plugin_metric(label, metric, qc, ql, dc, dl)
            evaluation.details[label] = {"convention": "plugin metric", "undefined": None,
                                         "undefined_reason": ""}
    if evaluation.queries_without_relevant:
        log.warning("%d of %d queries have no relevant item in the database (counted per metric"
                    " convention)", evaluation.queries_without_relevant, qc.n)
    return evaluation


def _call_plugin_metric(label: str, metric: Any, qc: Any, ql: Any, dc: Any, dl: Any) -> float:
    if not callable(metric):
        raise PluginError(f"metric {label!r}: its factory returned {type(metric).__name__}, not a callable"
                          " (query_codes, query_labels, db_codes, db_labels) -> float")
    try:
        value = metric(qc, ql, dc, dl)
    except HashbenchError:
        raise
    except Exception as exc:
        raise PluginError(f"metric {label!r} failed: {first_line(exc)}") from exc
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PluginError(f"metric {label!r} returned {type(value).__name__} {value!r}, expected a float")
    return float(value)


def score_codes(registry: Any, query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any,
                metrics: Sequence[str | Mapping[str, Any]] = (DEFAULT_METRIC,), *, device: Any = "auto",
                block: int | None = None, workers: int | None = None) -> dict[str, float]:
    """``{label: value}`` for each metric spec (see :func:`evaluate`, which also reports conventions and
    undefined-query counts)."""
    return evaluate(registry, query_codes, query_labels, db_codes, db_labels, metrics, device=device,
                    block=block, workers=workers).values
