"""Streaming a frame-feature file with bounded memory: a 320 MB file read through in a process whose peak
resident memory grows by far less than the file (measured with getrusage in a fresh subprocess, since
h5py's reads are invisible to tracemalloc)."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

ROWS, T, D = 3200, 25, 1000  # 3200 x 25 x 1000 float32 = 320 MB
CHUNK = 64                    # rows per chunk: 6.4 MB

READER = """
import json, resource, sys
import numpy as np, torch
from hashbench.data import FrameFeatureDataset
path, labels = sys.argv[1], sys.argv[2]
ds = FrameFeatureDataset(files={s: [path] for s in ("train", "query", "database")},
                         label_files={"train": None, "query": labels, "database": labels},
                         label_keys=dict.fromkeys(("train", "query", "database"), "labels"))
split = ds.split("train")
split[0]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
total, rows = 0.0, 0
for chunk in split.chunks(%d):
    total += float(chunk[:, 0, 0].sum()); rows += len(chunk)
loader = torch.utils.data.DataLoader(split, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
seen = sum(len(x) for x, _ in loader)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "after_kib": after, "rows": rows, "seen": seen, "total": total}))
""" % CHUNK


@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is POSIX")
def test_reading_a_320_mb_split_keeps_peak_memory_bounded(tmp_path):
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        feats = f.create_dataset("feats", (ROWS, T, D), dtype="float32")
        block = np.ones((200, T, D), np.float32)
        for start in range(0, ROWS, 200):
            feats[start:start + 200] = block * np.arange(start, start + 200, dtype=np.float32)[:, None, None]
    np.save(tmp_path / "labels.npy", np.arange(ROWS) % 5)
    try:
        proc = subprocess.run([sys.executable, "-c", READER, str(path), str(tmp_path / "labels.npy")],
                              capture_output=True, text=True, timeout=300)
    finally:
        path.unlink()  # leave no 320 MB behind in the temp dir
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rows"] == out["seen"] == ROWS
    assert out["total"] == float(np.arange(ROWS).sum())
    grown_mb = (out["after_kib"] - out["before_kib"]) / 1024
    assert grown_mb < 80, f"peak RSS grew by {grown_mb:.0f} MB while streaming a 320 MB file"
