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

CPU kernels (``$HASHBENCH_KERNEL`` = ``auto`` (default) | ``numba`` | ``numpy``, see :func:`cpu_kernel`):
the default is a numba-compiled fused kernel (:mod:`hashbench.eval._kernels`: one pass over the database
per query doing XOR/popcount, the per-distance counts and the AP records together, queries in parallel
over all cores; compiled once and cached on disk by numba) whenever numba imports; otherwise, or with
``HASHBENCH_KERNEL=numpy``, the numpy path below. In the numpy path single-label queries are processed
class by class (their relevant items and segments are shared). In both, a query repeated with the same
code and label is ranked once. Metrics then follow from the statistics in vectorised float64
(:class:`Metric` subclasses). Statistics are integers, identical for every block size, thread count and
for the numba, numpy (popcount) and torch/CUDA (±1 matmul, stable sort) paths; AP sums agree to rounding.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..codes import (PackedCodes, distance_dtype, hamming64, hamming_torch, matmul_dtype, pack_codes,
                     torch_pm1)
from ..device import THREADS_ENV, compute_device, ranking_threads
from ..errors import ConfigError, DataError
from .relevance import Relevance

logger = logging.getLogger(__name__)

__all__ = ["Needs", "RankStats", "compute_stats", "cpu_kernel", "numba_kernels", "KERNELS", "KERNEL_ENV",
           "SEGMENT_TABLE_LIMIT"]

#: the (relevant segment x distance) table is used while it has at most this many cells per database item
SEGMENT_TABLE_LIMIT = 2.0


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
        return _stats_numba(qc, dc, rel, needs, block, workers)
    if backend == "numpy":
        if dev != "cpu":
            raise DataError(f"the numpy backend runs on the CPU, not on {dev!r}")
        return _stats_numpy(qc, dc, rel, needs, block, workers)
    if backend == "torch":
        return _stats_torch(qc, dc, rel, needs, block, dev)
    raise ValueError(f"backend must be auto, numba, numpy or torch, not {backend!r}")


