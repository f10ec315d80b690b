"""What the ranking pass computes: :class:`RankStats`, the integer per-query statistics shared by every
metric, and :class:`Needs`, what the metrics asked for (see :mod:`hashbench.eval.ranking`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

__all__ = ["Needs", "RankStats", "new_stats", "self_ranks"]


@dataclass(frozen=True)
class Needs:
    """What the metrics need from the ranking pass: the AP sum (db-order ties), the top ``topk`` ranks,
    the items and relevant items per distance (``histograms``; off for metrics of the top k only, which
    lets the CPU pass test relevance for those k items alone and skip the rest of the database) and each query's own place in the database ranking
    (``self_rank``: queries are the database, see :func:`self_ranks`)."""

    ap: bool = False
    topk: int = 0
    histograms: bool = True
    self_rank: bool = False

    def __or__(self, other: "Needs") -> "Needs":
        return Needs(self.ap or other.ap, max(self.topk, other.topk),
                     self.histograms or other.histograms, self.self_rank or other.self_rank)

    @staticmethod
    def union(needs: "Iterable[Needs]") -> "Needs":
        """What all of ``needs`` ask for together (nothing when empty)."""
        out = Needs(histograms=False)
        for need in needs:
            out = out | need
        return out



@dataclass
class RankStats:
    """Integer per-query statistics of a Hamming ranking (see the module docstring)."""

    bits: int
    n_db: int
    hist_all: np.ndarray | None
    hist_rel: np.ndarray | None
    topk_rel: np.ndarray | None = None
    ap_sum: np.ndarray | None = None
    device: str = "cpu"
    self_rank: np.ndarray | None = None
    #: values derived from these statistics that several metrics share (e.g. map@k's prefix sums)
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_queries(self) -> int:
        rows = self.hist_all if self.hist_all is not None else self.topk_rel
        return int(rows.shape[0])

    @property
    def n_relevant(self) -> np.ndarray:
        """Relevant database items per query ``(nq,)``."""
        if self.hist_rel is None:
            raise ValueError("these statistics were computed without histograms (Needs(histograms=False))")
        return self.hist_rel.sum(axis=1)

    @property
    def queries_without_relevant(self) -> int:
        return int((self.n_relevant == 0).sum())

    def take(self, rows: np.ndarray) -> "RankStats":
        """The statistics of the queries ``rows`` (in that order; repeats allowed)."""
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return RankStats(self.bits, self.n_db, pick(self.hist_all), pick(self.hist_rel), pick(self.topk_rel),
                         pick(self.ap_sum), self.device, pick(self.self_rank))



def new_stats(nq: int, nd: int, bits: int, needs: Needs, device: str) -> RankStats:
    """Zeroed statistics of ``nq`` queries against ``nd`` items: what every backend fills."""
    width = bits + 1
    return RankStats(
        bits=bits, n_db=nd,
        hist_all=np.zeros((nq, width), dtype=np.int64), hist_rel=np.zeros((nq, width), dtype=np.int64),
        topk_rel=np.zeros((nq, needs.topk), dtype=bool) if needs.topk else None,
        ap_sum=np.zeros(nq, dtype=np.float64) if needs.ap else None, device=device,
    )



def self_ranks(words: np.ndarray) -> np.ndarray:
    """For queries that are the database (query ``i`` = item ``i``, code words ``(n, W)``): each item's
    0-based place in its own ranking, distance then database index = how many earlier items share its
    code ``(n,)`` int64."""
    _, inverse = np.unique(words, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    group = inverse[order]
    first = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
    sizes = np.diff(np.r_[first, group.shape[0]])
    out = np.empty(group.shape[0], dtype=np.int64)
    out[order] = np.arange(group.shape[0]) - np.repeat(first, sizes)
    return out
