"""Scoring binary codes with named metrics (``hashbench.score``, the runner, ``hashbench score/eval``).

Metrics come from the registry (``"map"``, ``"map@100"``, ``"precision@r2"`` or a table with ``name``).
Reference metrics (:class:`hashbench.metrics.Metric`) share one ranking pass: the per-query statistics
are computed once for all of them. Any other metric plugin is called through the plain contract
``metric(query_codes: PackedCodes, query_labels, db_codes: PackedCodes, db_labels) -> float``.
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .codes import check_labels, pack_codes
from .errors import DataError, HashbenchError, PluginError
from .metrics import Metric, Needs, Relevance, compute_stats

log = logging.getLogger(__name__)

__all__ = ["Evaluation", "evaluate", "score_codes", "rescore_run"]


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


def evaluate(registry: Any, query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any,
             metrics: Sequence[str | Mapping[str, Any]] = ("map",), *, device: Any = "auto",
             block: int | None = None, workers: int | None = None) -> Evaluation:
    """Score codes with metric specs; returns an :class:`Evaluation` (values, conventions, counts).

    Codes: ±1 / 0-1 / real (sign) arrays or tensors ``(N, bits)``, or :class:`PackedCodes`. Labels:
    int ``(N,)`` or multi-hot ``(N, C)``. ``device``/``block``/``workers`` go to the ranking pass
    (:func:`hashbench.metrics.compute_stats`; they change speed and memory, never the values).
    """
    qc = pack_codes(query_codes, what="query codes")
    dc = pack_codes(db_codes, what="database codes")
    if qc.bits != dc.bits:
        raise DataError(f"query codes have {qc.bits} bits but database codes have {dc.bits}")
    ql = check_labels(query_labels, qc.n, "query labels")
    dl = check_labels(db_labels, dc.n, "database labels")
    built: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for spec in metrics:
        label, metric = registry.build_metric(spec)
        if label not in seen:
            seen.add(label)
            built.append((label, metric))
    relevance = Relevance(ql, dl, qc.n, dc.n)
    shared = [(label, m) for label, m in built if isinstance(m, Metric)]
    results: dict[str, Any] = {}
    if shared:
        needs = Needs()
        for _, metric in shared:
            needs = needs | metric.needs
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
        text = str(exc).strip().splitlines()
        raise PluginError(f"metric {label!r} failed: {type(exc).__name__}: {text[0] if text else ''}"
                          ) from exc
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PluginError(f"metric {label!r} returned {type(value).__name__} {value!r}, expected a float")
    return float(value)


def score_codes(registry: Any, query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any,
                metrics: Sequence[str | Mapping[str, Any]] = ("map",), *, device: Any = "auto",
                block: int | None = None, workers: int | None = None) -> dict[str, float]:
    """``{label: value}`` for each metric spec (see :func:`evaluate`, which also reports conventions and
    undefined-query counts)."""
    return evaluate(registry, query_codes, query_labels, db_codes, db_labels, metrics, device=device,
                    block=block, workers=workers).values


def rescore_run(run_dir: Any, metrics: Sequence[str | Mapping[str, Any]] | None = None, *,
                registry: Any = None, results_path: Any = None, device: Any = "auto",
                block: int | None = None) -> tuple[Evaluation, list[dict[str, Any]]]:
    """Re-score a finished run's ``codes.npz`` (no retraining); rows carry the run's id.

    ``metrics`` default to the run's ``[eval] metrics`` (``config.json``). The rows are the run's
    ``record.json["row"]`` with ``time`` set to now, one per metric; they are appended to
    ``results_path`` when given. Returns ``(evaluation, rows)``.
    """
    from .codes import load_codes
    from .results import RESULT_COLUMNS, append_rows, metric_rows
    from .rundir import RunDir, now_iso

    run = RunDir(Path(run_dir)).require("run directory")
    if not run.codes_path.is_file():
        raise DataError(f"{run.path}: no codes.npz; only finished runs can be re-scored")
    record = run.read_record()
    base = record.get("row")
    if not isinstance(base, dict):
        raise DataError(f"{run.record_path}: has no 'row' object")
    if metrics is None or not len(metrics):
        config = run.read_config() if run.config_path.is_file() else {}
        metrics = list(config.get("eval", {}).get("metrics") or ["map"])
    if registry is None:
        from . import registry as _registry

        registry = _registry()
    codes = load_codes(run.codes_path)
    evaluation = evaluate(registry, codes["query_codes"], codes["query_labels"], codes["db_codes"],
                          codes["db_labels"], metrics, device=device, block=block)
    row = {column: base.get(column, "") for column in RESULT_COLUMNS if column not in ("metric", "value")}
    row["time"] = now_iso()
    rows = metric_rows(row, evaluation.values)
    if results_path is not None:
        append_rows(results_path, rows)
    return evaluation, rows
