"""Real learned codes with published figures (CSQ, CVPR 2020; tests/data/csq_codes, README section 5).

UCF101 mAP@100 = 0.8738 and HMDB51 mAP@70 = 0.5767 are the authors' (CSQ/DeepHash convention: AP over
the top k / relevant items found there); whole-database mAP is about 0.846 / 0.490. The tie-aware
values must lie between the best and the worst tie orders, computed here independently by sorting every
query's ranking with relevant items first / last inside each distance. Both CPU kernels (the fused numba
kernel and the numpy fallback) are checked.
"""
from __future__ import annotations

import numpy as np
import pytest

import hashbench

PUBLISHED = {"ucf101": (100, 0.874, 0.846), "hmdb51": (70, 0.577, 0.490)}


def load(real_data, name):
    root = real_data / "csq_codes" / name
    return (np.load(root / "test_hash.npy"), np.load(root / "test_label.npy"),
            np.load(root / "database_hash.npy"), np.load(root / "database_label.npy"))


def reference_aps(qc, ql, dc, dl, k, chunk=400):
    """Per-query AP (all relevant) and AP@k (/ relevant in top k) for three tie rules:
    database order, relevant first (best) and relevant last (worst); plain numpy sorting."""
    qs, ds = np.sign(qc).astype(np.float32), np.sign(dc).astype(np.float32)
    bits = qs.shape[1]
    out = {rule: ([], []) for rule in ("db", "best", "worst")}
    for start in range(0, len(qs), chunk):
        dist = np.rint((bits - qs[start:start + chunk] @ ds.T) / 2).astype(np.uint8)
        rel = ql[start:start + chunk, None] == dl[None, :]
        keys = {"db": dist, "best": dist * 2 + ~rel, "worst": dist * 2 + rel}  # uint8 keys
        for rule, key in keys.items():
            ranked = np.take_along_axis(rel, np.argsort(key, axis=1, kind="stable"), axis=1)
            found = np.cumsum(ranked, axis=1)
            prec = np.where(ranked, found / np.arange(1, ranked.shape[1] + 1), 0.0)
            out[rule][0].append(prec.sum(axis=1) / ranked.sum(axis=1))
            top = ranked[:, :k].sum(axis=1)
            out[rule][1].append(np.divide(prec[:, :k].sum(axis=1), top, out=np.zeros(len(top)),
                                          where=top > 0))
    return {rule: (np.concatenate(a).mean(), np.concatenate(b).mean()) for rule, (a, b) in out.items()}


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
@pytest.mark.parametrize("name", ["ucf101", "hmdb51"])
def test_csq_codes_reproduce_the_published_figures(real_data, name, kernel, monkeypatch):
    monkeypatch.setenv("HASHBENCH_KERNEL", kernel)  # the CPU kernel hashbench.score uses
    k, published_at_k, published_map = PUBLISHED[name]
    qc, ql, dc, dl = load(real_data, name)
    scores = hashbench.score(qc, ql, dc, dl, ["map", f"map@{k}", "map_tie", f"map_tie@{k}"])
    assert scores[f"map@{k}"] == pytest.approx(published_at_k, abs=0.002)
    assert scores["map"] == pytest.approx(published_map, abs=0.002)

    ref = reference_aps(qc, ql, dc, dl, k)
    assert scores["map"] == pytest.approx(ref["db"][0], abs=1e-9)
    assert scores[f"map@{k}"] == pytest.approx(ref["db"][1], abs=1e-9)
    worst, best = ref["worst"], ref["best"]
    assert worst[0] < scores["map_tie"] < best[0]
    assert worst[1] < scores[f"map_tie@{k}"] < best[1]
