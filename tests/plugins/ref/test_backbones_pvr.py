"""pvr_r2plus1d_18 / pvr_r3d_18: pytorch-video-recognition's R(2+1)D and R3D, their module names and checkpoints.

The checkpoint files are built from random tensors in the exact layout that repo's ``train.py`` saves
(``{'epoch', 'state_dict', 'opt_dict'}``, ``state_dict`` = ``R2Plus1DClassifier`` / ``R3DClassifier``'s), with
the names and shapes generated here from the source's construction rules (:func:`source_layout`), not
from hashbench's model. The parity reference (:func:`reference_logits`) re-derives the source's forward
with functional ops on the file's tensors: BGR frames minus (90, 98, 102), BN + ReLU inside every
(factored) convolution and again in the block, a downsampling shortcut through such a convolution.
"""
from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

import hashbench
from hashbench.contract import checkpoints_of
from hashbench.errors import CheckpointError, ConfigError, ContractError

torch.set_num_threads(2)

ARCHS = {"pvr_r2plus1d_18": "res2plus1d", "pvr_r3d_18": "res3d"}
BN_STATS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def build(name, table=None, **context):
    return hashbench.registry().build("backbone", {"name": name, **(table or {})}, **context)


# -- the source's state dict layout, from its construction rules -------------------------------------
def _bn(out, prefix, channels):
    for stat in BN_STATS:
        out[f"{prefix}.{stat}"] = () if stat == "num_batches_tracked" else (channels,)


def _conv(out, arch, prefix, cin, cout, k, stem=False):
    """The keys of SpatioTemporalConv(cin, cout, k) (R(2+1)D: two convs and BNs; R3D: one of each)."""
    if arch == "res3d":
        out[f"{prefix}.temporal_spatial_conv.weight"] = (cout, cin, 3, 7, 7) if stem else (cout, cin, k, k, k)
        _bn(out, f"{prefix}.bn", cout)
        return
    mid = 45 if stem else (k * k * k * cin * cout) // (k * k * cin + k * cout)
    out[f"{prefix}.spatial_conv.weight"] = (mid, cin, 1, 7, 7) if stem else (mid, cin, 1, k, k)
    _bn(out, f"{prefix}.bn1", mid)
    out[f"{prefix}.temporal_conv.weight"] = (cout, mid, 3, 1, 1) if stem else (cout, mid, k, 1, 1)
    _bn(out, f"{prefix}.bn2", cout)


def source_layout(arch, layers=(2, 2, 2, 2), classes=101):
    """``{key: shape}`` of the classifier's state_dict, in the source's order."""
    out = OrderedDict()
    _conv(out, arch, f"{arch}.conv1", 3, 64, 7, stem=True)
    widths = (64, 128, 256, 512)
    cin = 64
    for stage, (cout, size) in enumerate(zip(widths, layers), start=2):
        for b in range(size):
            prefix = f"{arch}.conv{stage}." + ("block1" if b == 0 else f"blocks.{b - 1}")
            down = b == 0 and stage > 2
            if down:
                _conv(out, arch, f"{prefix}.downsampleconv", cin, cout, 1)
                _bn(out, f"{prefix}.downsamplebn", cout)
            _conv(out, arch, f"{prefix}.conv1", cin if b == 0 else cout, cout, 3)
            _bn(out, f"{prefix}.bn1", cout)
            _conv(out, arch, f"{prefix}.conv2", cout, cout, 3)
            _bn(out, f"{prefix}.bn2", cout)
        cin = cout
    out["linear.weight"], out["linear.bias"] = (classes, 512), (classes,)
    return out


