"""Hara's 3D ResNets r3d10 ... r3d200: layouts and names of both checkpoint generations, strict loads of
files in each generation's exact format (and refusals listing keys), named checkpoints, the classifier,
forward parity with a functional re-derivation, training.

Independent of the plugin's code: ``hara_spec`` derives every key and shape from Hara's layout (the
papers' tables and the repository's module names); ``functional_features`` recomputes the features
from a state dict with ``torch.nn.functional`` only. Checkpoint files are built from random tensors in
the sources' formats: CVPR2018 branch ``{"epoch", "arch", "state_dict": {"module.<key>": ...},
"optimizer"}`` without BatchNorm counters; master branch ``{"epoch", "arch", "state_dict": {"<key>": ...},
"optimizer", "scheduler"}`` (a MultiStepLR state, whose milestones are a Counter).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import hashbench
from hashbench.contract import checkpoints_of
from hashbench.errors import CheckpointError, ConfigError, DataError

torch.set_num_threads(2)

DEPTHS = (10, 18, 34, 50, 101, 152, 200)
#: Hara's generate_model: depth -> (block, blocks per stage).
LAYOUT = {10: ("basic", (1, 1, 1, 1)), 18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
          50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
          152: ("bottleneck", (3, 8, 36, 3)), 200: ("bottleneck", (3, 24, 36, 3))}
KINETICS_MASTER = ((0.4345 * 255, 0.4051 * 255, 0.3775 * 255), (0.2768 * 255, 0.2713 * 255, 0.2737 * 255))
ACTIVITYNET = ((114.7748, 107.7354, 99.4750), (1.0, 1.0, 1.0))
C3D_RETRIEVAL = ((0.434 * 255, 0.405 * 255, 0.378 * 255), (0.152 * 255, 0.149 * 255, 0.157 * 255))


def build(**table):
    return hashbench.registry().build("backbone", table, where="backbone", num_frames=8)


# -- an independent description of Hara's checkpoints -------------------------------------------------
def hara_spec(depth, shortcut, width=64, conv1_t=7, classes=None, counters=True):
    """``{key: shape}`` of Hara's ResNet-``depth`` state dict, in the files' order."""
    kind, layers = LAYOUT[depth]
    expansion = 1 if kind == "basic" else 4
    spec = {}

    def bn(name, channels):
        for field in ("weight", "bias", "running_mean", "running_var"):
            spec[f"{name}.{field}"] = (channels,)
        if counters:
            spec[f"{name}.num_batches_tracked"] = ()

    spec["conv1.weight"] = (width, 3, conv1_t, 7, 7)
    bn("bn1", width)
    in_planes = width
    for stage, blocks in enumerate(layers):
        planes = width * 2 ** stage
        out = planes * expansion
        for b in range(blocks):
            p = f"layer{stage + 1}.{b}"
            stride = 2 if stage > 0 and b == 0 else 1
            if kind == "basic":
                spec[f"{p}.conv1.weight"] = (planes, in_planes, 3, 3, 3)
                bn(f"{p}.bn1", planes)
                spec[f"{p}.conv2.weight"] = (planes, planes, 3, 3, 3)
                bn(f"{p}.bn2", planes)
            else:
                spec[f"{p}.conv1.weight"] = (planes, in_planes, 1, 1, 1)
                bn(f"{p}.bn1", planes)
                spec[f"{p}.conv2.weight"] = (planes, planes, 3, 3, 3)
                bn(f"{p}.bn2", planes)
                spec[f"{p}.conv3.weight"] = (out, planes, 1, 1, 1)
                bn(f"{p}.bn3", out)
            if shortcut == "B" and (stride != 1 or in_planes != out):
                spec[f"{p}.downsample.0.weight"] = (out, in_planes, 1, 1, 1)
                bn(f"{p}.downsample.1", out)
            in_planes = out
    if classes:
        spec["fc.weight"] = (classes, in_planes)
        spec["fc.bias"] = (classes,)
    return spec


def random_state(spec, seed=0):
    """Random tensors for a spec: meaningful BatchNorm statistics, counters as int64 scalars."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in spec.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("bn1.weight", "bn2.weight", "bn3.weight", "downsample.1.weight")) or key == "bn1.weight":
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("conv1.weight") or ".conv" in key or "downsample.0" in key:
            fan = max(1, int(torch.tensor(shape[1:]).prod()))
            state[key] = torch.randn(shape, generator=g) * (2.0 / fan) ** 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    return state


