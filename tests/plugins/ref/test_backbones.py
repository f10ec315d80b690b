"""r3d18: parity with Hara's architecture on a Hara-format checkpoint, strict loading, shapes, init."""
from __future__ import annotations

import math
import pickle

import pytest
import torch

import hashbench
from hashbench.errors import CheckpointError, ConfigError

from references.reference_method import HaraResNet18, HashLayer

torch.set_num_threads(2)

#: The checkpoints' base width: Hara's key layout at a quarter of the width (8 MB files instead of 127 MB;
#: the real width's names and shapes are checked by test_parameter_names_are_haras without a file).
WIDTH = 16


def _randomize_bn(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Non-trivial BN statistics/affines, so that eval-mode BN is not close to the identity."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            c = module.num_features
            module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(c, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(c, generator=generator) * 0.1)
            module.num_batches_tracked.fill_(7)


def hara_checkpoint(reference: torch.nn.Module, path, drop=(), extra=None, keep_counters=True) -> None:
    """Save ``reference`` the way Hara's training script did: DataParallel ``module.`` keys + fc."""
    state = {f"module.{k}": v.clone() for k, v in reference.state_dict().items()
             if k not in drop and (keep_counters or not k.endswith("num_batches_tracked"))}
    state.update(extra or {})
    torch.save({"epoch": 200, "arch": "resnet-18", "state_dict": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}}, path)


@pytest.fixture(scope="module")
def reference():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    ref = HaraResNet18(num_classes=400, width=WIDTH)
    with torch.no_grad():
        _randomize_bn(ref, g)
        ref.fc.weight.normal_(generator=g)
        ref.fc.bias.normal_(generator=g)
    return ref.eval()


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet-18-kinetics.pth"
    hara_checkpoint(reference, path)
    return path


def test_checkpoint_fixture_has_hara_layout(checkpoint):
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    assert all(k.startswith("module.") for k in state)
    assert state["module.fc.weight"].shape == (400, 8 * WIDTH)
    assert "module.layer1.0.conv1.weight" in state and "module.bn1.running_var" in state


