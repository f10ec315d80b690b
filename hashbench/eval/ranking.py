"""The ranking pass: per-query integer statistics of a Hamming ranking, shared by every metric.

Ranking: for each query, the database sorted by Hamming distance; **ties are broken by database
order** (a stable sort), except for the tie-aware metrics (``map_tie``, ``map_tie@k``), which give the
expected value over all orderings within equal distances in closed form (McSherry & Najork, ECIR 2008).
Relevant = same class id (single-label) or sharing at least one positive (multi-hot labels).

Distances are small integers (0..bits), so nothing sorts the database by comparison. One pass over the
distance blocks gathers integer statistics per query (:class:`RankStats`), shared by all metrics asked
for at once:

- ``hist_all``/``hist_rel`` ``(nq, bits+1)``: how many database items / relevant items lie at each distance;
- ``topk_rel`` ``(nq, K)``: relevance of ranks 1..K (items below the K-th item's distance are all in; the
  boundary distance is taken in database order);
- ``ap_sum`` ``(nq,)``: ``sum_i i / rank_i`` over the relevant items (database-order ties): each relevant
  item's rank = (items at smaller distances) + (items at its distance earlier in the database), the second
  counted with bincounts over (distance, relevant-item segment), or with a stable counting sort
  (``np.argsort(kind="stable")`` on small integers is a radix sort) when that table would be large.

Metrics of the top k only (``map@k``, ``map_over_k@k``, ``precision@k``: ``Needs(histograms=False)``)
get a lighter numba pass when nothing else asks for histograms or AP sums: one scan of the database
per query keeps the items within a running bound on the k-th distance (blocks of items beyond it are
passed over by a vectorised test; the previous query's k-th distance + 1 is tried first), then a
counting sort of those candidates gives ranks 1..k in the same order (distance, then database index),
and relevance is tested for those k items only. ``hist_all``/``hist_rel`` are then ``None``.

CPU kernels (``$HASHBENCH_KERNEL`` = ``auto`` (default) | ``numba`` | ``numpy``, see :func:`cpu_kernel`):
the default is a numba-compiled fused kernel (:mod:`hashbench.eval.rank_numba`, :mod:`hashbench.eval._kernels`: one pass over the database
per query doing XOR/popcount, the per-distance counts and the AP records together, queries in parallel
over all cores; compiled once and cached on disk by numba) whenever numba imports; otherwise, or with
``HASHBENCH_KERNEL=numpy``, the numpy path (:mod:`hashbench.eval.rank_numpy`). In the numpy path single-label queries are processed
class by class (their relevant items and segments are shared). In both, a query repeated with the same
code and label is ranked once. Metrics then follow from the statistics in vectorised float64
(:class:`Metric` subclasses). Statistics are integers, identical for every block size, thread count and
for the numba, numpy (popcount) and torch/CUDA (±1 matmul, stable sort) paths; AP sums agree to rounding.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..codes import PackedCodes, pack_codes
from ..device import compute_device
from ..errors import DataError
from .rank_numba import KERNEL_ENV, KERNELS, cpu_kernel, numba_kernels, stats_numba
from .rank_numpy import stats_numpy
from .rank_torch import stats_torch
from .relevance import Relevance
from .stats import Needs, RankStats, self_ranks

__all__ = ["Needs", "RankStats", "compute_stats", "cpu_kernel", "numba_kernels", "KERNELS", "KERNEL_ENV"]


def compute_stats(query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any,
                  needs: Needs = Needs(), *, block: int | None = None, device: Any = "auto",
                  backend: str = "auto", workers: int | None = None, dedup: bool = True) -> RankStats:
    """One ranking pass over all queries: :class:`RankStats` with what ``needs`` asks for.

    ``block``: queries per block (memory ~ block x n_db bytes per worker; any value gives the same
    result). ``workers``: CPU threads (default :func:`hashbench.device.ranking_threads`; any value gives the
    same result).
    ``device``: ``"auto"`` (CUDA for large jobs when available), ``"cpu"`` or ``"cuda[:N]"``.
    ``backend``: ``"auto"`` (on CPU :func:`cpu_kernel`: the fused numba kernel when numba imports, else
    numpy, or as ``$HASHBENCH_KERNEL`` says; torch on CUDA), ``"numba"``, ``"numpy"`` or ``"torch"``
    (torch also runs on CPU: the CUDA code path, used by the parity tests). ``dedup``: rank each distinct
    (code, label)
    query once and copy its statistics to its duplicates (learned codes repeat a lot; exact).
    """
    qc = pack_codes(query_codes, what="query codes")
    dc = pack_codes(db_codes, what="database codes")
    if qc.bits != dc.bits:
        raise DataError(f"query codes have {qc.bits} bits but database codes have {dc.bits}")
    if dc.n == 0:
        raise DataError("the database is empty (0 codes)")
    if qc.n == 0:
        raise DataError("there are no queries (0 codes)")
    rel = query_labels if isinstance(query_labels, Relevance) else Relevance(query_labels, db_labels,
                                                                              qc.n, dc.n)
    if needs.self_rank:
        stats = compute_stats(qc, rel, dc, None, replace(needs, self_rank=False), block=block,
                              device=device, backend=backend, workers=workers, dedup=dedup)
        stats.self_rank = self_ranks(_same_set_words(qc, dc))
        return stats
    if dedup:
        keep, inverse = _distinct_queries(qc, rel)
        if keep is not None:
            stats = compute_stats(qc[keep], rel.take_queries(keep), dc, None, needs, block=block,
                                  device=device, backend=backend, workers=workers, dedup=False)
            return stats.take(inverse)
    dev = compute_device(device, qc.n * dc.n)
    if backend == "auto":
        backend = cpu_kernel() if dev == "cpu" else "torch"
    if backend == "numba":
        if dev != "cpu":
            raise DataError(f"the numba backend runs on the CPU, not on {dev!r}")
        return stats_numba(qc, dc, rel, needs, block, workers)
    if backend == "numpy":
        if dev != "cpu":
            raise DataError(f"the numpy backend runs on the CPU, not on {dev!r}")
        return stats_numpy(qc, dc, rel, needs, block, workers)
    if backend == "torch":
        return stats_torch(qc, dc, rel, needs, block, dev)
    raise ValueError(f"backend must be auto, numba, numpy or torch, not {backend!r}")



def _same_set_words(qc: PackedCodes, dc: PackedCodes) -> np.ndarray:
    """The code words of queries that are the database (a metric's ``include_self`` said so); DataError
    when they are not the same codes in the same order."""
    words = qc.words64()
    if qc.n != dc.n or not np.array_equal(words, dc.words64()):
        raise DataError(f"include_self: the metric says the queries are the database, but the {qc.n} query"
                        f" codes are not the {dc.n} database codes in the same order; drop include_self for"
                        " separate query and database sets")
    return words


def _distinct_queries(qc: PackedCodes, rel: Relevance) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Rows of the first occurrence of each distinct (code, label) query and every query's index among
    them; ``(None, None)`` when all queries are distinct."""
    label_bytes = np.ascontiguousarray(rel.q).view(np.uint8).reshape(qc.n, -1)
    key = np.concatenate([qc.words, label_bytes], axis=1)
    _, keep, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    if keep.shape[0] == qc.n:
        return None, None
    return keep, inverse.reshape(-1)

