"""torchvision's video models (tv_r3d_18 ... tv_swin3d_b): checkpoints declared as torchvision's weights
enums state them, torchvision's key layout loaded strictly, penultimate features equal to torchvision's own
forward, the clip shapes each model refuses. Heavy models (MViT, Swin3d-S/B) are checked on the meta device
(key layout, shapes) and never run for real; the one real transformer forward is Swin3d-T's on a tiny clip.
"""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torchvision.models import video as tv

import hashbench
from hashbench.contract import Checkpoint, checkpoints_of, key_modes
from hashbench.weights import sha256_of
from hashbench.errors import CheckpointError, ConfigError, DataError
from hashbench_ref.backbones.torchvision_video import MODELS, NORMALIZATIONS
from hashbench_ref.backbones.torchvision_video import model as tvm
from hashbench_ref.backbones.torchvision_video.checkpoints import verify_hash_prefix

torch.set_num_threads(2)

REGISTRY = hashbench.registry()
NAMES = list(MODELS)
LIGHT = ["tv_r3d_18", "tv_mc3_18", "tv_r2plus1d_18"]
CLASSIFIER_PREFIX = {"video_resnet": "fc.", "s3d": "classifier.", "mvit": "head.", "swin3d": "head."}


def build(table, num_frames=4):
    return REGISTRY.build("backbone", table, num_frames=num_frames)


def meta_pair(name, keep_classifier=False):
    """torchvision's model and hashbench's backbone around it, on the meta device (no memory, no init)."""
    constructor, arch, _, _, dim, _ = MODELS[name]
    with torch.device("meta"):
        full = getattr(tv, constructor)(weights=None)
        keys = {k: tuple(v.shape) for k, v in full.state_dict().items()}
        backbone = tvm.WRAPPERS[arch](full, name=name, keep_classifier=keep_classifier, feature_dim=dim,
                                      mean=(1, 1, 1), std=(1, 1, 1), normalization="test", checkpoint=None)
    return keys, backbone


def randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def penultimate(model, layer, clips):
    """The input of torchvision's classifier layer in its own forward (and its logits)."""
    seen = {}

    def hook(module, args, out):
        seen["x"] = args[0]  # returns None: the output is left as it is

    handle = layer.register_forward_hook(hook)
    try:
        logits = model(clips)
    finally:
        handle.remove()
    return seen["x"], logits


# -- declarations --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_checkpoints_are_torchvisions_weights(name):
    """Every weights enum member is declared, with its URL, file (sha256 prefix in the name), classes,
    normalisation (x255) and crop size; the expected frames are the clip length of its recipe."""
    factory = REGISTRY.get("backbone", name).factory
    constructor, arch, default_norm, enum_name, dim, _ = MODELS[name]
    declared = {c.name: c for c in checkpoints_of(factory)}
    enum = getattr(tv, enum_name)
    members = [w for w in enum if w.name != "DEFAULT"]
    assert set(declared) == {f"{name}.{w.name.lower()}" for w in members}
    for weights in members:
        c = declared[f"{name}.{weights.name.lower()}"]
        transforms = weights.transforms()
        assert c.url == weights.url and c.file == weights.url.rsplit("/", 1)[1]
        assert re.search(r"-([a-f0-9]{8})\.pth$", c.file).group(1) in c.notes
        assert c.sha256 is None and c.classes == len(weights.meta["categories"]) == 400
        assert c.mean == pytest.approx(tuple(v * 255 for v in transforms.mean))
        assert c.std == pytest.approx(tuple(v * 255 for v in transforms.std))
        assert (c.mean, c.std) == NORMALIZATIONS[default_norm]
        assert c.size == transforms.crop_size[0]
        clip_len = int(re.search(r"clip_len=(\d+)", weights.meta["_docs"]).group(1))
        assert c.frames == (64 if arch == "s3d" else clip_len)  # S3D: trained on 64, evaluated on 128
        assert weights.meta["num_params"] == sum(v.numel() for v in _meta_full(constructor).parameters())
    assert tvm._aliases(name, tuple(declared.values()))["DEFAULT"] == f"{name}.{enum.DEFAULT.name.lower()}"
    assert key_modes(factory) == {"pretrained": "weights"}