def _distinct_queries(qc: PackedCodes, rel: Relevance) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Rows of the first occurrence of each distinct (code, label) query and every query's index among
    them; ``(None, None)`` when all queries are distinct."""
    label_bytes = np.ascontiguousarray(rel.q).view(np.uint8).reshape(qc.n, -1)
    key = np.concatenate([qc.words, label_bytes], axis=1)
    _, keep, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    if keep.shape[0] == qc.n:
        return None, None
    return keep, inverse.reshape(-1)


def _new_stats(nq: int, nd: int, bits: int, needs: Needs, device: str) -> RankStats:
    width = bits + 1
    return RankStats(
        bits=bits, n_db=nd,
        hist_all=np.zeros((nq, width), dtype=np.int64), hist_rel=np.zeros((nq, width), dtype=np.int64),
        topk_rel=np.zeros((nq, needs.topk), dtype=bool) if needs.topk else None,
        ap_sum=np.zeros(nq, dtype=np.float64) if needs.ap else None, device=device,
    )


def _stats_numpy(qc: PackedCodes, dc: PackedCodes, rel: Relevance, needs: Needs,
                 block: int | None, workers: int | None = None) -> RankStats:
    nq, nd, bits = qc.n, dc.n, qc.bits
    stats = _new_stats(nq, nd, bits, needs, "cpu")
    block = max(1, int(block)) if block else max(1, min(4096, (4 << 20) // nd))
    q64, d64 = qc.words64(), dc.words64()
    dtype = distance_dtype(bits)
    blocks = list(_row_blocks(rel, block))
    workers = min(ranking_threads() if workers is None else max(1, int(workers)), len(blocks))

    def run(rows: np.ndarray, buffer: np.ndarray) -> None:
        d_block = hamming64(q64[rows], d64, dtype, buffer[: len(rows)])
        _block_stats(d_block, rows, rel, needs, stats)

    if workers <= 1:
        buffer = np.empty((min(block, nq), nd), dtype=dtype)
        for rows in blocks:
            run(rows, buffer)
        return stats
    # blocks fill disjoint rows of `stats`; numpy's ufuncs (the distances) release the GIL
    local = threading.local()

    def task(rows: np.ndarray) -> None:
        if getattr(local, "buffer", None) is None:
            local.buffer = np.empty((min(block, nq), nd), dtype=dtype)
        run(rows, local.buffer)

    with ThreadPoolExecutor(workers, thread_name_prefix="hashbench-rank") as pool:
        for future in [pool.submit(task, rows) for rows in blocks]:
            future.result()
    return stats


KERNELS = ("auto", "numba", "numpy")
#: Chooses the CPU kernel (one of KERNELS).
KERNEL_ENV = "HASHBENCH_KERNEL"
_NUMBA: dict[str, Any] = {}
_NUMBA_LOCK = threading.Lock()


def numba_kernels() -> Any:
    """The compiled kernel module :mod:`hashbench.eval._kernels`, or None where numba does not import (the
    reason is logged once). The first call compiles the kernel (a few seconds) or loads it from numba's
    on-disk cache (well under a second). numba's threading layer is set to ``workqueue`` (fork-safe)
    unless ``$NUMBA_THREADING_LAYER`` says otherwise."""
    with _NUMBA_LOCK:
        if "module" not in _NUMBA:
            try:
                import numba

                if not os.environ.get("NUMBA_THREADING_LAYER"):
                    # fork-safe (GNU OpenMP aborts a forked child that runs a parallel kernel, e.g. in a
                    # fork-started worker pool); not thread-safe, hence _NUMBA_LOCK around every call
                    numba.config.THREADING_LAYER = "workqueue"
                from . import _kernels
                _kernels.compile_kernels()
            except ImportError as exc:
                _NUMBA["module"], _NUMBA["error"] = None, f"{type(exc).__name__}: {exc}"
                logger.info("numba unavailable (%s); the CPU ranking pass uses numpy", _NUMBA["error"])
            except Exception as exc:  # noqa: BLE001 - a broken numba/llvmlite or cache must not stop scoring
                _NUMBA["module"], _NUMBA["error"] = None, f"compiling failed: {type(exc).__name__}: {exc}"
                logger.warning("numba kernel unavailable (%s); the CPU ranking pass uses numpy (a stale"
                               " numba cache can be cleared by deleting hashbench/eval/__pycache__/_kernels.*"
                               " or $NUMBA_CACHE_DIR)", _NUMBA["error"])
            else:
                _NUMBA["module"], _NUMBA["error"] = _kernels, ""
        return _NUMBA["module"]


def cpu_kernel() -> str:
    """The CPU backend ``backend="auto"`` uses: ``$HASHBENCH_KERNEL`` = ``numba`` | ``numpy`` | ``auto``
    (default: ``numba`` when it imports, else ``numpy``). Both give the same statistics; the fused numba
    kernel is several times faster. ConfigError for another value, or for ``numba`` without numba."""
    env = os.environ.get(KERNEL_ENV, "").strip().lower() or "auto"
    if env not in KERNELS:
        raise ConfigError(f"HASHBENCH_KERNEL={env!r}: expected one of {', '.join(KERNELS)}")
    if env == "numpy":
        return "numpy"
    if numba_kernels() is None:
        if env == "numba":
            raise ConfigError(f"HASHBENCH_KERNEL=numba but the numba kernel is unavailable ({_NUMBA['error']});"
                              " install numba (pip install numba) or set HASHBENCH_KERNEL=numpy")
        return "numpy"
    return "numba"


def _stats_numba(qc: PackedCodes, dc: PackedCodes, rel: Relevance, needs: Needs,
                 block: int | None, workers: int | None = None) -> RankStats:
    """The statistics from the fused kernel of :mod:`hashbench.eval._kernels` (one database pass per query,
    queries in parallel chunks of ``block``; threads: ``workers``, else ``$HASHBENCH_THREADS``, else
    numba's default, all cores)."""
    kernels = numba_kernels()
    if kernels is None:
        raise ConfigError(f"backend 'numba': the numba kernel is unavailable ({_NUMBA['error']}); install"
                          " numba (pip install numba) or use backend='numpy'")
    import numba

    nq, nd, bits = qc.n, dc.n, qc.bits
    if nd >= 2**31:
        raise DataError(f"the numba kernel handles databases below 2**31 codes, not {nd}")
    stats = _new_stats(nq, nd, bits, needs, "cpu")
    limit = numba.config.NUMBA_NUM_THREADS
    if workers is None:
        threads = ranking_threads() if os.environ.get(THREADS_ENV, "").strip() else limit
    else:
        threads = max(1, int(workers))
    threads = min(threads, limit)
    chunk = max(1, int(block)) if block else max(1, -(-nq // (4 * threads)))
    ids = np.zeros(1, dtype=np.int32)
    offsets = np.zeros(1, dtype=np.int64)
    q_words = d_words = np.zeros((1, 1), dtype=np.uint64)
    if rel.single:
        q_class, d_class, offsets, members = _class_members(rel.q, rel.d)
        cap = max(1, int(np.diff(offsets).max()) if offsets.shape[0] > 1 else 1)
    else:
        q_class = d_class = members = ids
        q_words, d_words = _writable(rel.q), _writable(rel.d)
        cap = nd if needs.ap else 1
    topk_rel = stats.topk_rel if stats.topk_rel is not None else np.zeros((nq, 0), dtype=bool)
    ap_sum = stats.ap_sum if stats.ap_sum is not None else np.zeros(0, dtype=np.float64)
    with _NUMBA_LOCK:  # numba's workqueue threading layer must not be entered by two threads at once
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            kernels.rank_stats(_writable(qc.words64()), _writable(dc.words64()), q_class, d_class, offsets,
                               members, q_words, d_words, not rel.single, needs.topk, needs.ap, chunk, cap,
                               stats.hist_all, stats.hist_rel, topk_rel, ap_sum)
        finally:
            numba.set_num_threads(previous)
    return stats


def _writable(a: np.ndarray) -> np.ndarray:
    """``a`` as a writeable C-contiguous array (numba compiles read-only arrays as another type)."""
    return a if a.flags.writeable and a.flags.c_contiguous else np.array(a, order="C")


def _class_members(q: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, ...]:
    """Single-label ids as the kernel takes them: dense int32 classes of the queries (-1: absent from the
    database) and of the database, and each class's database indices (ascending) in
    ``members[offsets[c]:offsets[c+1]]``."""
    classes, d_class = np.unique(d, return_inverse=True)
    d_class = d_class.reshape(-1).astype(np.int32)
    where = np.minimum(np.searchsorted(classes, q), classes.shape[0] - 1)
    q_class = np.where(classes[where] == q, where, -1).astype(np.int32)
    members = np.argsort(d_class, kind="stable").astype(np.int32)
    offsets = np.zeros(classes.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(d_class, minlength=classes.shape[0]), out=offsets[1:])
    return q_class, d_class, offsets, members


def _count(keys: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount`` of all ``keys`` with ``length`` bins (int64). (torch's CPU bincount is faster
    single-threaded, but its intra-op threads stall badly on a busy machine, so numpy's is used.)"""
    return np.bincount(keys.reshape(-1), minlength=length)


def _row_blocks(rel: Relevance, block: int) -> Iterator[np.ndarray]:
    """Query rows in blocks of at most ``block``; single-label blocks hold one class each."""
    nq = rel.q.shape[0]
    if not rel.single:
        for start in range(0, nq, block):
            yield np.arange(start, min(nq, start + block))
        return
    order = np.argsort(rel.q, kind="stable")
    labels = rel.q[order]
    cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    for group in np.split(order, cuts):
        for start in range(0, len(group), block):
            yield group[start:start + block]


def _block_stats(d_block: np.ndarray, rows: np.ndarray, rel: Relevance, needs: Needs,
                 stats: RankStats) -> None:
    """Fill the statistics of the query ``rows`` from their distances ``d_block`` (b, nd)."""
    b, nd = d_block.shape
    width = stats.bits + 1
    if rel.single:  # one class per block
        label = int(rel.q[rows[0]])
        members = rel.members(label)
        counts = np.full(b, members.shape[0], dtype=np.intp)
        row_of = np.repeat(np.arange(b), members.shape[0])
        cols = np.tile(members, b)
        rel_block = None
    else:
        label = -1
        rel_block = rel.block(rows)
        row_of, cols = np.nonzero(rel_block)
        counts = np.bincount(row_of, minlength=b)
    d_rel = d_block[row_of, cols].astype(np.intp)
    stats.hist_rel[rows] = np.bincount(row_of * width + d_rel, minlength=b * width).reshape(b, width)
    if needs.ap:
        small = (counts + 1) * width <= SEGMENT_TABLE_LIMIT * nd + 4096
        if small.any():
            sub = np.flatnonzero(small)
            _segment_ranks(d_block, rows, sub, counts, row_of, cols, d_rel, rel, label, rel_block, stats)
        for i in np.flatnonzero(~small):
            _sorted_ranks(d_block[i], rows[i], rel, rel_block[i] if rel_block is not None else None,
                          stats)
    else:
        stats.hist_all[rows] = _block_hist(d_block, width)
    if needs.topk:
        _topk_block(d_block, rows, stats, rel, needs.topk, rel_block)


def _block_hist(d_block: np.ndarray, width: int) -> np.ndarray:
    """Per-row distance histograms ``(b, width)`` of a distance block (row by row: in cache, and faster
    than one bincount over (row, distance) keys)."""
    out = np.empty((d_block.shape[0], width), dtype=np.int64)
    for i, row in enumerate(d_block):
        out[i] = _count(row, width)
    return out


def _segment_ranks(d_block: np.ndarray, rows: np.ndarray, sub: np.ndarray, counts: np.ndarray,
                   row_of: np.ndarray, cols: np.ndarray, d_rel: np.ndarray, rel: Relevance, label: int,
                   rel_block: np.ndarray | None, stats: RankStats) -> None:
    """Histograms and AP sums of the block rows ``sub`` by counting (distance, segment) pairs.

    Segment ``s`` of a query = the database items after its ``s``-th relevant item up to and including
    the ``(s+1)``-th. The running sum of the (distance x segment) table over segments, read at relevant
    item ``m``'s (distance, segment m), counts the items at that distance up to and including ``m`` in
    database order: ``rank(m) = items at smaller distances + that count``. The segments of all rows of
    the block are laid end to end (row i's start at ``first_seg[i]``) in one (distance x segment) table,
    filled by one bincount per few rows (kept in cache) and summed along segments once.
    """
    width = stats.bits + 1
    n_sub = sub.shape[0]
    seg_rows = counts[sub] + 1  # table columns (segments) per query
    first_seg = np.cumsum(seg_rows) - seg_rows
    n_seg = int(seg_rows.sum())
    nd = d_block.shape[1]
    table = np.empty((width, n_seg), dtype=np.int64)
    # a few rows at a time, so that their keys (~512 KiB) and table part stay in cache
    group = max(1, min(n_sub, (1 << 16) // nd))
    keys = np.empty((group, nd), dtype=np.intp)
    shared_base = None
    if rel.single:  # every row of the block has the same segments: one base for every full group
        shared_base = rel.segment_base(label)[None, :] + (np.arange(group) * seg_rows[0])[:, None]
    for g0 in range(0, n_sub, group):
        g1 = min(n_sub, g0 + group)
        width_g = int(first_seg[g1 - 1] + seg_rows[g1 - 1] - first_seg[g0])  # segments in this group
        k = keys[: g1 - g0]
        np.multiply(d_block[sub[g0:g1]], width_g, out=k, dtype=np.intp)  # key = distance x segment
        if shared_base is not None:
            k += shared_base[: g1 - g0]
        else:
            mask = rel_block[sub[g0:g1]]
            seg = np.cumsum(mask, axis=1, dtype=np.intp)
            seg -= mask
            seg += (first_seg[g0:g1] - first_seg[g0])[:, None]
            k += seg
        table[:, first_seg[g0]:first_seg[g0] + width_g] = _count(k, width * width_g).reshape(width, width_g)
    np.cumsum(table, axis=1, out=table)
    last = first_seg + seg_rows - 1
    prior = np.zeros((width, n_sub), dtype=np.int64)
    prior[:, 1:] = table[:, last[:-1]]
    hist = (table[:, last] - prior).T
    stats.hist_all[rows[sub]] = hist
    before = np.cumsum(hist, axis=1) - hist
    # the relevant items of the rows in `sub`, in (row, database index) order
    local = np.full(d_block.shape[0], -1, dtype=np.intp)
    local[sub] = np.arange(n_sub)
    take = local[row_of] >= 0
    r_loc, d_r = local[row_of[take]], d_rel[take]
    start = np.cumsum(counts[sub]) - counts[sub]
    m = np.arange(r_loc.shape[0]) - start[r_loc]
    same_before = table[d_r, first_seg[r_loc] + m] - prior[d_r, r_loc]
    rank = before[r_loc, d_r] + same_before  # 1-based
    # order each row's relevant items by rank: stable counting sorts by distance, then by row
    perm = np.argsort(_small_uint(d_r, width), kind="stable")
    perm = perm[np.argsort(_small_uint(r_loc[perm], n_sub), kind="stable")]
    r_sorted, rank_sorted = r_loc[perm], rank[perm]
    ordinal = np.arange(r_sorted.shape[0]) - start[r_sorted] + 1
    stats.ap_sum[rows[sub]] = np.bincount(r_sorted, ordinal / rank_sorted, minlength=n_sub)


def _small_uint(values: np.ndarray, upper: int) -> np.ndarray:
    """``values`` (0..upper-1) in the smallest unsigned dtype, so that a stable argsort is a radix sort."""
    if upper <= 1 << 8:
        return values.astype(np.uint8)
    if upper <= 1 << 16:
        return values.astype(np.uint16)
    return values


def _sorted_ranks(row: np.ndarray, q: int, rel: Relevance, rel_row: np.ndarray | None,
                  stats: RankStats) -> None:
    """Histogram and AP sum of one query with many relevant items: a stable counting sort of its row."""
    width = stats.bits + 1
    stats.hist_all[q] = _count(row, width)
    ranked = np.argsort(row, kind="stable")  # radix sort for uint8/uint16 distances
    is_rel = rel.d[ranked] == rel.q[q] if rel.single else rel_row[ranked]
    ranks = np.flatnonzero(is_rel) + 1
    stats.ap_sum[q] = float(np.sum(np.arange(1, ranks.shape[0] + 1, dtype=np.float64) / ranks))


def _topk_block(d_block: np.ndarray, rows: np.ndarray, stats: RankStats, rel: Relevance, k: int,
                rel_block: np.ndarray | None) -> None:
    """Relevance of ranks 1..k of each query row: every item below the k-th item's distance, then the
    boundary distance's items in database order; ordered by a stable counting sort on (row, distance)."""
    width = stats.bits + 1
    nd = d_block.shape[1]
    k_eff = min(k, nd)
    cum = np.cumsum(stats.hist_all[rows], axis=1)
    boundary = (cum < k_eff).sum(axis=1)  # the distance holding rank k_eff
    group = max(1, 65535 // width)  # rows per uint16 sort key
    for g0 in range(0, len(rows), group):
        sub = slice(g0, min(len(rows), g0 + group))
        part = d_block[sub]
        flat = np.flatnonzero(part <= boundary[sub, None].astype(part.dtype))
        local, cols = np.divmod(flat, nd)
        key = (local * width + part.ravel()[flat]).astype(np.uint16)
        perm = np.argsort(key, kind="stable")  # radix sort: rows, then distance, then db order
        local, cols = local[perm], cols[perm]
        counts = np.bincount(local, minlength=sub.stop - sub.start)
        starts = np.cumsum(counts) - counts
        rank = np.arange(local.shape[0]) - starts[local]
        keep = rank < k_eff
        local, cols, rank = local[keep], cols[keep], rank[keep]
        q_rows = rows[sub][local]
        if rel.single:
            hits = rel.pairs(q_rows, cols)
        else:
            hits = rel_block[sub][local, cols]
        stats.topk_rel[q_rows, rank] = hits


def _stats_torch(qc: PackedCodes, dc: PackedCodes, rel: Relevance, needs: Needs, block: int | None,
                 device: str) -> RankStats:
    """The same statistics with torch (the CUDA path): ±1 matmul distances, bincount, stable sort."""
    import torch

    nq, nd, bits = qc.n, dc.n, qc.bits
    width = bits + 1
    stats = _new_stats(nq, nd, bits, needs, device)
    block = max(1, int(block)) if block else max(1, min(4096, (256 << 20) // (8 * nd)))
    mdt = matmul_dtype(bits, device)
    d_pm1 = torch_pm1(dc, device, mdt)
    if rel.single:
        d_lab = torch.from_numpy(rel.d).to(device)
        q_lab_all = torch.from_numpy(rel.q).to(device)
    else:
        ldt = torch.float16 if str(device).startswith("cuda") and rel.d_hot.shape[1] <= 2048 else torch.float32
        d_hot = torch.from_numpy(rel.d_hot).to(device=device, dtype=ldt)
        q_hot_all = torch.from_numpy(rel.q_hot).to(device=device, dtype=ldt)
    positions = torch.arange(1, nd + 1, device=device, dtype=torch.float64)
    k_eff = min(needs.topk, nd)
    for start in range(0, nq, block):
        stop = min(nq, start + block)
        b = stop - start
        dist = hamming_torch(torch_pm1(qc[start:stop], device, mdt), d_pm1)  # (b, nd) int32
        if rel.single:
            is_rel = d_lab[None, :] == q_lab_all[start:stop, None]
        else:
            is_rel = (q_hot_all[start:stop] @ d_hot.T) > 0
        offsets = torch.arange(b, device=device, dtype=torch.int64)[:, None] * (2 * width)
        keys = dist.to(torch.int64) + is_rel.to(torch.int64) * width + offsets
        counts = torch.bincount(keys.flatten(), minlength=b * 2 * width).reshape(b, 2, width)
        stats.hist_rel[start:stop] = counts[:, 1].cpu().numpy()
        stats.hist_all[start:stop] = (counts[:, 0] + counts[:, 1]).cpu().numpy()
        if needs.ap:
            ranked = torch.sort(dist, dim=1, stable=True).indices
            hits = torch.gather(is_rel, 1, ranked)
            found = torch.cumsum(hits, dim=1, dtype=torch.float64)
            ap = torch.where(hits, found / positions, torch.zeros((), dtype=torch.float64, device=device))
            stats.ap_sum[start:stop] = ap.sum(dim=1).cpu().numpy()
            if needs.topk:
                stats.topk_rel[start:stop, :k_eff] = hits[:, :k_eff].cpu().numpy()
        elif needs.topk:
            unique = dist.to(torch.int64) * nd + torch.arange(nd, device=device)  # db-order tie break
            top = torch.topk(unique, k_eff, dim=1, largest=False, sorted=True).indices
            stats.topk_rel[start:stop, :k_eff] = torch.gather(is_rel, 1, top).cpu().numpy()
    return stats
