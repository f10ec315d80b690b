"""The original repo's timing, expressible: ``scheduler.at = "epoch_start"`` (StepLR stepped before each
epoch, as scripts for PyTorch < 1.1 did) and ``train.eval_first`` (evaluate after epochs F, F + every, ...),
on real tiny runs; both default to the usual behaviour and leave config hashes of older files alone."""
from __future__ import annotations

import json

import pytest

from support import tiny_experiment_text
from hashbench.config import load_experiment
from hashbench.contract import load_registry
from hashbench.errors import ConfigError
from hashbench.run import run_experiment


def _run(tmp_path, name, scheduler, extra=""):
    text = tiny_experiment_text(name=name, epochs=4, metrics='["map"]').replace(
        "eval_every = 1", f"eval_every = 2\nscheduler = {scheduler}\n{extra}")
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    experiment = load_experiment(path)
    result = run_experiment(experiment, load_registry(), runs_dir=tmp_path / "runs", results_path=None)
    return experiment, json.loads((result.run_dir / "record.json").read_text())


def test_step_at_epoch_start_runs_one_epoch_less_at_each_rate(tmp_path):
    _, after = _run(tmp_path, "after", '{ name = "step", step_size = 2, gamma = 0.1 }')
    exp, before = _run(tmp_path, "before", '{ name = "step", step_size = 2, gamma = 0.1, at = "epoch_start" }')
    assert [e["lr"] for e in after["epochs"]] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    assert [e["lr"] for e in before["epochs"]] == pytest.approx([1e-3, 1e-4, 1e-4, 1e-5])
    assert exp.train.scheduler.at == "epoch_start"
    assert [e["epoch"] for e in after["evaluations"]] == [2, 4]  # every 2 epochs and the last


def test_eval_first_evaluates_exactly_the_original_epochs(tmp_path):
    exp, record = _run(tmp_path, "first", '{ name = "none" }', "eval_first = 1")
    assert [e["epoch"] for e in record["evaluations"]] == [1, 3]  # 1, 1 + 2; not the last epoch
    assert [e for e in range(1, 5) if exp.train.evaluates_after(e)] == [1, 3]
    original = exp.train.__class__(epochs=160, eval_every=5, eval_first=1)
    assert [e for e in range(1, 161) if original.evaluates_after(e)] == list(range(1, 157, 5))


def test_defaults_keep_the_config_hash_and_bad_values_are_one_line(tmp_path):
    plain = tmp_path / "plain.toml"
    plain.write_text(tiny_experiment_text(name="p").replace("eval_every = 1",
                                                            'eval_every = 1\nscheduler = { name = "step", step_size = 2 }'))
    explicit = tmp_path / "explicit.toml"
    explicit.write_text(plain.read_text().replace("step_size = 2 }", 'step_size = 2, at = "epoch_end" }'))
    assert load_experiment(plain).config_hash() == load_experiment(explicit).config_hash()
    bad = tmp_path / "bad.toml"
    bad.write_text(plain.read_text().replace("step_size = 2 }", 'step_size = 2, at = "start" }'))
    with pytest.raises(ConfigError, match=r"train.scheduler.at: must be one of 'epoch_end', 'epoch_start', got 'start'"):
        load_experiment(bad)
    late = tmp_path / "late.toml"
    late.write_text(tiny_experiment_text(name="l", epochs=2).replace("eval_every = 1", "eval_every = 1\neval_first = 3"))
    with pytest.raises(ConfigError, match=r"train.eval_first"):
        load_experiment(late)
