"""Retrieval metrics over Hamming rankings, exact and fast, from per-query distance statistics.

Ranking: for each query, the database sorted by Hamming distance; **ties are broken by database
order** (a stable sort), except for the tie-aware metrics (``map_tie``, ``map_tie@k``), which give the
expected value over all orderings within equal distances in closed form (McSherry & Najork, ECIR 2008).
Relevant = same class id (single-label) or sharing at least one positive (multi-hot labels).
The self-supervised video hashing papers rank with numpy's unstable default ``argsort`` instead; their
order among equal distances is implementation-defined, and ``benchmarks/bench_ssvh_metric.py`` measures
how far it moves ``map_over_k@K`` from this stable order. When the queries are the database (FCVID's
all-vs-all protocol), ``MapAtK(include_self=...)`` says so and counts or removes each query's own entry
(:mod:`hashbench.eval.ssvh` has the protocol's specs).

The ranking pass (:mod:`hashbench.eval.ranking`) gathers integer statistics per query once (distance
histograms, top-k relevance, AP sums; numba or numpy kernel, see ``$HASHBENCH_KERNEL``); the metrics
here are vectorised float64 functions of those statistics, so asking for several costs one pass.

Queries whose value is undefined under a convention (no relevant item for ``map``/``recall``, nothing
retrieved within the radius for ``precision@r``, no relevant item in the top k for ``map@k``) are
counted in :class:`MetricResult.undefined`; ``empty="zero"`` (default, the original repo's and
CSQ/DeepHash's ``map@k`` convention) scores them 0, ``empty="skip"`` leaves them out of the mean.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .ranking import KERNELS, Needs, RankStats, compute_stats, cpu_kernel, numba_kernels
from .relevance import Relevance
from .tie_aware import harmonic_diff, tie_aware_ap, tie_aware_ap_at_k

logger = logging.getLogger(__name__)

__all__ = [
    "Needs", "RankStats", "Relevance", "compute_stats", "MetricResult", "Metric", "MeanAP", "MapAtK",
    "MapTie", "MapTieAtK", "PrecisionAtK", "RecallAtK", "PrecisionAtRadius", "RecallAtRadius",
    "pr_curve", "harmonic_diff", "score_metrics", "EMPTY_POLICIES", "KERNELS", "cpu_kernel",
    "numba_kernels",
]

EMPTY_POLICIES = ("zero", "skip")


@dataclass
class MetricResult:
    """A metric's mean over queries, the per-query values, and how many queries were undefined."""

    value: float
    per_query: np.ndarray
    undefined: int = 0
    undefined_reason: str = ""
    convention: str = ""
    extra: dict = field(default_factory=dict)


class Metric:
    """A retrieval metric over packed codes; call it, or score many at once from shared statistics.

    Subclasses set :attr:`needs` and implement :meth:`per_query` (values and a defined-mask). Calling
    ``metric(query_codes, query_labels, db_codes, db_labels)`` returns the float mean (the plugin
    contract in :mod:`hashbench.contract.hookspecs`).
    """

    needs: Needs = Needs()
    convention: str = ""
    undefined_reason: str = ""

    def __init__(self, empty: str = "zero") -> None:
        if empty not in EMPTY_POLICIES:
            raise ValueError(f"empty must be one of {', '.join(EMPTY_POLICIES)}, not {empty!r}")
        self.empty = empty

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def from_stats(self, stats: RankStats) -> MetricResult:
        """The metric from precomputed :class:`RankStats` (which must satisfy :attr:`needs`)."""
        values, defined = self.per_query(stats)
        values = np.where(defined, values, 0.0)
        undefined = int((~defined).sum())
        if self.empty == "zero":
            value = float(values.mean())
        else:
            value = float(values[defined].mean()) if defined.any() else float("nan")
        return MetricResult(value, values, undefined, self.undefined_reason,
                            f"{self.convention}; undefined queries: {self.empty}")

    def __call__(self, query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any) -> float:
        stats = compute_stats(query_codes, query_labels, db_codes, db_labels, self.needs)
        return self.from_stats(stats).value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def _check_k(k: int, what: str) -> int:
    if isinstance(k, bool) or int(k) != k or int(k) < 1:
        raise ValueError(f"{what}: k must be a positive integer, not {k!r}")
    return int(k)


