"""The SSVH protocol's metric: ``map_over_k@K`` (AP over the top K / K) with ``include_self``, every K from
one ranking pass, against an independent loop re-derivation of the papers' ``mAP`` function
(tests/references/ssvh_map.py), and the top-k-only numba pass against the numpy kernel."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hashbench
import hashbench.eval.evaluation as evaluation
from hashbench.errors import DataError
from hashbench.eval.metrics import MapAtK, Needs, PrecisionAtK, compute_stats, score_metrics
from hashbench.eval.ssvh import SSVH_K, SSVH_METRICS, ssvh_metrics
from hashbench.eval.stats import self_ranks
from tests.references.ssvh_map import papers_map

BACKENDS = ["numba", "numpy", "torch"]


def fcvid_like(n=160, bits=16, classes=12, seed=0):
    """±1 codes with many ties and exact duplicates (a code repeated up to 4 times) and multi-hot labels
    (one or two classes; a few rows with none, relevant to nothing, not even themselves)."""
    rng = np.random.default_rng(seed)
    codes = rng.choice([-1, 1], size=(n, bits)).astype(np.int8)
    dup = rng.integers(0, n, size=n // 4)
    codes[rng.integers(0, n, size=n // 4)] = codes[dup]
    labels = np.zeros((n, classes), dtype=np.int8)
    labels[np.arange(n), rng.integers(0, classes, n)] = 1
    labels[np.arange(0, n, 3), rng.integers(0, classes, len(range(0, n, 3)))] = 1
    labels[rng.integers(0, n, 4)] = 0
    return codes, labels


@pytest.mark.parametrize("backend", BACKENDS)
def test_include_self_equals_the_papers_loop_all_vs_all(backend):
    codes, labels = fcvid_like()
    assert len(np.unique(codes, axis=0)) < len(codes)  # duplicates: the own entry shares distance 0
    metrics = [MapAtK(k, "k", include_self=True) for k in SSVH_K]
    results, _ = score_metrics(metrics, codes, labels, codes, labels, device="cpu", backend=backend)
    expected = papers_map(codes, labels, codes, labels, list(SSVH_K))
    for k, result in zip(SSVH_K, results):
        assert result.value == pytest.approx(expected[k], abs=1e-12), k
        assert result.undefined == 0 and "own entry counted" in result.convention


@pytest.mark.parametrize("backend", BACKENDS)
def test_include_self_false_removes_the_own_entry_as_the_loop_does(backend):
    codes, labels = fcvid_like(seed=1)
    metrics = [MapAtK(k, "k", include_self=False) for k in SSVH_K]
    results, _ = score_metrics(metrics, codes, labels, codes, labels, device="cpu", backend=backend)
    expected = papers_map(codes, labels, codes, labels, list(SSVH_K), exclude_self=True)
    counted = papers_map(codes, labels, codes, labels, [5])[5]
    for k, result in zip(SSVH_K, results):
        assert result.value == pytest.approx(expected[k], abs=1e-12), k
    assert results[0].value != pytest.approx(counted)  # removing the self-hit changes mAP@5


def test_separate_sets_through_hashbench_score_equal_the_papers_loop():
    db, db_labels = fcvid_like(n=170, bits=24, seed=2)
    queries, query_labels = fcvid_like(n=45, bits=24, seed=3)
    values = hashbench.score(queries, query_labels, db, db_labels, list(SSVH_METRICS))
    expected = papers_map(db, db_labels, queries, query_labels, list(SSVH_K))
    assert list(values) == [f"map_over_k@{k}" for k in SSVH_K]
    for k in SSVH_K:
        assert values[f"map_over_k@{k}"] == pytest.approx(expected[k], abs=1e-12), k


def test_the_seven_k_share_one_ranking_pass_of_the_top_100(monkeypatch):
    codes, labels = fcvid_like(n=130, seed=4)
    calls = []
    real = evaluation.compute_stats

    def counting(*args, **kwargs):
        calls.append(args[4])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "compute_stats", counting)
    values = hashbench.score(codes, labels, codes, labels, ssvh_metrics(include_self=True))
    expected = papers_map(codes, labels, codes, labels, list(SSVH_K))
    assert len(calls) == 1 and calls[0] == Needs(topk=100, histograms=False, self_rank=True)
    assert values == pytest.approx({f"map_over_k@{k}": expected[k] for k in SSVH_K}, abs=1e-12)


def test_ssvh_specs():
    assert SSVH_K == (5, 10, 20, 40, 60, 80, 100)
    assert ssvh_metrics()[0] == {"name": "map_over_k@k", "k": 5, "label": "map_over_k@5"}
    assert ssvh_metrics(True, ks=(20,)) == [{"name": "map_over_k@k", "k": 20, "label": "map_over_k@20",
                                             "include_self": True}]


def test_include_self_needs_the_queries_to_be_the_database():
    codes, labels = fcvid_like(n=60, seed=5)
    with pytest.raises(DataError, match="include_self: .* 20 query codes are not the 60 database codes"):
        hashbench.score(codes[:20], labels[:20], codes, labels, ssvh_metrics(include_self=True))
    shuffled = codes[::-1].copy()
    with pytest.raises(DataError, match="same order"):
        hashbench.score(shuffled, labels, codes, labels, ssvh_metrics(include_self=False))
    with pytest.raises(hashbench.errors.ConfigError, match="include_self"):
        hashbench.score(codes, labels, codes, labels, [{"name": "map_over_k@k", "k": 5, "include_self": "yes"}])


def test_self_ranks_count_earlier_duplicates():
    words = np.array([[3], [1], [3], [3], [1], [7]], dtype=np.uint64)
    np.testing.assert_array_equal(self_ranks(words), [0, 0, 1, 2, 1, 0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), nq=st.integers(1, 12), nd=st.integers(1, 300),
       bits=st.integers(1, 200), k=st.integers(1, 320), multi=st.booleans(), block=st.integers(1, 13),
       workers=st.sampled_from([1, 2]))
def test_top_k_only_pass_equals_the_numpy_kernel(seed, nq, nd, bits, k, multi, block, workers):
    """The numba top-k pass (no histograms) gives the numpy kernel's ranks 1..k, multi-word codes too."""
    rng = np.random.default_rng(seed)
    few = max(1, bits // 8)  # few distinct bits: many ties
    qc = rng.integers(0, 2, size=(nq, bits)) * (rng.random(bits) < 0.5 + few / bits)
    dc = rng.integers(0, 2, size=(nd, bits)) * (rng.random(bits) < 0.5 + few / bits)
    shape = (lambda n: (n, 5)) if multi else (lambda n: (n,))
    ql, dl = rng.integers(0, 2 if multi else 4, size=shape(nq)), rng.integers(0, 2 if multi else 4, size=shape(nd))
    top = compute_stats(qc, ql, dc, dl, Needs(topk=k, histograms=False), block=block, workers=workers,
                        backend="numba")
    full = compute_stats(qc, ql, dc, dl, Needs(topk=k), block=block, backend="numpy")
    assert top.hist_all is None and top.hist_rel is None
    np.testing.assert_array_equal(top.topk_rel, full.topk_rel)


@pytest.mark.parametrize("bits", [16, 32, 64, 96])
@pytest.mark.parametrize("multi", [False, True])
def test_top_k_only_pass_on_clustered_codes(bits, multi):
    """Databases of many scan blocks, queries whose k-th distances differ (the previous query's bound is
    sometimes too low and the scan restarts): the numpy kernel's ranks exactly, and the same metrics."""
    rng = np.random.default_rng(bits)
    n, classes = 3000, 30
    centres = rng.integers(0, 2, size=(classes, bits))
    labels = rng.integers(0, classes, n)
    flip = rng.choice([0.02, 0.15, 0.35], size=(n, 1))
    codes = centres[labels] ^ (rng.random((n, bits)) < flip)
    lab = np.eye(classes, dtype=np.int8)[labels] if multi else labels
    needs = Needs(topk=100, histograms=False)
    top = compute_stats(codes[:400], lab[:400], codes, lab, needs, backend="numba", dedup=False)
    full = compute_stats(codes[:400], lab[:400], codes, lab, Needs(topk=100), backend="numpy")
    np.testing.assert_array_equal(top.topk_rel, full.topk_rel)
    metrics = [MapAtK(100, "k"), PrecisionAtK(40), MapAtK(20)]
    fast, _ = score_metrics(metrics, codes[:400], lab[:400], codes, lab, backend="numba")
    slow, _ = score_metrics(metrics, codes[:400], lab[:400], codes, lab, backend="numpy")
    assert [r.value for r in fast] == [r.value for r in slow]
