"""Benchmark: FAISS binary-index search over 1,000,000 64-bit codes (hashbench.eval.search).

    .venv/bin/python benchmarks/bench_search.py [--n 1000000] [--queries 200]

Prints build time and the median / 90th-percentile latency of a top-100 search for ONE query (one
``index.search`` call per query, as `hashbench search --id` does), for the exact ``flat`` index and the
approximate ``ivf`` and ``hash`` indexes, with their recall (returned items within the exact 100th
distance).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hashbench.codes import pack_codes  # noqa: E402
from hashbench.eval.search import build_index, import_faiss, search_index  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    faiss = import_faiss()
    rng = np.random.default_rng(0)
    db = pack_codes(rng.integers(0, 2, size=(args.n, 64), dtype=np.int8))
    queries = pack_codes(rng.integers(0, 2, size=(args.queries, 64), dtype=np.int8))
    print(f"faiss {faiss.__version__}, {args.n:,} database codes x 64 bits, top-{args.k}, {args.queries} single-query"
          f" searches, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.2f}")
    exact = None
    configs = [("flat", {}), ("ivf", {"nlist": 1000, "nprobe": 16}), ("hash", {"hash_bits": 16, "nflip": 2})]
    for threads in (faiss.omp_get_max_threads(), 1):
        faiss.omp_set_num_threads(threads)
        print(f"\nOpenMP threads: {threads}")
        print(f"{'index':<6} {'build s':>8} {'median ms':>10} {'p90 ms':>8} {'recall@100':>11}")
        for kind, params in configs:
            start = time.perf_counter()
            index = build_index(db, kind, **params)
            build = time.perf_counter() - start
            latencies, found = [], []
            for i in range(queries.n):
                t0 = time.perf_counter()
                distances, rows = search_index(index, queries[i], args.k)
                latencies.append(time.perf_counter() - t0)
                found.append(distances[0])
            found = np.stack([np.pad(f, (0, args.k - len(f)), constant_values=10**6) for f in found])
            if kind == "flat":
                exact = found
            # ties make row identity ambiguous: count returned items within the exact k-th distance
            recall = float(np.mean(found <= exact[:, -1:]))
            lat = sorted(latencies)
            print(f"{kind:<6} {build:>8.2f} {statistics.median(lat) * 1e3:>10.2f}"
                  f" {lat[int(0.9 * len(lat))] * 1e3:>8.2f} {recall:>11.3f}")
    print("\nrecall@100 = share of returned items within the exact 100th-nearest distance")


if __name__ == "__main__":
    main()
