"""Heads: tanh (the original HashLayer's parameter names; bits validation) and the zoo's linear, sign_ste
(straight-through), bn (OrthoHash) and scaled_tanh (HashNet's continuation)."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from references.reference_method import HashLayer


def test_tanh_head_equals_original_hash_layer():
    torch.manual_seed(0)
    head = hashbench.registry().build("head", {"name": "tanh", "bits": 48}, feature_dim=512)
    original = HashLayer(48)
    original.load_state_dict(head.state_dict())  # same names: hashcoder.0.weight / .bias
    assert set(head.state_dict()) == {"hashcoder.0.weight", "hashcoder.0.bias"}
    features = torch.randn(5, 512) * 3
    out = head(features)
    assert out.shape == (5, 48)
    assert out.abs().max() < 1 and out.abs().max() > 0.5  # tanh of a real linear map, not clipped junk
    torch.testing.assert_close(out, original(features))
    torch.testing.assert_close(out, torch.tanh(features @ head.hashcoder[0].weight.T + head.hashcoder[0].bias))


def test_feature_dim_is_injected_from_the_backbone():
    model = hashbench.build_model({"name": "r3d18", "width": 4}, {"name": "tanh", "bits": 12})
    assert model.head.hashcoder[0].in_features == 32 == model.backbone.feature_dim
    codes = model.encode(torch.randint(0, 256, (2, 3, 8, 32, 32), dtype=torch.uint8))
    assert codes.dtype == torch.int8 and codes.shape == (2, 12)
    assert set(codes.unique().tolist()) <= {-1, 1}


@pytest.mark.parametrize("bits", [0, -3])
def test_bits_must_be_positive(bits):
    with pytest.raises(ConfigError, match=r"head\.bits: must be a positive integer"):
        hashbench.registry().build("head", {"name": "tanh", "bits": bits}, feature_dim=512)


def test_bits_type_is_checked():
    with pytest.raises(ConfigError, match=r"head\.bits: expected an integer"):
        hashbench.registry().build("head", {"name": "tanh", "bits": "48"}, where="head", feature_dim=512)


def test_bits_is_required():
    with pytest.raises(ConfigError, match=r"missing required key 'bits'"):
        hashbench.registry().build("head", {"name": "tanh"}, feature_dim=512)


# -- the heads of the loss zoo: linear, sign_ste, bn, scaled_tanh -------------------------------------

ZOO_HEADS = ["linear", "sign_ste", "bn", "scaled_tanh"]


def build_head(name: str, bits: int = 8, feature_dim: int = 16, **table):
    return hashbench.registry().build("head", {"name": name, "bits": bits, **table}, feature_dim=feature_dim)


@pytest.mark.parametrize("name", ZOO_HEADS)
def test_zoo_head_gives_real_codes_whose_sign_is_the_binary_code(name):
    torch.manual_seed(0)
    head = build_head(name)
    out = head(torch.randn(6, 16) * 3)
    assert out.shape == (6, 8) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out != 0).all()  # sign is a +-1 code
    model = hashbench.build_model({"name": "r3d18", "width": 4}, {"name": name, "bits": 8})
    codes = model.encode(torch.randint(0, 256, (3, 3, 8, 32, 32), dtype=torch.uint8))
    assert codes.dtype == torch.int8 and codes.shape == (3, 8) and set(codes.unique().tolist()) <= {-1, 1}
    model.eval()
    with torch.no_grad():
        relaxed = model(model.normalize(torch.randint(0, 256, (3, 3, 8, 32, 32), dtype=torch.uint8)))
    assert relaxed.shape == (3, 8)


def test_linear_head_is_a_plain_linear_map_with_optional_bias():
    head = build_head("linear")
    x = torch.randn(5, 16)
    torch.testing.assert_close(head(x), x @ head.fc.weight.T + head.fc.bias)
    assert build_head("linear", bias=False).fc.bias is None


def test_sign_ste_outputs_exactly_pm1_and_passes_the_gradient_through():
    torch.manual_seed(1)
    ste, linear = build_head("sign_ste"), build_head("linear")
    linear.load_state_dict(ste.state_dict())
    x = torch.randn(6, 16)
    out = ste(x)
    assert set(out.unique().tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(out, torch.sign(linear(x)))
    upstream = torch.randn(6, 8)  # d loss / d code
    grads = {}
    for name, head in (("ste", ste), ("linear", linear)):
        x_leaf = x.clone().requires_grad_(True)
        (head(x_leaf) * upstream).sum().backward()
        grads[name] = (x_leaf.grad, head.fc.weight.grad, head.fc.bias.grad)
    for got, expected in zip(grads["ste"], grads["linear"]):  # identity through the sign
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert grads["ste"][1].abs().sum() > 0


def test_bn_head_is_a_bias_free_linear_with_normal_init_and_batchnorm():
    torch.manual_seed(2)
    head = build_head("bn", bits=64, feature_dim=256, momentum=0.3, init_std=0.05)
    assert head.fc.bias is None
    weight = head.fc.weight.detach()
    assert weight.mean().abs() < 0.005 and weight.std().item() == pytest.approx(0.05, rel=0.05)
    assert isinstance(head.bn, torch.nn.BatchNorm1d) and head.bn.momentum == 0.3 and head.bn.num_features == 64
    default = build_head("bn")
    assert default.bn.momentum == 0.1 and default.fc.weight.std().item() == pytest.approx(0.01, rel=0.3)

    head.train()
    x = torch.randn(32, 256) * 4 + 1
    out = head(x)
    torch.testing.assert_close(out.mean(0), torch.zeros(64), rtol=0, atol=1e-5)  # normalised per bit
    torch.testing.assert_close(out.var(0, unbiased=False), torch.ones(64), rtol=0, atol=1e-3)
    pre = x @ weight.T
    torch.testing.assert_close(head.bn.running_mean, 0.3 * pre.mean(0), rtol=1e-5, atol=1e-6)
    head.eval()  # running statistics then, not the batch's
    torch.testing.assert_close(head(x[:3]), head.bn(pre[:3]))
    assert not torch.allclose(head(x[:3]), out[:3], atol=1e-2)


def test_scaled_tanh_follows_the_continuation_schedule_and_checkpoints_its_scale():
    head = build_head("scaled_tanh", step_continuation=3, power=0.5)
    assert "scale" in head.state_dict() and float(head.scale) == 1.0
    expected = {1: 1.0, 2: 1.0, 3: 1.0, 4: 2 ** 0.5, 6: 2 ** 0.5, 7: 3 ** 0.5, 10: 2.0}
    for epoch, beta in expected.items():
        head.on_epoch_start(epoch, 10)
        assert float(head.scale) == pytest.approx(beta)
        assert float(head.scale) == pytest.approx((((epoch - 1) // 3) + 1) ** 0.5)
    x = torch.randn(4, 16)
    torch.testing.assert_close(head(x), torch.tanh(2.0 * head.fc(x)))
    squared = build_head("scaled_tanh", step_continuation=2, power=2.0)
    squared.on_epoch_start(5, 10)
    assert float(squared.scale) == 9.0  # (floor(4 / 2) + 1) ** 2
    default = build_head("scaled_tanh")  # DeepHash-pytorch's HashNet: sqrt(1 + epoch0 // 20)
    default.on_epoch_start(20, 100)
    assert float(default.scale) == 1.0
    default.on_epoch_start(21, 100)
    assert float(default.scale) == pytest.approx(2 ** 0.5)

    restored = build_head("scaled_tanh", step_continuation=3, power=0.5)
    restored.load_state_dict(head.state_dict())  # what --resume does
    assert float(restored.scale) == 2.0
    torch.testing.assert_close(restored(x), head(x))


@pytest.mark.parametrize("name, table, match", [
    ("linear", {"bits": 0}, r"head\.bits: must be a positive integer"),
    ("sign_ste", {"bits": 0}, r"head\.bits: must be a positive integer"),
    ("bn", {"bits": 0}, r"head\.bits: must be a positive integer"),
    ("scaled_tanh", {"bits": 0}, r"head\.bits: must be a positive integer"),
    ("bn", {"momentum": 2}, r"head\.momentum"),
    ("bn", {"momentum": 0}, r"head\.momentum"),
    ("bn", {"init_std": 0}, r"head\.init_std"),
    ("scaled_tanh", {"power": 0}, r"head\.power"),
    ("scaled_tanh", {"step_continuation": 0}, r"head\.step_continuation"),
])
def test_zoo_head_factories_refuse_bad_values(name, table, match):
    with pytest.raises(ConfigError, match=match):
        hashbench.registry().build("head", {"name": name, "bits": 8, **table}, feature_dim=16)
