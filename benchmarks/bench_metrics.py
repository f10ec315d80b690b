"""Benchmark: hashbench's metrics against the original repo's per-query ``np.argsort`` loop.

    .venv/bin/python benchmarks/bench_metrics.py            # all sections
    .venv/bin/python benchmarks/bench_metrics.py --quick    # smaller 1M section (100 queries)

0. The numba kernel's JIT: first-call time in a fresh process with an empty numba cache (compilation),
   then in another fresh process with that cache filled (what every later process pays).
1. UCF101 split-1 size: 3,783 queries x 9,537 database codes, 48 bits, 101 classes (the real CSQ UCF101
   codes cut to their first 48 bits when tests/data is present, else clustered random codes):
   ``map`` and ``map@100`` vs the original ``compute_MAP`` / ``compute_topk_mAP`` loops, same codes, with
   both CPU kernels (``HASHBENCH_KERNEL=numba``, the default, and the numpy fallback); steady state
   (kernel compiled and loaded before timing).
2. 1,000,000 database x 1,000 queries, 64 bits, 100 classes (clustered random codes): ``map`` and
   ``map_tie`` with each kernel, each in a fresh process (time of the metric call after the kernel is
   loaded, peak RSS of the process); the original loop is timed on a subset of queries and extrapolated
   linearly (it is O(queries)).
3. CUDA: the 1M x 1k and 1M x 10k cases on the GPU when torch sees one; otherwise says so.

Prints medians of repeated timings and the ratios, all from this one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT))

import hashbench  # noqa: E402
from hashbench.codes import pack_codes  # noqa: E402
from hashbench.eval.metrics import numba_kernels  # noqa: E402

KERNELS = ("numba", "numpy")


# --------------------------------------------------------------------------------------------------
# The original repo's loops (Video-Retrieval-C3D utils), verbatim in behaviour
# --------------------------------------------------------------------------------------------------
def original_compute_map(db_binary, db_label, test_binary, test_label):
    AP = []
    Ns = np.array(range(1, db_binary.shape[0] + 1)).astype(np.float32)
    for i in range(test_binary.shape[0]):
        query_binary = test_binary[i]
        query_label = test_label[i]
        query_result = np.argsort(np.sum((query_binary != db_binary), axis=1))
        correct = (query_label == db_label[query_result])
        P = np.cumsum(correct, axis=0) / Ns
        AP.append(np.sum(P * correct) / np.sum(correct))
    return np.mean(np.array(AP))


def original_compute_topk_map(db_binary, db_label, test_binary, test_label, k):
    AP = []
    Ns = np.array(range(1, k + 1)).astype(np.float32)
    for i in range(test_binary.shape[0]):
        query_binary = test_binary[i]
        query_label = test_label[i]
        query_result = np.argsort(np.sum((query_binary != db_binary), axis=1))
        correct = (query_label == db_label[query_result[0:k]])
        P = np.cumsum(correct, axis=0) / Ns
        if np.sum(correct) == 0:
            AP.append(0.)
        else:
            AP.append(np.sum(P * correct) / np.sum(correct))
    return np.mean(np.array(AP))


# --------------------------------------------------------------------------------------------------
def clustered_codes(n, bits, classes, flip, rng):
    """±1 int8 codes: a random centre per class with each bit flipped with probability ``flip``."""
    centres = rng.integers(0, 2, size=(classes, bits), dtype=np.int8)
    labels = rng.integers(0, classes, size=n)
    codes = centres[labels] ^ (rng.random((n, bits), dtype=np.float32) < flip).astype(np.int8)
    return codes * 2 - 1, labels, centres


def timed(fn, repeat):
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def ucf_codes(real=True):
    root = TEST_DATA / "csq_codes" / "ucf101"
    if real and root.is_dir():
        q = np.sign(np.load(root / "test_hash.npy")[:, :48]).astype(np.int8)
        d = np.sign(np.load(root / "database_hash.npy")[:, :48]).astype(np.int8)
        return (q, np.load(root / "test_label.npy").astype(np.int64), d,
                np.load(root / "database_label.npy").astype(np.int64), "CSQ UCF101 codes, first 48 bits")
    rng = np.random.default_rng(0)
    d, dl, centres = clustered_codes(9537, 48, 101, 0.15, rng)
    ql = rng.integers(0, 101, 3783)
    q = (centres[ql] ^ (rng.random((3783, 48)) < 0.15).astype(np.int8)) * 2 - 1
    return q.astype(np.int8), ql, d, dl, "clustered random codes (no repeated codes)"


def section_jit():
    print("\n== 0. numba kernel JIT (fresh processes; import + first compute_stats call on a tiny case)")
    with tempfile.TemporaryDirectory(prefix="hashbench-numba-cache-") as cache:
        cold = run_jit_child(cache)
        warm = run_jit_child(cache)
    print(f"first call, empty cache (compile): {cold['seconds']:.2f} s;"
          f" first call, cache filled (load): {warm['seconds']:.2f} s"
          f"  (numba {cold['numba']}, {cold['threads']} threads)")


def jit_child():
    """In a fresh process: time loading/compiling the numba kernel (its first call)."""
    import numba

    start = time.perf_counter()
    module = numba_kernels()
    seconds = time.perf_counter() - start
    assert module is not None, "numba did not import"
    print(json.dumps({"seconds": seconds, "numba": numba.__version__, "threads": numba.get_num_threads()}))


def run_jit_child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, __file__, "--jit-child"], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def score_with(kernel, reg, qp, ql, dp, dl, specs):
    os.environ["HASHBENCH_KERNEL"] = kernel
    from hashbench.eval.evaluation import score_codes

    return score_codes(reg, qp, ql, dp, dl, specs)


def section_ucf(repeat, real=True):
    q, ql, d, dl, source = ucf_codes(real)
    distinct = len(np.unique(np.concatenate([q > 0, ql[:, None]], axis=1), axis=0))
    print(f"\n== 1. UCF101 split-1 size: {len(q)} queries x {len(d)} database, 48 bits,"
          f" {len(np.unique(dl))} classes ({source}; {distinct} distinct (code, label) queries)")
    qp, dp = pack_codes(q), pack_codes(d)
    reg = hashbench.registry()
    for kernel in KERNELS:
        score_with(kernel, reg, qp, ql, dp, dl, ["map", "map@100"])  # warm-up (imports, caches, kernel)
    rows = []
    for spec, original in [("map", lambda: original_compute_map(d, dl, q, ql)),
                           ("map@100", lambda: original_compute_topk_map(d, dl, q, ql, 100))]:
        t_orig, orig_value = timed(original, 1)
        times, values = {}, {}
        for kernel in KERNELS:
            times[kernel], values[kernel] = timed(
                lambda kernel=kernel, spec=spec: score_with(kernel, reg, qp, ql, dp, dl, [spec])[spec], repeat)
        rows.append((spec, times, t_orig, values, orig_value))
    six = ["map", "map@100", "map_tie", "map_tie@100", "precision@100", "precision@r2"]
    extra = {}
    for kernel in KERNELS:
        tie = timed(lambda kernel=kernel: score_with(kernel, reg, qp, ql, dp, dl, ["map_tie"])["map_tie"],
                    repeat)
        extra[kernel] = (tie, timed(lambda kernel=kernel: score_with(kernel, reg, qp, ql, dp, dl, six),
                                    repeat)[0])
    print(f"median of {repeat} (hashbench), 1 run (original loop)")
    print(f"{'metric':<10} {'numba s':>9} {'numpy s':>9} {'original s':>11} {'ratio numba':>12}"
          f" {'ratio numpy':>12}   values (numba / numpy / original)")
    for spec, times, t_orig, values, orig_value in rows:
        print(f"{spec:<10} {times['numba']:>9.4f} {times['numpy']:>9.4f} {t_orig:>11.3f}"
              f" {t_orig / times['numba']:>11.1f}x {t_orig / times['numpy']:>11.1f}x"
              f"   {values['numba']:.9f} / {values['numpy']:.9f} / {orig_value:.6f}"
              "  (original: unstable argsort ties)")
    (t_tie_nb, tie_nb), _ = extra["numba"]
    (t_tie_np, tie_np), _ = extra["numpy"]
    print(f"{'map_tie':<10} {t_tie_nb:>9.4f} {t_tie_np:>9.4f} {'-':>11} {'':>12} {'':>12}"
          f"   {tie_nb:.9f} / {tie_np:.9f}")
    print(f"six metrics in one call ({', '.join(six)}): numba {extra['numba'][1]:.4f} s,"
          f" numpy {extra['numpy'][1]:.4f} s")
    os.environ.pop("HASHBENCH_KERNEL", None)


# --------------------------------------------------------------------------------------------------
def million_case(n_queries, seed=1):
    rng = np.random.default_rng(seed)
    d, dl, centres = clustered_codes(1_000_000, 64, 100, 0.25, rng)
    ql = rng.integers(0, 100, n_queries)
    q = ((centres[ql] ^ (rng.random((n_queries, 64)) < 0.25).astype(np.int8)) * 2 - 1).astype(np.int8)
    return q, ql, d, dl


def child(metric, n_queries, device, block):
    """Run one metric on the 1M case in this (fresh) process; print JSON with time and peak RSS."""
    q, ql, d, dl = million_case(n_queries)
    qp, dp = pack_codes(q), pack_codes(d)
    del q, d
    from hashbench.eval.evaluation import score_codes
    from hashbench.eval.metrics import cpu_kernel

    reg = hashbench.registry()
    start = time.perf_counter()
    kernel = cpu_kernel() if device == "cpu" else "torch"  # loads the numba kernel where that is used
    load = time.perf_counter() - start
    start = time.perf_counter()
    value = score_codes(reg, qp, ql, dp, dl, [metric], device=device, block=block)[metric]
    seconds = time.perf_counter() - start
    peak_kb = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak_kb = int(line.split()[1])
    print(json.dumps({"metric": metric, "seconds": seconds, "value": value, "peak_rss_mb": peak_kb / 1024,
                      "kernel": kernel, "load_seconds": load}))


def run_child(metric, n_queries, device="cpu", block=None, kernel=None):
    cmd = [sys.executable, __file__, "--child", metric, "--queries", str(n_queries), "--device", device]
    if block:
        cmd += ["--block", str(block)]
    env = dict(os.environ, **({"HASHBENCH_KERNEL": kernel} if kernel else {}))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def section_million(n_queries, naive_queries):
    print(f"\n== 2. 1,000,000 database x {n_queries:,} queries, 64 bits, 100 classes (clustered random codes),"
          f" CPU, each metric in a fresh process")
    results = [run_child(metric, n_queries, kernel=kernel) for kernel in KERNELS for metric in ("map", "map_tie")]
    q, ql, d, dl = million_case(n_queries)
    sub = slice(0, naive_queries)
    start = time.perf_counter()
    original_compute_map(d, dl, q[sub], ql[sub])
    per_query = (time.perf_counter() - start) / naive_queries
    naive_total = per_query * n_queries
    print(f"original compute_MAP loop: {per_query:.3f} s/query, timed on {naive_queries} queries,"
          f" extrapolated x{n_queries // naive_queries} to {naive_total:.1f} s for {n_queries:,} queries")
    print(f"{'metric':<8} {'kernel':<6} {'hashbench s':>12} {'peak RSS MB':>12} {'orig. (extrap.) s':>18}"
          f" {'ratio':>8}  value  (kernel load before timing, s)")
    for r in results:
        print(f"{r['metric']:<8} {r['kernel']:<6} {r['seconds']:>12.2f} {r['peak_rss_mb']:>12.0f}"
              f" {naive_total:>18.1f} {naive_total / r['seconds']:>7.1f}x  {r['value']:.6f}"
              f"  ({r['load_seconds']:.2f})")


def section_gpu():
    print("\n== 3. CUDA")
    try:
        import torch
    except ImportError:
        print("no torch, skipped")
        return
    if not torch.cuda.is_available():
        print("no CUDA, skipped")
        return
    print(f"device: {torch.cuda.get_device_name(0)}")
    for n_queries in (1000, 10_000):
        for metric in ("map", "map_tie"):
            r = run_child(metric, n_queries, device="cuda")
            print(f"1M x {n_queries:,} {metric:<8} {r['seconds']:.2f} s  value {r['value']:.6f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M section with 100 queries")
    parser.add_argument("--repeat", type=int, default=7, help="timings per hashbench measurement (median)")
    parser.add_argument("--child")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--block", type=int, default=None)
    parser.add_argument("--sections", default="0,1,2,3")
    parser.add_argument("--jit-child", action="store_true")
    args = parser.parse_args()
    if args.jit_child:
        jit_child()
        return
    if args.child:
        child(args.child, args.queries, args.device, args.block)
        return
    print(f"hashbench {hashbench.__version__}, numpy {np.__version__}, python {platform.python_version()},"
          f" {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.2f}")
    print(f"CPU kernels: {', '.join(KERNELS)} (numba default where it imports; HASHBENCH_KERNEL selects)")
    sections = args.sections.split(",")
    if "0" in sections:
        section_jit()
    if "1" in sections:
        section_ucf(args.repeat, real=True)
        section_ucf(args.repeat, real=False)
    if "2" in sections:
        section_million(100 if args.quick else 1000, 5)
    if "3" in sections:
        section_gpu()


if __name__ == "__main__":
    main()
