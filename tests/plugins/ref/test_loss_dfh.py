"""dfh: value, gradient, bank and centre parity with the loop re-derivation of FIRe's DFHLoss over single
batches and multi-batch sequences (single- and multi-label, non-default keys); the state dict round trip
(bank and centres) and the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError, ContractError

from support import ATOL, BITS, CLASSES, NUM_TRAIN, RTOL, SEQUENCE, onehot, train_labels, value_and_grad
from references.fire_losses_a import dfh_loss

KEYS = {"mu": 1.0, "vul": 1.0, "m": 1.0, "eta": 0.5}  # FIRe's template


def build(multi_label: bool = False, **table):
    return hashbench.registry().build("loss", {"name": "dfh", **table}, bits=BITS, num_classes=CLASSES,
                                      multi_label=multi_label, num_train=NUM_TRAIN, seed=0)


def codes_for(step: int, batch: int, scale: float = 1.5) -> torch.Tensor:
    g = torch.Generator().manual_seed(700 + step)
    return torch.randn(batch, BITS, generator=g) * scale


def empty_state():
    return torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES), torch.zeros(CLASSES, BITS)


def step_parity(loss, labels, ind, x, U, Y, C, keys):
    """One batch through the loss and the reference (which updates U, Y, C in place); asserts parity."""
    y = onehot(labels[ind])
    value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
    expected, expected_grad = value_and_grad(lambda u: dfh_loss(u, y, ind, U, Y, C, **keys), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    assert float(grad.abs().sum()) > 0


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("keys", [KEYS, {"mu": 0.5, "vul": 2.0, "m": 0.5, "eta": 1.0},
                                  {**KEYS, "weighting": "balanced"}], ids=["fire", "other", "balanced"])
def test_multi_batch_sequence_equals_the_reference_with_its_bank_and_centres(multi_label, keys):
    labels = train_labels(multi_label, seed=5)
    loss = build(multi_label, **keys)
    U, Y, C = empty_state()
    for step, index in enumerate(SEQUENCE + SEQUENCE[:2]):  # the centres keep moving after the bank is full
        ind = torch.tensor(index)
        step_parity(loss, labels, ind, codes_for(step, len(ind)), U, Y, C, keys)
        assert torch.equal(loss.centres, C), step
        assert torch.equal(loss.bank.labels, Y), step
        torch.testing.assert_close(loss.bank.codes, U, rtol=0, atol=0)
    assert set(loss.centres.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert bool((loss.centres != 0).any())


def test_first_batch_quantises_towards_the_sign_of_the_codes():
    """Centres start at zero (FIRe's sign of a zero matrix): the first targets are sign(u)."""
    labels = train_labels(False)
    ind = torch.tensor(SEQUENCE[0])
    x = codes_for(0, len(ind))
    loss = build(m=0.0, eta=1.0)
    assert torch.equal(loss.centres, torch.zeros(CLASSES, BITS))
    value = loss(x, labels[ind], indices=ind)
    similar = (onehot(labels[ind]) @ loss.bank.labels.T > 0).float()
    theta = 0.5 * x @ loss.bank.codes.T
    metric = (similar * torch.nn.functional.softplus(-theta) + (1 - similar) * torch.nn.functional.softplus(theta))
    expected = metric.mean() + ((x.sign() - x) ** 2).mean()
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)


def test_state_dict_round_trip_restores_bank_and_centres():
    labels = train_labels(True, seed=2)
    loss = build(multi_label=True)
    for step, index in enumerate(SEQUENCE[:3]):
        ind = torch.tensor(index)
        loss(codes_for(step, len(ind)), labels[ind], indices=ind)
    state = loss.state_dict()
    assert set(state) == {"bank.codes", "bank.labels", "centres"}
    copy = build(multi_label=True)
    copy.load_state_dict(state)
    ind = torch.tensor(SEQUENCE[3])
    x = codes_for(3, len(ind))
    assert torch.equal(copy(x, labels[ind], indices=ind), loss(x, labels[ind], indices=ind))
    assert torch.equal(copy.centres, loss.centres)


def test_needs_indices():
    with pytest.raises(ContractError, match="needs the clips' indices"):
        build()(codes_for(0, 4), torch.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize("table,message", [
    ({"eta": -1.0}, r"loss\.eta: must be a number >= 0"),
    ({"m": float("inf")}, r"loss\.m: must be a number"),
    ({"nta": 1.0}, r"loss\.nta: unknown key"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "dfh", **table}, where="loss", bits=BITS, num_classes=CLASSES,
                                   multi_label=False, seed=0, num_train=NUM_TRAIN)
