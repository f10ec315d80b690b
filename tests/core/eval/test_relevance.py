"""hashbench.eval.relevance: same class id, or a shared positive of multi-hot labels; mixed sides."""
from __future__ import annotations

import numpy as np
import pytest

from hashbench.errors import DataError
from hashbench.eval.metrics import MapAtK, MapTie, MapTieAtK, MeanAP, PrecisionAtRadius, score_metrics
from hashbench.eval.relevance import Relevance

KERNELS = ["numba", "numpy"]


def test_single_label_relevance_is_equal_class_ids():
    rel = Relevance(np.array([0, 2]), np.array([2, 0, 0, 1]), 2, 4)
    assert rel.single and rel.nd == 4
    assert rel.block(np.array([0, 1])).tolist() == [[False, True, True, False], [True, False, False, False]]
    assert rel.has_relevant().tolist() == [True, True]
    assert rel.order().tolist() == [0, 1]
    assert Relevance(np.array([3]), np.array([0, 1]), 1, 2).has_relevant().tolist() == [False]


def test_multi_label_relevance_is_a_shared_positive():
    q = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)
    d = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=bool)
    rel = Relevance(q, d, 3, 3)
    assert not rel.single
    assert rel.block(np.arange(3)).tolist() == [[True, False, False], [True, True, False], [False, False, False]]
    assert rel.pairs(np.array([0, 1, 2]), np.array([1, 1, 0])).tolist() == [False, True, False]
    assert rel.has_relevant().tolist() == [True, True, False]
    taken = rel.take_queries(np.array([1]))
    assert taken.block(np.array([0])).tolist() == [[True, True, False]]


def test_class_ids_meet_multi_hot_labels_as_one_hot():
    rel = Relevance(np.array([2, 0]), np.array([[0, 0, 1], [1, 0, 1]], dtype=bool), 2, 2)
    assert rel.block(np.arange(2)).tolist() == [[True, True], [False, True]]
    with pytest.raises(DataError, match="class ids must lie in 0..2"):
        Relevance(np.array([5]), np.array([[0, 0, 1]], dtype=bool), 1, 1)
    with pytest.raises(DataError, match="3 classes but database labels 2"):
        Relevance(np.array([[1, 0, 0]], dtype=bool), np.array([[1, 0]], dtype=bool), 1, 1)


@pytest.mark.parametrize("backend", KERNELS)
def test_single_label_one_hot_equals_class_ids(backend):
    rng = np.random.default_rng(4)
    qc, dc = rng.choice([-1, 1], size=(9, 8)), rng.choice([-1, 1], size=(70, 8))
    ql, dl = rng.integers(0, 3, 9), rng.integers(0, 3, 70)
    metrics = [MeanAP(), MapAtK(10), MapTie(), MapTieAtK(10), PrecisionAtRadius(2)]
    ids, _ = score_metrics(metrics, qc, ql, dc, dl, backend=backend)
    hot, _ = score_metrics(metrics, qc, np.eye(3, dtype=bool)[ql], dc, np.eye(3, dtype=bool)[dl],
                           backend=backend)
    mixed, _ = score_metrics(metrics, qc, ql, dc, np.eye(3, dtype=bool)[dl], backend=backend)
    for a, b, c in zip(ids, hot, mixed):
        assert a.value == pytest.approx(b.value, abs=1e-15) == pytest.approx(c.value, abs=1e-15)