def test_parity_with_original_architecture(reference, checkpoint):
    """r3d18 + tanh built through the registry == Hara's ResNet-18 + original pooling + HashLayer."""
    model = hashbench.build_model({"name": "r3d18", "pretrained": str(checkpoint), "width": WIDTH},
                                  {"name": "tanh", "bits": 48}).eval()
    ref_head = HashLayer(48, feature_dim=8 * WIDTH)
    ref_head.load_state_dict(model.head.state_dict())  # same names as the original HashLayer
    clips = torch.randn(2, 3, 4, 112, 112, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected_features = reference.features(clips)
        features = model.backbone(clips)
        codes = model(clips)
        expected_codes = ref_head(expected_features)
    assert features.shape == (2, 8 * WIDTH)
    assert expected_features.abs().max() > 0.1  # a meaningful comparison, not two zero vectors
    torch.testing.assert_close(features, expected_features, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(codes, expected_codes, rtol=1e-4, atol=1e-5)
    assert torch.equal(torch.sign(codes), torch.sign(expected_codes))


def test_parameter_names_are_haras(reference):
    model = hashbench.registry().build("backbone", {"name": "r3d18"})
    hara = {k for k in reference.state_dict() if not k.startswith("fc.")}
    assert set(model.state_dict()) == hara
    assert model.feature_dim == 512


def test_counterless_checkpoint_loads(reference, tmp_path):
    """Checkpoints written before PyTorch 0.4 (like Hara's 2017 file) have no num_batches_tracked."""
    path = tmp_path / "old.pth"
    hara_checkpoint(reference, path, keep_counters=False)
    model = hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": str(path), "width": WIDTH})
    torch.testing.assert_close(model.layer3[1].bn2.running_var, reference.layer3[1].bn2.running_var)


def test_bare_state_dict_without_prefix_loads(reference, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save({k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}, path)
    model = hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": str(path), "width": WIDTH})
    torch.testing.assert_close(model.conv1.weight, reference.conv1.weight)


def test_missing_key_is_an_error_listing_it(reference, tmp_path):
    path = tmp_path / "missing.pth"
    hara_checkpoint(reference, path, drop=("layer2.0.bn1.running_mean", "layer4.1.conv2.weight"))
    with pytest.raises(CheckpointError) as info:
        hashbench.build_model({"name": "r3d18", "pretrained": str(path), "width": WIDTH}, {"name": "tanh", "bits": 16})
    message = str(info.value)
    assert "missing keys (2)" in message
    assert "layer2.0.bn1.running_mean" in message and "layer4.1.conv2.weight" in message
    assert str(path) in message and "\n" not in message


def test_unexpected_key_is_an_error_listing_it(reference, tmp_path):
    path = tmp_path / "extra.pth"
    hara_checkpoint(reference, path, extra={"module.layer5.0.conv1.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): layer5\.0\.conv1\.weight"):
        hashbench.build_model({"name": "r3d18", "pretrained": str(path), "width": WIDTH}, {"name": "tanh", "bits": 16})


def test_shape_mismatch_is_an_error(reference, tmp_path):
    path = tmp_path / "full.pth"
    hara_checkpoint(reference, path)
    with pytest.raises(CheckpointError, match=r"shape mismatches .*conv1\.weight \(16, 3, 7, 7, 7\)"
                                              r" vs model \(8, 3, 7, 7, 7\)"):
        hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": str(path), "width": 8})


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope" / "resnet-18-kinetics.pth"
    with pytest.raises(CheckpointError, match=r"backbone\.pretrained: weight file not found: .*nope"):
        hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": str(path)})
    with pytest.raises(ConfigError, match=r"backbone\.pretrained: empty path"):
        hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": ""})


class _Payload:  # a pickled object that weights_only=True must refuse to build
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_or_corrupt_files_are_refused(tmp_path):
    unsafe = tmp_path / "unsafe.pth"
    with open(unsafe, "wb") as fh:
        pickle.dump({"state_dict": _Payload()}, fh, protocol=2)
    with pytest.raises(CheckpointError, match=r"cannot read .*unsafe\.pth as a weights-only"):
        hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": str(unsafe)})
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"corrupt\.pth"):
        hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": str(corrupt)})
    notdict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], notdict)
    with pytest.raises(CheckpointError, match=r"holds no state dict"):
        hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": str(notdict)})


def test_small_inputs_and_pooling():
    """Any T, H, W works; features are the mean over the last stage's positions."""
    model = hashbench.registry().build("backbone", {"name": "r3d18", "width": 8}).eval()
    assert model.feature_dim == 64
    clips = torch.randn(3, 3, 8, 32, 32)
    with torch.no_grad():
        out = model(clips)
        trunk = model.layer4(model.layer3(model.layer2(model.layer1(
            model.maxpool(model.relu(model.bn1(model.conv1(clips))))))))
    assert out.shape == (3, 64)
    torch.testing.assert_close(out, trunk.flatten(2).mean(-1))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.randn(3, 8, 32, 32))


def test_gradients_match_original_including_detached_shortcut():
    """Training-mode gradients equal Hara's (whose type-A shortcut carried no gradient)."""
    torch.manual_seed(3)
    reference = HaraResNet18(num_classes=10, width=8)
    ours = hashbench.registry().build("backbone", {"name": "r3d18", "width": 8})
    ours.load_state_dict({k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")})
    clips = torch.randn(2, 3, 8, 32, 32)
    weights = torch.randn(64)
    (reference.trunk(clips).flatten(2).mean(-1) @ weights).sum().backward()
    (ours(clips) @ weights).sum().backward()
    ref_params = dict(reference.named_parameters())
    for name, param in ours.named_parameters():
        torch.testing.assert_close(param.grad, ref_params[name].grad, rtol=1e-4, atol=1e-6, msg=name)
    # The option to let gradients through the shortcut really changes them (so the check above bites).
    flowing = hashbench.registry().build("backbone", {"name": "r3d18", "width": 8, "shortcut_grad": True})
    flowing.load_state_dict(ours.state_dict())
    (flowing(clips) @ weights).sum().backward()
    assert not torch.allclose(flowing.conv1.weight.grad, ours.conv1.weight.grad, rtol=1e-3, atol=1e-6)


def test_hara_initialisation():
    torch.manual_seed(0)
    model = hashbench.registry().build("backbone", {"name": "r3d18"})
    for conv, fan in ((model.conv1, 7 * 7 * 64), (model.layer4[1].conv2, 3 * 3 * 512)):
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan), rel=0.03)
        assert conv.weight.mean().item() == pytest.approx(0.0, abs=0.05 * math.sqrt(2 / fan))
    assert torch.equal(model.layer2[0].bn1.weight, torch.ones(128))
    assert torch.equal(model.layer2[0].bn1.bias, torch.zeros(128))


