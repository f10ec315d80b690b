"""Benchmark: the SSVH protocol's metric, ``map_over_k@K`` at K = 5, 10, 20, 40, 60, 80, 100, on an
FCVID-size all-vs-all case, against the previous ranking pass and the papers' per-query loop; and how
much the papers' unstable numpy sort moves the numbers.

    .venv/bin/python benchmarks/bench_ssvh_metric.py                # both sections
    .venv/bin/python benchmarks/bench_ssvh_metric.py --sections 1   # timings only
    .venv/bin/python benchmarks/bench_ssvh_metric.py --threads 2    # ranking threads (default 2)

1. FCVID size: 45,600 queries = the 45,600 database codes (include_self), 64 bits, 239 classes multi-hot
   (one class per video, every fourth video a second one), clustered codes (a centre per class, bits
   flipped with probability 0.2) and uniform random codes. Timed, medians of ``--repeat`` runs, all in
   this process:
   - ``hashbench.score`` with :func:`hashbench.eval.ssvh.ssvh_metrics` (``include_self=True``): one
     ranking pass of the top 100 (the numba top-k pass: relevance tested for those items only);
   - the previous pass for the same 7 metrics: the fused kernel with histograms (relevance of every
     item, a second pass for the top 100), as ``hashbench.score`` ran them before;
   - the papers' per-query loop (distances of one query column, ``np.argsort``, ``mAP`` once per K
     walking its top K), timed on ``--loop-queries`` queries and extrapolated linearly to 45,600.
   Wall seconds and CPU seconds (this process, all threads); on a shared machine the CPU seconds are
   the steadier measure (a quiet machine's wall time with T threads is about CPU / T), and the ratios
   are of CPU seconds.
2. Tie order: hashbench's stable order (distance, then database index) against numpy's default
   ``argsort`` (quicksort kind, what the papers call) on the same float distances, for the database in
   its order and in ``--perms`` random orders (each a different arrangement of the ties), on
   ``--tie-queries`` queries of the all-vs-all case, random and clustered codes, 16, 32 and 64 bits.
   Prints mAP@K per K for the stable order and the largest |papers - stable| over the orders.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hashbench  # noqa: E402
from hashbench.codes import pack_codes  # noqa: E402
from hashbench.eval.metrics import MapAtK, Needs, compute_stats  # noqa: E402
from hashbench.eval.relevance import Relevance  # noqa: E402
from hashbench.eval.ssvh import SSVH_K, ssvh_metrics  # noqa: E402

N, CLASSES = 45_600, 239


def fcvid_case(bits, clustered, seed=0):
    """±1 int8 codes (N, bits) and multi-hot int8 labels (N, 239)."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, CLASSES, N)
    labels = np.zeros((N, CLASSES), dtype=np.int8)
    labels[np.arange(N), classes] = 1
    labels[np.arange(0, N, 4), rng.integers(0, CLASSES, len(range(0, N, 4)))] = 1
    if clustered:
        centres = rng.integers(0, 2, size=(CLASSES, bits), dtype=np.int8)
        codes = centres[classes] ^ (rng.random((N, bits), dtype=np.float32) < 0.2).astype(np.int8)
    else:
        codes = rng.integers(0, 2, size=(N, bits), dtype=np.int8)
    return (codes * 2 - 1).astype(np.int8), labels


def timed(fn, repeat):
    """Median wall seconds, median CPU seconds of this process (all threads), and the value."""
    times, cpu, value = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        value = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), value


def previous_pass(codes, labels, workers):
    """The 7 metrics from the fused kernel with histograms (the pass they used before the top-k pass)."""
    packed = pack_codes(codes)
    stats = compute_stats(packed, Relevance(labels, labels, N, N), packed, None, Needs(topk=100),
                          workers=workers)
    return {f"map_over_k@{k}": MapAtK(k, "k").from_stats(stats).value for k in SSVH_K}


def papers_loop(codes, labels, queries):
    """The papers' evaluation for the first ``queries`` queries: distances ``0.5 * (bits - B_db B_q^T)``
    and label products ``L_db L_q^T`` by BLAS (in blocks of 100 queries here: the papers form the whole
    45,600 x 45,600 float64 matrices, 16.6 GB each), numpy's default ``argsort`` of every query's
    column, then ``mAP`` once per K walking each query's top K (Python loops, as in ``tools.py``)."""
    b = codes.astype(np.float64)
    lab = labels.astype(np.float64)
    bits = codes.shape[1]
    sums = {k: 0.0 for k in SSVH_K}
    for q0 in range(0, queries, 100):
        q1 = min(queries, q0 + 100)
        dist = 0.5 * (bits - b @ b[q0:q1].T)  # (N, block): one column per query
        sim = lab @ lab[q0:q1].T
        order = np.argsort(dist, axis=0)
        for k in SSVH_K:
            for c in range(q1 - q0):
                x, p = 0, 0.0
                for r in range(k):
                    if sim[order[r, c], c] > 0:
                        x += 1
                        p += x / (r + 1.0)
                sums[k] += p / k if p else 0.0
    return {k: v / queries for k, v in sums.items()}


