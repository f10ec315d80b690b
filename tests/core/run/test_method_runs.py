"""``[method]`` experiments end to end: a fit-only baseline through the CLI (rows, record, checkpointed
state), the item-kind mismatch at validate time, and a trained method interrupted then resumed equal to
an uninterrupted run (its fitted state and weights in the checkpoint)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch

import hashbench
from hashbench import hookimpl
from hashbench.config import experiment_from_dict
from hashbench.contract import Component, HashMethod, MethodBatch, load_registry, pooled_inputs
from hashbench.run import run_experiment
from hashbench.train import load_checkpoint

FEATURES = {"name": "moving_digits_features", "num_frames": 8, "dim": 32, "clips_per_class": 12,
            "queries_per_class": 4}
ITQ_TOML = """name = "itq_feat"
seed = 0
device = "cpu"

[dataset]
name = "moving_digits_features"
num_frames = 8
dim = 32
clips_per_class = 12
queries_per_class = 4

[method]
name = "itq"
bits = 16
iterations = 10

[eval]
metrics = ["map", "map@10"]
"""


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hashbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def features_registered():
    if "moving_digits_features" not in hashbench.registry().names("dataset"):
        pytest.skip("the moving_digits_features dataset is not registered in this checkout")


@pytest.mark.training
def test_a_fit_only_method_runs_from_a_toml_and_writes_its_rows(tmp_path, features_registered):
    (tmp_path / "itq.toml").write_text(ITQ_TOML)
    proc = _cli("run", "itq.toml", "--runs-dir", "runs", "--results", "results.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["metric"] for r in rows] == ["map", "map@10"]
    row = rows[0]
    assert (row["method"], row["bits"], row["backbone"], row["head"], row["loss"], row["epoch"], row["selection"]) \
        == ("itq", "16", "", "", "", "0", "last")
    assert 0.2 < float(row["value"]) <= 1.0
    assert '"method.name":"itq"' in row["config"] and '"method.bits":16' in row["config"]
    (run_dir,) = list((tmp_path / "runs" / "itq_feat").iterdir())
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "finished" and record["epochs"] == [] and record["timings"]["fit_seconds"] > 0
    state = load_checkpoint(run_dir / "model.pt")["model"]
    assert {"fitted.mean", "fitted.components", "fitted.rotation"} <= set(state)
    assert state["fitted.rotation"].shape == (16, 16)
    assert not (run_dir / "checkpoint.pt").exists()


def test_validate_names_the_method_and_the_dataset_when_they_do_not_fit(tmp_path):
    text = ITQ_TOML.replace('name = "moving_digits_features"\nnum_frames = 8\ndim = 32\nclips_per_class = 12\n'
                            'queries_per_class = 4', 'name = "moving_digits"\nsize = 16\nnum_frames = 4')
    (tmp_path / "clips.toml").write_text(text)
    proc = _cli("validate", "clips.toml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "method 'itq' consumes frame_features, vector, but dataset 'moving_digits' yields clips" in lines[0]


def test_plugins_lists_the_reference_methods(tmp_path):
    proc = _cli("plugins", "--kind", "method", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[1] for line in proc.stdout.splitlines()[1:] if line.startswith("method")}
    assert {"lsh", "pcah", "itq", "sh", "sph", "agh"} <= names


def test_an_experiment_has_a_method_or_the_triple_not_both():
    doc = {"name": "x", "dataset": {"name": "moving_digits"}, "method": {"name": "itq", "bits": 8},
           "head": {"name": "tanh", "bits": 8}}
    with pytest.raises(hashbench.ConfigError, match=r"has both \[method\] and \[head\]"):
        experiment_from_dict(doc)
    del doc["head"]
    experiment = experiment_from_dict(doc)
    assert (experiment.method, experiment.method_name, experiment.components) == ("itq", "itq", ("dataset", "method"))
    assert experiment_from_dict(experiment.to_dict(), expand=False) == experiment
    assert "backbone" not in experiment.to_dict()


class Trained(HashMethod):
    """A centre from ``fit`` and a linear map trained by a label-free loss (spread-out, balanced codes)."""

    consumes = ("frame_features",)
    stop_at: int | None = None

    def __init__(self, bits: int, seed: int = 0, feature_dim: int = 0, dropout: float = 0.0) -> None:
        super().__init__(bits, seed)
        self.drop = torch.nn.Dropout(dropout)  # draws from torch's global generator while training
        self.proj = torch.nn.Linear(feature_dim, bits)
        self.register_buffer("centre", torch.zeros(feature_dim))

    def fit(self, train):
        self.centre = pooled_inputs(train).mean(dim=0).float()

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        if epoch == Trained.stop_at:
            raise KeyboardInterrupt("simulated interruption")

    def training_loss(self, batch: MethodBatch):
        codes = torch.tanh(self.encode(batch.inputs))
        return (1 - codes.abs()).mean() + codes.mean(dim=0).pow(2).mean()

    def encode(self, inputs):
        return self.proj(self.drop(inputs.float().mean(dim=1) - self.centre))


def _trained_registry():
    registry = load_registry()
    registry.components["method"]["trained"] = Component("method", "trained", Trained, "tests", "0")
    return registry


@pytest.mark.parametrize("dropout", [0.0, 0.5], ids=["deterministic", "dropout"])
def test_a_trained_method_resumes_exactly(tmp_path, features_registered, dropout):
    doc = {"name": "trained", "seed": 1, "device": "cpu", "dataset": FEATURES,
           "method": {"name": "trained", "bits": 8, "dropout": dropout},
           "train": {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}, "eval_every": 3,
                     "amp": False},
           "eval": {"metrics": ["map"]}}
    straight = run_experiment(experiment_from_dict(doc), _trained_registry(), runs_dir=tmp_path / "a",
                              results_path=None)
    assert straight.epoch == 3 and 0 < straight.metrics["map"] <= 1
    Trained.stop_at = 2
    try:
        with pytest.raises(KeyboardInterrupt):
            run_experiment(experiment_from_dict(doc), _trained_registry(), runs_dir=tmp_path / "b",
                           results_path=None)
    finally:
        Trained.stop_at = None
    (stopped,) = list((tmp_path / "b" / "trained").iterdir())
    saved = load_checkpoint(stopped / "checkpoint.pt")
    assert saved["epoch"] == 1 and {"centre", "proj.weight"} <= set(saved["model"]) and saved["optimizer"]
    resumed = run_experiment(experiment_from_dict(doc), _trained_registry(), runs_dir=tmp_path / "b",
                             results_path=None, resume=True)
    assert resumed.run_dir == stopped and resumed.metrics == straight.metrics
    a = load_checkpoint(straight.run_dir / "model.pt")["model"]
    b = load_checkpoint(resumed.run_dir / "model.pt")["model"]
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    record = json.loads((stopped / "record.json").read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3] and record["resumed"][-1]["from_epoch"] == 2


def test_the_triple_inside_method_deep_hashing_is_the_same_run(tmp_path):
    """``[method] name = "deep_hashing"`` holding the backbone/head/loss tables trains exactly what the
    top-level triple trains (same map on CPU), under the same method label and part columns."""
    base = {"seed": 0, "device": "cpu",
            "dataset": {"name": "moving_digits", "size": 16, "num_frames": 4, "clips_per_class": 4,
                        "queries_per_class": 2},
            "train": {"epochs": 1, "batch_size": 8, "optimizer": {"name": "adam", "lr": 1e-3}, "eval_every": 1},
            "eval": {"metrics": ["map"]}}
    parts = {"backbone": {"name": "r3d18", "width": 4}, "head": {"name": "tanh"},
             "loss": {"name": "batch_all_triplet", "margin": 4}}
    triple = experiment_from_dict({**base, "name": "triple", **parts, "head": {"name": "tanh", "bits": 8}})
    method = experiment_from_dict({**base, "name": "inside", "method": {"name": "deep_hashing", "bits": 8, **parts}})
    assert method.method == triple.method == "r3d18+tanh+batch_all_triplet"
    assert method.part("backbone") == {"name": "r3d18", "width": 4} and method.method_name == "deep_hashing"
    results = tmp_path / "results.csv"
    a = run_experiment(triple, hashbench.registry(), runs_dir=tmp_path / "runs", results_path=results)
    b = run_experiment(method, hashbench.registry(), runs_dir=tmp_path / "runs", results_path=results)
    assert a.metrics == b.metrics and 0 < a.metrics["map"] <= 1
    with open(results, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["method"], r["backbone"], r["head"], r["loss"]) for r in rows} == {
        ("r3d18+tanh+batch_all_triplet", "r3d18", "tanh", "batch_all_triplet")}


def test_validate_reports_the_triple_inside_method_deep_hashing(tmp_path):
    from hashbench.run import validate_experiment

    doc = {"name": "inside", "seed": 0, "device": "cpu",
           "dataset": {"name": "moving_digits", "size": 16, "num_frames": 4, "clips_per_class": 2,
                       "queries_per_class": 1},
           "method": {"name": "deep_hashing", "bits": 8, "backbone": {"name": "r3d18", "width": 4},
                      "head": {"name": "tanh"}, "loss": {"name": "batch_all_triplet", "margin": 4}}}
    report = validate_experiment(experiment_from_dict(doc), hashbench.registry())
    assert report["model"].startswith("r3d18 + tanh:") and report["model"].endswith("codes (8,)")
    assert report["loss"].startswith("batch_all_triplet = ")