def test_normalization_choices():
    reg = hashbench.registry()
    default = reg.build("backbone", {"name": "r3d18", "width": 4})
    assert default.input_mean == pytest.approx((0.434 * 255, 0.405 * 255, 0.378 * 255))
    assert default.input_std == pytest.approx((0.152 * 255, 0.149 * 255, 0.157 * 255))
    kinetics = reg.build("backbone", {"name": "r3d18", "width": 4, "normalization": "kinetics"})
    assert kinetics.input_mean == pytest.approx((114.7748, 107.7354, 99.4750))
    assert kinetics.input_std == (1.0, 1.0, 1.0)
    model = hashbench.build_model({"name": "r3d18", "width": 4, "normalization": "kinetics"},
                                  {"name": "tanh", "bits": 8})
    clip = torch.full((1, 3, 1, 2, 2), 200, dtype=torch.uint8)
    assert model.normalize(clip)[0, :, 0, 0, 0].tolist() == pytest.approx(
        [200 - 114.7748, 200 - 107.7354, 200 - 99.4750], rel=1e-6)
    with pytest.raises(ConfigError, match=r"backbone\.normalization: unknown value 'imagenet'"):
        reg.build("backbone", {"name": "r3d18", "normalization": "imagenet"})
    with pytest.raises(ConfigError, match=r"backbone\.width"):
        reg.build("backbone", {"name": "r3d18", "width": 0})


@pytest.mark.parametrize("key, value, expected", [
    ("width", "64", "an integer"), ("pretrained", 3, "a string"), ("shortcut_grad", 1, "true or false")])
def test_key_types_are_checked_by_the_registry(key, value, expected):
    """The factory's annotations resolve, so the registry can check TOML value types."""
    with pytest.raises(ConfigError, match=rf"backbone\.{key}: expected {expected}"):
        hashbench.registry().build("backbone", {"name": "r3d18", key: value}, where="backbone")


def test_default_init_is_the_2017_code_drawn_in_module_order():
    """Bit-identity guard of the default r3d18 (the demo's numbers depend on it): every Conv3d, in module
    order, draws N(0, sqrt(2 / (k_t * k_h * out))) from the global generator; nothing else draws."""
    torch.manual_seed(11)
    model = hashbench.registry().build("backbone", {"name": "r3d18", "width": 8})
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Conv3d)]
    torch.manual_seed(11)
    fresh = [torch.nn.Conv3d(m.in_channels, m.out_channels, m.kernel_size, bias=False) for _, m in convs]  # their draws
    for (name, module), conv in zip(convs, fresh):
        k = conv.weight.shape
        conv.weight.data.normal_(0.0, math.sqrt(2.0 / (k[2] * k[3] * k[0])))
        assert torch.equal(module.weight, conv.weight), name
    assert model.shortcut == "A" and model.init == "hara2017" and model.normalization == "c3d_retrieval"
    assert not any(".downsample." in key for key in model.state_dict())


def test_a_path_keeps_the_default_normalisation_and_a_name_picks_its_own(reference, checkpoint, tmp_path,
                                                                         monkeypatch):
    """pretrained = a path (even named like a known file) changes nothing but the weights; the known name
    resnet-18-kinetics picks its ActivityNet-mean normalisation unless one is set."""
    reg = hashbench.registry()
    by_path = reg.build("backbone", {"name": "r3d18", "pretrained": str(checkpoint), "width": WIDTH})
    assert by_path.normalization == "c3d_retrieval" and by_path.shortcut == "A" and by_path.checkpoint is None
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(checkpoint.parent))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    by_name = reg.build("backbone", {"name": "r3d18", "pretrained": "resnet-18-kinetics", "width": WIDTH})
    assert by_name.checkpoint == "resnet-18-kinetics" and by_name.normalization == "kinetics"
    torch.testing.assert_close(by_name.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    chosen = reg.build("backbone", {"name": "r3d18", "pretrained": "resnet-18-kinetics", "width": WIDTH,
                                    "normalization": "c3d_retrieval"})
    assert chosen.normalization == "c3d_retrieval"
    with pytest.raises(ConfigError, match=r"backbone\.shortcut: 'B' contradicts the checkpoint 'resnet-18-kinetics'"):
        hashbench.registry().build("backbone", {"name": "r3d18", "pretrained": "resnet-18-kinetics", "shortcut": "B"})