def random_state(layout, seed=0):
    """Random tensors in the layout: He-scaled conv weights, non-trivial BN affines and statistics."""
    g = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(123)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("running_mean", ".bias")):
            state[key] = torch.randn(shape, generator=g) * 0.1
        elif len(shape) == 1:  # BN weight
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            fan_in = torch.Size(shape[1:]).numel()
            state[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
    return state


def train_py_checkpoint(path, state, epoch=50):
    """What the repo's train.py saves: the classifier's state_dict and SGD's (momentum) state."""
    params = [torch.nn.Parameter(v.clone()) for v in state.values() if v.dtype.is_floating_point][:3]
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    sum(p.sum() for p in params).backward()
    optimizer.step()
    torch.save({"epoch": epoch, "state_dict": state, "opt_dict": optimizer.state_dict()}, path)
    return path


# -- the source's forward, re-derived --------------------------------------------------------------
def _bn_relu(state, prefix, x, relu=True):
    x = F.batch_norm(x, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"], state[f"{prefix}.weight"],
                     state[f"{prefix}.bias"], False, 0.0, 1e-5)
    return F.relu(x) if relu else x


def _st_conv(state, arch, prefix, x, stride, padding, stem=False):
    if arch == "res3d":
        x = F.conv3d(x, state[f"{prefix}.temporal_spatial_conv.weight"], stride=stride, padding=padding)
        return _bn_relu(state, f"{prefix}.bn", x)
    (st, sh, sw), (pt, ph, pw) = stride, padding
    if stem:
        x = F.conv3d(x, state[f"{prefix}.spatial_conv.weight"], stride=(1, sh, sw), padding=(pt, ph, pw))
        x = _bn_relu(state, f"{prefix}.bn1", x)
        x = F.conv3d(x, state[f"{prefix}.temporal_conv.weight"], stride=(st, 1, 1), padding=(1, 0, 0))
    else:
        x = F.conv3d(x, state[f"{prefix}.spatial_conv.weight"], stride=(1, sh, sw), padding=(0, ph, pw))
        x = _bn_relu(state, f"{prefix}.bn1", x)
        x = F.conv3d(x, state[f"{prefix}.temporal_conv.weight"], stride=(st, 1, 1), padding=(pt, 0, 0))
    return _bn_relu(state, f"{prefix}.bn2", x)


def reference_logits(state, arch, layers, bgr):
    """(pooled 512 features, logits) of the source classifier in eval mode."""
    stem_pad = (0, 3, 3) if arch == "res2plus1d" else (1, 3, 3)
    x = _st_conv(state, arch, f"{arch}.conv1", bgr, (1, 2, 2), stem_pad, stem=True)
    for stage, size in enumerate(layers, start=2):
        for b in range(size):
            prefix = f"{arch}.conv{stage}." + ("block1" if b == 0 else f"blocks.{b - 1}")
            down = b == 0 and stage > 2
            s = (2, 2, 2) if down else (1, 1, 1)
            res = _bn_relu(state, f"{prefix}.bn1", _st_conv(state, arch, f"{prefix}.conv1", x, s, (1, 1, 1)))
            res = _bn_relu(state, f"{prefix}.bn2", _st_conv(state, arch, f"{prefix}.conv2", res, (1, 1, 1), (1, 1, 1)),
                           relu=False)
            if down:
                x = _bn_relu(state, f"{prefix}.downsamplebn",
                             _st_conv(state, arch, f"{prefix}.downsampleconv", x, (2, 2, 2), (0, 0, 0)), relu=False)
            x = F.relu(x + res)
    features = x.mean(dim=(2, 3, 4))
    return features, F.linear(features, state["linear.weight"], state["linear.bias"])


# -- tests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ARCHS)
def test_train_py_checkpoint_loads_strictly_in_the_source_layout(name, tmp_path, lean_state):
    arch = ARCHS[name]
    state = lean_state(random_state(source_layout(arch)))  # the full layout, a few KB on disk
    path = train_py_checkpoint(tmp_path / f"{name}-ucf101_epoch-49.pth.tar", state)
    model = build(name, {"pretrained": str(path), "keep_classifier": True}, num_frames=16)
    assert list(model.state_dict()) == list(state)  # the same names, in the source's order
    for key in (f"{arch}.conv1.bn{'' if arch == 'res3d' else '2'}.running_var", "linear.weight",
                f"{arch}.conv4.block1.downsamplebn.running_mean", f"{arch}.conv5.blocks.0.conv2.bn1.weight"
                if arch == "res2plus1d" else f"{arch}.conv5.blocks.0.conv2.bn.weight"):
        torch.testing.assert_close(model.state_dict()[key], state[key], rtol=0, atol=0)
    assert model.linear.out_features == 101
    assert sum(p.numel() for p in model.parameters()) == sum(
        v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    dropped = build(name, {"pretrained": str(path)})
    assert dropped.linear is None and "linear.weight" not in dropped.state_dict()
    with pytest.raises(ConfigError, match=rf"backbone {name}: no source classifier was kept"):
        dropped.logits(torch.zeros(1, 3, 1, 8, 8))


@pytest.mark.parametrize("name", ARCHS)
def test_matches_the_source_forward_on_bgr_frames(name, tmp_path):
    """RGB clips normalised with the declared mean/std and flipped inside forward give exactly the source's
    features and logits on BGR frames minus (90, 98, 102); `layers` picks the blocks per stage."""
    arch, layers = ARCHS[name], (1, 2, 1, 1)
    state = random_state(source_layout(arch, layers, classes=51), seed=1)
    path = train_py_checkpoint(tmp_path / "run.pth.tar", state)
    model = build(name, {"pretrained": str(path), "keep_classifier": True, "layers": list(layers)}).eval()
    path.unlink()  # about 60 MB of real random weights: not left in the temp dir
    assert model.input_mean == (102.0, 98.0, 90.0) and model.input_std == (1.0, 1.0, 1.0)
    rgb = torch.randint(0, 256, (2, 3, 4, 32, 32), generator=torch.Generator().manual_seed(2)).float()
    normalised = (rgb - torch.tensor(model.input_mean).view(1, 3, 1, 1, 1)) / torch.tensor(model.input_std).view(
        1, 3, 1, 1, 1)
    bgr = rgb[:, [2, 1, 0]] - torch.tensor([90.0, 98.0, 102.0]).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        expected_features, expected_logits = reference_logits(state, arch, layers, bgr)
        features, logits = model(normalised), model.logits(normalised)
    assert features.shape == (2, 512) and expected_features.abs().max() > 0.1
    torch.testing.assert_close(features, expected_features, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-4, atol=1e-4)


def test_checkpoints_without_batch_counters_load(tmp_path, lean_state):
    """Files written before PyTorch 0.4 have no num_batches_tracked."""
    state = lean_state(random_state(source_layout("res3d", (1, 1, 1, 1))))
    path = tmp_path / "old.pth"
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, path)
    model = build("pvr_r3d_18", {"pretrained": str(path), "layers": [1, 1, 1, 1]})
    torch.testing.assert_close(model.res3d.conv3.block1.bn2.running_var, state["res3d.conv3.block1.bn2.running_var"])
    assert int(model.res3d.conv1.bn.num_batches_tracked) == 0


@pytest.mark.parametrize("breakage", ["removed", "renamed", "reshaped"])
def test_broken_files_are_refused_listing_the_keys(breakage, tmp_path, lean_state):
    state = lean_state(random_state(source_layout("res2plus1d", (1, 1, 1, 1))))
    key = "res2plus1d.conv3.block1.downsampleconv.temporal_conv.weight"
    renamed = key.replace("downsampleconv", "downsample_conv")
    if breakage == "removed":
        del state[key]
        expected = rf"missing keys \(1\): {re.escape(key)}"
    elif breakage == "renamed":
        state[renamed] = state.pop(key)
        expected = rf"missing keys \(1\): {re.escape(key)}; unexpected keys \(1\): {re.escape(renamed)}"
    else:
        state[key] = torch.zeros(128, 40, 1, 1, 1)
        expected = rf"shape mismatches \(1\): {re.escape(key)} \(128, 40, 1, 1, 1\) vs model \(128, 42, 1, 1, 1\)"
    path = train_py_checkpoint(tmp_path / "broken.pth.tar", state)
    with pytest.raises(CheckpointError, match=expected) as info:
        build("pvr_r2plus1d_18", {"pretrained": str(path), "layers": [1, 1, 1, 1]})
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ARCHS)
def test_forward_backward_and_one_training_step(name):
    torch.manual_seed(0)
    model = build(name, {"layers": [1, 1, 1, 1]}, num_frames=4)  # one block per stage: quick on a CPU
    assert model.feature_dim == 512 and model.normalization == "pvr"
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(3)) * 50
    model.train()
    features = model(clips)
    assert features.shape == (2, 512) and torch.isfinite(features).all()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    optimizer.zero_grad()
    (features @ torch.randn(512, generator=torch.Generator().manual_seed(4))).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    trunk = ARCHS[name]
    assert len(changed) == len(before) and f"{trunk}.conv1.{'bn' if trunk == 'res3d' else 'bn1'}.weight" in changed
    with pytest.raises(ContractError, match=r"\(B, 3, T, H, W\)"):
        model(torch.zeros(2, 4, 32, 32))


