"""c3d: the full C3D with the Sports-1M port's names; its checkpoint layouts, BGR normalisation, clip checks.

Checkpoint files are built from random tensors in each source's exact layout: the Sports-1M port
``c3d-pretrained.pth`` of pytorch-video-recognition (a bare state dict, ``features.{0,3,6,8,11,13,16,18}``
and ``classifier.{0,3,6}``, fc8 of 487 classes) and a checkpoint of that repo's ``train.py``
(``{'epoch', 'state_dict', 'opt_dict'}`` in conv1..fc8 names). The parity reference is a functional
re-derivation of C3D_model.py's forward on BGR frames minus (90, 98, 102), from the file's own tensors.
The full-size random file (about 300 MB) is written once and deleted after this module; the tests of
key layouts write ``lean_state`` copies (same keys and shapes, a few KB: see tests/plugins/conftest.py).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import hashbench
from hashbench.contract import checkpoints_of
from hashbench.errors import CheckpointError, ConfigError, ContractError, DataError

torch.set_num_threads(2)

CONVS = ("conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
SPORTS1M = dict(zip(CONVS + ("fc6", "fc7", "fc8"), [f"features.{i}" for i in (0, 3, 6, 8, 11, 13, 16, 18)]
                    + [f"classifier.{i}" for i in (0, 3, 6)]))


def build(table=None, **context):
    return hashbench.registry().build("backbone", {"name": "c3d", **(table or {})}, **context)


def sports1m_layout(state):
    """conv1..fc8 names -> the Sports-1M port's features.N / classifier.N names."""
    return {f"{SPORTS1M[k.rpartition('.')[0]]}.{k.rpartition('.')[2]}": v for k, v in state.items()}


