"""The runner end to end on the embedded dataset: run directory, results rows, hooks, resume, selection."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hashbench import hookimpl
from hashbench.config import load_experiment
from hashbench.train import load_checkpoint
from hashbench.contract import load_registry
from hashbench.results import RESULT_COLUMNS, read_results
from hashbench.run import run_experiment


class Recorder:
    """A lifecycle plugin that records what it is told (and can interrupt a run)."""

    def __init__(self, stop_after_epoch: int | None = None):
        self.events: list[tuple] = []
        self.stop_after_epoch = stop_after_epoch

    @hookimpl
    def hashbench_run_start(self, run):
        self.events.append(("start", run.run_id))

    @hookimpl
    def hashbench_epoch_end(self, run, epoch, logs):
        self.events.append(("epoch", epoch, round(logs["loss"], 6)))
        if self.stop_after_epoch == epoch:
            raise KeyboardInterrupt("simulated interruption")

    @hookimpl
    def hashbench_evaluated(self, run, epoch, split, metrics):
        self.events.append(("evaluated", epoch, split))

    @hookimpl
    def hashbench_run_end(self, run, metrics):
        self.events.append(("end", dict(metrics)))


def _registry_with(plugin):
    registry = load_registry()
    registry.plugin_manager.register(plugin)
    return registry


def test_run_writes_run_directory_rows_and_calls_hooks(tiny_toml, tmp_path):
    experiment = load_experiment(tiny_toml(epochs=2))
    recorder = Recorder()
    results = tmp_path / "results.csv"
    result = run_experiment(experiment, _registry_with(recorder), runs_dir=tmp_path / "runs",
                            results_path=results)
    run_dir = result.run_dir
    assert run_dir.parent.name == "tiny"
    for name in ("config.json", "record.json", "log.txt", "model.pt", "codes.npz", "metrics.json"):
        assert (run_dir / name).is_file(), name
    # a finished run keeps the reported model's weights, not the optimizer state of every epoch
    assert not (run_dir / "checkpoint.pt").exists() and not (run_dir / "best.pt").exists()
    assert set(load_checkpoint(run_dir / "model.pt")) == {"model", "loss", "epoch"}  # no optimizer state
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "finished" and len(record["epochs"]) == 2
    assert record["class_names"][:2] == ["left", "right"]
    # evaluation time is measured over every evaluation (2 here), not the reuse of the last one
    assert record["timings"]["eval_seconds"] > 0.01 and record["timings"]["train_seconds"] > 0
    assert json.loads((run_dir / "config.json").read_text())["train"]["epochs"] == 2

    codes = np.load(run_dir / "codes.npz")
    assert codes["query_codes"].dtype == np.uint8 and codes["query_codes"].shape == (8 * 3, 2)  # 16 bits
    assert codes["db_codes"].shape == (8 * 6, 2) and len(codes["db_ids"]) == 8 * 6

    table = read_results(results)
    assert [c for c in table.columns if c != "_line"] == list(RESULT_COLUMNS)
    assert sorted(table["metric"]) == ["map", "map@10", "map_tie"]
    row = table.iloc[0]
    assert (row["run_id"], row["dataset"], row["backbone"], row["bits"], row["frames"]) == (
        result.run_id, "moving_digits", "r3d18", 16, 8)
    assert row["selection"] == "last" and row["epoch"] == 2 and row["config_hash"] == experiment.config_hash()
    assert all(0.0 <= v <= 1.0 for v in table["value"])

    kinds = [e[0] for e in recorder.events]
    assert kinds == ["start", "evaluated", "epoch", "evaluated", "epoch", "end"]
    assert recorder.events[-1][1] == result.metrics


def test_interrupted_run_resumes_to_the_same_model_as_an_uninterrupted_one(tiny_toml, tmp_path):
    path = tiny_toml(epochs=3)
    straight = run_experiment(load_experiment(path), load_registry(), runs_dir=tmp_path / "a",
                              results_path=None)

    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_experiment(path), _registry_with(Recorder(stop_after_epoch=1)),
                       runs_dir=tmp_path / "b", results_path=None)
    (interrupted,) = list((tmp_path / "b" / "tiny").iterdir())
    record = json.loads((interrupted / "record.json").read_text())
    assert record["status"] == "interrupted" and record["interrupted"]["epoch"] == 1
    assert load_checkpoint(interrupted / "checkpoint.pt")["epoch"] == 1

    resumed = run_experiment(load_experiment(path), load_registry(), runs_dir=tmp_path / "b",
                             results_path=None, resume=True)
    assert resumed.run_dir == interrupted
    assert resumed.metrics == straight.metrics
    a = load_checkpoint(straight.run_dir / "model.pt")["model"]
    b = load_checkpoint(resumed.run_dir / "model.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_validation_selection_never_scores_test_queries_during_training(tiny_toml, tmp_path):
    recorder = Recorder()
    result = run_experiment(load_experiment(tiny_toml(epochs=2, select="val")), _registry_with(recorder),
                            runs_dir=tmp_path / "runs", results_path=tmp_path / "r.csv")
    assert result.selection == "best_val:map"
    assert {e[2] for e in recorder.events if e[0] == "evaluated"} == {"validation"}
    record = json.loads((result.run_dir / "record.json").read_text())
    best = max(record["evaluations"], key=lambda e: e["metrics"]["map"])
    assert result.epoch == best["epoch"]
    assert set(read_results(tmp_path / "r.csv")["selection"]) == {"best_val:map"}


def test_resume_without_an_unfinished_run_is_a_clear_error(tiny_toml, tmp_path):
    from hashbench.errors import ConfigError

    with pytest.raises(ConfigError, match="no unfinished run of 'tiny'"):
        run_experiment(load_experiment(tiny_toml()), load_registry(), runs_dir=tmp_path, resume=True)


def test_test_selection_is_the_original_protocol_and_says_so(tiny_toml, tmp_path):
    result = run_experiment(load_experiment(tiny_toml(epochs=3, select="test")), load_registry(),
                            runs_dir=tmp_path / "runs", results_path=tmp_path / "r.csv")
    record = json.loads((result.run_dir / "record.json").read_text())
    scores = {e["epoch"]: e["metrics"]["map"] for e in record["evaluations"]}
    assert {e["split"] for e in record["evaluations"]} == {"test"} and len(scores) == 3
    assert result.epoch == max(scores, key=scores.get)
    assert result.metrics["map"] == pytest.approx(max(scores.values()), abs=1e-12)
    table = read_results(tmp_path / "r.csv")
    assert set(table["selection"]) == {"best_test:map"} and set(table["epoch"]) == {result.epoch}
