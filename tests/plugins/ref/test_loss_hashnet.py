"""hashnet: value, gradient and memory-bank parity with the loop re-derivations of DeepHash-pytorch's
HashNet.py (bank version 6fe706c, batch version HEAD), multi-batch bank sequences, the continuation
schedule of the ``scaled_tanh`` head, and empty positive / negative groups."""
from __future__ import annotations

import math

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import (ATOL, BITS, CLASSES, NUM_TRAIN, RTOL, SEQUENCE, assert_bank_round_trips, onehot, train_labels,
                     value_and_grad)
from references.banks import hashnet_batch_loss, hashnet_loss, hashnet_scale

FEATURES = 10


def build(memory: str = "bank", multi_label: bool = False, num_train: int = NUM_TRAIN, **table):
    return hashbench.registry().build("loss", {"name": "hashnet", "memory": memory, **table}, bits=BITS,
                                      num_classes=CLASSES, multi_label=multi_label, num_train=num_train)


def logits_for(step: int, batch: int, scale: float = 4.0) -> torch.Tensor:
    """Pre-tanh outputs x; large enough that alpha * u.U spans a useful range."""
    g = torch.Generator().manual_seed(2000 + step)
    return torch.randn(batch, BITS, generator=g) * scale


def bank_step(loss, labels, ind, x, scale, U, Y, alpha=0.1):
    """One bank step of both: hashbench gets u = tanh(scale x) (the head's output), the reference x."""
    value, grad = value_and_grad(lambda v: loss(torch.tanh(scale * v), labels[ind], indices=ind), x)
    expected, expected_grad = value_and_grad(
        lambda v: hashnet_loss(v, onehot(labels[ind]), ind, U, Y, alpha, scale), x)
    return value, grad, expected, expected_grad


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_bank_one_batch_equals_the_reference(multi_label, alpha):
    labels = train_labels(multi_label)
    ind = torch.tensor([2, 7, 11, 3, 19, 0, 5])
    loss = build(multi_label=multi_label, alpha=alpha)
    assert loss.needs_indices is True
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    value, grad, expected, expected_grad = bank_step(loss, labels, ind, logits_for(0, len(ind)), 1.0, U, Y, alpha)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    assert torch.equal(loss.bank.codes, U) and torch.equal(loss.bank.labels, Y)


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_batch_memory_equals_the_reference(multi_label, alpha):
    labels = train_labels(multi_label, seed=5)[:9]
    loss = build(memory="batch", multi_label=multi_label, alpha=alpha, num_train=0)  # no bank, no num_train
    assert loss.needs_indices is False and loss.bank is None and not list(loss.state_dict())
    x = logits_for(1, len(labels))
    for scale in (1.0, math.sqrt(2)):
        value, grad = value_and_grad(lambda v: loss(torch.tanh(scale * v), labels), x)
        expected, expected_grad = value_and_grad(lambda v: hashnet_batch_loss(v, onehot(labels), alpha, scale), x)
        assert value.item() == pytest.approx(expected.item(), rel=RTOL)
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_multi_batch_bank_sequence_matches_the_reference_and_its_bank(multi_label):
    labels = train_labels(multi_label, seed=3)
    loss = build(multi_label=multi_label)
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    for step, index in enumerate(SEQUENCE):
        ind = torch.tensor(index)
        scale = 1.0 if step < 2 else math.sqrt(2)  # the continuation may change between steps
        value, grad, expected, expected_grad = bank_step(loss, labels, ind, logits_for(step, len(ind)), scale, U, Y)
        assert value.item() == pytest.approx(expected.item(), rel=RTOL), step
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
        assert torch.equal(loss.bank.codes, U) and torch.equal(loss.bank.labels, Y), step
    seen = sorted({i for index in SEQUENCE for i in index})
    assert torch.equal((loss.bank.labels.sum(dim=1) > 0).nonzero().flatten(), torch.tensor(seen))


