"""The real-data experiment files: they load, mirror the original runs and name unset variables."""
from __future__ import annotations

import os
import subprocess

import pytest

import hashbench
from support import HASHBENCH, ROOT
from support import hmdb_tree, jhmdb_tree, ucf_tree
from hashbench.config import load_experiment
from hashbench.errors import ConfigError
from hashbench.contract import TABLE_OWNED, bind_parameters

EXPERIMENTS = ROOT / "experiments"
# file -> (dataset, bits, margin, frames, dataset folder under $HASHBENCH_DATA)
ORIGINAL = {
    "ucf_48bit.toml": ("ucf101", 48, 14, 32, "UCF-101"),
    "ucf_64bit.toml": ("ucf101", 64, 20, 32, "UCF-101"),
    "hmdb_48bit.toml": ("hmdb51", 48, 14, 32, "hmdb51_org"),
    "jhmdb_48bit.toml": ("jhmdb", 48, 14, 15, "ReCompress_Videos"),
}


@pytest.mark.parametrize("file", sorted(ORIGINAL))
def test_experiment_mirrors_the_original_run(file, monkeypatch, tmp_path):
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path / "weights"))
    exp = load_experiment(EXPERIMENTS / file)
    dataset, bits, margin, frames, folder = ORIGINAL[file]
    assert exp.dataset["name"] == dataset and exp.dataset["root"] == f"{tmp_path}/data/{folder}"
    assert exp.dataset["num_frames"] == frames and exp.dataset["resize"] == [128, 171] and exp.dataset["crop"] == 112
    assert exp.head == {"name": "tanh", "bits": bits} and exp.loss == {"name": "batch_all_triplet", "margin": margin}
    assert exp.backbone["pretrained"] == f"{tmp_path}/weights/resnet-18-kinetics.pth"
    assert exp.train.batch_size == 120 and exp.train.optimizer.name == "sgd"
    params = exp.train.optimizer.params
    assert (params["lr"], params["momentum"], params["weight_decay"]) == (1e-4, 0.9, 5e-4)
    assert exp.train.scheduler.name == "step" and exp.train.scheduler.params["step_size"] == 40
    # the original's train.py: fp32, StepLR stepped at each epoch's start, test mAP after epochs 1, 6, ..., 156
    assert exp.train.amp is False and exp.train.scheduler.at == "epoch_start"
    assert [e for e in range(1, 161) if exp.train.evaluates_after(e)] == list(range(1, 157, 5))
    assert exp.eval.select == "test"
    reg = hashbench.registry()
    for kind, table in (("backbone", exp.backbone), ("head", exp.head), ("loss", exp.loss)):
        params = {k: v for k, v in table.items() if k != "name"}
        bind_parameters(reg.get(kind, table["name"]).factory, params, {"bits": bits, "feature_dim": 512},
                        where=kind, owned=TABLE_OWNED.get(kind, ()))  # every key is one the plugin accepts


@pytest.mark.parametrize("file,make_tree", [("ucf_48bit.toml", ucf_tree), ("hmdb_48bit.toml", hmdb_tree),
                                            ("jhmdb_48bit.toml", jhmdb_tree)])
def test_experiment_dataset_tables_build_with_the_official_lists(file, make_tree, monkeypatch, tmp_path):
    data = tmp_path / "data"
    root, _ = make_tree(tmp_path / "tree")
    data.mkdir()
    (data / ORIGINAL[file][4]).symlink_to(root)
    monkeypatch.setenv("HASHBENCH_DATA", str(data))
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path))
    exp = load_experiment(EXPERIMENTS / file)
    ds = hashbench.registry().build("dataset", exp.dataset, where="dataset")
    assert ds.num_classes == {"ucf101": 101, "hmdb51": 51, "jhmdb": 21}[exp.dataset["name"]]
    assert ds.expected and len(ds.all_videos) == ds.expected["videos"]
    assert ds.num_frames == ORIGINAL[file][3]


def _validate(file: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("HASHBENCH_DATA", "HASHBENCH_WEIGHTS")}
    return subprocess.run([*HASHBENCH, "validate", str(EXPERIMENTS / file)], env={**clean, **env},
                          capture_output=True, text=True, timeout=300)


def test_unset_variables_are_named_by_validate(tmp_path, monkeypatch):
    result = _validate("ucf_48bit.toml")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "dataset.root uses ${HASHBENCH_DATA}, which is not set" in result.stderr
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path))
    monkeypatch.delenv("HASHBENCH_WEIGHTS", raising=False)
    with pytest.raises(ConfigError, match=r"hmdb_48bit.toml: backbone.pretrained uses \$\{HASHBENCH_WEIGHTS\}, "
                                          "which is not set; export HASHBENCH_WEIGHTS="):
        load_experiment(EXPERIMENTS / "hmdb_48bit.toml")
