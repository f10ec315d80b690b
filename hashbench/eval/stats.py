"""What the ranking pass computes: :class:`RankStats`, the integer per-query statistics shared by every
metric, and :class:`Needs`, what the metrics asked for (see :mod:`hashbench.eval.ranking`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Needs", "RankStats", "new_stats"]


@dataclass(frozen=True)
class Needs:
    """What the metrics need from the ranking pass: the AP sum (db-order ties), the top ``topk`` ranks."""

    ap: bool = False
    topk: int = 0

    def __or__(self, other: "Needs") -> "Needs":
        return Needs(self.ap or other.ap, max(self.topk, other.topk))



@dataclass
class RankStats:
    """Integer per-query statistics of a Hamming ranking (see the module docstring)."""

    bits: int
    n_db: int
    hist_all: np.ndarray
    hist_rel: np.ndarray
    topk_rel: np.ndarray | None = None
    ap_sum: np.ndarray | None = None
    device: str = "cpu"

    @property
    def n_queries(self) -> int:
        return int(self.hist_all.shape[0])

    @property
    def n_relevant(self) -> np.ndarray:
        """Relevant database items per query ``(nq,)``."""
        return self.hist_rel.sum(axis=1)

    @property
    def queries_without_relevant(self) -> int:
        return int((self.n_relevant == 0).sum())

    def take(self, rows: np.ndarray) -> "RankStats":
        """The statistics of the queries ``rows`` (in that order; repeats allowed)."""
        return RankStats(self.bits, self.n_db, self.hist_all[rows], self.hist_rel[rows],
                         None if self.topk_rel is None else self.topk_rel[rows],
                         None if self.ap_sum is None else self.ap_sum[rows], self.device)



def new_stats(nq: int, nd: int, bits: int, needs: Needs, device: str) -> RankStats:
    """Zeroed statistics of ``nq`` queries against ``nd`` items: what every backend fills."""
    width = bits + 1
    return RankStats(
        bits=bits, n_db=nd,
        hist_all=np.zeros((nq, width), dtype=np.int64), hist_rel=np.zeros((nq, width), dtype=np.int64),
        topk_rel=np.zeros((nq, needs.topk), dtype=bool) if needs.topk else None,
        ap_sum=np.zeros(nq, dtype=np.float64) if needs.ap else None, device=device,
    )

