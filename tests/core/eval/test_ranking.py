"""hashbench.eval.ranking and its backends (rank_numpy, rank_numba, rank_torch): identical integer
statistics for every block size, thread count, path and backend; kernel selection (HASHBENCH_KERNEL),
numba missing or without a cache directory, fork-started workers and threads."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from support import ROOT

import hashbench.eval.metrics as M
import hashbench.eval.rank_numpy as rank_numpy
from hashbench.errors import ConfigError
from hashbench.eval.metrics import MapAtK, MapTie, MeanAP, compute_stats, score_metrics

#: the CPU kernels every exactness test runs on (the numba kernel is the default where numba imports)
KERNELS = ["numba", "numpy"]


def test_topk_ranks_break_ties_in_database_order():
    qc = np.array([[1, 1, 1, 1]])
    dc = np.array([[1, 1, 1, -1], [1, 1, 1, 1], [1, 1, -1, 1], [1, 1, 1, 1]])  # distances 1, 0, 1, 0
    dl = np.array([0, 1, 0, 0])
    for backend in KERNELS + ["torch"]:
        stats = compute_stats(qc, np.array([0]), dc, dl, M.Needs(ap=True, topk=4), backend=backend)
        assert stats.hist_all.tolist() == [[2, 2, 0, 0, 0]] and stats.hist_rel.tolist() == [[1, 2, 0, 0, 0]]
        # ranked: db 1 (d0, irrelevant), db 3 (d0, relevant), db 0 (d1, relevant), db 2 (d1, relevant)
        assert stats.topk_rel.tolist() == [[False, True, True, True]]
        assert stats.ap_sum[0] == pytest.approx(1 / 2 + 2 / 3 + 3 / 4)


def test_statistics_identical_across_block_sizes_backends_and_paths(monkeypatch):
    rng = np.random.default_rng(8)
    qc, dc = rng.choice([-1, 1], size=(37, 24)), rng.choice([-1, 1], size=(500, 24))
    for ql, dl in [(rng.integers(0, 5, 37), rng.integers(0, 5, 500)),
                   (rng.random((37, 6)) < 0.3, rng.random((500, 6)) < 0.3)]:
        needs = M.Needs(ap=True, topk=60)
        ref = compute_stats(qc, ql, dc, dl, needs, block=37, backend="numpy")
        runs = [compute_stats(qc, ql, dc, dl, needs, block=b, backend=be)
                for b in (1, 5, 64) for be in ("numba", "numpy", "torch")]
        runs.append(compute_stats(qc, ql, dc, dl, needs, block=3, workers=3, backend="numpy"))  # threads
        runs += [compute_stats(qc, ql, dc, dl, needs, block=b, workers=w, backend="numba", dedup=False)
                 for b, w in ((1, 1), (2, 2), (None, None))]
        runs.append(compute_stats(qc, ql, dc, dl, needs, block=4, dedup=False))
        monkeypatch.setattr(rank_numpy, "SEGMENT_TABLE_LIMIT", -1e9)
        runs.append(compute_stats(qc, ql, dc, dl, needs, block=7, backend="numpy"))
        monkeypatch.setattr(rank_numpy, "SEGMENT_TABLE_LIMIT", 2.0)
        for other in runs:
            np.testing.assert_array_equal(other.hist_all, ref.hist_all)
            np.testing.assert_array_equal(other.hist_rel, ref.hist_rel)
            np.testing.assert_array_equal(other.topk_rel, ref.topk_rel)
            np.testing.assert_allclose(other.ap_sum, ref.ap_sum, rtol=1e-13)


@pytest.mark.parametrize("backend", KERNELS)
def test_duplicate_queries_are_ranked_once_with_identical_results(backend):
    rng = np.random.default_rng(12)
    qc, dc = rng.choice([-1, 1], size=(6, 10)), rng.choice([-1, 1], size=(120, 10))
    ql, dl = rng.integers(0, 3, 6), rng.integers(0, 3, 120)
    order = rng.integers(0, 6, 40)  # 40 queries, many repeated (same code and label)
    qc2, ql2 = qc[order], ql[order]
    ql2[:3] = (ql2[:3] + 1) % 3  # same code, other label: a different query
    needs = M.Needs(ap=True, topk=15)
    dedup = compute_stats(qc2, ql2, dc, dl, needs, backend=backend)
    plain = compute_stats(qc2, ql2, dc, dl, needs, dedup=False, backend=backend)
    for name in ("hist_all", "hist_rel", "topk_rel", "ap_sum"):
        np.testing.assert_array_equal(getattr(dedup, name), getattr(plain, name))


@pytest.mark.gpu
def test_cuda_path_gives_the_cpu_statistics():
    rng = np.random.default_rng(21)
    qc, dc = rng.choice([-1, 1], size=(300, 48)), rng.choice([-1, 1], size=(20000, 48))
    for ql, dl in [(rng.integers(0, 10, 300), rng.integers(0, 10, 20000)),
                   (rng.random((300, 5)) < 0.3, rng.random((20000, 5)) < 0.3)]:
        needs = M.Needs(ap=True, topk=100)
        cpu = compute_stats(qc, ql, dc, dl, needs, device="cpu")
        gpu = compute_stats(qc, ql, dc, dl, needs, device="cuda", block=37)
        np.testing.assert_array_equal(gpu.hist_all, cpu.hist_all)
        np.testing.assert_array_equal(gpu.hist_rel, cpu.hist_rel)
        np.testing.assert_array_equal(gpu.topk_rel, cpu.topk_rel)
        np.testing.assert_allclose(gpu.ap_sum, cpu.ap_sum, rtol=1e-12)


def test_kernel_env_var_selects_the_cpu_backend(monkeypatch):
    monkeypatch.setenv("HASHBENCH_KERNEL", "numpy")
    assert M.cpu_kernel() == "numpy"
    monkeypatch.setenv("HASHBENCH_KERNEL", "numba")
    assert M.cpu_kernel() == "numba"
    monkeypatch.delenv("HASHBENCH_KERNEL")
    assert M.cpu_kernel() == "numba"  # numba is a dependency: the default where it imports
    monkeypatch.setenv("HASHBENCH_KERNEL", "fortran")
    with pytest.raises(ConfigError, match="HASHBENCH_KERNEL='fortran': expected one of auto, numba, numpy"):
        compute_stats(np.ones((1, 4)), [0], np.ones((2, 4)), [0, 1])


NO_NUMBA = """
import json, os, sys
sys.modules["numba"] = None  # `import numba` now raises ImportError, as where it is not installed
import numpy as np
import hashbench.eval.metrics as M
from hashbench.errors import ConfigError
rng = np.random.default_rng(5)
qc, dc = rng.choice([-1, 1], size=(30, 20)), rng.choice([-1, 1], size=(200, 20))
ql, dl = rng.integers(0, 4, 30), rng.integers(0, 4, 200)
out = {"kernel": M.cpu_kernel()}
results, _ = M.score_metrics([M.MeanAP(), M.MapAtK(10), M.MapTie()], qc, ql, dc, dl)
out["values"] = [r.value for r in results]
os.environ["HASHBENCH_KERNEL"] = "numba"
try:
    M.cpu_kernel()
