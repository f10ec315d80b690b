"""hashbench.train.optim: optimizer and scheduler built from the validated config (one name map)."""
from __future__ import annotations

import pytest
import torch

from hashbench.config import OptimizerConfig, SchedulerConfig, experiment_from_dict
from hashbench.config.schema import OPTIMIZERS, SCHEDULERS
from hashbench.errors import ConfigError
from hashbench.train.optim import make_optimizer, make_scheduler

BASE = {"name": "x", "dataset": {"name": "d"}, "backbone": {"name": "b"}, "head": {"name": "h"}, "loss": {"name": "l"}}


def train_config(**train):
    return experiment_from_dict({**BASE, "train": train}).train


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_each_optimizer_name_builds_its_torch_class_with_the_validated_values(name, cls):
    model = torch.nn.Linear(2, 2)
    model.bias.requires_grad_(False)
    config = train_config(optimizer={"name": name, "lr": 0.01}).optimizer
    optimizer = make_optimizer(model, config)
    assert type(optimizer) is cls and optimizer.defaults["lr"] == 0.01
    assert len(optimizer.param_groups[0]["params"]) == 1  # trainable parameters only
    for key, default in OPTIMIZERS[name][1].items():
        assert optimizer.defaults[key] == (tuple(default) if key == "betas" else default)


def test_schedulers_follow_the_config_and_step_needs_its_step_size():
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    assert make_scheduler(optimizer, SchedulerConfig()) is None
    step = make_scheduler(optimizer, train_config(scheduler={"name": "step", "step_size": 3, "gamma": 0.5}).scheduler)
    assert isinstance(step, torch.optim.lr_scheduler.StepLR) and (step.step_size, step.gamma) == (3, 0.5)
    cosine = make_scheduler(optimizer, train_config(epochs=7, scheduler="cosine").scheduler)
    assert isinstance(cosine, torch.optim.lr_scheduler.CosineAnnealingLR) and cosine.T_max == 7
    with pytest.raises(ConfigError, match="the step scheduler needs step_size"):
        train_config(scheduler="step")  # no silent default of 40 epochs
    assert set(SCHEDULERS) == {"none", "step", "cosine"} and OptimizerConfig().torch_name == "SGD"
