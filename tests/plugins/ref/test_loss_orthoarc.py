"""orthoarc: value and gradient parity with the loop re-derivation of FIRe's OrthoArcLoss (single- and
multi-label, the three quantisation types, cosines past the acos clamp); the codebook is orthohash's
(same draw for the same seed, buffer or learnable), FIRe's defaults, and the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import ATOL, RTOL, value_and_grad
from references.fire_losses_a import orthoarc_loss


def build(name: str = "orthoarc", bits: int = 16, num_classes: int = 6, multi_label: bool = False, seed: int = 0,
          **table):
    return hashbench.registry().build("loss", {"name": name, **table}, bits=bits, num_classes=num_classes,
                                      multi_label=multi_label, seed=seed, num_train=0)


def bn_codes(batch: int, bits: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, bits, generator=g)


def assert_parity(value, grad, expected, expected_grad):
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


QUANTISATIONS = [(0.0, "cs"), (0.1, "cs"), (0.5, "l1"), (0.3, "l2")]


@pytest.mark.parametrize("quan,quan_type", QUANTISATIONS, ids=["none", "cs", "l1", "l2"])
@pytest.mark.parametrize("bits,s,m", [(16, 8.0, 0.2), (48, 10.0, 0.5)])
def test_single_label_equals_the_reference(bits, s, m, quan, quan_type):
    g = torch.Generator().manual_seed(bits)
    labels = torch.randint(0, 6, (10,), generator=g)
    x = bn_codes(10, bits, seed=bits + 1)
    loss = build(bits=bits, s=s, m=m, quan=quan, quan_type=quan_type, seed=3)
    y = torch.nn.functional.one_hot(labels, 6).float()
    value, grad = value_and_grad(lambda v: loss(v, labels), x)
    expected, expected_grad = value_and_grad(
        lambda v: orthoarc_loss(v, y, loss.codebook, s, m, False, quan, quan_type), x)
    assert_parity(value, grad, expected, expected_grad)


@pytest.mark.parametrize("quan,quan_type", QUANTISATIONS[:2], ids=["none", "cs"])
def test_multi_label_label_smoothing_equals_the_reference(quan, quan_type):
    g = torch.Generator().manual_seed(2)
    y = (torch.rand(12, 5, generator=g) < 0.4).float()
    y[torch.arange(12), torch.randint(0, 5, (12,), generator=g)] = 1.0
    assert bool((y.sum(dim=1) > 1).any())
    x = bn_codes(12, 32, seed=3)
    loss = build(bits=32, num_classes=5, multi_label=True, quan=quan, quan_type=quan_type, seed=4)
    value, grad = value_and_grad(lambda v: loss(v, y), x)
    expected, expected_grad = value_and_grad(lambda v: orthoarc_loss(v, y, loss.codebook, 8.0, 0.2, True, quan,
                                                                     quan_type), x)
    assert_parity(value, grad, expected, expected_grad)


def test_cosines_past_the_clamp_match_the_reference():
    loss = build(bits=16, num_classes=4, seed=1)
    x = bn_codes(4, 16, seed=5)
    x[0] = loss.codebook[2] * 0.7   # cos = 1 to its own codeword: acos clamped at 0.99999
    x[1] = -loss.codebook[0]        # cos = -1 to its own codeword
    labels = torch.tensor([2, 0, 1, 3])
    y = torch.nn.functional.one_hot(labels, 4).float()
    value, grad = value_and_grad(lambda v: loss(v, labels), x)
    expected, expected_grad = value_and_grad(lambda v: orthoarc_loss(v, y, loss.codebook, 8.0, 0.2, False), x)
    assert_parity(value, grad, expected, expected_grad)
    assert torch.isfinite(grad).all()


def test_shares_orthohash_codebook_and_differs_only_by_the_margin():
    arc, cos = build(bits=32, seed=7), build("orthohash", bits=32, seed=7)
    assert torch.equal(arc.codebook, cos.codebook) and set(arc.state_dict()) == {"codebook"}
    assert arc.margin_type == "arc" and (arc.s, arc.m, arc.quan) == (8.0, 0.2, 0.0)  # FIRe's template
    same = build("orthohash", bits=32, seed=7, margin_type="arc")
    x, labels = bn_codes(6, 32, seed=1), torch.tensor([0, 1, 2, 3, 4, 5])
    assert torch.equal(arc(x, labels), same(x, labels))
    assert not torch.equal(arc(x, labels), cos(x, labels))
    learned = build(bits=32, seed=7, learn_codebook=True, lr_multiplier=0.5)
    assert [p for p in learned.parameters()] == [learned.codebook] and learned.lr_multiplier == 0.5


@pytest.mark.parametrize("table,message", [
    ({"margin_type": "cos"}, r"loss\.margin_type: unknown key"),
    ({"quan_type": "l3"}, r"loss\.quan_type: unknown value 'l3'; use one of 'cs', 'l1', 'l2'"),
    ({"s": 0.0}, r"loss\.s: must be a number > 0"),
    ({"m": -0.1}, r"loss\.m: must be a number >= 0"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "orthoarc", **table}, where="loss", bits=16, num_classes=4,
                                   multi_label=False, seed=0)
