"""tanh head: Linear + tanh with the original HashLayer's parameter names; bits validation."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from reference_impl import HashLayer


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