class MeanAP(Metric):
    """mAP over the whole database: AP divided by all relevant items, ties in database order."""

    needs = Needs(ap=True)
    convention = "AP over the whole database / all relevant items; ties by database order"
    undefined_reason = "no relevant item in the database"

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        n_rel = stats.n_relevant
        return np.divide(stats.ap_sum, n_rel, out=np.zeros(stats.n_queries), where=n_rel > 0), n_rel > 0


class MapAtK(Metric):
    """mAP@k: AP over the top k divided by the relevant items retrieved there (``normalize="retrieved"``,
    the original repo / CSQ / DeepHash), or by k (``normalize="k"``, self-supervised video hashing).

    ``include_self``: ``None`` (default) assumes nothing about the two sets. ``True`` or ``False`` declares
    that the queries *are* the database (query ``i`` = database item ``i``, the same codes in the same
    order; checked, DataError otherwise), FCVID's all-vs-all protocol: ``True`` counts each query's own
    entry where the ranking puts it (distance 0, among its exact duplicates by database index), as the
    SSVH-family code does; ``False`` removes it from the ranking (the next item moves up).
    """

    undefined_reason = "no relevant item in the top k"

    def __init__(self, k: int, normalize: str = "retrieved", empty: str = "zero",
                 include_self: bool | None = None) -> None:
        super().__init__(empty)
        self.k = _check_k(k, "map@k")
        if normalize not in ("retrieved", "k"):
            raise ValueError(f"map@k normalize must be 'retrieved' or 'k', not {normalize!r}")
        if include_self not in (None, True, False):
            raise ValueError(f"map@k include_self must be true, false or absent, not {include_self!r}")
        self.normalize = normalize
        self.include_self = include_self
        self.needs = Needs(topk=self.k + (include_self is False), histograms=False,
                           self_rank=include_self is not None)
        by = "relevant items in the top k" if normalize == "retrieved" else "k"
        self.convention = f"AP over the top {self.k} / {by}; ties by database order"
        if include_self is not None:
            self.convention += ("; queries are the database, each query's own entry "
                                + ("counted" if include_self else "removed"))
        if normalize == "k":
            self.undefined_reason = ""

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        key = ("map@k prefix sums", self.include_self is False)
        if key not in stats.cache:  # shared by every k (and both normalisations) of one pass
            hits = stats.topk_rel
            if self.include_self is False:
                hits = _without_self(hits, stats.self_rank)
            found = np.cumsum(hits, axis=1)
            ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
            stats.cache[key] = (np.cumsum(np.where(hits, found / ranks, 0.0), axis=1), found)
        precision_sums, found = stats.cache[key]
        total, n_found = precision_sums[:, self.k - 1], found[:, self.k - 1]
        if self.normalize == "k":
            return total / self.k, np.ones(stats.n_queries, dtype=bool)
        return np.divide(total, n_found, out=np.zeros(stats.n_queries), where=n_found > 0), n_found > 0


def _without_self(top: np.ndarray, self_rank: np.ndarray) -> np.ndarray:
    """Ranks 1..w-1 of each query with its own entry (0-based place ``self_rank``) removed, from ranks
    1..w ``top`` (nq, w): the entry's column is dropped, or the last one when it lies further down."""
    nq, width = top.shape
    keep = np.ones((nq, width), dtype=bool)
    keep[np.arange(nq), np.minimum(self_rank, width - 1)] = False
    return top[keep].reshape(nq, width - 1)


class MapTie(Metric):
    """Tie-aware mAP: expected AP (whole database, / all relevant) over random orderings of equal
    distances, in closed form (McSherry & Najork 2008)."""

    needs = Needs()
    convention = "expected AP over orderings within equal distances (tie-aware) / all relevant items"
    undefined_reason = "no relevant item in the database"

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        return tie_aware_ap(stats), stats.n_relevant > 0


class MapTieAtK(Metric):
    """Tie-aware mAP@k: expected AP over the top k / relevant items retrieved there (0 when none)."""

    undefined_reason = "no relevant item can reach the top k"

    def __init__(self, k: int, empty: str = "zero") -> None:
        super().__init__(empty)
        self.k = _check_k(k, "map_tie@k")
        self.needs = Needs()
        self.convention = (f"expected AP over the top {self.k} (tie-aware) / relevant items in the top"
                           f" {self.k}")

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        return tie_aware_ap_at_k(stats, self.k)


