"""Frame-level backbones: tv_frames (torchvision image models, no extra needed) and timm_frames (timm, an
optional extra: only the tests that need timm skip without it). Frames go through the 2D model as one
(B*T, 3, H, W) batch; mean or attention pooling over time; weights from files in the library's own layout.
"""
from __future__ import annotations

import sys

import pytest
import torch
import torchvision.models as tvm

import hashbench
from hashbench.contract import checkpoints_of, key_modes
from hashbench.errors import CheckpointError, ConfigError, DataError, MissingExtraError
from hashbench_ref.backbones.frames2d import NORMALIZATIONS
from hashbench_ref.backbones.frames2d.model import TemporalAttention

torch.set_num_threads(2)

REGISTRY = hashbench.registry()
IMAGENET = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def build(table, num_frames=4):
    return REGISTRY.build("backbone", table, num_frames=num_frames)


def clips(b=2, t=4, size=32, seed=0):
    return torch.randn(b, 3, t, size, size, generator=torch.Generator().manual_seed(seed))


def per_frame(model2d, x):
    """The reference: every frame through the 2D model on its own, stacked (B, T, ...)."""
    return torch.stack([model2d(x[:, :, t]) for t in range(x.shape[2])], dim=1)


def randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


# -- the temporal attention layer ------------------------------------------------------------------
def test_attention_pooling_starts_as_the_mean_and_weights_frames_by_a_learned_query():
    attention = TemporalAttention(8)
    frames = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(attention(frames), frames.mean(dim=1))
    with torch.no_grad():
        attention.query.copy_(torch.randn(8, generator=torch.Generator().manual_seed(1)))
    scores = torch.einsum("btd,d->bt", frames, attention.query) / 8 ** 0.5
    weights = torch.softmax(scores, dim=1)
    torch.testing.assert_close(attention.weights(frames), weights)
    torch.testing.assert_close(attention(frames), (weights[..., None] * frames).sum(1))
    assert torch.allclose(weights.sum(1), torch.ones(2))


