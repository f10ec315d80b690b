"""MCMSH against a float64 re-derivation of the released code (tests/references/ssvh_mcmsh.py): codes,
each loss term and every parameter's gradient on fixed inputs and draws with identical weights (float32
tolerance reached: 2e-5 relative, 1e-6 absolute; dropout 0, the re-derivation has none); fit's stages on
small data (pseudo-labels, anchor-graph tags against the loop re-derivation, PCA'd centroids); the draws'
rules; deterministic fit, state_dict round trip, resume exact; bad keys."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.selfsupervised import FACTORIES
from references import ssvh_mcmsh as ref
from references.ssl_blocks import adjacency, nearest
from references.ssvh_conmh import as_float64
from support.methods import (assert_gradients_match, assert_refused, assert_resumes_exactly, assert_round_trips,
                             assert_same_state, train_direct)

SMALL = {"hidden": 16, "r_max": 4, "r_min": 2, "dropout": 0.0, "clusters": 5}
B, T, D, BITS, N = 6, 7, 10, 8, 16


def build(seed: int = 0, **keys):
    return FACTORIES["mcmsh"](bits=BITS, feature_dim=D, num_frames=T, seed=seed, num_train=N, **{**SMALL, **keys})


def data(seed: int = 2) -> torch.Tensor:
    """Two groups of videos, so the anchor graph has tag-1 and tag-2 pairs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, T, D, generator=g)
    x[: N // 2] += 3.0
    return x


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a.double(), b.detach(), rtol=2e-5, atol=1e-6)


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("HASHBENCH_FIT_CACHE", "off")


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_codes_terms_and_gradients_equal_the_re_derivation(variant):
    method = build(variant=variant)
    x = data()
    method.fit(x)
    method.on_epoch_start(3, 5)
    method.train()
    idx = torch.tensor([0, 9, 3, 12, 5, 14])
    batch = MethodBatch(x[idx], idx)
    draw = method.draw(batch)
    terms = method.loss_terms(batch, draw)
    weights = (("cluster", 0.8), ("sim", 0.1), ("quant", 0.01), ("quadruplet", 0.01))
    sum(w * terms[k] for k, w in weights).backward()
    p = as_float64(method.state_dict())
    ref_draw = {k: (v.double() if v.is_floating_point() else v) for k, v in draw.items()}
    centres = method.targets[method.pseudo_labels[idx]].double()
    expected = ref.mcmsh_terms(x[idx].double(), ref_draw, centres, p, 3 ** 0.5, BITS, 4)
    for key in ("cluster", "sim", "quant", "quadruplet"):
        _close(terms[key], expected[key])
    assert float(expected["quadruplet"].detach()) > 0 and float(expected["cluster"].detach()) > 0  # not vacuous
    sum(w * expected[k] for k, w in weights).backward()
    assert_gradients_match(method, p, _close, prefix="net.", nonzero=len(list(method.parameters())) // 2)
    method.eval()
    with torch.no_grad():
        codes = method.encode(x[idx])
    alpha = 1.0 if variant == "released" else 3 ** 0.5
    assert not torch.equal(codes, method.net(x[idx], 2.0, method.gen)[1])  # alpha matters
    assert torch.equal(codes, method.net(x[idx], alpha, method.gen)[1])


def test_fit_stages_on_small_data():
    x = data(3)
    method = build()
    method.fit(x)
    pooled = x.double().mean(dim=1).numpy()
    labels = method.pseudo_labels.numpy()
    centroids = np.stack([pooled[labels == k].mean(axis=0) for k in range(5)])
    assert np.array_equal(nearest(pooled, centroids), labels)  # k-means fixed point: nearest centroid
    assert np.array_equal(method.adjacency.numpy(), adjacency(pooled, centroids).astype(np.int8))
    targets = method.targets.double().numpy()
    assert targets.shape == (5, 16) and np.allclose(targets[:, 10:], 0)  # D = 10 < hidden: zero padding
    gram = lambda a: (a - a.mean(0)) @ (a - a.mean(0)).T  # noqa: E731  PCA keeps the centred inner products
    np.testing.assert_allclose(gram(targets), gram(centroids), rtol=1e-4, atol=1e-4)


def test_draws_follow_the_tags():
    method = build(clusters=8)
    x = data()
    method.fit(x)
    method.on_epoch_start(1, 2)
    idx = torch.arange(N)
    assert {1, 2} <= set(method.adjacency.flatten().tolist())  # the draws below meet both tags
    tags = method.adjacency[idx][:, idx].long()
    for _ in range(3):
        d = method.draw(MethodBatch(x, idx))
        rows = torch.arange(N)
        assert (tags[rows, d["similar"]] == 1).all() and (d["similar"] != rows).all()
        has_far = (tags == 2).any(1)
        assert has_far.any()
        for far in (d["far1"], d["far2"]):  # a tag-2 video where the row has one
            assert (tags[rows[has_far], far[has_far]] == 2).all() and (far != rows).all()
        similar = d["target"] > 0
        assert (tags[rows[similar], d["partner"][similar]] == 1).all() and similar.any() and (~similar).any()
        assert (tags[rows[~similar], d["partner"][~similar]] != 1).all()
        assert d["c1"].shape == x.shape and not torch.equal(d["c1"], x)  # some frames corrupted


def test_fit_is_deterministic_and_state_dict_round_trips():
    x = data()
    a, b = build(seed=3), build(seed=3)
    a.fit(x)
    b.fit(x)
    assert_same_state(a, b)
    fresh = FACTORIES["mcmsh"](bits=BITS, feature_dim=D, num_frames=T, seed=4, **SMALL)  # num_train unknown
    assert_round_trips(a, fresh, x)
    assert torch.equal(fresh.adjacency, a.adjacency)


def test_a_resumed_run_continues_exactly():
    x = data()
    keys = {"dropout": 0.5}  # dropout draws from the method's generator too

    def fitted():
        method = build(**keys)
        method.fit(x)
        return method

    # a fresh build, not fitted: everything comes from the checkpoint
    run = assert_resumes_exactly(fitted, lambda: build(seed=9, **keys),
                                 lambda method, opt, epochs: train_direct(method, opt, x, epochs, batch=8))
    assert not torch.equal(run.straight.net.binary.weight, run.first.net.binary.weight)


@pytest.mark.parametrize("keys, message", [
    ({"hidden": 18}, "method.hidden: must divide by r_max (4), got 18"),
    ({"r_min": 9}, "method.r_min: at most the frames per clip (7), got 9"),
    ({"variant": "eig"}, "method.variant: unknown value 'eig'"),
    ({"dropout": 1.0}, "method.dropout: must be a number"),
    ({"clusters": 0}, "method.clusters: must be a positive integer"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(FACTORIES["mcmsh"], {"bits": BITS, "feature_dim": D, "num_frames": T, **SMALL, **keys}, message)
