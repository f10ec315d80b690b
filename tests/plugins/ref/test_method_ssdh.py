"""SSDH against a float64 loop re-derivation of FIRe's SemanticStructureDHLoss
(tests/references/fire_unsupervised_ssdh.py): fit's pseudo-similarity S equals the re-derivation's
exactly (with +1, -1 and 0 pairs off the diagonal); the term and every parameter's gradient on fixed batches
with identical weights (float32 tolerance reached: 1e-5 relative, 1e-6 absolute); a sequence of SGD steps
over batches picked by their indices; S round-trips through the state dict; the factory's keys."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.unsupervised import FACTORIES
from references import fire_unsupervised as ref
from references import fire_unsupervised_ssdh as ssdh_ref
from support.methods import assert_gradients_match, assert_refused

N, T, D, BITS = 30, 4, 24, 6


def build(seed: int = 0, **keys):
    return FACTORIES["ssdh"](bits=BITS, feature_dim=D, seed=seed, **keys)


def clustered(seed: int = 1, n: int = N) -> torch.Tensor:
    """n videos of random frames (24-d frame means: cosine distances peak near 1, inside FIRe's [0, 1)
    histogram; with n = 80 the peak's bin outnumbers the diagonal's n zeros, so S has both signs)."""
    return torch.randn(n, T, D, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("alpha, beta", [(2.0, 2.0), (1.0, 1.5)])
def test_fit_similarity_equals_the_re_derivation(alpha, beta):
    train = clustered(n=80)
    method = build(alpha=alpha, beta=beta)
    method.fit(train)
    expected = ssdh_ref.similarity(ref.standardised(train.mean(dim=1)).numpy(), alpha, beta)
    assert np.array_equal(method.similarity.numpy(), expected)
    off = ~np.eye(80, dtype=bool)
    assert (expected[off] == 1).any() and (expected[off] == -1).any() and (expected[off] == 0).any()


def test_term_and_gradients_equal_the_re_derivation():
    train = clustered(n=80)
    method = build()
    method.fit(train)
    off = method.similarity - torch.diag(torch.diagonal(method.similarity))
    similar, dissimilar = (off == 1).nonzero()[0].tolist(), (off == -1).nonzero()[0].tolist()
    rows = torch.tensor([*similar, 5, *dissimilar, 11, 17])  # pairs of both signs and unknown ones
    term = method.training_loss(MethodBatch(train[rows], rows))
    term.backward()
    p = ref.as_float64(method.state_dict())
    x = ref.standardised(train.mean(dim=1))
    expected = ssdh_ref.ssdh_loss(x[rows], method.similarity.numpy(), rows.tolist(), p)
    ref.assert_close(term, expected)
    expected.backward()
    assert_gradients_match(method, p, ref.assert_close)


def test_a_sequence_of_steps_follows_the_re_derivation():
    train = clustered(3, n=80)
    method = build()
    method.fit(train)
    s = method.similarity.numpy()
    x = ref.standardised(train.mean(dim=1))
    p = ref.as_float64(method.state_dict())
    opt = torch.optim.SGD(method.parameters(), lr=0.5)
    ref_opt = torch.optim.SGD([p["hash_fc.weight"], p["hash_fc.bias"]], lr=0.5)
    for step in range(3):
        rows = torch.randperm(80, generator=torch.Generator().manual_seed(step))[:10]
        opt.zero_grad()
        ref_opt.zero_grad()
        method.training_loss(MethodBatch(train[rows], rows)).backward()
        ssdh_ref.ssdh_loss(x[rows], s, rows.tolist(), p).backward()
        opt.step()
        ref_opt.step()
        ref.assert_close(method.hash_fc.weight, p["hash_fc.weight"])


def test_state_round_trips_and_training_needs_fit():
    method = build()
    with pytest.raises(RuntimeError, match="fit"):
        method.training_loss(MethodBatch(torch.randn(4, T, D), torch.arange(4)))
    train = clustered()
    method.fit(train)
    fresh = build(seed=3)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.similarity, method.similarity) and fresh.similarity.dtype == torch.int8
    assert torch.equal(fresh.encode(train), method.encode(train))
    assert float(method.encode(train).detach().abs().max()) < 1


@pytest.mark.parametrize("keys, message", [
    ({"alpha": -1}, "method.alpha: must be a number >= 0"),
    ({"beta": "2"}, "method.beta: must be a number"),
    ({"standardise": 1}, "method.standardise: must be true or false"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(build, keys, message)
