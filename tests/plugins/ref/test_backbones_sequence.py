"""Backbones for frame features (backbones/sequence): frame_mlp and frame_transformer declare what they consume,
take the dataset's feature_dim as input width, and make deep_hashing consume frame features (no clip
normalisation); frame order reaches the transformer and not the mean-pool MLP."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.contract.conformance.backbone import check_backbone
from hashbench.errors import ConfigError


def test_both_declare_frame_features_and_pass_their_conformance_with_feature_inputs():
    registry = hashbench.registry()
    for name in ("frame_mlp", "frame_transformer"):
        component = registry.get("backbone", name)
        assert "frame_features" in component.factory.consumes
        results = check_backbone(component)
        assert all(r.passed for r in results), [str(r) for r in results if not r.passed]
        forward = next(r for r in results if r.check == "forward")
        assert forward.message.startswith("(2, 4, 16) ->")  # (B, T, D) frame features, not a clip
        assert "normalisation" not in {r.check for r in results}


def _deep(backbone: dict) -> hashbench.train.deep_method.DeepHashing:
    torch.manual_seed(0)
    return hashbench.build_deep_hashing(backbone, {"name": "linear"}, {"name": "csq"}, bits=8, seed=0,
                                        feature_dim=12, num_frames=5, num_classes=3)


def test_deep_hashing_consumes_what_its_backbone_consumes_and_takes_features_as_they_are():
    method = _deep({"name": "frame_transformer", "width": 16, "layers": 1, "heads": 2, "dropout": 0.0})
    assert method.consumes == ("frame_features",) and method.model.input_mean is None
    features = torch.randn(4, 5, 12)
    method.eval()
    expected = method.model.head(method.model.backbone(features))
    assert torch.equal(method.encode(features), expected)
    batch = hashbench.contract.MethodBatch(features, torch.arange(4), torch.tensor([0, 1, 2, 0]))
    method.train()
    method.training_loss(batch).backward()
    assert method.model.backbone.project.weight.grad is not None
    clip_method = hashbench.build_deep_hashing({"name": "r3d18", "width": 8}, {"name": "linear"}, {"name": "csq"},
                                               bits=8, num_classes=3, feature_dim=12)
    assert clip_method.consumes == ("clips",) and clip_method.model.input_mean is not None


def test_frame_order_reaches_the_transformer_and_not_the_mean_pool_mlp():
    features = torch.randn(3, 5, 12)
    reversed_frames = features.flip(1)
    for name, keys, order_matters in (("frame_transformer", {"width": 16, "layers": 1, "heads": 2, "dropout": 0.0},
                                       True), ("frame_mlp", {"widths": [10, 6]}, False)):
        backbone = _deep({"name": name, **keys}).model.backbone.eval()
        with torch.no_grad():
            same = torch.allclose(backbone(features), backbone(reversed_frames), atol=1e-6)
        assert same != order_matters, name
    mlp = _deep({"name": "frame_mlp", "widths": [10, 6]}).model.backbone
    assert mlp(features.mean(dim=1)).shape == (3, 6)  # one vector per video: not pooled again


def test_a_frame_backbone_without_a_dataset_width_and_bad_keys_are_config_errors():
    with pytest.raises(ConfigError, match="consumes frame_features: its input width is the dataset's feature_dim"):
        hashbench.build_deep_hashing({"name": "frame_transformer"}, {"name": "linear"}, {"name": "csq"}, bits=8,
                                     num_frames=5, num_classes=3)
    with pytest.raises(ConfigError, match="backbone.width: must be divisible by backbone.heads = 3, got 16"):
        _deep({"name": "frame_transformer", "width": 16, "heads": 3})
    with pytest.raises(ConfigError, match="backbone.widths: must be a non-empty list"):
        _deep({"name": "frame_mlp", "widths": []})