@pytest.fixture(scope="module")
def source_state():
    """A random C3D state dict with a 487-way fc8 (conv1..fc8 names), biases non-zero."""
    g = torch.Generator().manual_seed(0)
    shapes = {"conv1": (64, 3), "conv2": (128, 64), "conv3a": (256, 128), "conv3b": (256, 256),
              "conv4a": (512, 256), "conv4b": (512, 512), "conv5a": (512, 512), "conv5b": (512, 512)}
    state = {}
    for name, (cout, cin) in shapes.items():
        state[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, 3, generator=g) * (2 / (27 * cin)) ** 0.5
        state[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.05
    for name, (cout, cin) in {"fc6": (4096, 8192), "fc7": (4096, 4096), "fc8": (487, 4096)}.items():
        state[f"{name}.weight"] = torch.randn(cout, cin, generator=g) * (2 / cin) ** 0.5
        state[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.05
    return state


@pytest.fixture(scope="module")
def sports1m_file(source_state, tmp_path_factory):
    """The full-size file, written once; deleted after the module (it is about 300 MB)."""
    path = tmp_path_factory.mktemp("weights") / "c3d-pretrained.pth"
    torch.save(sports1m_layout(source_state), path)  # a bare state dict, as the port stores it
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def layout_state(source_state, lean_state):
    """``source_state``'s keys and shapes in a few KB on disk (for the tests of key layouts only)."""
    return lean_state(source_state)


def reference_c3d(file_state, bgr):
    """C3D_model.py's forward (eval mode) re-derived with functional ops on the Sports-1M file's tensors."""
    def conv(x, i):
        return F.relu(F.conv3d(x, file_state[f"features.{i}.weight"], file_state[f"features.{i}.bias"], padding=1))

    x = F.max_pool3d(conv(bgr, 0), (1, 2, 2), (1, 2, 2))
    x = F.max_pool3d(conv(x, 3), 2, 2)
    x = F.max_pool3d(conv(conv(x, 6), 8), 2, 2)
    x = F.max_pool3d(conv(conv(x, 11), 13), 2, 2)
    x = F.max_pool3d(conv(conv(x, 16), 18), 2, 2, padding=(0, 1, 1))
    x = x.reshape(-1, 8192)
    fc6 = F.relu(F.linear(x, file_state["classifier.0.weight"], file_state["classifier.0.bias"]))
    fc7 = F.relu(F.linear(fc6, file_state["classifier.3.weight"], file_state["classifier.3.bias"]))
    return fc7, F.linear(fc7, file_state["classifier.6.weight"], file_state["classifier.6.bias"])


def test_known_checkpoint_is_declared():
    factory = hashbench.registry().get("backbone", "c3d").factory
    (known,) = checkpoints_of(factory)
    assert (known.name, known.file, known.classes) == ("c3d_sports1m", "c3d-pretrained.pth", 487)
    assert known.mean == (102.0, 98.0, 90.0) and known.std == (1.0, 1.0, 1.0)  # RGB order of BGR (90, 98, 102)
    assert (known.frames, known.size) == (16, 112)
    assert "drive.google.com" in known.source and "features.N" in known.notes


def test_full_network_layout_and_normalisation():
    model = build(num_frames=16)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(shapes) == [f"{n}.{p}" for n in CONVS + ("fc6", "fc7") for p in ("weight", "bias")]
    assert shapes["conv1.weight"] == (64, 3, 3, 3, 3) and shapes["conv3a.weight"] == (256, 128, 3, 3, 3)
    assert shapes["conv5b.weight"] == (512, 512, 3, 3, 3) and shapes["fc6.weight"] == (4096, 8192)
    assert shapes["fc7.weight"] == (4096, 4096) and model.fc8 is None
    assert sum(p.numel() for p in model.parameters()) == 77_995_776
    assert model.feature_dim == 4096 and model.normalization == "pvr"
    assert model.input_mean == (102.0, 98.0, 90.0) and model.input_std == (1.0, 1.0, 1.0)
    assert model.dropout.p == 0.5 and model.pool5.padding == (0, 1, 1)
    retrieval = build({"normalization": "c3d_retrieval", "keep_classifier": True})
    assert retrieval.input_mean == pytest.approx((0.434 * 255, 0.405 * 255, 0.378 * 255))
    assert retrieval.fc8.out_features == 487  # no file: the Sports-1M classifier's size
    with pytest.raises(ConfigError, match=r"backbone\.normalization: unknown value 'imagenet'.*'pvr'"):
        build({"normalization": "imagenet"})
    with pytest.raises(ConfigError, match=r"backbone\.dropout"):
        build({"dropout": 1.0})


def test_unusable_clip_shapes_are_refused_in_one_line():
    with pytest.raises(ConfigError) as info:
        build(num_frames=8)
    message = str(info.value)
    assert "8-frame clips" in message and "16-31 frames" in message and "adaptive_pool" in message
    assert "\n" not in message
    model = build({"dropout": 0.0}, num_frames=16)
    for shape in ((1, 3, 8, 112, 112), (1, 3, 16, 64, 64), (1, 3, 16, 112, 160)):
        with pytest.raises(ContractError, match=r"c3d takes clips of 16-31 frames of 96-127 px.*got") as info:
            model(torch.zeros(shape))
        assert "\n" not in str(info.value)
    with pytest.raises(ContractError, match=r"\(B, 3, T, H, W\)"):
        model(torch.zeros(1, 16, 112, 112))
    assert build({"adaptive_pool": True}, num_frames=8).adaptive_pool  # the way out the message names


def test_sports1m_file_loads_strictly_and_matches_the_bgr_reference(sports1m_file, source_state):
    """RGB clips normalised with the declared mean/std, then flipped to BGR inside forward, give exactly
    the source's fc7 (and, kept, fc8) on BGR frames minus (90, 98, 102); adaptive_pool changes nothing here."""
    model = build({"pretrained": str(sports1m_file), "keep_classifier": True}, num_frames=16).eval()
    assert model.normalization == "checkpoint:c3d_sports1m"  # the file name is the known checkpoint's
    file_state = torch.load(sports1m_file, weights_only=True)
    torch.testing.assert_close(model.conv3a.weight, file_state["features.6.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.fc8.bias, file_state["classifier.6.bias"], rtol=0, atol=0)
    rgb = torch.randint(0, 256, (1, 3, 16, 112, 112), generator=torch.Generator().manual_seed(1)).float()
    mean = torch.tensor(model.input_mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(model.input_std).view(1, 3, 1, 1, 1)
    bgr = rgb[:, [2, 1, 0]] - torch.tensor([90.0, 98.0, 102.0]).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        expected_fc7, expected_fc8 = reference_c3d(file_state, bgr)
        features = model((rgb - mean) / std)
        logits = model.fc8(features)
        adaptive = build({"pretrained": str(sports1m_file), "adaptive_pool": True}).eval()((rgb - mean) / std)
    assert features.shape == (1, 4096) and expected_fc7.abs().max() > 0.1
    torch.testing.assert_close(features, expected_fc7, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits, expected_fc8, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(adaptive, expected_fc7, rtol=1e-4, atol=1e-4)


def test_named_checkpoint_is_found_in_the_weights_folder(sports1m_file, source_state, tmp_path, monkeypatch):
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DataError, match=r"'c3d_sports1m' \(c3d-pretrained\.pth\) is not in"):
        build({"pretrained": "c3d_sports1m"})
    with pytest.raises(ConfigError, match=r"'c3d_sport1m' is neither a known checkpoint of c3d \('c3d_sports1m'\)"):
        build({"pretrained": "c3d_sport1m"})
    (tmp_path / "c3d-pretrained.pth").symlink_to(sports1m_file)
    model = build({"pretrained": "c3d_sports1m"})
    assert model.fc8 is None and model.normalization == "checkpoint:c3d_sports1m"
    torch.testing.assert_close(model.fc7.weight, source_state["fc7.weight"], rtol=0, atol=0)
    # An explicit normalisation wins over the checkpoint's.
    assert build({"pretrained": "c3d_sports1m", "normalization": "c3d_retrieval"}).normalization == "c3d_retrieval"


def test_train_py_checkpoint_loads_with_or_without_its_classifier(layout_state, tmp_path):
    """pytorch-video-recognition's train.py saves {'epoch', 'state_dict', 'opt_dict'} in conv1..fc8 names."""
    state = dict(layout_state)
    state["fc8.weight"], state["fc8.bias"] = torch.randn(101, 4096), torch.randn(101)
    opt_dict = {"state": {0: {"momentum_buffer": torch.zeros(3)}},
                "param_groups": [{"lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4, "params": [0]}]}
    path = tmp_path / "C3D-ucf101_epoch-49.pth.tar"
    torch.save({"epoch": 50, "state_dict": state, "opt_dict": opt_dict}, path)
    kept = build({"pretrained": str(path), "keep_classifier": True})
    assert kept.fc8.out_features == 101 and kept.normalization == "pvr"
    torch.testing.assert_close(kept.fc8.weight, state["fc8.weight"], rtol=0, atol=0)
    clips = torch.randn(2, 3, 4, 16, 16)  # any small clip, with adaptive pooling
    dropped = build({"pretrained": str(path), "adaptive_pool": True}).eval()
    assert dropped.fc8 is None
    with pytest.raises(ConfigError, match="backbone c3d: no source classifier was kept"):
        dropped.logits(clips)
    torch.testing.assert_close(dropped.conv1.weight, state["conv1.weight"], rtol=0, atol=0)


@pytest.mark.parametrize("breakage", ["removed", "renamed", "reshaped"])
def test_broken_sports1m_files_are_refused_listing_the_keys(breakage, layout_state, tmp_path):
    state = sports1m_layout(layout_state)
    if breakage == "removed":
        del state["features.6.weight"]
        expected = r"missing keys \(1\): features\.6\.weight \(= conv3a\.weight\)"
    elif breakage == "renamed":
        state["classifier.4.weight"] = state.pop("classifier.3.weight")
        expected = (r"missing keys \(1\): classifier\.3\.weight \(= fc7\.weight\); unexpected keys \(1\):"
                    r" classifier\.4\.weight")
    else:
        state["classifier.0.weight"] = torch.zeros(4096, 1).expand(4096, 4608)  # a few KB on disk
        expected = (r"shape mismatches \(1\): classifier\.0\.weight \(= fc6\.weight\) \(4096, 4608\) vs model"
                    r" \(4096, 8192\)")
    path = tmp_path / "c3d-pretrained.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=expected) as info:
        build({"pretrained": str(path)})
    message = str(info.value)
    assert str(path) in message and "Sports-1M port layout" in message and "\n" not in message


def test_a_kept_classifier_must_be_in_the_file(layout_state, tmp_path):
    path = tmp_path / "no_fc8.pth"
    torch.save({k: v for k, v in layout_state.items() if not k.startswith("fc8.")}, path)
    assert build({"pretrained": str(path)}).fc8 is None  # fc8 is not needed when it is dropped
    with pytest.raises(CheckpointError, match=r"missing keys \(2\): fc8\.weight, fc8\.bias"):
        build({"pretrained": str(path), "keep_classifier": True})


def test_forward_backward_dropout_and_one_training_step():
    torch.manual_seed(0)
    model = build({"adaptive_pool": True}, num_frames=2)
    clips = torch.randn(2, 3, 2, 16, 16, generator=torch.Generator().manual_seed(2)) * 50
    model.train()
    first, second = model(clips), model(clips)
    assert first.shape == (2, model.feature_dim) and torch.isfinite(first).all()
    assert (first >= 0).all() and not torch.equal(first, second)  # ReLU, then dropout in train mode
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(clips), model(clips))  # no dropout in eval mode
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    optimizer.zero_grad()
    loss = (model(clips) @ torch.randn(4096, generator=torch.Generator().manual_seed(3))).square().mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert {"conv1.weight", "conv5b.weight", "fc6.weight", "fc7.bias"} <= changed
