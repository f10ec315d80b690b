"""UH-BDNN against a float64 loop re-derivation of FIRe's UHBDNNLoss and ArchUHBDNN
(tests/references/fire_unsupervised.py): each of the four terms and every parameter's gradient on fixed
batches with identical weights (float32 tolerance reached: 1e-5 relative, 1e-6 absolute), a sequence of
SGD steps; fit's ITQ targets (the classic ITQ's projections of the standardised features, or their signs);
the fit-sized targets survive a state_dict round trip into an unfitted build; the factory's keys."""
from __future__ import annotations

import pytest
import torch

from hashbench.contract import MethodBatch
from hashbench_ref.methods.classic.itq import ITQ
from hashbench_ref.methods.unsupervised import FACTORIES
from references import fire_unsupervised as ref
from support.methods import assert_gradients_match

N, T, D, BITS = 18, 4, 10, 6
WEIGHTS = {"quan": 0.5, "independence": 0.2, "balance": 0.01}


def build(seed: int = 0, **keys):
    return FACTORIES["uhbdnn"](bits=BITS, feature_dim=D, seed=seed, **{"hidden": [7, 5], **WEIGHTS, **keys})


def data(seed: int = 1) -> torch.Tensor:
    return torch.randn(N, T, D, generator=torch.Generator().manual_seed(seed)) * 2 + 0.5


def _weighted(t: dict) -> torch.Tensor:
    return (t["reconstruction"] + 0.5 * t["quantisation"] + 0.2 * t["independence"] + 0.01 * t["balance"])


def test_terms_and_gradients_equal_the_re_derivation():
    method = build()
    train = data()
    method.fit(train)
    rows = torch.tensor([3, 0, 7, 12, 5])
    terms = method.loss_terms(MethodBatch(train[rows], rows))
    total = method.training_loss(MethodBatch(train[rows], rows))
    total.backward()
    p = ref.as_float64(method.state_dict())
    x = ref.standardised(train.mean(dim=1))[rows]
    expected = ref.uhbdnn_terms(x, p["targets"].detach()[rows], p, layers=2)
    for key in ("reconstruction", "quantisation", "independence", "balance"):
        ref.assert_close(terms[key], expected[key])
        assert float(terms[key].detach()) > 0, key
    ref.assert_close(total, _weighted(expected))
    _weighted(expected).backward()
    assert_gradients_match(method, p, ref.assert_close)
    with torch.no_grad():
        ref.assert_close(method.encode(train[rows]), expected["h"])


def test_a_sequence_of_steps_follows_the_re_derivation():
    method = build()
    train = data(2)
    method.fit(train)
    x = ref.standardised(train.mean(dim=1))
    p = ref.as_float64(method.state_dict())
    leaves = [p[name] for name, _ in method.named_parameters()]
    opt, ref_opt = torch.optim.SGD(method.parameters(), lr=0.1), torch.optim.SGD(leaves, lr=0.1)
    for step in range(3):
        rows = torch.arange(step * 6, step * 6 + 6)
        opt.zero_grad()
        ref_opt.zero_grad()
        method.training_loss(MethodBatch(train[rows], rows)).backward()
        _weighted(ref.uhbdnn_terms(x[rows], p["targets"].detach()[rows], p, layers=2)).backward()
        opt.step()
        ref_opt.step()
    for name, param in method.named_parameters():
        ref.assert_close(param, p[name])
    assert not torch.equal(method.rec_fc.weight, build().rec_fc.weight)


@pytest.mark.parametrize("binary", [False, True])
def test_fit_sets_the_itq_targets_of_the_standardised_features(binary):
    method = build(binary_targets=binary, itq_iterations=7)
    train = data(3)
    method.fit(train)
    x = ref.standardised(train.mean(dim=1))
    itq = ITQ(BITS, 0, iterations=7)
    itq.fit(x.numpy())
    expected = itq.encode(x.numpy()).double()
    expected = expected.sign() if binary else expected
    assert method.targets.shape == (N, BITS)
    ref.assert_close(method.targets, expected)
    if binary:
        assert set(method.targets.unique().tolist()) == {-1.0, 1.0}


def test_an_unfitted_build_takes_the_fitted_state_and_loss_needs_fit():
    method = build()
    train = data(4)
    fresh = build(seed=9)
    with pytest.raises(RuntimeError, match="fit"):
        fresh.training_loss(MethodBatch(train[:3], torch.arange(3)))
    method.fit(train)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.targets, method.targets)
    assert torch.equal(fresh.encode(train), method.encode(train))
    batch = MethodBatch(train[:4], torch.arange(4))
    assert torch.equal(fresh.training_loss(batch), method.training_loss(batch))


@pytest.mark.parametrize("keys, message", [
    ({"bits": 12}, "method.bits: UH-BDNN's ITQ targets need bits <= the features' 10 dimensions"),
    ({"hidden": []}, "method.hidden: must be a non-empty list"),
    ({"hidden": [4, 0]}, "method.hidden: must be a positive integer"),
    ({"quan": -0.1}, "method.quan: must be a number >= 0"),
    ({"itq_iterations": -1}, "method.itq_iterations: must be an integer >= 0"),
    ({"binary_targets": 1}, "method.binary_targets: must be true or false"),
])
def test_bad_keys_say_which_key_and_why(keys, message):
    table = {"hidden": [7, 5], **keys}
    bits = table.pop("bits", BITS)
    with pytest.raises(ValueError) as info:
        FACTORIES["uhbdnn"](bits=bits, feature_dim=D, **table)
    assert message in str(info.value)
