"""sdh_c: value and gradient parity (codes and classifier) with the loop re-derivation of FIRe's SDHLossC;
J3 through deep_hashing: value and gradients (head's hash-layer weight and bias, classifier) against a
float64 re-derivation; classify(), the classifier in the state dict, multi-label refused, a head without
``hash_weight`` refused, and the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.contract import MethodBatch
from hashbench.contract.losses import head_weight_penalty
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
    """The batch terms (compute_loss); J3 is the weight_penalty, checked through deep_hashing below."""
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
    ({"lmbd2": -0.5}, r"loss\.lmbd2: must be a number >= 0"),
    ({"lmbd3": 0.001}, r"loss\.lmbd3: unknown key"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "sdh_c", **table}, where="loss", bits=BITS, num_classes=CLASSES,
                                   multi_label=False, seed=0)


FEATURES = 12  # the input width of the frame_mlp backbone


def deep_method(**keys):
    torch.manual_seed(7)
    return hashbench.build_deep_hashing({"name": "frame_mlp", "widths": [10]}, {"name": "tanh"},
                                        {"name": "sdh_c", **keys}, bits=BITS, seed=0, feature_dim=FEATURES,
                                        num_classes=CLASSES)


@pytest.mark.parametrize("keys", [{}, {"lmbd0": 0.5, "lmbd1": 0.2, "alpha": 2.0, "lmbd2": 0.5}],
                         ids=["fire", "other"])
def test_deep_hashing_adds_j3_and_matches_the_float64_reference(keys):
    """The whole step (backbone, tanh head, SDH-C + lmbd2 * J3 on the head's weight) against FIRe's loss
    re-derived in float64 on the same features: the value and the gradients w.r.t. the hash layer's
    weight P and bias and the classifier, within float32 tolerance."""
    method = deep_method(**keys)
    lmbd = [keys.get(k, d) for k, d in (("lmbd0", 0.001), ("lmbd1", 0.001), ("alpha", 1.0), ("lmbd2", 0.001))]
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 2, 2, 1])
    inputs = torch.randn(9, FEATURES, generator=torch.Generator().manual_seed(3))
    value = method.training_loss(MethodBatch(inputs, torch.arange(9), labels))
    value.backward()
    head, classifier = method.model.head.hashcoder[0], method.loss.classifier
    assert method.model.head.hash_weight is head.weight  # the weight FIRe penalises: hash_fc[0].weight
    with torch.no_grad():
        features = method.model.backbone(inputs).double()
    params = [t.detach().double().requires_grad_(True) for t in (head.weight, head.bias, classifier.weight,
                                                                 classifier.bias)]
    weight, bias, w, c = params
    u = torch.tanh(features @ weight.T + bias)
    y = torch.nn.functional.one_hot(labels, CLASSES).double()
    expected = sdh_c_loss(u, y, w, c, *lmbd[:3], lmbd2=lmbd[3], projection=weight)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    for got, want in zip((head.weight, head.bias, classifier.weight, classifier.bias), params):
        torch.testing.assert_close(got.grad, want.grad.float(), rtol=RTOL, atol=ATOL)
    j3 = ((weight @ weight.T - 1) ** 2).mean()
    without = sdh_c_loss(u, y, w, c, *lmbd[:3])
    assert (expected - without).item() == pytest.approx(lmbd[3] * j3.item(), rel=1e-9)  # J3 is in the value


def test_weight_penalty_is_lmbd2_j3_and_none_without_lmbd2():
    loss = build(lmbd2=0.25)
    weight = torch.randn(BITS, FEATURES, generator=torch.Generator().manual_seed(5))
    gram = weight @ weight.T
    expected = 0.25 * sum((gram[r, q] - 1) ** 2 for r in range(BITS) for q in range(BITS)) / BITS ** 2
    assert loss.weight_penalty(weight).item() == pytest.approx(expected.item(), rel=RTOL)
    assert build(lmbd2=0.0).weight_penalty(weight) is None


def test_a_head_without_hash_weight_is_refused_in_one_line():
    with pytest.raises(ContractError, match=r"SDHCLoss penalises the hash layer's weight \(weight_penalty\), but"
                                            r" the head Identity exposes no `hash_weight`"):
        head_weight_penalty(build(), torch.nn.Identity())
