"""dtsh: value and gradient parity with the loop re-derivation of FIRe's DTSHLoss (single- and multi-label,
margins, scores past FIRe's clamp), a batch without any triplet, and the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import ATOL, BITS, CLASSES, RTOL, onehot, train_labels, value_and_grad
from references.fire_losses_a import dtsh_loss


def build(multi_label: bool = False, **table):
    return hashbench.registry().build("loss", {"name": "dtsh", **table}, bits=BITS, num_classes=CLASSES,
                                      multi_label=multi_label, num_train=0, seed=0)


def codes_for(step: int, batch: int, scale: float = 0.5) -> torch.Tensor:
    g = torch.Generator().manual_seed(300 + step)
    return torch.randn(batch, BITS, generator=g) * scale


def assert_parity(value, grad, expected, expected_grad):
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("alpha,lmbd,scale", [(5.0, 1.0, 0.5), (1.0, 0.1, 0.3), (2.0, 0.0, 1.0)])
def test_one_batch_equals_the_reference(multi_label, alpha, lmbd, scale):
    labels = train_labels(multi_label)[:9]
    y = onehot(labels)
    sims = y @ y.T > 0
    assert bool((sims.sum(1) < 9).any()) and bool((sims.sum(1) > 1).any())  # anchors with both kinds of pairs
    x = codes_for(0, 9, scale)
    loss = build(multi_label, alpha=alpha, lmbd=lmbd)
    value, grad = value_and_grad(lambda u: loss(u, labels), x)
    expected, expected_grad = value_and_grad(lambda u: dtsh_loss(u, y, alpha, lmbd), x)
    assert_parity(value, grad, expected, expected_grad)
    assert float(grad.abs().sum()) > 0


def test_scores_past_the_clamp_match_the_reference():
    """Large codes put triplet scores below -100 and above 50, where FIRe's clamp stops the gradient."""
    labels = torch.tensor([0, 0, 1, 1, 2, 3])
    x = codes_for(1, 6, scale=4.0)
    inner = x @ x.T
    assert float(inner.max()) > 55 and float(inner.min()) < -50
    value, grad = value_and_grad(lambda u: build()(u, labels), x)
    expected, expected_grad = value_and_grad(lambda u: dtsh_loss(u, onehot(labels), 5.0, 1.0), x)
    assert_parity(value, grad, expected, expected_grad)


def test_anchors_without_a_negative_count_for_nothing():
    """Only anchors that have both a positive and a negative enter the mean (FIRe's ``count``)."""
    labels = torch.tensor([0, 0, 0, 1])  # every anchor has both
    lone = torch.tensor([0, 0, 0, 0])    # no negative anywhere: only the quantisation term is left
    x = codes_for(2, 4)
    loss = build(lmbd=0.5)
    value, grad = value_and_grad(lambda u: loss(u, lone), x)
    assert value.item() == pytest.approx((0.5 * ((x - x.sign()) ** 2).mean()).item(), rel=RTOL)
    expected, expected_grad = value_and_grad(lambda u: dtsh_loss(u, onehot(lone), 5.0, 0.5), x)
    assert_parity(value, grad, expected, expected_grad)
    value, grad = value_and_grad(lambda u: build(lmbd=0.0)(u, lone), x)
    assert value.item() == 0.0 and torch.equal(grad, torch.zeros_like(x))
    value, grad = value_and_grad(lambda u: loss(u, labels), x)
    expected, expected_grad = value_and_grad(lambda u: dtsh_loss(u, onehot(labels), 5.0, 0.5), x)
    assert_parity(value, grad, expected, expected_grad)


def test_has_no_state_and_needs_no_indices():
    loss = build()
    assert loss.state_dict() == {} and list(loss.parameters()) == [] and not loss.needs_indices


@pytest.mark.parametrize("table,message", [
    ({"lmbd": -1.0}, r"loss\.lmbd: must be a number >= 0"),
    ({"alpha": float("nan")}, r"loss\.alpha: must be a number"),
    ({"margin": 5}, r"loss\.margin: unknown key"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "dtsh", **table}, where="loss", bits=BITS, num_classes=CLASSES,
                                   multi_label=False, seed=0)
