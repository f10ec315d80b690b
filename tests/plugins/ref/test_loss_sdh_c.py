"""sdh_c: value and gradient parity (codes and classifier) with the loop re-derivation of FIRe's SDHLossC
(J3 left out, see the module); classify(), the classifier in the state dict, multi-label refused, and
the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError, ContractError

from support import ATOL, RTOL, value_and_grad
from references.fire_losses_a import sdh_c_loss

BITS, CLASSES = 16, 5


def build(multi_label: bool = False, **table):
    return hashbench.registry().build("loss", {"name": "sdh_c", **table}, bits=BITS, num_classes=CLASSES,
                                      multi_label=multi_label, seed=0, num_train=0)


def tanh_codes(batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(batch, BITS, generator=g) * 1.5)


@pytest.mark.parametrize("keys", [{}, {"lmbd0": 0.5, "lmbd1": 0.2, "alpha": 2.0}], ids=["fire", "other"])
def test_value_and_gradients_equal_the_reference(keys):
    torch.manual_seed(4)
    loss = build(**keys)
    lmbd0, lmbd1, alpha = keys.get("lmbd0", 0.001), keys.get("lmbd1", 0.001), keys.get("alpha", 1.0)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 2, 2, 1])
    y = torch.nn.functional.one_hot(labels, CLASSES).float()
    x = tanh_codes(9, seed=1)
    value, grad = value_and_grad(lambda u: loss(u, labels), x)
    weight = loss.classifier.weight.detach().clone().requires_grad_(True)
    bias = loss.classifier.bias.detach().clone().requires_grad_(True)
    expected, expected_grad = value_and_grad(lambda u: sdh_c_loss(u, y, weight, bias, lmbd0, lmbd1, alpha), x)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    # the classifier's own gradient
    loss.zero_grad()
    weight.grad = bias.grad = None  # value_and_grad's reference call left its gradient there
    loss(x, labels).backward()
    sdh_c_loss(x, y, weight, bias, lmbd0, lmbd1, alpha).backward()
    torch.testing.assert_close(loss.classifier.weight.grad, weight.grad, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(loss.classifier.bias.grad, bias.grad, rtol=RTOL, atol=ATOL)


def test_the_variance_term_rewards_larger_codes():
    """-lmbd1 * J2: with only that term, the gradient points away from zero (codes grow)."""
    loss = build(lmbd0=0.0, alpha=0.0, lmbd1=1.0)
    x = tanh_codes(4, seed=2)
    value, grad = value_and_grad(lambda u: loss(u, torch.tensor([0, 1, 2, 3])), x)
    assert value.item() == pytest.approx(-(x ** 2).sum().item() / BITS / 2, rel=RTOL)
    torch.testing.assert_close(grad, -x / BITS, rtol=RTOL, atol=ATOL)


def test_classifier_is_the_losss_parameter_and_classifies():
    loss = build(lr_multiplier=0.5)
    assert set(loss.state_dict()) == {"classifier.weight", "classifier.bias"} and loss.lr_multiplier == 0.5
    x = tanh_codes(3, seed=3)
    torch.testing.assert_close(loss.classify(x), x @ loss.classifier.weight.T + loss.classifier.bias)
    assert loss.classify(x).shape == (3, CLASSES)


def test_multi_label_data_is_refused():
    with pytest.raises(ContractError, match="single-label data only, and this dataset is multi-label"):
        build(multi_label=True)


@pytest.mark.parametrize("table,message", [
    ({"lmbd0": -1.0}, r"loss\.lmbd0: must be a number >= 0"),
    ({"alpha": float("nan")}, r"loss\.alpha: must be a number"),
    ({"lmbd2": 0.001}, r"loss\.lmbd2: unknown key"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "sdh_c", **table}, where="loss", bits=BITS, num_classes=CLASSES,
                                   multi_label=False, seed=0)
