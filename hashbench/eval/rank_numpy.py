"""The numpy backend of the ranking pass (the fallback where numba does not import, and
``HASHBENCH_KERNEL=numpy``): blocks of queries against the whole database, histograms by bincount, AP
sums from a (relevant-item segment x distance) table or a stable counting sort, top-k by a radix sort.
Single-label queries are processed class by class (their relevant items and segments are shared)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

from ..codes import PackedCodes, distance_dtype, hamming64
from ..device import ranking_threads
from .relevance import Relevance
from .stats import Needs, RankStats, new_stats

__all__ = ["stats_numpy", "SEGMENT_TABLE_LIMIT"]

#: the (relevant segment x distance) table is used while it has at most this many cells per database item
SEGMENT_TABLE_LIMIT = 2.0



def stats_numpy(qc: PackedCodes, dc: PackedCodes, rel: Relevance, needs: Needs,
                 block: int | None, workers: int | None = None) -> RankStats:
    nq, nd, bits = qc.n, dc.n, qc.bits
    stats = new_stats(nq, nd, bits, needs, "cpu")
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