def _optimizer_state():
    params = [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2, 2))]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
    sum(p.sum() for p in params).backward()
    optimizer.step()
    return optimizer


def cvpr2018_file(path, state, arch):
    """As the CVPR2018 branch's train.py saved it from a DataParallel model (PyTorch < 0.4: no counters)."""
    torch.save({"epoch": 201, "arch": arch,
                "state_dict": {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")},
                "optimizer": _optimizer_state().state_dict()}, path)
    return path


def master_file(path, state, arch):
    """As the master branch's save_checkpoint wrote it (model.module.state_dict(): no prefix)."""
    optimizer = _optimizer_state()
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [50, 100, 150])
    torch.save({"epoch": 200, "arch": arch, "state_dict": dict(state), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, path)
    return path


def functional_features(state, depth, x, conv1_t_stride=1, max_pool=True):
    """Eval-mode features of Hara's ResNet from a state dict, with torch.nn.functional only."""
    kind, layers = LAYOUT[depth]

    def bn(t, name):
        return F.batch_norm(t, state[f"{name}.running_mean"], state[f"{name}.running_var"], state[f"{name}.weight"],
                            state[f"{name}.bias"], training=False, eps=1e-5)

    w = state["conv1.weight"]
    x = F.relu(bn(F.conv3d(x, w, stride=(conv1_t_stride, 2, 2), padding=(w.shape[2] // 2, 3, 3)), "bn1"))
    if max_pool:
        x = F.max_pool3d(x, 3, 2, 1)
    for stage, blocks in enumerate(layers):
        for b in range(blocks):
            p = f"layer{stage + 1}.{b}"
            s = 2 if stage > 0 and b == 0 else 1
            if kind == "basic":
                y = F.relu(bn(F.conv3d(x, state[f"{p}.conv1.weight"], stride=s, padding=1), f"{p}.bn1"))
                y = bn(F.conv3d(y, state[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            else:
                y = F.relu(bn(F.conv3d(x, state[f"{p}.conv1.weight"]), f"{p}.bn1"))
                y = F.relu(bn(F.conv3d(y, state[f"{p}.conv2.weight"], stride=s, padding=1), f"{p}.bn2"))
                y = bn(F.conv3d(y, state[f"{p}.conv3.weight"]), f"{p}.bn3")
            if f"{p}.downsample.0.weight" in state:
                r = bn(F.conv3d(x, state[f"{p}.downsample.0.weight"], stride=s), f"{p}.downsample.1")
            elif s != 1 or x.shape[1] != y.shape[1]:
                r = x[:, :, ::s, ::s, ::s]
                r = torch.cat([r, r.new_zeros(r.shape[0], y.shape[1] - r.shape[1], *r.shape[2:])], dim=1)
            else:
                r = x
            x = F.relu(y + r)
    return x.mean(dim=(2, 3, 4))


# -- layouts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_full_size_names_and_shapes_are_haras(depth, shortcut):
    """Every factory at full size (on the meta device: no memory, no time) has exactly Hara's keys."""
    with torch.device("meta"):
        model = build(name=f"r3d{depth}", shortcut=shortcut)
    expected = hara_spec(depth, shortcut)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(got) == list(expected)  # same names, same order as Hara's files
    assert got == expected
    assert model.feature_dim == (512 if LAYOUT[depth][0] == "basic" else 2048)
    assert model.shortcut == shortcut


def test_profiles_defaults_and_options():
    defaults = {d: build(name=f"r3d{d}", width=4) for d in (10, 34, 50, 200)}
    for depth in (10, 34):
        assert defaults[depth].shortcut == "A" and defaults[depth].normalization == "c3d_retrieval"
        assert defaults[depth].input_mean == pytest.approx(C3D_RETRIEVAL[0])
        assert defaults[depth].input_std == pytest.approx(C3D_RETRIEVAL[1])
    for depth in (50, 200):
        assert defaults[depth].shortcut == "B" and defaults[depth].normalization == "kinetics_master"
        assert defaults[depth].input_mean == pytest.approx(KINETICS_MASTER[0])
        assert defaults[depth].input_std == pytest.approx(KINETICS_MASTER[1])
    assert defaults[50].feature_dim == 4 * 8 * 4
    # master's options: conv1's temporal kernel/stride, no max pool, widen factor
    model = build(name="r3d18", conv1_t_size=3, conv1_t_stride=2, no_max_pool=True, widen_factor=2.0, width=4)
    assert model.conv1.weight.shape == (8, 3, 3, 7, 7) and model.conv1.stride == (2, 2, 2)
    assert model.conv1.padding == (1, 3, 3) and model.feature_dim == 64
    assert build(name="r3d18", widen_factor=0.125).state_dict()["layer4.1.conv2.weight"].shape == (64, 64, 3, 3, 3)
    with torch.no_grad():
        clip = torch.zeros(1, 3, 8, 32, 32)
        assert build(name="r3d18", width=4, no_max_pool=True).eval().trunk(clip).shape[2:] == (1, 2, 2)
        assert build(name="r3d18", width=4).eval().trunk(clip).shape[2:] == (1, 1, 1)


def test_initialisations():
    torch.manual_seed(0)
    kaiming = build(name="r3d50", width=32)  # master / CVPR2018 code: kaiming_normal_(fan_out, relu)
    legacy = build(name="r3d50", width=32, init="hara2017")
    for model, fan in ((kaiming, 7 * 7 * 7 * 32), (legacy, 7 * 7 * 32)):
        assert model.conv1.weight.std().item() == pytest.approx((2 / fan) ** 0.5, rel=0.03)
    assert kaiming.layer3[0].conv2.weight.std().item() == pytest.approx((2 / (27 * 128)) ** 0.5, rel=0.03)
    assert torch.equal(kaiming.layer2[0].downsample[1].weight, torch.ones(256))
    assert build(name="r3d34", width=4).init == "hara2017"


@pytest.mark.parametrize("table", [
    {"name": "r3d10"}, {"name": "r3d18", "shortcut": "B"}, {"name": "r3d34"},
    {"name": "r3d50"}, {"name": "r3d50", "shortcut": "A"},
    {"name": "r3d101", "conv1_t_size": 3, "conv1_t_stride": 2, "no_max_pool": True},
])
def test_forward_equals_a_functional_rederivation(table):
    depth = int(table["name"][3:])
    model = build(width=4, **table).eval()
    state = random_state(hara_spec(depth, model.shortcut, width=4, conv1_t=table.get("conv1_t_size", 7)), seed=depth)
    model.load_state_dict(state)
    clips = torch.randn(2, 3, 6, 40, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(clips)
        expected = functional_features(state, depth, clips, conv1_t_stride=table.get("conv1_t_stride", 1),
                                       max_pool=not table.get("no_max_pool", False))
    assert ours.shape == (2, model.feature_dim) and expected.abs().max() > 0.05
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


# -- forward, backward, training ------------------------------------------------------------------------
@pytest.mark.parametrize("depth", DEPTHS)
def test_registry_build_forward_backward_and_one_training_step(depth):
    width = 4 if depth >= 101 else 8
    torch.manual_seed(depth)
    model = build(name=f"r3d{depth}", width=width)
    assert model.feature_dim == width * 8 * (1 if depth < 50 else 4)
    assert len(model.input_mean) == 3 and len(model.input_std) == 3
    side = 16 if depth >= 101 else 32
    clips = torch.randn(2, 3, 4, side, side, generator=torch.Generator().manual_seed(2))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out = model(clips)
    assert out.shape == (2, model.feature_dim) and torch.isfinite(out).all()
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(3))).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    changed = {k for k, p in model.named_parameters() if not torch.equal(p, before[k])}
    assert {"conv1.weight", "layer4.0.conv2.weight", "layer1.0.conv1.weight"} <= changed
    # every tensor that got a non-zero gradient moved (a tiny net may have a dead ReLU channel or block)
    assert changed == {k for k, p in model.named_parameters() if p.grad.abs().sum() > 0}
    assert len(changed) >= 0.9 * len(before)


def test_type_a_shortcut_gradient_option_on_bottlenecks():
    torch.manual_seed(0)
    detached = build(name="r3d50", shortcut="A", width=4)
    flowing = build(name="r3d50", shortcut="A", width=4, shortcut_grad=True)
    flowing.load_state_dict(detached.state_dict())
    clips = torch.randn(2, 3, 4, 32, 32)
    for model in (detached, flowing):
        model(clips).sum().backward()
    assert not torch.allclose(detached.conv1.weight.grad, flowing.conv1.weight.grad, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("table, match", [
    ({"shortcut": "C"}, r"backbone\.shortcut: unknown value 'C'; use one of 'A', 'B'"),
    ({"shortcut": "B", "shortcut_grad": True}, r"backbone\.shortcut_grad: applies to type-A shortcuts only"),
    ({"init": "xavier"}, r"backbone\.init: unknown value 'xavier'"),
    ({"widen_factor": 0.01}, r"backbone\.widen_factor: must leave at least one channel"),
    ({"conv1_t_size": 0}, r"backbone\.conv1_t_size: must be a positive integer"),
    ({"normalization": "imagenet"}, r"use one of 'c3d_retrieval', 'kinetics', 'kinetics_master'"),
    ({"widen_factor": "2"}, r"backbone\.widen_factor: expected a number"),
])
def test_bad_keys_are_config_errors(table, match):
    with pytest.raises(ConfigError, match=match):
        build(name="r3d34", width=4, **table)


def test_clip_shape_is_checked():
    with pytest.raises(ValueError, match=r"r3d50 expects clips shaped \(B, 3, T, H, W\)"):
        build(name="r3d50", width=4)(torch.zeros(2, 8, 32, 32))


# -- checkpoint files -------------------------------------------------------------------------------
@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no real hub cache in the search path
    return folder


@pytest.mark.parametrize("depth", [18, 34])
def test_cvpr2018_file_loads_strictly_by_path(tmp_path, depth):
    state = random_state(hara_spec(depth, "A", width=8, classes=400), seed=depth)
    path = cvpr2018_file(tmp_path / f"resnet-{depth}-kinetics.pth", state, f"resnet-{depth}")
    raw = torch.load(path, weights_only=True)["state_dict"]
    assert all(k.startswith("module.") for k in raw) and "module.layer1.0.bn1.num_batches_tracked" not in raw
    model = build(name=f"r3d{depth}", width=8, pretrained=str(path))
    assert model.shortcut == "A" and model.normalization == "c3d_retrieval"  # a path picks no normalisation
    loaded = model.state_dict()
    for key, value in state.items():
        if not key.startswith("fc.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded[key], value), key
    assert not hasattr(model, "fc") or model.fc is None


def test_master_file_by_path_implies_shortcut_b_from_its_keys(tmp_path):
    state = random_state(hara_spec(18, "B", width=8, classes=700), seed=5)
    path = master_file(tmp_path / "r3d18_K_200ep.pth", state, "resnet-18")
    model = build(name="r3d18", width=8, pretrained=str(path)).eval()
    assert model.shortcut == "B" and model.normalization == "c3d_retrieval"
    assert torch.equal(model.layer2[0].downsample[0].weight, state["layer2.0.downsample.0.weight"])
    assert model.layer2[0].downsample[1].num_batches_tracked.item() == 1000
    clips = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(clips), functional_features(state, 18, clips), rtol=1e-4, atol=1e-5)
    with pytest.raises(CheckpointError, match=r"unexpected keys \(\d+\): layer2\.0\.downsample\.0\.weight"):
        build(name="r3d18", width=8, pretrained=str(path), shortcut="A")


def _broken(tmp_path, name, state, *, drop=(), rename=None, reshape=None):
    state = dict(state)
    for key in drop:
        del state[key]
    if rename:
        old, new = rename
        state[new] = state.pop(old)
    if reshape:
        state[reshape] = torch.zeros(3, 3)
    return master_file(tmp_path / name, state, "resnet-50")


def test_broken_master_files_are_refused_listing_the_keys(tmp_path):
    state = random_state(hara_spec(50, "B", width=4, classes=700), seed=50)
    table = {"name": "r3d50", "width": 4}
    path = _broken(tmp_path, "removed.pth", state, drop=("layer2.0.downsample.1.running_var", "layer3.5.conv3.weight"))
    with pytest.raises(CheckpointError) as info:
        build(pretrained=str(path), **table)
    message = str(info.value)
    assert "missing keys (2): layer2.0.downsample.1.running_var, layer3.5.conv3.weight" in message
    assert str(path) in message and message.startswith("backbone.pretrained: ") and "\n" not in message

    path = _broken(tmp_path, "renamed.pth", state, rename=("layer4.0.downsample.0.weight", "layer4.0.shortcut.0.weight"))
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): layer4\.0\.downsample\.0\.weight; unexpected keys"
                                              r" \(1\): layer4\.0\.shortcut\.0\.weight"):
        build(pretrained=str(path), **table)

    path = _broken(tmp_path, "reshaped.pth", state, reshape="layer1.2.bn3.running_mean")
    with pytest.raises(CheckpointError, match=r"shape mismatches \(1\): layer1\.2\.bn3\.running_mean \(3, 3\) vs model"
                                              r" \(16,\)"):
        build(pretrained=str(path), **table)

    # a full-width file into a reduced model: every mis-shaped key is counted, the first ones listed
    with pytest.raises(CheckpointError, match=r"shape mismatches \(\d+\): conv1\.weight \(4, 3, 7, 7, 7\) vs model"
                                              r" \(8, 3, 7, 7, 7\)"):
        build(name="r3d50", width=8, pretrained=str(master_file(tmp_path / "ok.pth", state, "resnet-50")))


def test_named_master_checkpoint_picks_shortcut_and_normalisation(weights_dir):
    state = random_state(hara_spec(50, "B", width=4, classes=700), seed=7)
    master_file(weights_dir / "r3d50_K_200ep.pth", state, "resnet-50")
    model = build(name="r3d50", width=4, pretrained="r3d50_K_200ep")
    assert model.checkpoint == "r3d50_K_200ep" and model.shortcut == "B" and model.normalization == "kinetics_master"
    assert torch.equal(model.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    override = build(name="r3d50", width=4, pretrained="r3d50_K_200ep", normalization="c3d_retrieval")
    assert override.input_mean == pytest.approx(C3D_RETRIEVAL[0])
    with pytest.raises(ConfigError, match=r"backbone\.shortcut: 'A' contradicts the checkpoint 'r3d50_K_200ep'"):
        build(name="r3d50", width=4, pretrained="r3d50_K_200ep", shortcut="A")
    with pytest.raises(ConfigError, match=r"'r3d50_K_200ep' is a checkpoint of r3d50, not of r3d101"):
        build(name="r3d101", width=4, pretrained="r3d50_K_200ep")


def test_named_checkpoint_of_r3d18_implies_b_unless_contradicted(weights_dir):
    """The reference r3d18 takes a master-branch name: shortcut B and its normalisation."""
    state = random_state(hara_spec(18, "B", width=8, classes=1039), seed=8)
    master_file(weights_dir / "r3d18_KM_200ep.pth", state, "resnet-18")
    model = build(name="r3d18", width=8, pretrained="r3d18_KM_200ep")
    assert model.shortcut == "B" and model.input_mean == pytest.approx(KINETICS_MASTER[0])
    assert model.input_std == pytest.approx(KINETICS_MASTER[1])
    assert build(name="r3d18", width=8, pretrained="r3d18_KM_200ep", shortcut="B").shortcut == "B"
    with pytest.raises(ConfigError, match=r"backbone\.shortcut: 'A' contradicts"):
        build(name="r3d18", width=8, pretrained="r3d18_KM_200ep", shortcut="A")


def test_named_cvpr2018_checkpoint(weights_dir):
    state = random_state(hara_spec(34, "A", width=8, classes=400), seed=34)
    cvpr2018_file(weights_dir / "resnet-34-kinetics.pth", state, "resnet-34")
    model = build(name="r3d34", width=8, pretrained="resnet-34-kinetics")
    assert model.shortcut == "A" and model.normalization == "kinetics"
    assert (model.input_mean, model.input_std) == (ACTIVITYNET[0], ACTIVITYNET[1])
    state50 = random_state(hara_spec(50, "B", width=4, classes=400), seed=51)
    cvpr2018_file(weights_dir / "resnet-50-kinetics.pth", state50, "resnet-50")
    model = build(name="r3d50", width=4, pretrained="resnet-50-kinetics")
    assert model.shortcut == "B" and model.normalization == "kinetics"
    assert torch.equal(model.layer4[0].downsample[1].running_var, state50["layer4.0.downsample.1.running_var"])


def test_missing_named_file_says_where_it_was_looked_for(weights_dir):
    with pytest.raises(DataError, match=r"'r3d101_KM_200ep' \(r3d101_KM_200ep\.pth\) is not in .*weights.*"
                                        r"HASHBENCH_WEIGHTS"):
        build(name="r3d101", pretrained="r3d101_KM_200ep")


def test_keep_classifier(weights_dir, tmp_path):
    state = random_state(hara_spec(50, "B", width=4, classes=700), seed=9)
    master_file(weights_dir / "r3d50_KMS_200ep.pth", state, "resnet-50")  # declared with 1139 classes
    master_file(weights_dir / "r3d50_K_200ep.pth", state, "resnet-50")
    kept = build(name="r3d50", width=4, pretrained="r3d50_K_200ep", keep_classifier=True).eval()
    plain = build(name="r3d50", width=4, pretrained="r3d50_K_200ep").eval()
    assert "fc.weight" not in plain.state_dict()
    assert torch.equal(kept.fc.weight, state["fc.weight"]) and torch.equal(kept.fc.bias, state["fc.bias"])
    assert not kept.fc.weight.requires_grad and not kept.fc.bias.requires_grad  # the source classifier stays frozen
    assert all(p.requires_grad for n, p in kept.named_parameters() if not n.startswith("fc."))
    clips = torch.randn(2, 3, 4, 16, 16)
    with torch.no_grad():
        features = kept(clips)
        torch.testing.assert_close(features, plain(clips))  # features stay the penultimate ones
        logits = kept.logits(clips)
    assert logits.shape == (2, 700)
    torch.testing.assert_close(logits, features @ state["fc.weight"].T + state["fc.bias"])
    with pytest.raises(ConfigError, match=r"backbone r3d50: no source classifier was kept"):
        plain.logits(clips)
    # the declared size is checked against the file
    with pytest.raises(CheckpointError, match=r"shape mismatches \(2\): fc\.weight \(700, 128\) vs model \(1139, 128\)"):
        build(name="r3d50", width=4, pretrained="r3d50_KMS_200ep", keep_classifier=True)
    # a file by path: sized from its fc; without one, kept is refused / missing fc keys listed
    by_path = build(name="r3d50", width=4, pretrained=str(weights_dir / "r3d50_K_200ep.pth"), keep_classifier=True)
    assert by_path.fc.out_features == 700
    no_fc = master_file(tmp_path / "nofc.pth", {k: v for k, v in state.items() if not k.startswith("fc.")}, "resnet-50")
    with pytest.raises(CheckpointError, match=r"backbone\.keep_classifier: .*nofc\.pth holds no classifier"):
        build(name="r3d50", width=4, pretrained=str(no_fc), keep_classifier=True)
    # a run's model rebuilt without its pretrained key (hashbench search --video): fc comes with the weights
    trained = hashbench.build_model({"name": "r3d50", "width": 4, "pretrained": "r3d50_K_200ep",
                                     "keep_classifier": True}, {"name": "tanh", "bits": 8})
    rebuilt = hashbench.build_model({"name": "r3d50", "width": 4, "keep_classifier": True}, {"name": "tanh", "bits": 8})
    assert rebuilt.backbone.fc is None
    rebuilt.load_state_dict(trained.state_dict(), strict=True)
    assert torch.equal(rebuilt.backbone.fc.weight, state["fc.weight"]) and not rebuilt.backbone.fc.weight.requires_grad
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: \"backbone\.fc\.weight\""):
        hashbench.build_model({"name": "r3d50", "width": 4}, {"name": "tanh", "bits": 8}).load_state_dict(
            trained.state_dict())
    master_file(weights_dir / "r3d50_S_200ep.pth", {k: v for k, v in state.items() if not k.startswith("fc.")},
                "resnet-50")
    with pytest.raises(CheckpointError, match=r"missing keys \(2\): fc\.weight, fc\.bias"):
        build(name="r3d50", width=4, pretrained="r3d50_S_200ep", keep_classifier=True)


# -- the declared checkpoints -----------------------------------------------------------------------------
def test_declared_checkpoints():
    registry = hashbench.registry()
    declared = {d: {c.name: c for c in checkpoints_of(registry.get("backbone", f"r3d{d}").factory)} for d in DEPTHS}
    assert declared[10] == {}
    master_classes = {"K": 700, "KM": 1039, "KMS": 1139, "KS": 800, "M": 339, "MS": 439, "S": 100}
    expected_master = {18: ("K", "KM"), 34: ("K", "KM"), 50: tuple(master_classes), 101: ("K", "KM"),
                       152: ("K", "KM"), 200: ("K", "KM")}
    for depth, suffixes in expected_master.items():
        cvpr = declared[depth].pop(f"resnet-{depth}-kinetics")
        assert (cvpr.file, cvpr.classes, cvpr.frames, cvpr.size) == (f"resnet-{depth}-kinetics.pth", 400, 16, 112)
        assert cvpr.options == {"shortcut": "A" if depth < 50 else "B"}
        assert (cvpr.mean, cvpr.std) == ACTIVITYNET
        assert set(declared[depth]) == {f"r3d{depth}_{s}_200ep" for s in suffixes}
        for suffix in suffixes:
            master = declared[depth][f"r3d{depth}_{suffix}_200ep"]
            assert master.file == f"r3d{depth}_{suffix}_200ep.pth" and master.classes == master_classes[suffix]
            assert master.options == {"shortcut": "B"} and (master.frames, master.size) == (16, 112)
            assert master.mean == pytest.approx(KINETICS_MASTER[0]) and master.std == pytest.approx(KINETICS_MASTER[1])
            assert master.sha256 is None and "3D-ResNets-PyTorch" in master.source


def test_factories_are_documented_and_torch_free_at_import():
    import subprocess
    import sys

    code = ("import sys; import hashbench_ref.backbones.hara as h; "
            "print('torch' in sys.modules, sorted(h.FACTORIES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split(" ", 1)[0] == "False"
    assert all(f"r3d{d}" in out for d in DEPTHS)
    registry = hashbench.registry()
    for depth in DEPTHS:
        doc = registry.get("backbone", f"r3d{depth}").factory.__doc__
        assert f"ResNet-{depth} " in doc and "keep_classifier" in doc and "kinetics_master" in doc
    assert "else 'B'" in registry.get("backbone", "r3d50").factory.__doc__
    assert "else 'A'" in registry.get("backbone", "r3d18").factory.__doc__