def _meta_full(constructor):
    with torch.device("meta"):
        return getattr(tv, constructor)(weights=None)


@pytest.mark.parametrize("name", NAMES)
def test_key_layout_feature_dim_and_shapes_on_meta(name):
    """torchvision's keys less the classifier (all of them when kept); (1, feature_dim) at the expected input."""
    keys, backbone = meta_pair(name)
    prefix = CLASSIFIER_PREFIX[MODELS[name][1]]
    assert {k: tuple(v.shape) for k, v in backbone.state_dict().items()} == {
        k: s for k, s in keys.items() if not k.startswith(prefix)}
    assert any(k.startswith(prefix) for k in keys)
    _, kept = meta_pair(name, keep_classifier=True)
    assert set(kept.state_dict()) == set(keys)
    assert not any(p.requires_grad for n, p in kept.named_parameters() if n.startswith(prefix))
    shape = {"video_resnet": (16, 112, 112), "s3d": (13, 209, 209), "mvit": (16, 224, 224),
             "swin3d": (32, 224, 224)}[MODELS[name][1]]
    out = backbone(torch.empty(1, 3, *shape, device="meta"))
    assert tuple(out.shape) == (1, MODELS[name][4])
    assert tuple(kept.logits(torch.empty(1, 3, *shape, device="meta")).shape) == (1, 400)


# -- the light models: build, forward/backward, a training step --------------------------------------
@pytest.mark.parametrize("name", LIGHT)
def test_light_models_train_on_a_tiny_clip(name):
    model = build({"name": name})
    assert model.feature_dim == 512
    assert model.input_mean == pytest.approx((110.2008, 100.63983, 95.99475))
    assert model.input_std == pytest.approx((58.14765, 56.46975, 55.332195))
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = next(model.layer1.parameters())
    before = first.detach().clone()
    features = model(clips)
    assert features.shape == (2, 512) and torch.isfinite(features).all()
    (features ** 2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    optimizer.step()
    assert not torch.equal(before, first)
    with pytest.raises(ConfigError, match="keep_classifier = true"):
        model.logits(clips)


def test_normalization_names():
    model = build({"name": "tv_mc3_18", "normalization": "imagenet"})
    assert model.input_mean == pytest.approx((123.675, 116.28, 103.53)) and model.normalization == "imagenet"
    with pytest.raises(ConfigError, match="unknown value 'kinetics'.*torchvision_kinetics"):
        build({"name": "tv_mc3_18", "normalization": "kinetics"})


# -- strict loading of torchvision's own files ------------------------------------------------------
@pytest.fixture(scope="module")
def mc3(tmp_path_factory):
    """A random torchvision mc3_18 (non-trivial BN statistics) and its full state_dict saved as the
    published file is: a bare state dict with fc of 400 classes."""
    torch.manual_seed(0)
    model = tv.mc3_18(weights=None)
    randomize_bn(model)
    path = tmp_path_factory.mktemp("tv") / "mc3_18_kinetics.pth"
    torch.save(model.state_dict(), path)
    yield model.eval(), path
    path.unlink(missing_ok=True)  # 45 MB: not left in the temp dir


def test_strict_load_gives_torchvisions_features_and_logits(mc3):
    reference, path = mc3
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected_features, expected_logits = penultimate(reference, reference.fc, clips)
        model = build({"name": "tv_mc3_18", "pretrained": str(path)}).eval()
        assert "fc.weight" not in model.state_dict()
        torch.testing.assert_close(model(clips), expected_features)
        kept = build({"name": "tv_mc3_18", "pretrained": str(path), "keep_classifier": True}).eval()
        torch.testing.assert_close(kept(clips), expected_features)  # still the penultimate vector
        torch.testing.assert_close(kept.logits(clips), expected_logits)
    assert expected_features.abs().max() > 0.1
    assert not kept.fc.weight.requires_grad and kept.layer1[0].conv1[0].weight.requires_grad
    assert model.checkpoint is None and model.normalization == "torchvision_kinetics"


def test_wrapped_and_prefixed_files_load_and_a_fine_tuned_classifier_keeps_its_size(mc3, tmp_path, lean_state):
    reference, _ = mc3
    state = lean_state(reference.state_dict())  # the key layout, a few KB on disk
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, wrapped)
    model = build({"name": "tv_mc3_18", "pretrained": str(wrapped)})
    torch.testing.assert_close(model.stem[0].weight, state["stem.0.weight"])
    fine_tuned = dict(state, **{"fc.weight": torch.randn(101, 512), "fc.bias": torch.randn(101)})
    torch.save(fine_tuned, tmp_path / "ucf.pth")
    kept = build({"name": "tv_mc3_18", "pretrained": str(tmp_path / "ucf.pth"), "keep_classifier": True})
    assert kept.fc.weight.shape == (101, 512)
    assert kept.logits(torch.randn(1, 3, 2, 16, 16)).shape == (1, 101)


