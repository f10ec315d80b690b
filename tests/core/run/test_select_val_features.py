"""``select = "val"`` on a frame-feature dataset: a trained method picks its epoch on a slice held out of
the training features (never on the test queries); a fit-only method has no epoch to pick and reports
``last``."""
from __future__ import annotations

import csv
import json

import pytest
import torch

import hashbench
from hashbench.config import experiment_from_dict
from hashbench.contract import Component, HashMethod, MethodBatch, load_registry
from hashbench.run import run_experiment
from hashbench.run.build import build_components

FEATURES = {"name": "moving_digits_features", "num_frames": 6, "dim": 16, "clips_per_class": 10,
            "queries_per_class": 3, "layout": "fcvid"}  # FCVID's layout ships training labels
TRAIN_ROWS = 8 * 10  # 8 basic motions x clips_per_class


class Linear(HashMethod):
    """A linear map of mean-pooled features trained by a label-free loss (balanced, saturated codes);
    keeps the ``num_train`` it was built with (the rows it trains on)."""

    consumes = ("frame_features",)
    built_with: list[int] = []

    def __init__(self, bits: int, seed: int = 0, feature_dim: int = 0, num_train: int = 0) -> None:
        super().__init__(bits, seed)
        self.proj = torch.nn.Linear(feature_dim, bits)
        Linear.built_with.append(num_train)

    def training_loss(self, batch: MethodBatch):
        codes = torch.tanh(self.encode(batch.inputs))
        return (1 - codes.abs()).mean() + codes.mean(dim=0).pow(2).mean()

    def encode(self, inputs):
        return self.proj(inputs.float().mean(dim=1))


def _registry():
    registry = load_registry()
    registry.components["method"]["linear"] = Component("method", "linear", Linear, "tests", "0")
    return registry


@pytest.fixture
def features_registered():
    if "moving_digits_features" not in hashbench.registry().names("dataset"):
        pytest.skip("the moving_digits_features dataset is not registered in this checkout")


def test_a_trained_method_selects_its_epoch_on_held_out_training_features(tmp_path, features_registered):
    doc = {"name": "val_feat", "seed": 0, "device": "cpu", "dataset": FEATURES,
           "method": {"name": "linear", "bits": 8},
           "train": {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.05}, "eval_every": 1,
                     "amp": False},
           "eval": {"metrics": ["map"], "select": "val", "val_fraction": 0.25}}
    result = run_experiment(experiment_from_dict(doc), _registry(), runs_dir=tmp_path / "runs",
                            results_path=tmp_path / "results.csv")
    record = json.loads((result.run_dir / "record.json").read_text())
    evaluations = record["evaluations"]
    assert [e["split"] for e in evaluations] == ["validation"] * 3  # every epoch scored on the held-out slice
    scores = [e["metrics"]["map"] for e in evaluations]
    assert all(0 < score < 1 for score in scores)  # ranked by the training labels, not all relevant
    best = 1 + max(range(3), key=lambda i: (scores[i], -i))
    assert result.epoch == best
    with open(tmp_path / "results.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["selection"] == "best_val:map" and row["epoch"] == str(best)
    assert Linear.built_with[-1] == TRAIN_ROWS - TRAIN_ROWS // 4  # 60 to train on, 20 held out as val queries
    assert '"eval.select":"val"' in row["config"] and '"eval.val_fraction":0.25' in row["config"]


def test_a_fit_only_method_with_select_val_reports_last(tmp_path, features_registered):
    doc = {"name": "itq_val", "seed": 0, "device": "cpu", "dataset": FEATURES,
           "method": {"name": "itq", "bits": 8, "iterations": 5},
           "eval": {"metrics": ["map"], "select": "val"}}
    result = run_experiment(experiment_from_dict(doc), load_registry(), runs_dir=tmp_path / "runs",
                            results_path=tmp_path / "results.csv")
    with open(tmp_path / "results.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (result.epoch, row["epoch"], row["selection"]) == (0, "0", "last")
    assert 0 < float(row["value"]) <= 1


def test_select_val_without_training_labels_is_one_clear_error(tmp_path, features_registered):
    """ActivityNet's layout has no training labels: a held-out slice of train cannot be scored."""
    from hashbench.errors import ConfigError

    doc = {"name": "val_unlabelled", "seed": 0, "device": "cpu", "dataset": {**FEATURES, "layout": "activitynet"},
           "method": {"name": "itq", "bits": 8, "iterations": 5}, "eval": {"metrics": ["map"], "select": "val"}}
    with pytest.raises(ConfigError, match=r'eval.select = "val": dataset .moving_digits_features. has no training'
                                          r' labels.*use select = "last"'):
        run_experiment(experiment_from_dict(doc), load_registry(), runs_dir=tmp_path / "runs", results_path=None)


def test_select_val_under_the_all_vs_all_protocol_scores_the_held_out_slice_without_self_matches(
        tmp_path, features_registered):
    """FCVID's layout makes the test queries the database (``include_self``); the validation queries carved from
    training are not the database's rows, so the validation metrics drop ``include_self`` (before, the run stopped
    with "the query codes are not the database codes")."""
    doc = {"name": "val_ssvh", "seed": 0, "device": "cpu", "dataset": FEATURES,
           "method": {"name": "linear", "bits": 8},
           "train": {"epochs": 2, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.05}, "eval_every": 1,
                     "amp": False},
           "eval": {"protocol": "ssvh", "metrics": ["map"], "select": "val", "val_fraction": 0.25}}
    built = build_components(experiment_from_dict(doc), _registry(), torch.device("cpu"))
    assert [label for label, _ in built.validation_metrics] == [label for label, _ in built.metrics]
    assert any(getattr(metric, "include_self", None) for _, metric in built.metrics)
    assert not any(getattr(metric, "include_self", None) for _, metric in built.validation_metrics)
    result = run_experiment(experiment_from_dict(doc), _registry(), runs_dir=tmp_path / "runs",
                            results_path=tmp_path / "results.csv")
    record = json.loads((result.run_dir / "record.json").read_text())
    assert [e["split"] for e in record["evaluations"]] == ["validation"] * 2
    assert all(0 < e["metrics"]["map_over_k@5"] <= 1 for e in record["evaluations"])
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = {row["metric"]: row for row in csv.DictReader(handle)}
    assert rows["map_over_k@5"]["selection"].startswith("best_val:") and 0 < float(rows["map_over_k@5"]["value"]) <= 1
