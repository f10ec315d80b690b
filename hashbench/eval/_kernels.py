"""numba-compiled fused ranking kernel: the default CPU backend of :func:`hashbench.eval.ranking.compute_stats`.

Importing this module needs numba (``ImportError`` otherwise; :mod:`hashbench.eval.ranking` then falls back to
its numpy path). One pass over the database per query computes what :class:`~hashbench.eval.ranking.RankStats`
holds, with nothing of size ``queries x database`` in memory:

1. for each database item ``j`` in database order: ``dist = sum popcount(q_word ^ d_word)`` over the
   uint64 words, ``count[dist] += 1``, and for a relevant item ``rel_count[dist] += 1`` and a record
   ``(dist, count[dist])`` (= the items at that distance up to and including ``j``). Single-label
   queries walk their class's member list, so the loop between two relevant items is plain counting
   (no label test, no branch); multi-label queries test each item's label words;
2. the histograms are ``count``/``rel_count``; a relevant record's rank (database-order ties) is
   ``items before dist + its count`` and its place among the relevant items ``relevant before dist +
   relevant items at dist so far``, so ``ap_sum = sum place / rank`` (summed in rank order, like the
   numpy path);
3. when ranks 1..k are asked for, a second pass places every item at distance ``<= `` the k-th item's
   distance at rank ``before[dist] + (items seen at dist)`` while that is < k.

Queries run in parallel chunks (``numba.prange``, one set of scratch buffers per chunk). Compiled code is
cached on disk (``cache=True``); where no cache directory is writable (a read-only install) the functions
compile per process instead.
"""
from __future__ import annotations

import logging

import numba
import numpy as np
from numba import prange, types
from numba.extending import intrinsic

log = logging.getLogger(__name__)

__all__ = ["rank_stats", "rank_topk", "compile_kernels"]


def _jit(**options):
    """``numba.njit(cache=True, **options)``, or uncached where numba finds no writable cache directory."""
    def decorate(fn):
        try:
            return numba.njit(cache=True, **options)(fn)
        except (RuntimeError, OSError) as exc:  # "cannot cache function ...: no locator available"
            log.info("numba cache unavailable for %s (%s); compiling per process", fn.__name__, exc)
            return numba.njit(cache=False, **options)(fn)
    return decorate


@intrinsic
def _popcount(typingctx, x):
    """Population count of a 64-bit integer (LLVM ``ctpop``: one POPCNT instruction), as int64."""
    if isinstance(x, types.Integer) and x.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])
        return types.int64(x), codegen
    return None


@_jit()
def _distance(q64, d64, i, j, nw):
    dist = 0
    for w in range(nw):
        dist += _popcount(q64[i, w] ^ d64[j, w])
    return dist


@_jit()
def _count_range(q64, d64, i, nw, start, stop, count):
    """``count[distance] += 1`` for the database items ``start..stop-1`` (the hot loop)."""
    if nw == 1:  # <= 64 bits: the query word stays in a register
        qw = q64[i, 0]
        for j in range(start, stop):
            count[_popcount(qw ^ d64[j, 0])] += 1
    else:
        for j in range(start, stop):
            count[_distance(q64, d64, i, j, nw)] += 1


@_jit()
def _relevant(q_class, d_class, q_words, d_words, multi, i, j):
    """Is database item ``j`` relevant to query ``i``: equal class, or a shared multi-hot bit."""
    if multi:
        for w in range(q_words.shape[1]):
            if q_words[i, w] & d_words[j, w]:
                return True
        return False
    return q_class[i] == d_class[j]


@_jit()
def _scan_single(q64, d64, i, members, count, rel_count, rec_dist, rec_count):
    """Single-label pass: plain counting between consecutive relevant items ``members`` (their database
    indices, ascending), a record at each. Returns the number of records."""
    nd, nw = d64.shape
    n_rel = members.shape[0]
    start = 0
    for t in range(n_rel + 1):
        stop = members[t] if t < n_rel else nd
        _count_range(q64, d64, i, nw, start, stop, count)
        if t < n_rel:
            dist = _distance(q64, d64, i, stop, nw)
            count[dist] += 1
            rel_count[dist] += 1
            rec_dist[t] = dist
            rec_count[t] = count[dist]
            start = stop + 1
    return n_rel


@_jit()
def _scan_multi(q64, d64, q_words, d_words, i, want_ap, count, rel_count, rec_dist, rec_count):
    """Multi-label pass: every item's relevance tested (any shared label word bit). Returns the number
    of records (0 unless ``want_ap``)."""
    nd, nw = d64.shape
    nl = q_words.shape[1]
    m = 0
    for j in range(nd):
        dist = _distance(q64, d64, i, j, nw)
        count[dist] += 1
        hit = False
        for w in range(nl):
            if q_words[i, w] & d_words[j, w]:
                hit = True
                break
        if hit:
            rel_count[dist] += 1
            if want_ap:
                rec_dist[m] = dist
                rec_count[m] = count[dist]
                m += 1
    return m