def test_broken_files_are_refused_listing_the_keys(mc3, tmp_path, lean_state):
    reference, _ = mc3
    state = lean_state(reference.state_dict())
    broken = dict(state)
    broken.pop("layer1.0.conv1.0.weight")
    broken["layer2.0.conv1.0.weights"] = broken.pop("layer2.0.conv1.0.weight")
    broken["stem.0.weight"] = torch.zeros(64, 3, 3, 5, 5)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError) as caught:
        build({"name": "tv_mc3_18", "pretrained": str(tmp_path / "broken.pth")})
    message = str(caught.value)
    assert "broken.pth" in message and "\n" not in message
    assert "missing keys (2): layer1.0.conv1.0.weight, layer2.0.conv1.0.weight" in message
    assert "unexpected keys (1): layer2.0.conv1.0.weights" in message
    assert "stem.0.weight (64, 3, 3, 5, 5) vs model (64, 3, 3, 7, 7)" in message
    headless = {k: v for k, v in state.items() if not k.startswith("fc.")}
    torch.save(headless, tmp_path / "headless.pth")
    build({"name": "tv_mc3_18", "pretrained": str(tmp_path / "headless.pth")})  # nothing to drop: fine
    with pytest.raises(CheckpointError, match=r"missing keys \(2\): fc.weight, fc.bias"):
        build({"name": "tv_mc3_18", "pretrained": str(tmp_path / "headless.pth"), "keep_classifier": True})
    with pytest.raises(CheckpointError, match="not found"):
        build({"name": "tv_mc3_18", "pretrained": str(tmp_path / "absent.pth")})
    with pytest.raises(ConfigError, match="empty value"):
        build({"name": "tv_mc3_18", "pretrained": " "})


def test_checkpoint_names_are_found_and_their_hash_prefix_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DataError, match="mc3_18-a90a0ba3.pth.*hashbench weights fetch tv_mc3_18.kinetics400_v1"):
        build({"name": "tv_mc3_18", "pretrained": "tv_mc3_18.kinetics400_v1"})
    torch.save({"stem.0.weight": torch.zeros(1)}, tmp_path / "mc3_18-a90a0ba3.pth")  # not the published file
    for name in ("tv_mc3_18.kinetics400_v1", "MC3_18_Weights.KINETICS400_V1", "DEFAULT", "KINETICS400_V1",
                 str(tmp_path / "mc3_18-a90a0ba3.pth")):
        with pytest.raises(CheckpointError, match="name says it starts with a90a0ba3"):
            build({"name": "tv_mc3_18", "pretrained": name})
    own = tmp_path / "own.pth"
    torch.save({"x": torch.ones(2)}, own)
    good = tmp_path / f"own-{sha256_of(own)[:8]}.pth"
    own.rename(good)
    verify_hash_prefix(good, Checkpoint(name="own", file=good.name))  # the right prefix passes
    with pytest.raises(CheckpointError, match="expected 00"):
        verify_hash_prefix(good, Checkpoint(name="own", file=good.name, sha256="00" * 32))