def section_speed(repeat, threads, loop_queries):
    print(f"\n== 1. FCVID size, all-vs-all {N:,} x {N:,}, 64 bits, {CLASSES} classes multi-hot, 7 K in one"
          f" call, {threads} ranking threads (HASHBENCH_THREADS)")
    specs = ssvh_metrics(include_self=True)
    for clustered in (True, False):
        codes, labels = fcvid_case(64, clustered)
        hashbench.score(codes[:100], labels[:100], codes[:100], labels[:100], specs)  # load the kernels
        t_new, cpu_new, new = timed(lambda: hashbench.score(codes, labels, codes, labels, specs), repeat)
        t_old, cpu_old, old = timed(lambda: previous_pass(codes, labels, threads), max(1, repeat // 2))
        start = time.process_time()
        loop = papers_loop(codes, labels, loop_queries)
        cpu_loop = (time.process_time() - start) / loop_queries * N
        sub = hashbench.score(codes[:loop_queries], labels[:loop_queries], codes, labels,
                              [f"map_over_k@{k}" for k in SSVH_K])
        name = "clustered" if clustered else "random"
        same = all(new[key] == old[key] for key in new)
        print(f"{name} codes: top-k pass {t_new:.3f} s wall, {cpu_new:.2f} CPU s | previous pass {t_old:.3f} s"
              f" wall, {cpu_old:.2f} CPU s ({cpu_old / cpu_new:.1f}x CPU, {t_old / t_new:.1f}x wall) |"
              f" papers' loop {cpu_loop:.0f} CPU s extrapolated from {loop_queries} queries"
              f" ({cpu_loop / cpu_new:.0f}x CPU) | values equal to the previous pass: {same}")
        print("   mAP@K/K: " + ", ".join(f"@{k} {new[f'map_over_k@{k}']:.4f}" for k in SSVH_K))
        worst = max(abs(loop[k] - sub[f"map_over_k@{k}"]) for k in SSVH_K)
        print(f"   papers' loop vs hashbench on those {loop_queries} queries: max |delta| {worst:.2e}"
              " (ties: numpy's default argsort vs database order)")


def ap_over_k(top_relevant):
    """mAP@K / K for every K from the relevance of ranks 1..100 ``(q, 100)`` bool."""
    hits = np.cumsum(top_relevant, axis=1)
    terms = np.where(top_relevant, hits / np.arange(1, 101), 0.0)
    return {k: float((terms[:, :k].sum(axis=1) / k).mean()) for k in SSVH_K}


def tie_case(codes, labels, queries, perms, seed=1):
    """mAP@K/K of the first ``queries`` queries: stable order, and the largest |quicksort - stable| over
    the database in its order and ``perms`` random orders."""
    rng = np.random.default_rng(seed)
    b = codes.astype(np.float64)
    lab = labels.astype(np.float64)
    dist = 0.5 * (codes.shape[1] - b[:queries] @ b.T)  # (queries, N) float64, like the papers
    relevant = (lab[:queries] @ lab.T) > 0
    rows = np.arange(queries)[:, None]
    stable = ap_over_k(relevant[rows, np.argsort(dist, axis=1, kind="stable")[:, :100]])
    worst = {k: 0.0 for k in SSVH_K}
    for p in range(perms + 1):
        perm = np.arange(N) if p == 0 else rng.permutation(N)
        order = perm[np.argsort(dist[:, perm], axis=1)[:, :100]]  # numpy's default kind, as the papers
        papers = ap_over_k(relevant[rows, order])
        for k in SSVH_K:
            worst[k] = max(worst[k], abs(papers[k] - stable[k]))
    return stable, worst


def section_ties(queries, perms):
    print(f"\n== 2. Tie order: stable (distance, database index) vs numpy's default argsort, {queries} queries"
          f" of the all-vs-all case, database in its order + {perms} random orders")
    print(f"{'codes':<10} {'bits':>4} {'distinct':>9}  per K: stable mAP@K/K  [max |papers - stable|]")
    overall = 0.0
    for clustered in (False, True):
        for bits in (16, 32, 64):
            codes, labels = fcvid_case(bits, clustered)
            stable, worst = tie_case(codes, labels, queries, perms)
            check = hashbench.score(codes[:queries], labels[:queries], codes, labels,
                                    [f"map_over_k@{k}" for k in SSVH_K])
            assert all(abs(check[f"map_over_k@{k}"] - stable[k]) < 1e-12 for k in SSVH_K)
            distinct = len(np.unique(codes, axis=0))
            overall = max(overall, max(worst.values()))
            print(f"{'clustered' if clustered else 'random':<10} {bits:>4} {distinct:>9}  "
                  + "  ".join(f"@{k} {stable[k]:.4f} [{worst[k]:.1e}]" for k in SSVH_K))
    print(f"largest |papers - stable| over every case and K: {overall:.2e} (stable values checked equal to"
          " hashbench.score)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="1,2")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loop-queries", type=int, default=300)
    parser.add_argument("--tie-queries", type=int, default=400)
    parser.add_argument("--perms", type=int, default=3)
    args = parser.parse_args()
    os.environ["HASHBENCH_THREADS"] = str(args.threads)
    import numba

    print(f"hashbench {hashbench.__version__}, numpy {np.__version__}, numba {numba.__version__}, python"
          f" {platform.python_version()}, {os.cpu_count()} CPUs visible, load average"
          f" {os.getloadavg()[0]:.2f}")
    if "1" in args.sections.split(","):
        section_speed(args.repeat, args.threads, args.loop_queries)
    if "2" in args.sections.split(","):
        section_ties(args.tie_queries, args.perms)


if __name__ == "__main__":
    main()
