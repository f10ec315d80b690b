"""Bi-half against a float64 loop re-derivation of FIRe's BiHalfLoss and BiHalfFunction
(tests/references/fire_unsupervised.py): the codes, the term and every parameter's gradient (with the
layer's pull gamma / (B bits) (h - b)) on fixed batches with identical weights (float32 tolerance reached:
1e-5 relative, 1e-6 absolute), odd and even batches; a sequence of training steps matches step by step;
half-half bits; the registered factory's keys."""
from __future__ import annotations

import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.bihalf import bi_half
from hashbench_ref.methods.unsupervised import FACTORIES
from references import fire_unsupervised as ref
from support.methods import assert_gradients_match, assert_refused

B, T, D, BITS = 9, 4, 10, 6


def build(seed: int = 0, **keys):
    return FACTORIES["bihalf"](bits=BITS, feature_dim=D, seed=seed, **keys)


@pytest.mark.parametrize("batch", [B, B + 1])
def test_codes_term_and_gradients_equal_the_re_derivation(batch):
    method = build(gamma=4.0)
    train = torch.randn(24, T, D, generator=torch.Generator().manual_seed(1)) + 1.0
    method.fit(train)
    inputs = train[:batch]
    term = method.training_loss(MethodBatch(inputs, torch.arange(batch)))
    term.backward()
    p = ref.as_float64(method.state_dict())
    expected = ref.bihalf_terms(ref.standardised(train.mean(dim=1))[:batch], p, gamma=4.0)
    ref.assert_close(term, expected["similarity"])
    expected["similarity"].backward()
    assert_gradients_match(method, p, ref.assert_close)
    h = method.hash_fc(method.features(inputs))
    assert torch.equal(bi_half(h, 4.0).double(), expected["b"])
    assert (bi_half(h).sum(dim=0) == batch % 2 * -1).all()  # half +1, half -1 (the odd one out is -1)


def test_the_pull_is_the_layers_own_gradient():
    h = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    b = bi_half(h, 6.0)
    b.backward(torch.zeros_like(b))
    ref.assert_close(h.grad, 6.0 / 18 * (h - b).detach())


def test_a_sequence_of_steps_follows_the_re_derivation():
    method = build()
    data = torch.randn(16, T, D, generator=torch.Generator().manual_seed(3))
    method.fit(data)
    x = ref.standardised(data.mean(dim=1))
    p = ref.as_float64(method.state_dict())
    opt = torch.optim.SGD(method.parameters(), lr=0.5)
    ref_opt = torch.optim.SGD([p["hash_fc.weight"], p["hash_fc.bias"]], lr=0.5)
    for step in range(4):
        rows = torch.arange(step * 4, step * 4 + 8) % 16
        opt.zero_grad()
        ref_opt.zero_grad()
        method.training_loss(MethodBatch(data[rows], rows)).backward()
        ref.bihalf_terms(x[rows], p)["similarity"].backward()
        opt.step()
        ref_opt.step()
        ref.assert_close(method.hash_fc.weight, p["hash_fc.weight"])
    assert not torch.equal(method.hash_fc.weight, build().hash_fc.weight)


def test_encode_is_the_identity_layer_and_state_round_trips():
    method = build()
    data = torch.randn(10, T, D)
    method.fit(data)
    fresh = build(seed=2)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.encode(data), method.hash_fc(method.features(data)))
    single = method.training_loss(MethodBatch(data[:1], torch.arange(1)))
    assert float(single.detach()) == 0.0 and single.requires_grad


@pytest.mark.parametrize("keys, message", [
    ({"gamma": -1}, "method.gamma: must be a number >= 0"),
    ({"hidden": 1.5}, "method.hidden: must be an integer >= 0"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    assert_refused(build, keys, message)