@_jit()
def _one_query(q64, d64, q_class, d_class, offsets, members, q_words, d_words, multi, i, k_eff, want_ap,
               count, rel_count, before, rel_before, rec_dist, rec_count, terms,
               hist_all, hist_rel, topk_rel, ap_sum):
    nd, nw = d64.shape
    width = count.shape[0]
    count[:] = 0
    rel_count[:] = 0
    if multi:
        m = _scan_multi(q64, d64, q_words, d_words, i, want_ap, count, rel_count, rec_dist, rec_count)
    else:
        c = q_class[i]
        if c >= 0:
            m = _scan_single(q64, d64, i, members[offsets[c]:offsets[c + 1]], count, rel_count, rec_dist,
                             rec_count)
        else:  # a class absent from the database: nothing is relevant
            _count_range(q64, d64, i, nw, 0, nd, count)
            m = 0
    run = 0
    rel_run = 0
    for v in range(width):
        hist_all[i, v] = count[v]
        hist_rel[i, v] = rel_count[v]
        before[v] = run
        rel_before[v] = rel_run
        run += count[v]
        rel_run += rel_count[v]
    if want_ap:
        rel_count[:] = 0  # now: relevant items seen so far at each distance
        for t in range(m):
            v = rec_dist[t]
            rel_count[v] += 1
            place = rel_before[v] + rel_count[v]  # 1-based place among the relevant items
            terms[place - 1] = place / (before[v] + rec_count[t])
        total = 0.0
        for t in range(m):  # in rank order (the numpy path's summation order)
            total += terms[t]
        ap_sum[i] = total
    if k_eff > 0:
        edge = 0  # the distance holding rank k_eff
        while before[edge] + count[edge] < k_eff:
            edge += 1
        rel_count[:] = 0  # now: items placed so far at each distance
        placed = 0
        for j in range(nd):
            dist = _distance(q64, d64, i, j, nw)
            if dist <= edge:
                rank = before[dist] + rel_count[dist]
                rel_count[dist] += 1
                if rank < k_eff:
                    topk_rel[i, rank] = _relevant(q_class, d_class, q_words, d_words, multi, i, j)
                    placed += 1
                    if placed == k_eff:
                        break


@_jit(parallel=True)
def rank_stats(q64, d64, q_class, d_class, offsets, members, q_words, d_words, multi, topk, want_ap,
               chunk, cap, hist_all, hist_rel, topk_rel, ap_sum):
    """Fill ``hist_all``/``hist_rel`` (nq, bits+1) int64, ``topk_rel`` (nq, topk) bool and ``ap_sum``
    (nq,) float64 (zeros-initialised by the caller).

    ``q64``/``d64``: uint64 code words (nq, W)/(nd, W). Single-label (``multi`` False): int32 dense class
    ids ``q_class`` (nq,) (-1: not in the database) and ``d_class`` (nd,), and the database indices of
    each class ``c`` ascending in ``members[offsets[c]:offsets[c+1]]`` (int32, int64). Multi-label:
    uint64 label words ``q_words``/``d_words``. The unused arguments may be any arrays of those dtypes.
    ``chunk``: queries per parallel task (any value, same result); ``cap``: at least the largest number
    of relevant items of a query (record buffer length).
    """
    nq = q64.shape[0]
    nd = d64.shape[0]
    width = hist_all.shape[1]
    k_eff = min(topk, nd)
    n_chunks = (nq + chunk - 1) // chunk
    for c in prange(n_chunks):
        count = np.zeros(width, np.int64)
        rel_count = np.zeros(width, np.int64)
        before = np.zeros(width, np.int64)
        rel_before = np.zeros(width, np.int64)
        rec_dist = np.empty(cap, np.int32)
        rec_count = np.empty(cap, np.int64)
        terms = np.empty(cap, np.float64)
        for i in range(c * chunk, min(nq, (c + 1) * chunk)):
            _one_query(q64, d64, q_class, d_class, offsets, members, q_words, d_words, multi, i, k_eff,
                       want_ap, count, rel_count, before, rel_before, rec_dist, rec_count, terms,
                       hist_all, hist_rel, topk_rel, ap_sum)


#: database items per block of the one-word top-k scan (a compile-time constant: the block's bound test
#: vectorises)
TOPK_BLOCK = 64


@_jit()
def _admit(j, v, t, below, m, k_eff, count, cand):
    """Item ``j`` at distance ``v <= t`` joins the candidates. Once the candidates within ``t`` number
    ``k_eff``, no later item at distance ``t`` can reach the top k (it ranks after them: database order),
    so ``t`` drops below it, repeatedly; the k-th distance is then ``t + 1``. Returns the new ``(t,
    below, m)`` (``below``: candidates within ``t``)."""
    count[v] += 1
    cand[m] = j
    below += 1
    while below >= k_eff and t >= 0:
        below -= count[t]
        t -= 1
    return t, below, m + 1


