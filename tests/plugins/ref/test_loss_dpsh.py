"""dpsh: value, gradient and memory-bank parity with the loop re-derivation of DeepHash-pytorch's DPSH.py
(``weighting = "mean"``) and FIRe's dpsh.py (``"balanced"``), over single steps and multi-batch sequences,
single- and multi-label; the bank's state_dict round trip."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError, ContractError

from support import (ATOL, BITS, CLASSES, NUM_TRAIN, RTOL, SEQUENCE, assert_bank_round_trips, onehot, train_labels,
                     value_and_grad)
from references.banks import dpsh_loss


def build(num_train: int = NUM_TRAIN, multi_label: bool = False, **table):
    return hashbench.registry().build("loss", {"name": "dpsh", **table}, bits=BITS, num_classes=CLASSES,
                                      multi_label=multi_label, num_train=num_train)


def codes_for(step: int, batch: int, scale: float = 1.5) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 + step)
    return torch.randn(batch, BITS, generator=g) * scale


WEIGHTINGS = ["mean", "balanced"]


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_one_batch_equals_the_reference(multi_label, alpha, weighting):
    labels = train_labels(multi_label)
    ind = torch.tensor([2, 7, 11, 3, 19, 0, 5])
    x = codes_for(0, len(ind))
    loss = build(multi_label=multi_label, alpha=alpha, weighting=weighting)
    value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    expected, expected_grad = value_and_grad(
        lambda u: dpsh_loss(u, onehot(labels[ind]), ind, U, Y, alpha, weighting), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    assert torch.equal(loss.bank.codes, U) and torch.equal(loss.bank.labels, Y)


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_multi_batch_sequence_matches_the_reference_and_its_bank(multi_label, weighting):
    labels = train_labels(multi_label, seed=3)
    loss = build(multi_label=multi_label, weighting=weighting)
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    values = []
    for step, index in enumerate(SEQUENCE):
        ind = torch.tensor(index)
        x = codes_for(step, len(ind))
        value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
        expected, expected_grad = value_and_grad(
            lambda u: dpsh_loss(u, onehot(labels[ind]), ind, U, Y, 0.1, weighting), x)
        assert value.item() == pytest.approx(expected.item(), rel=RTOL), step
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
        assert torch.equal(loss.bank.codes, U) and torch.equal(loss.bank.labels, Y), step
        assert not loss.bank.codes.requires_grad
        values.append(value.item())
    # the bank matters: rows written by earlier batches change later values
    seen = sorted({i for index in SEQUENCE for i in index})
    assert torch.equal((loss.bank.labels.sum(dim=1) > 0).nonzero().flatten(), torch.tensor(seen))
    fresh = build(multi_label=multi_label, weighting=weighting)
    ind = torch.tensor(SEQUENCE[-1])
    assert fresh(codes_for(len(SEQUENCE) - 1, len(ind)), labels[ind], indices=ind).item() != pytest.approx(values[-1])


def test_state_dict_round_trip_restores_the_bank_and_the_next_step():
    state = assert_bank_round_trips(build, codes_for, train_labels(False))
    with pytest.raises(RuntimeError):  # a bank of another training split does not fit
        build(num_train=NUM_TRAIN + 1).load_state_dict(state)


def test_class_ids_and_one_hot_rows_give_the_same_loss():
    labels = train_labels(False)
    ind = torch.tensor(SEQUENCE[0])
    x = codes_for(0, len(ind))
    assert torch.equal(build()(x, labels[ind], indices=ind), build()(x, onehot(labels[ind]), indices=ind))


def test_needs_indices_and_a_bank_of_the_training_split():
    loss = build()
    assert loss.needs_indices is True and loss.bank.size == NUM_TRAIN
    with pytest.raises(ContractError, match="indices"):
        loss(codes_for(0, 4), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ContractError, match="outside the training split"):
        loss(codes_for(0, 2), torch.tensor([0, 1]), indices=torch.tensor([0, NUM_TRAIN]))
    with pytest.raises(ContractError, match="num_train"):
        build(num_train=0)
    with pytest.raises(ConfigError, match="loss.alpha"):
        build(alpha=-1.0)
    with pytest.raises(ConfigError, match="loss.weighting: unknown value 'even'"):
        build(weighting="even")


def test_balanced_weighting_keeps_the_similar_pairs_pull_that_the_mean_dilutes():
    """With one similar class among many, the plain mean's gradient towards a similar bank code is about
    1/N of the balanced one's: the balanced likelihood averages similar and dissimilar pairs separately."""
    num_train = 30
    labels = torch.arange(num_train) % 15  # 15 classes: 1 of 15 pairs is similar
    bank_codes = torch.randn(num_train, BITS, generator=torch.Generator().manual_seed(4))
    pulls = {}
    for weighting in WEIGHTINGS:
        loss = hashbench.registry().build("loss", {"name": "dpsh", "alpha": 0.0, "weighting": weighting}, bits=BITS,
                                          num_classes=15, multi_label=False, num_train=num_train)
        loss(bank_codes, labels, indices=torch.arange(num_train))  # fill the bank
        u = torch.zeros(1, BITS, requires_grad=True)
        loss(u, labels[:1], indices=torch.tensor([0])).backward()
        partner = bank_codes[15]  # clip 15 shares class 0 with clip 0
        pulls[weighting] = -(u.grad[0] @ partner).item()  # > 0: a step moves u towards its partner
    assert pulls["balanced"] > 0
    assert pulls["balanced"] > 5 * abs(pulls["mean"])


def test_double_codes_are_computed_in_float32_against_a_float32_bank():
    loss = build()
    ind = torch.tensor([1, 2, 3])
    value = loss(codes_for(0, 3).double(), torch.tensor([0, 1, 1]), indices=ind)
    assert value.dtype == torch.float32 and loss.bank.codes.dtype == torch.float32