class PrecisionAtK(Metric):
    """Precision@k: relevant items among the top k / k (ties by database order)."""

    undefined_reason = ""

    def __init__(self, k: int, empty: str = "zero") -> None:
        super().__init__(empty)
        self.k = _check_k(k, "precision@k")
        self.needs = Needs(topk=self.k, histograms=False)
        self.convention = f"relevant in the top {self.k} / min({self.k}, database size); db-order ties"

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        hits = stats.topk_rel[:, : self.k]
        return hits.sum(axis=1) / min(self.k, stats.n_db), np.ones(stats.n_queries, dtype=bool)


class RecallAtK(Metric):
    """Recall@k: relevant items among the top k / all relevant items (ties by database order)."""

    undefined_reason = "no relevant item in the database"

    def __init__(self, k: int, empty: str = "zero") -> None:
        super().__init__(empty)
        self.k = _check_k(k, "recall@k")
        self.needs = Needs(topk=self.k)
        self.convention = f"relevant in the top {self.k} / all relevant items; db-order ties"

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        n_rel = stats.n_relevant
        found = stats.topk_rel[:, : self.k].sum(axis=1)
        return np.divide(found, n_rel, out=np.zeros(stats.n_queries), where=n_rel > 0), n_rel > 0


def _radius_counts(stats: RankStats, r: int) -> tuple[np.ndarray, np.ndarray]:
    upto = min(r, stats.bits) + 1
    return stats.hist_all[:, :upto].sum(axis=1), stats.hist_rel[:, :upto].sum(axis=1)


class PrecisionAtRadius(Metric):
    """Precision within Hamming radius r: relevant / retrieved items at distance <= r."""

    undefined_reason = "nothing retrieved within the radius"

    def __init__(self, r: int, empty: str = "zero") -> None:
        super().__init__(empty)
        if isinstance(r, bool) or int(r) != r or int(r) < 0:
            raise ValueError(f"precision@r: r must be a non-negative integer, not {r!r}")
        self.r = int(r)
        self.convention = f"relevant / retrieved within Hamming radius {self.r}"

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        retrieved, found = _radius_counts(stats, self.r)
        return np.divide(found, retrieved, out=np.zeros(stats.n_queries), where=retrieved > 0), retrieved > 0


class RecallAtRadius(Metric):
    """Recall within Hamming radius r: relevant items at distance <= r / all relevant items."""

    undefined_reason = "no relevant item in the database"

    def __init__(self, r: int, empty: str = "zero") -> None:
        super().__init__(empty)
        if isinstance(r, bool) or int(r) != r or int(r) < 0:
            raise ValueError(f"recall@r: r must be a non-negative integer, not {r!r}")
        self.r = int(r)
        self.convention = f"relevant within Hamming radius {self.r} / all relevant items"

    def per_query(self, stats: RankStats) -> tuple[np.ndarray, np.ndarray]:
        n_rel = stats.n_relevant
        _, found = _radius_counts(stats, self.r)
        return np.divide(found, n_rel, out=np.zeros(stats.n_queries), where=n_rel > 0), n_rel > 0


def pr_curve(stats: RankStats, empty: str = "zero") -> dict[str, Any]:
    """Precision-recall over Hamming radii 0..bits (data for plots), from one :class:`RankStats`.

    Returns ``{"radius": (bits+1,), "precision": ..., "recall": ..., "retrieved": mean items within the
    radius, "undefined_precision": queries retrieving nothing, per radius}``; each point equals
    ``precision@r``/``recall@r`` with the same ``empty`` policy.
    """
    radii = np.arange(stats.bits + 1)
    precision, recall, undefined = [], [], []
    for r in radii:
        p = PrecisionAtRadius(int(r), empty).from_stats(stats)
        precision.append(p.value)
        undefined.append(p.undefined)
        recall.append(RecallAtRadius(int(r), empty).from_stats(stats).value)
    retrieved = np.cumsum(stats.hist_all, axis=1).mean(axis=0)
    return {"radius": radii, "precision": np.array(precision), "recall": np.array(recall),
            "retrieved": retrieved, "undefined_precision": np.array(undefined)}


def score_metrics(metrics: Sequence[Metric], query_codes: Any, query_labels: Any, db_codes: Any,
                  db_labels: Any, *, block: int | None = None, device: Any = "auto",
                  backend: str = "auto", workers: int | None = None) -> tuple[list[MetricResult], RankStats]:
    """Score several metrics from one shared ranking pass; returns their results and the statistics."""
    needs = Needs.union(metric.needs for metric in metrics)
    stats = compute_stats(query_codes, query_labels, db_codes, db_labels, needs, block=block,
                          device=device, backend=backend, workers=workers)
    return [metric.from_stats(stats) for metric in metrics], stats
