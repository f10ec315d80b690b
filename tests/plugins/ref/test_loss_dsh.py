"""dsh: value, gradient and memory-bank parity with the loop re-derivations of DeepHash-pytorch's DSH.py
(bank) and the paper's in-batch pairs, single- and multi-label, multi-batch bank sequences."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import (ATOL, BITS, CLASSES, NUM_TRAIN, RTOL, SEQUENCE, assert_bank_round_trips, onehot, train_labels,
                     value_and_grad)
from references.banks import dsh_batch_loss, dsh_loss


def build(memory: str = "bank", multi_label: bool = False, num_train: int = NUM_TRAIN, **table):
    return hashbench.registry().build("loss", {"name": "dsh", "memory": memory, **table}, bits=BITS,
                                      num_classes=CLASSES, multi_label=multi_label, num_train=num_train)


def codes_for(step: int, batch: int, scale: float = 1.2) -> torch.Tensor:
    """Linear-head codes; with bits = 12 the squared distances straddle the default margin 24."""
    g = torch.Generator().manual_seed(3000 + step)
    return torch.randn(batch, BITS, generator=g) * scale


def test_default_margin_is_twice_the_bits():
    assert build().margin == 2 * BITS
    assert build(margin=5).margin == 5.0
    with pytest.raises(ConfigError, match="loss.margin"):
        build(margin=0)
    with pytest.raises(ConfigError, match="loss.memory"):
        build(memory="all")


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("margin", [None, 10.0])
def test_bank_one_batch_equals_the_reference(multi_label, margin):
    labels = train_labels(multi_label)
    ind = torch.tensor([2, 7, 11, 3, 19, 0, 5])
    table = {} if margin is None else {"margin": margin}
    loss = build(multi_label=multi_label, **table)
    assert loss.needs_indices is True
    x = codes_for(0, len(ind))
    value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    expected, expected_grad = value_and_grad(
        lambda u: dsh_loss(u, onehot(labels[ind]), ind, U, Y, 0.1, loss.margin), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    assert torch.equal(loss.bank.codes, U) and torch.equal(loss.bank.labels, Y)


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("margin", [None, 10.0])
def test_batch_memory_equals_the_papers_in_batch_pairs(multi_label, margin):
    labels = train_labels(multi_label, seed=4)[:9]
    table = {} if margin is None else {"margin": margin}
    loss = build(memory="batch", multi_label=multi_label, num_train=0, alpha=0.5, **table)
    assert loss.needs_indices is False and loss.bank is None and not list(loss.state_dict())
    x = codes_for(1, len(labels))
    value, grad = value_and_grad(lambda u: loss(u, labels), x)
    expected, expected_grad = value_and_grad(lambda u: dsh_batch_loss(u, onehot(labels), 0.5, loss.margin), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_multi_batch_bank_sequence_matches_the_reference_and_its_bank(multi_label):
    labels = train_labels(multi_label, seed=3)
    loss = build(multi_label=multi_label)
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    for step, index in enumerate(SEQUENCE):
        ind = torch.tensor(index)
        x = codes_for(step, len(ind))
        value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
        expected, expected_grad = value_and_grad(
            lambda u: dsh_loss(u, onehot(labels[ind]), ind, U, Y, 0.1, 2.0 * BITS), x)
        assert value.item() == pytest.approx(expected.item(), rel=RTOL), step
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
        assert torch.equal(loss.bank.codes, U) and torch.equal(loss.bank.labels, Y), step


def test_state_dict_round_trip_restores_the_bank():
    assert_bank_round_trips(build, codes_for, train_labels(False, seed=1))
