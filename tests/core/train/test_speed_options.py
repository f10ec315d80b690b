"""train.channels_last_3d, train.pin_memory, train.compile: validated keys that run (the speed they buy
is measured by benchmarks/gpu_check.sh on a GPU). On the CPU channels-last changes only the memory
layout, and with it the convolutions' summation order: the first step's loss agrees to float precision
(the tiny triplet run amplifies such differences over its steps, so its metrics are not compared)."""
from __future__ import annotations

import json

import pytest
import torch
from support import tiny_experiment_text

from hashbench.config import load_experiment
from hashbench.contract import load_registry
from hashbench.errors import ConfigError
from hashbench.run import run_experiment


def toml(tmp_path, extra: str = ""):
    path = tmp_path / "exp.toml"
    text = tiny_experiment_text(epochs=1, num_frames=4, backbone='name = "r3d18"\nwidth = 4')
    path.write_text(text.replace("[train]\n", "[train]\n" + extra))
    return path


def test_channels_last_3d_and_pinned_memory_train(tmp_path, monkeypatch):
    losses = {}
    for name, extra in (("plain", ""), ("fast", "channels_last_3d = true\npin_memory = true\n")):
        monkeypatch.setenv("HASHBENCH_STEP_LOG", str(tmp_path / f"{name}.jsonl"))
        result = run_experiment(load_experiment(toml(tmp_path, extra)), load_registry(), runs_dir=tmp_path / name,
                                results_path=None)
        assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
        losses[name] = json.loads((tmp_path / f"{name}.jsonl").read_text().splitlines()[0])["loss"]
    assert losses["fast"] == pytest.approx(losses["plain"], rel=1e-5)


def test_the_speed_keys_are_checked_and_only_non_defaults_enter_the_config_hash(tmp_path):
    base = load_experiment(toml(tmp_path)).config_hash()
    assert load_experiment(toml(tmp_path, "compile = false\nchannels_last_3d = false\n")).config_hash() == base
    assert load_experiment(toml(tmp_path, "pin_memory = false\n")).config_hash() == base  # placement only
    assert load_experiment(toml(tmp_path, "compile = true\n")).config_hash() != base
    with pytest.raises(ConfigError, match="train.compile"):
        load_experiment(toml(tmp_path, 'compile = "yes"\n'))
    with pytest.raises(ConfigError, match="train.loss_scope"):
        load_experiment(toml(tmp_path, 'loss_scope = "node"\n'))


@pytest.mark.gpu
def test_torch_compile_trains_on_cuda(tmp_path):
    """torch.compile of r3d18 takes about a minute on two CPU cores: checked where a GPU is."""
    path = toml(tmp_path, "compile = true\n")
    path.write_text(path.read_text().replace('device = "cpu"', 'device = "cuda"'))
    result = run_experiment(load_experiment(path), load_registry(), runs_dir=tmp_path / "c", results_path=None)
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())


def test_distributed_keys_enter_the_identity_only_when_set_and_placement_never(tmp_path):
    from hashbench.results.identity import experiment_identity

    registry = load_registry()
    base = experiment_identity(load_experiment(toml(tmp_path)), registry)
    defaults = experiment_identity(load_experiment(toml(tmp_path, 'sync_bn = false\nloss_scope = "global"\n'
                                                             "accumulate_steps = 1\npin_memory = true\n")), registry)
    assert defaults == base  # the same experiment on any number of processes, with the default keys
    changed = experiment_identity(load_experiment(toml(tmp_path, 'sync_bn = true\nloss_scope = "rank"\n'
                                                            "accumulate_steps = 2\n")), registry)
    assert {k: v for k, v in changed.items() if k not in base} == {
        "train.sync_bn": True, "train.loss_scope": "rank", "train.accumulate_steps": 2}
