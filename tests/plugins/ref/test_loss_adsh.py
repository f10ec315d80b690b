"""adsh: value and gradient parity with the loop re-derivation of the authors' ADSH (jiangqy/ADSH-AAAI2018,
ADSH_pytorch) over a multi-batch, multi-epoch sequence, with the database codes V updated in closed form
between epochs; the state_dict round trip mid-sequence (as --resume); no double update; bad keys."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import ATOL, BITS, CLASSES, NUM_TRAIN, RTOL, SEQUENCE, onehot, train_labels, value_and_grad
from references.fire_losses_b import adsh_state, adsh_step, adsh_update


def build(multi_label: bool = False, **table):
    return hashbench.registry().build("loss", {"name": "adsh", **table}, bits=BITS, num_classes=CLASSES,
                                      multi_label=multi_label, num_train=NUM_TRAIN)


def codes_for(epoch: int, step: int, batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(7000 + 10 * epoch + step)
    return torch.tanh(torch.randn(batch, BITS, generator=g))


@pytest.mark.parametrize("gamma", [200.0, 1.0])
@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_three_epochs_of_batches_and_updates_equal_the_reference(multi_label, gamma):
    labels = train_labels(multi_label, seed=5)
    loss = build(multi_label=multi_label, gamma=gamma)
    state = adsh_state(NUM_TRAIN, BITS, CLASSES)
    for epoch in (1, 2, 3):
        loss.on_epoch_start(epoch, 3)
        if epoch > 1:
            adsh_update(state, gamma)
        torch.testing.assert_close(loss.V, state["V"].float(), rtol=0, atol=0)
        for step, index in enumerate(SEQUENCE):
            ind = torch.tensor(index)
            x = codes_for(epoch, step, len(ind))
            value, grad = value_and_grad(lambda u: loss(u, labels[ind], indices=ind), x)
            expected, expected_grad = value_and_grad(lambda u: adsh_step(u, onehot(labels[ind]), ind, state, gamma), x)
            assert value.item() == pytest.approx(expected.item(), rel=RTOL), (epoch, step)
            torch.testing.assert_close(grad, expected_grad.float(), rtol=RTOL, atol=ATOL)
    seen = sorted({i for index in SEQUENCE for i in index})
    assert set(loss.V[seen].unique().tolist()) <= {-1.0, 1.0} and loss.V[seen].abs().sum() > 0
    unseen = [i for i in range(NUM_TRAIN) if i not in seen]
    assert loss.V[unseen].abs().sum() == 0  # never a query: never a database code either


def test_v_moves_towards_the_codes_of_similar_clips():
    """After an update, V_j agrees in sign with the latest code of clip j (the gamma term) when gamma is large."""
    labels = train_labels(False)
    loss = build(gamma=1e4)
    ind = torch.arange(NUM_TRAIN)
    codes = codes_for(0, 0, NUM_TRAIN)
    loss(codes, labels, indices=ind)
    loss.on_epoch_start(2, 2)
    assert torch.equal(loss.V, torch.sign(codes))


def test_state_dict_round_trip_mid_sequence_continues_exactly_and_does_not_update_twice():
    labels = train_labels(False, seed=2)
    loss = build()
    for epoch in (1, 2):
        loss.on_epoch_start(epoch, 4)
        for step, index in enumerate(SEQUENCE):
            ind = torch.tensor(index)
            loss(codes_for(epoch, step, len(ind)), labels[ind], indices=ind)
    state = loss.state_dict()
    assert set(state) == {"bank.codes", "bank.labels", "V", "seen", "updated"}
    copy = build()
    copy.load_state_dict(state)
    for model in (loss, copy):  # as --resume: load, then the next epoch begins
        model.on_epoch_start(3, 4)
    v = loss.V.clone()
    loss.on_epoch_start(3, 4)  # called again for the same epoch: no second update
    assert torch.equal(loss.V, v) and torch.equal(copy.V, v) and int(copy.updated) == 3
    ind = torch.tensor(SEQUENCE[1])
    x = codes_for(3, 1, len(ind))
    assert torch.equal(copy(x, labels[ind], indices=ind), loss(x, labels[ind], indices=ind))


def test_every_spaces_the_updates():
    labels = train_labels(False)
    loss = build(every=2)
    ind = torch.arange(NUM_TRAIN)
    loss(codes_for(0, 0, NUM_TRAIN), labels, indices=ind)
    loss.on_epoch_start(2, 5)
    assert loss.V.abs().sum() == 0
    loss.on_epoch_start(3, 5)
    assert loss.V.abs().sum() > 0 and int(loss.updated) == 3


@pytest.mark.parametrize("key, value, match", [("gamma", -1.0, "loss.gamma"), ("every", 0, "loss.every"),
                                               ("every", 1.5, "loss.every")])
def test_bad_keys_are_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build(**{key: value})