def test_keys_normalisations_and_no_published_weights(tmp_path):
    for name in ARCHS:
        assert checkpoints_of(hashbench.registry().get("backbone", name).factory) == ()
    kept = build("pvr_r3d_18", {"keep_classifier": True, "normalization": "c3d_retrieval", "layers": [1, 1, 1, 1]})
    assert kept.linear.out_features == 101  # no file: train.py's UCF101 size
    assert kept.input_mean == pytest.approx((0.434 * 255, 0.405 * 255, 0.378 * 255))
    with pytest.raises(ConfigError, match=r"backbone\.layers: expected 4 positive integers"):
        build("pvr_r3d_18", {"layers": [2, 2, 2]})
    with pytest.raises(ConfigError, match=r"backbone\.layers"):
        build("pvr_r2plus1d_18", {"layers": [2, 0, 2, 2]})
    with pytest.raises(ConfigError, match=r"backbone\.normalization: unknown value 'kinetics'"):
        build("pvr_r2plus1d_18", {"normalization": "kinetics"})
    with pytest.raises(ConfigError, match=r"'ucf101' is neither a known checkpoint of pvr_r3d_18 \(none"):
        build("pvr_r3d_18", {"pretrained": "ucf101"})
    with pytest.raises(CheckpointError, match=r"weight file not found: .*R2Plus1D-ucf101"):
        build("pvr_r2plus1d_18", {"pretrained": str(tmp_path / "R2Plus1D-ucf101_epoch-99.pth.tar")})
