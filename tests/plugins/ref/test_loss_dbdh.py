"""dbdh: value, gradient and memory-bank parity with the loop re-derivation of FIRe's dbdh.py (bank and
batch pairs, power 1 and 2, plain-mean and balanced pairs, single- and multi-label), over single steps and
a multi-batch sequence; the clip to [-1, 1]; the bank's state_dict round trip; bad keys."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import (ATOL, BITS, CLASSES, NUM_TRAIN, RTOL, SEQUENCE, assert_bank_round_trips, onehot, train_labels,
                     value_and_grad)
from references.fire_losses_b import dbdh_loss


def build(memory: str = "bank", multi_label: bool = False, **table):
    return hashbench.registry().build("loss", {"name": "dbdh", "memory": memory, **table}, bits=BITS,
                                      num_classes=CLASSES, multi_label=multi_label, num_train=NUM_TRAIN)


def codes_for(step: int, batch: int, scale: float = 1.2) -> torch.Tensor:
    """Linear-head codes, some beyond +-1 (where the clip stops the gradient)."""
    g = torch.Generator().manual_seed(3000 + step)
    return torch.randn(batch, BITS, generator=g) * scale


def banks():
    return torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)


@pytest.mark.parametrize("weighting", ["mean", "balanced"])
@pytest.mark.parametrize("power", [1, 2])
@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("alpha", [0.1, 2.0])
def test_one_batch_equals_the_reference(multi_label, alpha, power, weighting):
    labels = train_labels(multi_label)
    ind = torch.tensor([2, 7, 11, 3, 19, 0, 5])
    x = codes_for(0, len(ind))
    assert (x.abs() > 1).any() and (x.abs() < 1).any()
    loss = build(multi_label=multi_label, alpha=alpha, power=power, weighting=weighting)
    value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
    U, Y = banks()
    expected, expected_grad = value_and_grad(
        lambda u: dbdh_loss(u, onehot(labels[ind]), ind, U, Y, alpha, power, weighting), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad.float(), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(loss.bank.codes, U, rtol=0, atol=0)
    assert torch.equal(loss.bank.labels, Y)
    assert torch.equal(grad[x.abs() > 1], torch.zeros(int((x.abs() > 1).sum())))  # the clip's gradient


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_batch_pairs_equal_the_reference(multi_label):
    labels = train_labels(multi_label)
    ind = torch.tensor(SEQUENCE[2])
    x = codes_for(1, len(ind))
    loss = build(memory="batch", multi_label=multi_label)
    assert loss.bank is None and not loss.needs_indices
    value, grad = value_and_grad(lambda u: loss(u, labels[ind]), x)
    expected, expected_grad = value_and_grad(lambda u: dbdh_loss(u, onehot(labels[ind]), None, None, None, 0.1), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad.float(), rtol=RTOL, atol=ATOL)


def test_multi_batch_sequence_matches_the_reference_and_its_bank():
    labels = train_labels(False, seed=3)
    loss = build()
    U, Y = banks()
    values = []
    for step, index in enumerate(SEQUENCE):
        ind = torch.tensor(index)
        x = codes_for(step, len(ind))
        value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
        expected, expected_grad = value_and_grad(lambda u: dbdh_loss(u, onehot(labels[ind]), ind, U, Y, 0.1), x)
        assert value.item() == pytest.approx(expected.item(), rel=RTOL), step
        torch.testing.assert_close(grad, expected_grad.float(), rtol=RTOL, atol=ATOL)
        torch.testing.assert_close(loss.bank.codes, U, rtol=0, atol=0)
        values.append(value.item())
    assert loss.bank.codes.abs().max() <= 1.0  # the bank holds clipped codes
    ind = torch.tensor(SEQUENCE[-1])  # earlier batches' rows change the last value
    assert build()(codes_for(len(SEQUENCE) - 1, len(ind)), labels[ind], indices=ind).item() != pytest.approx(values[-1])


def test_state_dict_round_trip_restores_the_bank_and_the_next_step():
    assert_bank_round_trips(build, codes_for, train_labels(False))


def test_the_balance_term_favours_codes_with_as_many_plus_as_minus_bits():
    loss = build(memory="batch", alpha=1.0)
    balanced = torch.tensor([[1.0, -1.0] * (BITS // 2)])
    skewed = torch.ones(1, BITS)
    labels = torch.tensor([0])
    gap = loss(skewed, labels) - loss(balanced, labels)
    assert gap.item() > 0.5  # balance 1 versus 0 (the likelihood term also moves, by less)


@pytest.mark.parametrize("key, value, match", [("alpha", -1.0, "loss.alpha"), ("power", 3, "loss.power"),
                                               ("memory", "queue", "loss.memory"),
                                               ("weighting", "even", "loss.weighting")])
def test_bad_keys_are_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build(**{key: value})