def test_continuation_schedule_of_the_scaled_tanh_head_is_the_references():
    head = hashbench.registry().build("head", {"name": "scaled_tanh", "bits": BITS}, feature_dim=FEATURES)
    for epoch in range(1, 61):  # 1-based epochs; the reference counts from 0
        head.on_epoch_start(epoch, 60)
        assert float(head.scale) == pytest.approx(hashnet_scale(epoch - 1), rel=1e-7), epoch
        expected = 1.0 if epoch <= 20 else math.sqrt(2) if epoch <= 40 else math.sqrt(3)
        assert float(head.scale) == pytest.approx(expected, rel=1e-7), epoch
    head.on_epoch_start(25, 60)  # a resumed run sets it from the epoch alone
    assert float(head.scale) == pytest.approx(math.sqrt(2), rel=1e-7)
    assert "scale" in head.state_dict()


@pytest.mark.parametrize("memory", ["bank", "batch"])
def test_head_then_loss_equals_the_reference_over_the_continuation(memory):
    """head(features) -> hashnet == the reference's hashnet_loss(x = fc(features), ..., scale), whose tanh is
    its own, at epochs in the first three continuation stages, the bank carried across them."""
    registry = hashbench.registry()
    head = registry.build("head", {"name": "scaled_tanh", "bits": BITS}, feature_dim=FEATURES)
    loss = build(memory=memory)
    labels = train_labels(False, seed=7)
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    g = torch.Generator().manual_seed(11)
    for step, (epoch, index) in enumerate(zip((1, 20, 21, 41), SEQUENCE)):
        head.on_epoch_start(epoch, 60)
        ind = torch.tensor(index)
        features = torch.randn(len(ind), FEATURES, generator=g) * 3
        head.zero_grad()
        value, grad = value_and_grad(lambda f: loss(head(f), labels[ind], indices=ind), features)
        weight_grad = head.fc.weight.grad.clone()
        head.zero_grad()
        scale = hashnet_scale(epoch - 1)
        if memory == "bank":
            reference = lambda f: hashnet_loss(head.fc(f), onehot(labels[ind]), ind, U, Y, 0.1, scale)  # noqa: E731
        else:
            reference = lambda f: hashnet_batch_loss(head.fc(f), onehot(labels[ind]), 0.1, scale)  # noqa: E731
        expected, expected_grad = value_and_grad(reference, features)
        assert value.item() == pytest.approx(expected.item(), rel=RTOL), step
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
        torch.testing.assert_close(weight_grad, head.fc.weight.grad, rtol=RTOL, atol=ATOL)
        if memory == "bank":
            torch.testing.assert_close(loss.bank.codes, U, rtol=0, atol=1e-7)
            assert torch.equal(loss.bank.labels, Y)


def test_no_positive_or_no_negative_pair_gives_a_finite_loss():
    x = logits_for(3, 5)
    u = torch.tanh(x)
    # multi-label rows without any label: no pair shares a class (S1 = 0), all pairs are negatives
    empty = torch.zeros(5, CLASSES)
    loss = build(memory="batch", multi_label=True)
    value, grad = value_and_grad(lambda v: loss(torch.tanh(v), empty), x)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    assert value.item() == pytest.approx(torch.nn.functional.softplus(0.1 * u @ u.T).mean().item(), rel=RTOL)
    expected, expected_grad = value_and_grad(lambda v: hashnet_batch_loss(v, empty, 0.1, 1.0), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    # one class only: every pair is a positive (S0 = 0)
    same = torch.zeros(5, dtype=torch.long)
    value, grad = value_and_grad(lambda v: build(memory="batch")(torch.tanh(v), same), x)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    expected, expected_grad = value_and_grad(lambda v: hashnet_batch_loss(v, onehot(same), 0.1, 1.0), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    # a bank whose rows share no label with the batch (S1 = 0 over batch x bank)
    banked = build(multi_label=True)
    value, grad = value_and_grad(lambda v: banked(torch.tanh(v), empty, indices=torch.arange(5)), x)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    U, Y = torch.zeros(NUM_TRAIN, BITS), torch.zeros(NUM_TRAIN, CLASSES)
    expected, expected_grad = value_and_grad(lambda v: hashnet_loss(v, empty, torch.arange(5), U, Y, 0.1, 1.0), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


def test_state_dict_round_trip_restores_the_bank():
    assert_bank_round_trips(lambda: build(multi_label=True), lambda step, batch: torch.tanh(logits_for(step, batch)),
                            train_labels(True, seed=2))


def test_memory_key_is_validated():
    with pytest.raises(ConfigError, match="loss.memory"):
        build(memory="queue")
    with pytest.raises(ConfigError, match="loss.alpha"):
        build(alpha=float("nan"))
