"""Benchmark: one streaming pass over a >= 8 GB frame-feature file in bounded memory (target <= 2 GB RSS).

Writes a synthetic training split in the published layout, an HDF5 dataset ``feats`` (N, T, D) float32
chunked one video per chunk (default 20,500 x 25 x 4,096: 8.4 GB, FCVID's frames and VGG width), plus a
small query/database file and ``.npy`` labels, opens it through the ``frame_features`` dataset plugin,
and runs each pass in a fresh child process (so each peak RSS is its own):

- ``chunks``: ``FeatureSplit.chunks(256)``, mean-pooled per chunk (the path fitting and encoding use);
- ``pooled``: ``hashbench.contract.pooled_inputs(split)`` (what the classic baselines' ``fit`` reads):
  one (N, D) pooled matrix, 1/T of the split;
- ``fit`` (unless ``--no-fit``): ``pcah`` at 64 bits built from the registry, ``fit(split)`` (pooled
  stream, then the covariance; fit cache off).

Printed per pass: seconds, GB/s over the file, peak RSS (``ru_maxrss`` of the child; also its value
after the imports and opening the dataset, before the pass) and the ratio peak RSS / file size. The file is written to ``--dir`` (default the temp folder; check ``df -h`` first) and
deleted at the end unless ``--keep``. Reading right after writing may be served from the page cache:
the RSS figures do not count it (it is the kernel's), the throughput then measures memory, not disk.

    .venv/bin/python benchmarks/bench_feature_streaming.py [--videos 20500] [--frames 25] [--dim 4096]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_RSS_GB = 2.0
CLASSES = 20


def write_split(path: Path, videos: int, frames: int, dim: int, block: int = 512) -> float:
    """A float32 ``feats`` (videos, frames, dim) file, one video per HDF5 chunk; returns the seconds."""
    import h5py

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    base = rng.random((CLASSES, frames, dim), dtype=np.float32)
    with h5py.File(str(path), "w") as f:
        feats = f.create_dataset("feats", (videos, frames, dim), dtype="float32", chunks=(1, frames, dim))
        for begin in range(0, videos, block):
            n = min(block, videos - begin)
            rows = base[np.arange(begin, begin + n) % CLASSES].copy()
            rows += rng.random((n, 1, dim), dtype=np.float32)  # per-video offset: rows differ cheaply
            feats[begin:begin + n] = rows
    return time.perf_counter() - start


def write_fixture(folder: Path, videos: int, frames: int, dim: int) -> tuple[dict, float]:
    """The big train file plus a 200-row query/database file and labels; ``(dataset table, write seconds)``."""
    import h5py

    seconds = write_split(folder / "train.h5", videos, frames, dim)
    with h5py.File(str(folder / "test.h5"), "w") as f:
        f["feats"] = np.random.default_rng(1).random((200, frames, dim), dtype=np.float32)
    np.save(folder / "test_labels.npy", np.arange(200) % CLASSES)
    table = {"train": str(folder / "train.h5"), "query": str(folder / "test.h5"),
             "database": str(folder / "test.h5"), "query_labels": str(folder / "test_labels.npy"),
             "database_labels": str(folder / "test_labels.npy")}
    return table, seconds


def child(mode: str, table: dict) -> dict:
    """One pass in this process; returns seconds, rows and peak RSS (bytes)."""
    import torch

    import hashbench
    from hashbench.contract import pooled_inputs

    torch.set_num_threads(2)
    dataset = hashbench.registry().build("dataset", {"name": "frame_features", **table})
    split = dataset.split("train")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    start = time.perf_counter()
    if mode == "chunks":
        total = torch.zeros(split.feature_dim, dtype=torch.float64)
        for block in split.chunks(256):
            total += block.mean(dim=1).double().sum(dim=0)
        rows = len(split)
    elif mode == "pooled":
        rows = int(pooled_inputs(split).shape[0])
    else:
        os.environ["HASHBENCH_FIT_CACHE"] = "off"
        method = hashbench.registry().build("method", {"name": "pcah"}, bits=64, seed=0)
        method.fit(split)
        rows = len(split)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    return {"mode": mode, "seconds": seconds, "rows": rows, "peak_rss": peak, "before": before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20500)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--no-fit", action="store_true", help="skip the pcah fit pass")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.table))))
        return
    folder = Path(tempfile.mkdtemp(prefix="hashbench-stream-", dir=args.dir))
    try:
        table, write_seconds = write_fixture(folder, args.videos, args.frames, args.dim)
        size = (folder / "train.h5").stat().st_size
        print(f"file: {folder / 'train.h5'}: {args.videos} x {args.frames} x {args.dim} float32, "
              f"{size / 1e9:.2f} GB, written in {write_seconds:.0f} s")
        for mode in ("chunks", "pooled") + (() if args.no_fit else ("fit",)):
            proc = subprocess.run([sys.executable, __file__, "--child", mode, "--table", json.dumps(table)],
                                  capture_output=True, text=True, check=True)
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            ok = "ok" if out["peak_rss"] <= TARGET_RSS_GB * 1e9 else "OVER"
            print(f"{mode:>7}: {out['rows']} videos in {out['seconds']:.1f} s ({size / 1e9 / out['seconds']:.2f} "
                  f"GB/s), peak RSS {out['peak_rss'] / 1e9:.2f} GB (imports and open: {out['before'] / 1e9:.2f} GB; {ok}: target <= {TARGET_RSS_GB} GB), "
                  f"peak RSS / file size = {out['peak_rss'] / size:.3f}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
