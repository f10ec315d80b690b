"""hashbench.eval.tie_aware: the closed forms of the expected AP over orderings of tied items."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hashbench.eval.ranking import Needs, compute_stats
from hashbench.eval.tie_aware import harmonic_diff, tie_aware_ap, tie_aware_ap_at_k


def _ap(relevant: list[bool], k: int | None = None) -> float:
    top = relevant[:k] if k else relevant
    hits, total = 0, 0.0
    for rank, rel in enumerate(top, start=1):
        if rel:
            hits += 1
            total += hits / rank
    norm = hits if k else sum(relevant)
    return total / norm if norm else 0.0


def test_expected_ap_is_the_mean_over_every_order_of_the_ties():
    # one query; database distances 0,0,1,1,1,2 with relevance 1,0,1,1,0,1: two tie groups permute
    qc = np.array([[1, 1]])
    dc = np.array([[1, 1], [1, 1], [1, -1], [-1, 1], [1, -1], [-1, -1]])
    rel = [True, False, True, True, False, True]
    ql, dl = np.array([1]), np.array([int(r) for r in rel])
    stats = compute_stats(qc, ql, dc, dl, Needs())
    groups = [[0, 1], [2, 3, 4], [5]]
    orders = [[i for group in p for i in group] for p in itertools.product(*(itertools.permutations(g) for g in groups))]
    expected = np.mean([_ap([rel[i] for i in order]) for order in orders])
    assert tie_aware_ap(stats)[0] == pytest.approx(expected, rel=1e-12)
    for k in (1, 2, 3, 4, 6):
        values, possible = tie_aware_ap_at_k(stats, k)
        assert possible[0]
        assert values[0] == pytest.approx(np.mean([_ap([rel[i] for i in order], k) for order in orders]), rel=1e-12)


def test_harmonic_differences_are_accurate():
    cases = [(5, 0), (63, 62), (64, 63), (70, 3), (10**6, 10**6 - 1), (10**6 + 7, 40), (123456, 65)]
    a = np.array([c[0] for c in cases])
    b = np.array([c[1] for c in cases])
    got = harmonic_diff(a, b)
    for (hi, lo), value in zip(cases, got):
        exact = math.fsum(1.0 / i for i in range(lo + 1, hi + 1))
        assert value == pytest.approx(exact, rel=1e-14)


