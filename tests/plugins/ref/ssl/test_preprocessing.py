"""The preprocessing stages on small data: pseudo-labels given fixed centroids, seeded k-means, the
anchor-graph adjacency tags against a loop re-derivation of BTH's ZZ / apro_adj.py, and S5VH's hash
centres (the Hadamard start, d_max, the objective against eval_metrics, and the optimisation lowering
the objective from its Hadamard start)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hashbench_ref.methods.ssl.anchors import anchor_adjacency, nearest_anchors
from hashbench_ref.methods.ssl.centres import centre_objective, hadamard_start, margin, optimise_centres
from hashbench_ref.methods.ssl.clustering import assign, kmeans
from references import ssl_blocks


def _blobs(rows=60, dim=5, centres=6, seed=0):
    rng = np.random.default_rng(seed)
    middle = rng.normal(scale=4.0, size=(centres, dim))
    return middle[rng.integers(0, centres, rows)] + rng.normal(size=(rows, dim)), middle


def test_pseudo_labels_given_fixed_centroids_match_the_loop():
    x, middle = _blobs()
    centroids = middle + 0.3
    assert np.array_equal(assign(x, centroids), ssl_blocks.nearest(x, centroids))
    tied = np.array([[0.0, 0.0]])
    assert assign(tied, np.array([[1.0, 0.0], [-1.0, 0.0]]))[0] == 0  # ties: the lowest index


def test_kmeans_is_seeded_and_labels_are_the_nearest_centroid():
    x, _ = _blobs(rows=80)
    first, again = kmeans(x, 6, seed=4), kmeans(x, 6, seed=4)
    assert first.centroids.shape == (6, 5)
    assert np.array_equal(first.centroids, again.centroids) and np.array_equal(first.labels, again.labels)
    assert np.array_equal(first.labels, ssl_blocks.nearest(x, first.centroids))
    with pytest.raises(ValueError, match="clusters"):
        kmeans(x[:3], 6, seed=0)


def test_anchor_adjacency_matches_bths_tags():
    x, _ = _blobs(rows=40, centres=4, seed=2)
    anchors = kmeans(x, 9, seed=0).centroids
    tags = anchor_adjacency(x, anchors, chunk=7)  # several row blocks
    expected = ssl_blocks.adjacency(x, anchors)
    assert tags.dtype == np.int8 and tags.shape == (40, 40)
    assert np.array_equal(tags, expected)
    assert set(np.unique(tags)) >= {0, 1, 2}
    assert (np.diag(tags) == 1).all()  # a video shares its own nearest anchors
    near = nearest_anchors(x, anchors, 3)
    assert np.array_equal(near[:, 0], ssl_blocks.nearest(x, anchors))
    with pytest.raises(ValueError, match="at least 5 anchors"):
        anchor_adjacency(x, anchors[:4])


def test_an_anchor_no_row_picks_changes_no_tag():
    x, _ = _blobs(rows=30, centres=3, seed=5)
    anchors = kmeans(x, 6, seed=0).centroids
    far = np.vstack([anchors, np.full((1, 5), 1e3)])  # never among any row's 5 nearest: lambda = 0
    assert np.array_equal(anchor_adjacency(x, far), anchor_adjacency(x, anchors))


def test_hadamard_start_rows():
    start = hadamard_start(20, 8, seed=0)
    h = start[:8]
    assert np.array_equal(h @ h.T, 8 * np.eye(8))
    assert np.array_equal(start[8:16], -h)
    assert (start[16:].sum(axis=1) == 0).all()  # bits // 2 entries -1 in each random row
    assert np.array_equal(start, hadamard_start(20, 8, seed=0))


def test_margin_is_get_margins_d_max():
    for bits, clusters in [(16, 40), (64, 450), (32, 100), (8, 6)]:
        right = 2 ** bits / clusters
        d_max = next(d for d in range(2 * bits + 4)
                     if sum(math.comb(bits, j) for j in range(d)) >= right
                     and sum(math.comb(bits, j) for j in range(d - 1)) < right)
        assert margin(bits, clusters) == d_max


def test_centre_objective_is_minus_eval_metrics():
    rng = np.random.default_rng(0)
    b = np.sign(rng.normal(size=(7, 16)))
    w = rng.normal(size=(7, 5))
    assert centre_objective(b, w) == pytest.approx(-ssl_blocks.centre_metric(b, w), rel=1e-12)


def test_optimisation_lowers_the_objective_from_the_hadamard_start():
    rng = np.random.default_rng(1)
    semantic = rng.normal(size=(20, 6))
    start = hadamard_start(20, 8, seed=0)  # 16 Hadamard rows, 4 random ones
    out = optimise_centres(start, semantic, seed=0, sweeps=1)
    assert set(np.unique(out)) <= {-1.0, 1.0} and out.shape == start.shape
    assert centre_objective(out, semantic) < centre_objective(start, semantic)