except ConfigError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


def test_without_numba_the_numpy_kernel_gives_the_same_metrics():
    import json

    env = {k: v for k, v in __import__("os").environ.items() if k != "HASHBENCH_KERNEL"}
    proc = subprocess.run([sys.executable, "-c", NO_NUMBA], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["kernel"] == "numpy"
    assert "HASHBENCH_KERNEL=numba but the numba kernel is unavailable (ModuleNotFoundError" in out["error"]
    rng = np.random.default_rng(5)
    qc, dc = rng.choice([-1, 1], size=(30, 20)), rng.choice([-1, 1], size=(200, 20))
    ql, dl = rng.integers(0, 4, 30), rng.integers(0, 4, 200)
    here, _ = score_metrics([MeanAP(), MapAtK(10), MapTie()], qc, ql, dc, dl, backend="numba")
    assert out["values"] == pytest.approx([r.value for r in here], abs=1e-12)


def test_kernels_compile_uncached_where_numba_has_no_cache_directory(monkeypatch):
    """A read-only install (no writable __pycache__, no user cache dir): numba's cache=True raises at
    decoration; hashbench's decorator falls back to per-process compilation."""
    import numba
    from numba.core import caching

    from hashbench.eval import _kernels

    def twice(x):
        return 2 * x

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")  # numba >= / < 0.61
    monkeypatch.setattr(impl, "_locator_classes", [])  # no locator finds a writable place
    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(twice)
    compiled = _kernels._jit()(twice)
    assert compiled(21) == 42 and compiled._cache.__class__.__name__ == "NullCache"


FORKED = """
import multiprocessing as mp
import numpy as np
from hashbench.eval.metrics import Needs, compute_stats

def hist_sum(seed):
    rng = np.random.default_rng(seed)
    qc, dc = rng.choice([-1, 1], size=(40, 16)), rng.choice([-1, 1], size=(300, 16))
    stats = compute_stats(qc, rng.integers(0, 3, 40), dc, rng.integers(0, 3, 300), Needs(ap=True, topk=5),
                          backend="numba")
    return int(stats.hist_all.sum())

print(hist_sum(0))  # the parallel kernel has run in the parent
with mp.get_context("fork").Pool(2) as pool:
    print(pool.map(hist_sum, range(4)))
"""


def test_numba_kernel_runs_in_fork_started_workers_after_the_parent_used_it():
    """GNU OpenMP (numba's default threading layer here) kills a forked child that runs a parallel
    kernel; hashbench selects the fork-safe workqueue layer."""
    proc = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["12000", "[12000,", "12000,", "12000,", "12000]"]


def test_numba_kernel_calls_from_several_threads_agree():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    qc, dc = rng.choice([-1, 1], size=(64, 40)), rng.choice([-1, 1], size=(2000, 40))
    ql, dl = rng.integers(0, 7, 64), rng.integers(0, 7, 2000)
    needs = M.Needs(ap=True, topk=20)
    ref = compute_stats(qc, ql, dc, dl, needs, backend="numpy")
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda b: compute_stats(qc, ql, dc, dl, needs, block=b, backend="numba"),
                             [1, 3, 8, 64, 5, 2]))
    for run in runs:
        np.testing.assert_array_equal(run.hist_all, ref.hist_all)
        np.testing.assert_array_equal(run.topk_rel, ref.topk_rel)
        np.testing.assert_allclose(run.ap_sum, ref.ap_sum, rtol=1e-13)


