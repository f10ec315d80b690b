"""The classic baselines on clip datasets through a frozen backbone (``[method] backbone = {...}``):
what the instance consumes, what its state holds, that the features are the backbone's own on clips
normalised its way in eval mode, the conformance kit, one-line errors, and ``hashbench run`` /
``validate`` through the real CLI (a tiny random-init r3d18 on moving_digits; the shipped UCF101 TOML
on the real test clips)."""
from __future__ import annotations

import csv
import json

import pytest
import torch

import hashbench
from hashbench.config import load_experiment
from hashbench.contract.conformance import assert_conforms
from hashbench.errors import ConfigError, DataError, PluginError
from hashbench_ref.methods.adapter import ClassicMethod
from hashbench_ref.methods.frozen import FrozenFeatures, build_frozen
from support import ROOT, run_cli, ucf_tree

TINY = {"name": "r3d18", "width": 8}
EXPERIMENT = ROOT / "experiments" / "ucf101_itq_frozen_r3d18.toml"


def _clips(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 4, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _itq(backbone=TINY, bits: int = 8, **extra) -> ClassicMethod:
    table = {"name": "itq", "bits": bits, "iterations": 5, **extra}
    if backbone is not None:
        table["backbone"] = backbone
    return hashbench.registry().build("method", table, where="method", seed=0, num_frames=4)


def test_a_backbone_makes_this_instance_consume_clips_and_keeps_its_weights_out_of_the_state():
    method, plain = _itq(), _itq(backbone=None)
    assert method.consumes == ("clips",) and plain.consumes == ClassicMethod.consumes == ("frame_features", "vector")
    assert list(method.parameters()) == []  # the backbone's weights are no trainable parameters
    method.fit(_clips(24))
    state = method.state_dict()
    assert set(state) == {"fitted.input_dim", "fitted.mean", "fitted.components", "fitted.rotation", "fitted.losses",
                          "frozen.backbone"}
    assert json.loads(bytes(state["frozen.backbone"].tolist())) == TINY
    assert state["fitted.mean"].shape == (64,)  # r3d18 at width 8: 8 x 8 pooled channels
    codes = method.encode(_clips(5, seed=1))
    assert codes.shape == (5, 8) and codes.dtype == torch.float32


def test_features_are_the_backbones_on_clips_normalised_its_way_in_eval_mode():
    frozen = build_frozen({"name": "r3d18", "width": 8, "normalization": "kinetics"}, seed=3)
    network = frozen.network
    assert tuple(frozen.input_mean.flatten().tolist()) == pytest.approx(network.input_mean)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    frozen.train()  # a run may call train(): the backbone stays in eval mode (BatchNorm statistics frozen)
    clips = _clips(6)
    features = frozen(clips)
    mean = torch.tensor(network.input_mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(network.input_std).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        expected = network.eval()((clips.float() - mean) / std)
    assert torch.equal(features, expected) and not features.requires_grad
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    # the same seed builds the same random init; another seed another one
    assert torch.equal(build_frozen({"name": "r3d18", "width": 8, "normalization": "kinetics"}, seed=3)(clips),
                       features)
    assert not torch.equal(build_frozen({"name": "r3d18", "width": 8, "normalization": "kinetics"}, seed=4)(clips),
                           features)


def test_the_conformance_kit_passes_on_a_baseline_with_a_frozen_backbone():
    registry = hashbench.registry()
    for name in ("itq", "lsh"):
        assert_conforms(registry.get("method", name), {"bits": 8, "backbone": TINY})


@pytest.mark.parametrize("backbone,error,message", [
    ("r3d18", ConfigError, "method.backbone: expected an inline table naming a backbone, e.g. backbone = {"),
    ({"width": 8}, ConfigError, "method.backbone: expected an inline table naming a backbone"),
    ({"name": "r3d18", "widht": 8}, ConfigError, "method.backbone.widht: unknown key (did you mean 'width'?)"),
    ({"name": "r3d81"}, PluginError, "unknown backbone 'r3d81'"),
])
def test_a_bad_backbone_table_is_one_clear_line(backbone, error, message):
    with pytest.raises(error) as caught:
        _itq(backbone=backbone)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_checkpoint_fitted_on_another_backbone_is_refused():
    method = _itq()
    method.fit(_clips(16))
    other = _itq(backbone={"name": "r3d18", "width": 4})
    with pytest.raises(RuntimeError, match=r'fitted on backbone \{"name": "r3d18", "width": 8\}, this method has'
                                           r' \{"name": "r3d18", "width": 4\}'):
        other.load_state_dict(method.state_dict())
    fresh = _itq()
    fresh.load_state_dict(method.state_dict())
    clips = _clips(3, seed=2)
    assert torch.equal(fresh.encode(clips), method.encode(clips))


def test_frozen_features_are_a_module_of_their_own():
    assert isinstance(_itq().frozen, FrozenFeatures) and _itq(backbone=None).frozen is None


TOML = """name = "itq_frozen"
seed = 0
device = "cpu"

[dataset]
name = "moving_digits"
size = 16
num_frames = 4
clips_per_class = 6
queries_per_class = 2

[method]
name = "itq"
bits = 8
iterations = 10
backbone = {backbone}

[eval]
metrics = ["map", "map@10"]
"""


def test_validate_names_a_bad_backbone_key_in_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text(TOML.replace("{backbone}", '{ name = "r3d18", widht = 8 }'))
    proc = run_cli("validate", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "method.backbone.widht: unknown key (did you mean 'width'?)" in proc.stderr


@pytest.mark.training
def test_hashbench_run_writes_label_free_rows_from_clips(tmp_path):
    (tmp_path / "itq.toml").write_text(TOML.replace("{backbone}", '{ name = "r3d18", width = 8 }'))
    proc = run_cli("run", "itq.toml", "--runs-dir", "runs", "--results", "results.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["metric"], r["method"], r["bits"], r["dataset"], r["epoch"]) for r in rows] == \
        [("map", "itq", "8", "moving_digits", "0"), ("map@10", "itq", "8", "moving_digits", "0")]
    assert all(0.0 < float(r["value"]) <= 1.0 for r in rows)
    config = json.loads(rows[0]["config"])
    assert (config["method.backbone.name"], config["method.backbone.width"]) == ("r3d18", 8)
    (run_dir,) = list((tmp_path / "runs" / "itq_frozen").iterdir())
    state = torch.load(run_dir / "model.pt", weights_only=False)["model"]
    assert state["fitted.rotation"].shape == (8, 8) and "frozen.backbone" in state
    assert not any(k.startswith(("frozen.conv", "frozen.layer", "conv1")) for k in state)


def test_the_shipped_ucf101_experiment_loads_with_a_frozen_pretrained_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path / "weights"))
    experiment = load_experiment(EXPERIMENT)
    assert experiment.method_table == {"name": "itq", "bits": 64,
                                       "backbone": {"name": "r3d18", "pretrained": "resnet-18-kinetics"}}
    assert experiment.dataset["name"] == "ucf101" and experiment.dataset["root"] == f"{tmp_path}/data/UCF-101"
    with pytest.raises(DataError, match=r"'resnet-18-kinetics' \(resnet-18-kinetics.pth\) is not in"):  # no file
        _itq(backbone=experiment.method_table["backbone"])


@pytest.mark.training
def test_a_tiny_version_of_the_shipped_ucf101_experiment_runs_on_the_real_test_clips(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    root, lists = ucf_tree(tmp_path / "tree")  # 4 train / 2 test clips, split-1 lines of those only
    (data / "UCF-101").symlink_to(root)
    tiny = ["--set", f'dataset.lists="{lists}"', "--set", 'method.backbone={ name = "r3d18", width = 8 }', "--set", "method.bits=2",
            "--set", "dataset.num_frames=4", "--set", "dataset.resize=[32, 43]", "--set", "dataset.crop=32",
            "--set", 'device="cpu"']
    env = {"HASHBENCH_DATA": str(data), "HASHBENCH_WEIGHTS": str(tmp_path)}
    proc = run_cli("validate", str(EXPERIMENT), *tiny, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "consumes clips" in proc.stdout
    proc = run_cli("run", str(EXPERIMENT), *tiny, "--runs-dir", "runs", "--results", "results.csv", cwd=tmp_path,
                   env=env)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["metric"], r["method"], r["bits"], r["dataset"]) for r in rows] == \
        [(m, "itq", "2", "ucf101") for m in ("map", "map@100", "map_tie", "precision@100")]