# -- input constraints ---------------------------------------------------------------------------
def test_s3d_minimum_is_computed_tight_and_refused_in_one_line():
    assert tvm.s3d_min_input() == (13, 209)
    assert tv.S3D_Weights.KINETICS400_V1.meta["min_temporal_size"] >= 13  # torchvision states 14 / 224
    _, backbone = meta_pair("tv_s3d")
    for shape in ((12, 209, 209), (13, 208, 209)):  # one less does not fit torchvision's own layers
        with pytest.raises(RuntimeError, match="smaller than kernel size"):
            backbone.extract(torch.empty(1, 3, *shape, device="meta"))
        with pytest.raises(ConfigError, match=r"at least 13x209x209") as caught:
            backbone(torch.empty(1, 3, *shape, device="meta"))
        assert "\n" not in str(caught.value)
    assert backbone(torch.empty(1, 3, 13, 209, 209, device="meta")).shape == (1, 1024)
    with pytest.raises(ConfigError, match="takes at least 13 frames of 209x209.*num_frames is 12"):
        build({"name": "tv_s3d"}, num_frames=12)
    model = build({"name": "tv_s3d"}, num_frames=13)
    assert model.feature_dim == 1024 and model.min_input == (13, 209, 209)
    with pytest.raises(ConfigError, match="16x16 .* smaller than S3D takes"):
        model(torch.zeros(1, 3, 13, 16, 16))


@pytest.mark.parametrize("name", ["tv_mvit_v1_b", "tv_mvit_v2_s"])
def test_mvit_takes_exactly_16x224x224(name):
    with pytest.raises(ConfigError, match=r"takes exactly 16 frames of 224x224.*num_frames is 8: set it to 16"):
        build({"name": name}, num_frames=8)
    _, backbone = meta_pair(name)
    assert backbone.input_mean == (1, 1, 1)
    for shape in ((16, 112, 112), (15, 224, 224)):
        with pytest.raises(ConfigError, match="takes exactly 16x224x224 clips") as caught:
            backbone(torch.empty(1, 3, *shape, device="meta"))
        assert "\n" not in str(caught.value)


def test_swin3d_takes_any_size_on_meta():
    _, backbone = meta_pair("tv_swin3d_b")
    for shape in ((1, 1, 1), (3, 17, 30), (32, 224, 224)):
        assert backbone(torch.empty(2, 3, *shape, device="meta")).shape == (2, 1024)


def test_swin3d_t_loads_torchvision_weights_and_matches_its_forward(tmp_path):
    """The lightest transformer for real: a torchvision file (relative-position tables and indices included)
    loaded into a module built on the meta device, features and logits equal to torchvision's forward."""
    torch.manual_seed(0)
    reference = tv.swin3d_t(weights=None).eval()
    path = tmp_path / "swin3d_t_own.pth"
    torch.save(reference.state_dict(), path)
    clips = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected_features, expected_logits = penultimate(reference, reference.head, clips)
        kept = build({"name": "tv_swin3d_t", "pretrained": str(path), "keep_classifier": True}).eval()
    path.unlink()  # 122 MB: not left in the temp dir
    with torch.no_grad():
        torch.testing.assert_close(kept(clips), expected_features)
        torch.testing.assert_close(kept.logits(clips), expected_logits)
    assert kept.feature_dim == 768 and kept.input_mean == pytest.approx((123.675, 116.28, 103.53))
    kept.train()
    kept(clips).sum().backward()
    assert kept.features[0][0].attn.relative_position_bias_table.grad is not None