# -- tv_frames ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("pool", ["mean", "attention"])
def test_tv_frames_trains_on_a_tiny_clip(pool):
    model = build({"name": "tv_frames", "pool": pool})
    assert model.feature_dim == 512 and model.model_name == "resnet18" and model.input_size == (224, 224)
    assert model.input_mean + model.input_std == pytest.approx(IMAGENET[0] + IMAGENET[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.encoder.conv1.weight.detach().clone()
    out = model(clips())
    assert out.shape == (2, 512) and torch.isfinite(out).all()
    (out ** 2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    optimizer.step()
    assert not torch.equal(before, model.encoder.conv1.weight)
    assert ("attention.query" in model.state_dict()) == (pool == "attention")


def test_tv_frames_equals_the_2d_model_frame_by_frame(tmp_path, lean_state):
    """A torchvision resnet18 file (its own key layout, fc of 1000) loaded strictly: the (B*T) batch gives
    each frame's penultimate vector, mean-pooled; the kept classifier gives the mean of per-frame logits."""
    torch.manual_seed(0)
    reference = tvm.resnet18(weights=None)
    randomize_bn(reference)
    reference.eval()
    path = tmp_path / "resnet18-own.pth"
    torch.save(reference.state_dict(), path)
    x = clips(size=40)
    with torch.no_grad():
        logits = per_frame(reference, x)  # (B, T, 1000)
        fc, reference.fc = reference.fc, torch.nn.Identity()
        features = per_frame(reference, x)  # (B, T, 512)
        reference.fc = fc
        model = build({"name": "tv_frames", "pretrained": str(path)}).eval()
        assert "encoder.fc.weight" not in model.state_dict()
        torch.testing.assert_close(model.frame_features(x), features)
        torch.testing.assert_close(model(x), features.mean(1))
        kept = build({"name": "tv_frames", "pretrained": str(path), "keep_classifier": True}).eval()
        path.unlink()  # 45 MB: not left in the temp dir
        torch.testing.assert_close(kept(x), features.mean(1))
        torch.testing.assert_close(kept.logits(x), logits.mean(1), rtol=1e-4, atol=1e-5)
    assert not kept.encoder.fc.weight.requires_grad and "encoder.fc.weight" in kept.state_dict()
    with pytest.raises(ConfigError, match="keep_classifier = true"):
        model.logits(x)
    broken = lean_state(reference.state_dict())  # the key layout, a few KB on disk
    broken.pop("layer1.0.conv1.weight")
    broken["layer4.1.bn2.weight"] = torch.ones(3)
    broken["extra.weight"] = torch.ones(1)
    torch.save({"state_dict": broken}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError) as caught:
        build({"name": "tv_frames", "pretrained": str(tmp_path / "broken.pth")})
    message = str(caught.value)
    assert "broken.pth" in message and "missing keys (1): layer1.0.conv1.weight" in message
    assert "unexpected keys (1): extra.weight" in message and "layer4.1.bn2.weight (3,) vs model (512,)" in message


def test_tv_frames_generic_classifier_rule_and_refusals():
    """The penultimate vector is the input of the last linear layer, wherever it is (mobilenet's
    classifier.3); models without one, or tied to their own input transform, are refused."""
    model = build({"name": "tv_frames", "model": "mobilenet_v3_small", "keep_classifier": True})
    assert model.feature_dim == 1024 and model.classifier_path == "classifier.3"
    assert model(clips(b=1, t=2)).shape == (1, 1024) and model.logits(clips(b=1, t=2)).shape == (1, 1000)
    with pytest.raises(ConfigError, match="classifier is a convolution"):
        build({"name": "tv_frames", "model": "squeezenet1_1"})
    with pytest.raises(ConfigError, match="not a torchvision image classifier; did you mean 'resnet50'"):
        build({"name": "tv_frames", "model": "resnet5O"})
    with pytest.raises(ConfigError, match="pool: unknown value 'max'"):
        build({"name": "tv_frames", "pool": "max"})
    with pytest.raises(ConfigError, match="normalization: unknown value"):
        build({"name": "tv_frames", "normalization": "kinetics"})
    assert build({"name": "tv_frames", "normalization": "inception"}).input_mean == NORMALIZATIONS["inception"][0]


def test_tv_frames_checkpoints_are_torchvisions_and_imply_the_model(tmp_path, monkeypatch):
    factory = REGISTRY.get("backbone", "tv_frames").factory
    assert key_modes(factory) == {"pretrained": "weights"}
    for c in checkpoints_of(factory):
        model = c.options["model"]
        tag = c.name.split(".", 1)[1].upper()
        weights = tvm.get_model_weights(model)[tag]
        transforms = weights.transforms()
        assert c.source.endswith(f"{type(weights).__name__}.{tag})")
        assert c.url == weights.url and c.file == weights.url.rsplit("/", 1)[1]
        assert c.file.rsplit("-", 1)[1][:8] in c.notes and c.classes == len(weights.meta["categories"])
        assert c.mean + c.std == pytest.approx(tuple(v * 255 for v in transforms.mean + transforms.std))
        assert c.size == transforms.crop_size[0]
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path))
    torch.save({"fc.weight": torch.zeros(1)}, tmp_path / "resnet50-11ad3fa6.pth")
    with pytest.raises(CheckpointError, match="name says it starts with 11ad3fa6"):
        build({"name": "tv_frames", "pretrained": "tv_resnet50.imagenet1k_v2"})
    with pytest.raises(ConfigError, match="holds 'resnet50' weights; set model = 'resnet50'"):
        build({"name": "tv_frames", "model": "resnet18", "pretrained": "tv_resnet50.imagenet1k_v2"})
    with pytest.raises(DataError, match="vgg16-397923af.pth"):
        build({"name": "tv_frames", "pretrained": "tv_vgg16.imagenet1k_v1"})


# -- timm_frames: the missing extra (runs without timm) ---------------------------------------------
def test_timm_frames_without_timm_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'hashbench\[timm\]'"):
        build({"name": "timm_frames"})


# -- timm_frames (skipped without timm) --------------------------------------------------------------
@pytest.mark.parametrize("pool", ["mean", "attention"])
def test_timm_frames_trains_on_a_tiny_clip(pool):
    pytest.importorskip("timm")
    model = build({"name": "timm_frames", "pool": pool})
    assert model.feature_dim == 512 and model.input_size == (224, 224)
    assert model.input_mean + model.input_std == pytest.approx(IMAGENET[0] + IMAGENET[1])  # resnet18's pretrained_cfg
    assert model.normalization == "timm resnet18.a1_in1k"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.encoder.conv1.weight.detach().clone()
    out = model(clips())
    assert out.shape == (2, 512) and torch.isfinite(out).all()
    (out ** 2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    optimizer.step()
    assert not torch.equal(before, model.encoder.conv1.weight)


def test_timm_frames_loads_a_timm_layout_file_strictly(tmp_path, lean_state):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model("resnet18", pretrained=False)
    randomize_bn(reference)
    reference.eval()
    path = tmp_path / "resnet18_timm.pth"
    torch.save(reference.state_dict(), path)
    x = clips(b=1, t=3, size=40)
    with torch.no_grad():
        expected = per_frame(lambda f: reference.forward_head(reference.forward_features(f), pre_logits=True), x)
        logits = per_frame(reference, x)
        model = build({"name": "timm_frames", "pretrained": str(path)}).eval()
        assert not any(k.startswith("encoder.fc.") for k in model.state_dict())
        torch.testing.assert_close(model(x), expected.mean(1))
        kept = build({"name": "timm_frames", "pretrained": str(path), "keep_classifier": True}).eval()
        path.unlink()  # 45 MB: not left in the temp dir
        torch.testing.assert_close(kept.logits(x), logits.mean(1), rtol=1e-4, atol=1e-5)
    assert not kept.encoder.fc.weight.requires_grad
    from safetensors.torch import save_file

    save_file(reference.state_dict(), str(tmp_path / "model.safetensors"))
    from_safetensors = build({"name": "timm_frames", "pretrained": str(tmp_path / "model.safetensors")})
    torch.testing.assert_close(from_safetensors.encoder.conv1.weight, reference.conv1.weight)
    (tmp_path / "model.safetensors").unlink()
    broken = {k: v for k, v in lean_state(reference.state_dict()).items() if k != "bn1.running_mean"}
    broken["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): bn1.running_mean.*conv1.weight \(64, 3, 3, 3\)"
                                              r" vs model \(64, 3, 7, 7\)"):
        build({"name": "timm_frames", "pretrained": str(tmp_path / "broken.pth")})


def test_timm_frames_tags_use_timms_own_loader_and_names_are_checked(monkeypatch):
    timm = pytest.importorskip("timm")
    calls = []
    real = timm.create_model

    def fake(name, pretrained=False, **kwargs):  # never download: record what timm would be asked
        calls.append((name, pretrained, kwargs))
        if pretrained:
            raise RuntimeError("offline")
        return real(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", fake)
    for value, expected in (("a1_in1k", "resnet18.a1_in1k"), (True, "resnet18"), ("true", "resnet18")):
        calls.clear()
        with pytest.raises(DataError, match=f"timm could not load the pretrained weights of {expected}"):
            build({"name": "timm_frames", "pretrained": value})
        assert calls == [(expected, True, {"num_classes": 0})]
    with pytest.raises(ConfigError, match="neither a weight file nor a timm pretrained tag of resnet18.*a1_in1k"):
        build({"name": "timm_frames", "pretrained": "imagenet"})
    with pytest.raises(ConfigError, match="not a timm model; did you mean 'resnet18'"):
        build({"name": "timm_frames", "model": "resnet1"})


def test_timm_frames_fixed_size_models_refuse_other_frame_sizes():
    pytest.importorskip("timm")
    model = build({"name": "timm_frames", "model": "vit_tiny_patch16_224", "pool": "attention"})
    assert model.feature_dim == 192 and model.fixed_size and model.input_size == (224, 224)
    assert model.input_mean == pytest.approx((127.5, 127.5, 127.5))  # its pretrained_cfg: inception statistics
    with pytest.raises(ConfigError, match="takes only 224x224 frames, got 32x32") as caught:
        model(clips(b=1, t=2))
    assert "\n" not in str(caught.value)
