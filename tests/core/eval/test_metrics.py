"""Metric maths against independent references: brute force on tiny random cases full of ties (hypothesis),
all tie permutations (itertools), the original repo's per-query argsort loops, and torchmetrics. Every
CPU kernel (the fused numba kernel and the numpy fallback) is checked the same way."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hashbench.eval.metrics as M
import hashbench.eval.rank_numpy as rank_numpy
from hashbench.codes import pack_codes
from hashbench.eval.metrics import (MapAtK, MapTie, MapTieAtK, MeanAP, PrecisionAtK, PrecisionAtRadius,
                               RecallAtK, RecallAtRadius, compute_stats, pr_curve,
                               score_metrics)

#: the CPU kernels every exactness test runs on (the numba kernel is the default where numba imports)
KERNELS = ["numba", "numpy"]


# --------------------------------------------------------------------------------------------------
# Brute-force references (per query, explicit loops; nothing shared with hashbench.eval)
# --------------------------------------------------------------------------------------------------
def relevance(ql, dl, i):
    if ql.ndim == 2:
        return np.array([bool(np.any(ql[i] & dl[j])) for j in range(len(dl))])
    return np.array([ql[i] == dl[j] for j in range(len(dl))])


def distances(qc, dc, i):
    return np.array([int(np.sum(qc[i] != dc[j])) for j in range(len(dc))])


def db_order_ranking(d):
    """Database indices sorted by distance, ties by index (explicit, via sorted() on tuples)."""
    return [j for _, j in sorted((int(d[j]), j) for j in range(len(d)))]


def ap(rel_ranked, denominator):
    hits, total = 0, 0.0
    for pos, r in enumerate(rel_ranked, start=1):
        if r:
            hits += 1
            total += hits / pos
    return total / denominator if denominator else 0.0


def brute(qc, ql, dc, dl, k, r):
    """Per-query (value, defined) of every db-order metric."""
    out = {name: [] for name in ("map", "map@k", "map_over_k@k", "precision@k", "recall@k",
                                 "precision@r", "recall@r")}
    for i in range(len(qc)):
        d, rel = distances(qc, dc, i), relevance(ql, dl, i)
        ranked = [bool(rel[j]) for j in db_order_ranking(d)]
        n_rel = int(sum(ranked))
        top = ranked[:k]
        out["map"].append((ap(ranked, n_rel), n_rel > 0))
        out["map@k"].append((ap(top, sum(top)), sum(top) > 0))
        out["map_over_k@k"].append((ap(top, k), True))
        out["precision@k"].append((sum(top) / min(k, len(dc)), True))
        out["recall@k"].append((sum(top) / n_rel if n_rel else 0.0, n_rel > 0))
        within = [j for j in range(len(dc)) if d[j] <= r]
        found = sum(bool(rel[j]) for j in within)
        out["precision@r"].append((found / len(within) if within else 0.0, len(within) > 0))
        out["recall@r"].append((found / n_rel if n_rel else 0.0, n_rel > 0))
    return out


def tie_sum_explicit(n, r, before, rel_before, upto):
    """sum_{i<=upto} (r/n) (rel_before + 1 + (i-1)(r-1)/(n-1)) / (before + i), term by term."""
    total = 0.0
    for i in range(1, upto + 1):
        inner = rel_before + 1 + ((i - 1) * (r - 1) / (n - 1) if n > 1 else 0.0)
        total += (r / n) * inner / (before + i)
    return total if r > 0 else 0.0


def tie_aware_explicit(qc, ql, dc, dl, k=None):
    """Expected AP (k=None) or AP@k (/ relevant found) over tie orders, by explicit sums over each tie
    group and, for the group at rank k, over the hypergeometric number of its relevant items taken."""
    values = []
    for i in range(len(qc)):
        d, rel = distances(qc, dc, i), relevance(ql, dl, i)
        groups = [(int(np.sum(d == v)), int(np.sum(rel & (d == v)))) for v in range(int(d.max()) + 1)]
        n_rel = int(rel.sum())
        before = rel_before = 0
        total = 0.0
        if k is None:
            for n, r in groups:
                if n:
                    total += tie_sum_explicit(n, r, before, rel_before, n)
                before, rel_before = before + n, rel_before + r
            values.append(total / n_rel if n_rel else 0.0)
            continue
        k_eff = min(k, len(dc))
        value = 0.0
        for n, r in groups:
            if not n:
                continue
            if before + n < k_eff:
                total += tie_sum_explicit(n, r, before, rel_before, n)
                before, rel_before = before + n, rel_before + r
                continue
            m = k_eff - before
            for t in range(0, min(m, r) + 1):
                p = math.comb(r, t) * math.comb(n - r, m - t) / math.comb(n, m)
                if p == 0 or rel_before + t == 0:
                    continue
                value += p * (total + tie_sum_explicit(m, t, before, rel_before, m)) / (rel_before + t)
            break
        values.append(value)
    return float(np.mean(values))


def all_tie_orders_mean(qc, ql, dc, dl, k=None):
    """Mean AP (or AP@k / relevant found) over every ordering of the items within equal distances."""
    values = []
    for i in range(len(qc)):
        d, rel = distances(qc, dc, i), relevance(ql, dl, i)
        groups = [[j for j in range(len(dc)) if d[j] == v] for v in sorted(set(d.tolist()))]
        results = []
        for perms in itertools.product(*[list(itertools.permutations(g)) for g in groups]):
            ranked = [bool(rel[j]) for g in perms for j in g]
            if k is None:
                results.append(ap(ranked, sum(ranked)))
            else:
                results.append(ap(ranked[:k], sum(ranked[:k])))
        values.append(float(np.mean(results)))
    return float(np.mean(values))


# --------------------------------------------------------------------------------------------------
# Strategies: few bits -> many ties
# --------------------------------------------------------------------------------------------------
@st.composite
def cases(draw, max_q=5, max_db=30, max_bits=12):
    nq = draw(st.integers(1, max_q))
    nd = draw(st.integers(1, max_db))
    bits = draw(st.integers(1, max_bits))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    qc = rng.integers(0, 2, size=(nq, bits))
    dc = rng.integers(0, 2, size=(nd, bits))
    if draw(st.booleans()):  # duplicate some database codes: even more ties
        dc[rng.random(nd) < 0.3] = dc[0]
    classes = draw(st.integers(1, 4))
    if draw(st.booleans()):
        ql, dl = rng.integers(0, classes, nq), rng.integers(0, classes + 1, nd)  # some queries: no match
    else:
        density = draw(st.sampled_from([0.2, 0.5]))
        ql, dl = rng.random((nq, classes)) < density, rng.random((nd, classes)) < density
    if draw(st.booleans()):  # repeated queries (same code and label): ranked once, copied
        repeat = rng.integers(0, nq, nq)
        qc, ql = qc[repeat], ql[repeat]
    return qc * 2 - 1, ql, dc * 2 - 1, dl


def _mean(pairs, empty):
    values = np.array([v for v, _ in pairs])
    defined = np.array([ok for _, ok in pairs])
    if empty == "zero":
        return float(np.where(defined, values, 0.0).mean())
    return float(values[defined].mean()) if defined.any() else float("nan")


@pytest.mark.parametrize("backend", KERNELS + ["torch"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), k=st.integers(1, 35), r=st.integers(0, 13), block=st.integers(1, 7),
       empty=st.sampled_from(["zero", "skip"]), sorted_path=st.booleans())
def test_every_metric_matches_brute_force(backend, case, k, r, block, empty, sorted_path):
    qc, ql, dc, dl = case
    metrics = {
        "map": MeanAP(empty), "map@k": MapAtK(k, empty=empty), "map_over_k@k": MapAtK(k, "k", empty),
        "precision@k": PrecisionAtK(k, empty), "recall@k": RecallAtK(k, empty),
        "precision@r": PrecisionAtRadius(r, empty), "recall@r": RecallAtRadius(r, empty),
    }
    with pytest.MonkeyPatch.context() as patch:
        # force the per-query stable counting sort instead of the (segment x distance) table
        patch.setattr(rank_numpy, "SEGMENT_TABLE_LIMIT", -1e9 if sorted_path else 2.0)
        results, stats = score_metrics(list(metrics.values()), qc, ql, dc, dl, block=block, device="cpu",
                                       backend=backend)
    ref = brute(qc, ql, dc, dl, k, r)
    for (name, _), result in zip(metrics.items(), results):
        expected = _mean(ref[name], empty)
        assert result.undefined == sum(not ok for _, ok in ref[name]), name
        if math.isnan(expected):
            assert math.isnan(result.value), name
        else:
            assert result.value == pytest.approx(expected, abs=1e-12), name
    # the ranking statistics themselves
    assert stats.queries_without_relevant == sum(not ok for _, ok in ref["map"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_q=12, max_db=300, max_bits=200), k=st.integers(1, 320), block=st.integers(1, 13),
       workers=st.sampled_from([1, 2]))
def test_numba_and_numpy_kernels_give_identical_statistics(case, k, block, workers):
    """Multi-word codes (> 64 bits), both relevance modes, any block and thread count: the same integers,
    and AP sums equal to rounding (the numpy path may sum a query's terms pairwise)."""
    qc, ql, dc, dl = case
    needs = M.Needs(ap=True, topk=k)
    fused = compute_stats(qc, ql, dc, dl, needs, block=block, workers=workers, backend="numba")
    plain = compute_stats(qc, ql, dc, dl, needs, block=block, backend="numpy")
    for name in ("hist_all", "hist_rel", "topk_rel"):
        np.testing.assert_array_equal(getattr(fused, name), getattr(plain, name), err_msg=name)
    np.testing.assert_allclose(fused.ap_sum, plain.ap_sum, rtol=1e-13, atol=0)
    alone = compute_stats(qc, ql, dc, dl, M.Needs(), block=block, backend="numba")  # histogram-only pass
    np.testing.assert_array_equal(alone.hist_all, plain.hist_all)
    np.testing.assert_array_equal(alone.hist_rel, plain.hist_rel)


@pytest.mark.parametrize("backend", KERNELS)
@settings(max_examples=80, deadline=None)
@given(case=cases(max_q=4, max_db=40, max_bits=10), k=st.integers(1, 45), block=st.integers(1, 5))
def test_tie_aware_metrics_match_explicit_sums(backend, case, k, block):
    qc, ql, dc, dl = case
    (tie, tie_k), _ = score_metrics([MapTie(), MapTieAtK(k)], qc, ql, dc, dl, block=block, device="cpu",
                                    backend=backend)
    assert tie.value == pytest.approx(tie_aware_explicit(qc, ql, dc, dl), abs=1e-12)
    assert tie_k.value == pytest.approx(tie_aware_explicit(qc, ql, dc, dl, k), abs=1e-12)


@pytest.mark.parametrize("backend", KERNELS)
@pytest.mark.parametrize("seed", range(12))
def test_map_tie_is_the_mean_over_all_tie_permutations(seed, backend):
    rng = np.random.default_rng(seed)
    nd, bits = int(rng.integers(2, 8)), int(rng.integers(1, 4))
    qc, dc = rng.choice([-1, 1], size=(2, bits)), rng.choice([-1, 1], size=(nd, bits))
    if seed % 2:
        ql, dl = rng.integers(0, 2, 2), rng.integers(0, 2, nd)
    else:
        ql, dl = rng.random((2, 3)) < 0.5, rng.random((nd, 3)) < 0.5
    k = int(rng.integers(1, nd + 1))
    (tie, tie_k), _ = score_metrics([MapTie(), MapTieAtK(k)], qc, ql, dc, dl, device="cpu", backend=backend)
    assert tie.value == pytest.approx(all_tie_orders_mean(qc, ql, dc, dl), abs=1e-12)
    assert tie_k.value == pytest.approx(all_tie_orders_mean(qc, ql, dc, dl, k), abs=1e-12)


def test_map_tie_lies_between_the_best_and_worst_tie_orders():
    rng = np.random.default_rng(3)
    qc, dc = rng.choice([-1, 1], size=(20, 6)), rng.choice([-1, 1], size=(200, 6))
    ql, dl = rng.integers(0, 4, 20), rng.integers(0, 4, 200)
    best, worst = [], []
    for i in range(20):
        d, rel = distances(qc, dc, i), relevance(ql, dl, i)
        best.append(ap(rel[np.lexsort((~rel, d))], rel.sum()))
        worst.append(ap(rel[np.lexsort((rel, d))], rel.sum()))
    (tie, db_order), _ = score_metrics([MapTie(), MeanAP()], qc, ql, dc, dl)
    assert np.mean(worst) < tie.value < np.mean(best)
    assert np.mean(worst) <= db_order.value <= np.mean(best)


# --------------------------------------------------------------------------------------------------
# The original repo's formulas (Video-Retrieval-C3D compute_MAP / compute_topk_mAP), on tie-free codes
# --------------------------------------------------------------------------------------------------
def original_compute_map(db_binary, db_label, test_binary, test_label):
    AP = []
    Ns = np.array(range(1, db_binary.shape[0] + 1)).astype(np.float32)
    for i in range(test_binary.shape[0]):
        query_result = np.argsort(np.sum((test_binary[i] != db_binary), axis=1))
        correct = (test_label[i] == db_label[query_result])
        P = np.cumsum(correct, axis=0) / Ns
        AP.append(np.sum(P * correct) / np.sum(correct))
    return np.mean(np.array(AP))


def original_compute_topk_map(db_binary, db_label, test_binary, test_label, k):
    AP = []
    Ns = np.array(range(1, k + 1)).astype(np.float32)
    for i in range(test_binary.shape[0]):
        query_result = np.argsort(np.sum((test_binary[i] != db_binary), axis=1))
        correct = (test_label[i] == db_label[query_result[0:k]])
        P = np.cumsum(correct, axis=0) / Ns
        AP.append(0.0 if np.sum(correct) == 0 else np.sum(P * correct) / np.sum(correct))
    return np.mean(np.array(AP))


def tie_free_case(seed, nq=40, nd=25, bits=2048, classes=3):
    """Random codes of random densities (distances spread over 0..bits); queries whose distances to the
    database have a tie are dropped, so every ranking is unique."""
    rng = np.random.default_rng(seed)
    dc = (rng.random((nd, bits)) < rng.random((nd, 1))).astype(np.int8) * 2 - 1
    qc = (rng.random((nq, bits)) < 0.05).astype(np.int8) * 2 - 1
    d = (qc[:, None, :] != dc[None, :, :]).sum(axis=2)
    keep = [i for i in range(nq) if len(set(d[i].tolist())) == nd]
    ql, dl = rng.integers(0, classes, nq), rng.integers(0, classes, nd)
    dl[:classes] = np.arange(classes)  # every class present: compute_MAP is defined for every query
    return qc[keep], ql[keep], dc, dl


@pytest.mark.parametrize("backend", KERNELS)
@pytest.mark.parametrize("seed", range(4))
def test_map_and_map_at_k_equal_the_original_loops_without_ties(seed, backend):
    qc, ql, dc, dl = tie_free_case(seed)
    assert len(qc) >= 10
    for block in (1, 3, 1000):
        (m, m5, m10), _ = score_metrics([MeanAP(), MapAtK(5), MapAtK(10)], qc, ql, dc, dl, block=block,
                                        backend=backend)
        # the original accumulates precision in float32
        assert m.value == pytest.approx(original_compute_map(dc, dl, qc, ql), abs=1e-6)
        assert m5.value == pytest.approx(original_compute_topk_map(dc, dl, qc, ql, 5), abs=1e-6)
        assert m10.value == pytest.approx(original_compute_topk_map(dc, dl, qc, ql, 10), abs=1e-6)


def test_cross_check_against_torchmetrics_retrieval_map_without_ties():
    from torchmetrics.retrieval import RetrievalMAP

    qc, ql, dc, dl = tie_free_case(11, classes=4)
    d = (qc[:, None, :] != dc[None, :, :]).sum(axis=2)
    # higher score = closer (kept positive: torchmetrics 1.9 scores negative predictions as misses)
    preds = torch.tensor(qc.shape[1] + 1 - d, dtype=torch.float64).flatten()
    target = torch.tensor(ql[:, None] == dl[None, :]).flatten()
    indexes = torch.arange(len(qc)).repeat_interleave(len(dc))
    (m, m7), _ = score_metrics([MeanAP(), MapAtK(7)], qc, ql, dc, dl)
    full = RetrievalMAP(empty_target_action="neg")(preds, target, indexes=indexes)
    top7 = RetrievalMAP(empty_target_action="neg", top_k=7)(preds, target, indexes=indexes)
    assert m.value == pytest.approx(float(full), abs=1e-6)  # torchmetrics works in float32
    assert m7.value == pytest.approx(float(top7), abs=1e-6)




@pytest.mark.parametrize("kernel", KERNELS)
def test_queries_without_relevant_items_are_counted_and_follow_the_convention(kernel, monkeypatch):
    monkeypatch.setenv("HASHBENCH_KERNEL", kernel)  # the calls below pick their backend from it
    qc = np.array([[1, 1, 1], [-1, -1, -1]])
    dc = np.array([[1, 1, -1], [-1, -1, 1], [1, -1, 1]])
    ql, dl = np.array([0, 9]), np.array([0, 1, 0])  # query 1 (class 9) has no relevant item
    (zero, skip), stats = score_metrics([MeanAP(), MeanAP("skip")], qc, ql, dc, dl)
    assert stats.queries_without_relevant == 1
    assert zero.undefined == skip.undefined == 1
    assert zero.per_query[1] == 0.0
    assert skip.value == pytest.approx(zero.per_query[0]) and zero.value == pytest.approx(zero.per_query[0] / 2)
    assert MeanAP("skip")(qc[1:], ql[1:], dc, dl) != MeanAP("skip")(qc[1:], ql[1:], dc, dl)  # NaN: none defined


def test_pr_curve_points_equal_radius_metrics():
    rng = np.random.default_rng(2)
    qc, dc = rng.choice([-1, 1], size=(15, 10)), rng.choice([-1, 1], size=(90, 10))
    ql, dl = rng.integers(0, 3, 15), rng.integers(0, 3, 90)
    stats = compute_stats(qc, ql, dc, dl)
    curve = pr_curve(stats)
    assert curve["radius"].tolist() == list(range(11))
    assert curve["recall"][-1] == pytest.approx(1.0)
    assert np.all(np.diff(curve["recall"]) >= 0)
    for r in (0, 3, 10):
        assert curve["precision"][r] == PrecisionAtRadius(r).from_stats(stats).value
        assert curve["recall"][r] == RecallAtRadius(r).from_stats(stats).value


def test_metric_parameter_errors_are_value_errors():
    with pytest.raises(ValueError, match="positive integer"):
        MapAtK(0)
    with pytest.raises(ValueError, match="empty must be one of"):
        MeanAP("ignore")
    with pytest.raises(ValueError, match="non-negative"):
        PrecisionAtRadius(-1)


def test_calling_a_metric_directly_uses_the_plugin_contract():
    qc, dc = np.array([[1, 1], [-1, -1]]), np.array([[1, 1], [1, -1], [-1, -1]])
    ql, dl = np.array([0, 1]), np.array([0, 0, 1])
    value = MeanAP()(pack_codes(qc), ql, pack_codes(dc), dl)
    assert isinstance(value, float) and value == pytest.approx(1.0)
