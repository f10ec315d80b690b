"""hashbench.run.validation: the dry check of an experiment — every component built, a batch forward and
backward through the contract checks, no training, nothing written."""
from __future__ import annotations

import tomllib

import pytest

import hashbench
from support import tiny_experiment_text
from hashbench.config import experiment_from_dict
from hashbench.contract import Component, load_registry
from hashbench.errors import ConfigError, ContractError
from hashbench.run.validation import validate_experiment


def experiment(**changes):
    doc = tomllib.loads(tiny_experiment_text())
    for key, value in changes.items():
        table, name = key.split("__")
        doc[table][name] = value
    return experiment_from_dict(doc)


def test_the_report_names_every_component(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = validate_experiment(experiment(), hashbench.registry())
    assert set(report) == {"dataset", "model", "loss", "metrics"}
    assert report["dataset"].startswith("moving_digits: 48 train / 24 query / 48 database clips, 8 classes")
    assert "codes (16,)" in report["model"] and "gradient norm" in report["loss"]
    assert report["metrics"] == "map, map@10, map_tie"
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_problems_are_one_line_errors():
    with pytest.raises(ConfigError, match="head.bits: expected an integer code length"):
        validate_experiment(experiment(head__bits=0), hashbench.registry())
    import torch

    reg = load_registry()

    class Wide(torch.nn.Module):
        feature_dim = 8
        input_mean, input_std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)

        def forward(self, clips):
            return torch.zeros(clips.shape[0], 9)

    reg.components["backbone"]["wide"] = Component("backbone", "wide", lambda: Wide(), "tests", "0")
    with pytest.raises(ContractError, match=r"backbone 'wide' \(tests 0\) returned \(6, 9\).*\(6, 8\)"):
        validate_experiment(experiment_from_dict({**experiment().to_dict(), "backbone": {"name": "wide"}}), reg)
