"""The numba backend of the ranking pass (the default on the CPU): the fused kernel of
:mod:`hashbench.eval._kernels`, its compilation, and which CPU backend ``backend="auto"`` uses
(``$HASHBENCH_KERNEL``)."""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from ..codes import PackedCodes
from ..device import THREADS_ENV, ranking_threads
from ..errors import ConfigError, DataError
from .relevance import Relevance
from .stats import Needs, RankStats, new_stats

logger = logging.getLogger(__name__)

__all__ = ["KERNELS", "KERNEL_ENV", "numba_kernels", "cpu_kernel", "stats_numba"]

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



def stats_numba(qc: PackedCodes, dc: PackedCodes, rel: Relevance, needs: Needs,
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
    stats = new_stats(nq, nd, bits, needs, "cpu")
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
    q64, d64 = _writable(qc.words64()), _writable(dc.words64())
    top_only = needs.topk and not needs.ap and not needs.histograms
    with _NUMBA_LOCK:  # numba's workqueue threading layer must not be entered by two threads at once
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            if top_only:  # relevance tested for the top k items only; no relevant-item histogram
                stats.hist_all = stats.hist_rel = None
                kernels.rank_topk(q64, d64, q_class, d_class, q_words, d_words, not rel.single, needs.topk,
                                  chunk, topk_rel)
            else:
                kernels.rank_stats(q64, d64, q_class, d_class, offsets, members, q_words, d_words,
                                   not rel.single, needs.topk, needs.ap, chunk, cap, stats.hist_all,
                                   stats.hist_rel, topk_rel, ap_sum)
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