@_jit()
def _scan_one_word(qw, d1, k_eff, t, count, cand):
    """Candidates of a query of <= 64 bits (code word ``qw``, database words ``d1`` (nd,)): every item
    at distance <= a running bound that starts at ``t``, in database order, counted per distance in
    ``count`` (exact for distances <= the final bound). Blocks with no item within the bound are passed
    over by a vectorised test. Returns ``(candidates, final bound)``: the k-th distance is the bound + 1,
    unless the bound is still ``t`` (fewer than ``k_eff`` items within ``t``)."""
    nd = d1.shape[0]
    full = nd - nd % TOPK_BLOCK
    count[:] = 0
    below = 0
    m = 0
    for b0 in range(0, full, TOPK_BLOCK):
        inside = 0
        for j in range(TOPK_BLOCK):
            inside += _popcount(qw ^ d1[b0 + j]) <= t
        if inside:
            for j in range(b0, b0 + TOPK_BLOCK):
                v = _popcount(qw ^ d1[j])
                if v <= t:
                    t, below, m = _admit(j, v, t, below, m, k_eff, count, cand)
    for j in range(full, nd):
        v = _popcount(qw ^ d1[j])
        if v <= t:
            t, below, m = _admit(j, v, t, below, m, k_eff, count, cand)
    return m, t


@_jit()
def _scan_words(q64, d64, i, k_eff, t, count, cand):
    """:func:`_scan_one_word` for codes of several words (query row ``i``), item by item."""
    nd, nw = d64.shape
    count[:] = 0
    below = 0
    m = 0
    for j in range(nd):
        v = _distance(q64, d64, i, j, nw)
        if v <= t:
            t, below, m = _admit(j, v, t, below, m, k_eff, count, cand)
    return m, t


@_jit()
def _scan(q64, d64, d1, i, k_eff, t, count, cand):
    if d64.shape[1] == 1:
        return _scan_one_word(q64[i, 0], d1, k_eff, t, count, cand)
    return _scan_words(q64, d64, i, k_eff, t, count, cand)


@_jit()
def _topk_query(q64, d64, d1, q_class, d_class, q_words, d_words, multi, i, k_eff, guess, count, before,
                cand, topk_rel):
    """Ranks 1..k_eff of query ``i`` (distance, then database index); relevance is tested for those
    items only. ``guess``: a bound to try first (the previous query's k-th distance + 1): any bound with
    at least ``k_eff`` items within it gives the exact result; with fewer the scan restarts from the
    largest distance. Returns this query's k-th distance."""
    width = before.shape[0]
    start = min(guess, width - 1)
    m, t = _scan(q64, d64, d1, i, k_eff, start, count, cand)
    if t == start:  # fewer than k_eff items within the guess
        m, t = _scan(q64, d64, d1, i, k_eff, width - 1, count, cand)
    edge = t + 1  # the distance holding rank k_eff
    run = 0
    for v in range(edge + 1):
        before[v] = run
        run += count[v]
    count[:] = 0  # now: candidates placed so far at each distance
    for c in range(m):  # candidates in database order: a counting sort by distance
        j = cand[c]
        v = _distance(q64, d64, i, j, d64.shape[1])
        if v <= edge:
            rank = before[v] + count[v]
            count[v] += 1
            if rank < k_eff:
                topk_rel[i, rank] = _relevant(q_class, d_class, q_words, d_words, multi, i, j)
    return edge


@_jit(parallel=True)
def rank_topk(q64, d64, q_class, d_class, q_words, d_words, multi, topk, chunk, topk_rel):
    """Fill ``topk_rel`` (nq, topk) bool only: the relevance of ranks 1..topk (distance, then database
    index), what ``map@k``, ``map_over_k@k`` and ``precision@k`` need, testing relevance for those items
    alone and skipping, block by block, database items beyond the running k-th distance. Same arguments
    as :func:`rank_stats` (``offsets``/``members`` not taken)."""
    nq = q64.shape[0]
    nd, nw = d64.shape
    width = nw * 64 + 1
    k_eff = min(topk, nd)
    d1 = d64[:, 0].copy()  # one-word codes as a contiguous vector (the vectorised scan)
    n_chunks = (nq + chunk - 1) // chunk
    for c in prange(n_chunks):
        count = np.zeros(width, np.int64)
        before = np.zeros(width, np.int64)
        cand = np.empty(nd, np.int64)
        guess = width - 1
        for i in range(c * chunk, min(nq, (c + 1) * chunk)):
            guess = _topk_query(q64, d64, d1, q_class, d_class, q_words, d_words, multi, i, k_eff, guess,
                                count, before, cand, topk_rel) + 1


def compile_kernels() -> None:
    """Compile (or load from the cache) the kernel for the argument types hashbench uses: a tiny call."""
    q = np.zeros((1, 1), dtype=np.uint64)
    ids = np.zeros(1, dtype=np.int32)
    offsets = np.array([0, 1], dtype=np.int64)
    hist = np.zeros((1, 2), dtype=np.int64)
    rank_stats(q, q, ids, ids, offsets, ids, q, q, False, 1, True, 1, 1, hist, hist.copy(),
               np.zeros((1, 1), dtype=bool), np.zeros(1, dtype=np.float64))
    rank_topk(q, q, ids, ids, q, q, False, 1, 1, np.zeros((1, 1), dtype=bool))
