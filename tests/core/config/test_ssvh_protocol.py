"""``[eval] protocol = "ssvh"``: the SSVH papers' seven map_over_k@K metrics as one key; include_self resolved
from the built dataset; the default ("none") changes no config hash or identity; bad values are one line."""
from __future__ import annotations

import pytest
import torch
from support import ROOT, run_cli

import hashbench
from hashbench.config import experiment_from_dict, load_experiment
from hashbench.errors import ConfigError
from hashbench.results.identity import experiment_identity
from hashbench.run.build import build_components

SSVH_LABELS = [f"map_over_k@{k}" for k in (5, 10, 20, 40, 60, 80, 100)]
FEATURES = ROOT / "experiments" / "features"
SMALL = dict(num_frames=6, feature_dim=16, clips_per_class=6, queries_per_class=3, seed=0)


def _doc(**eval_table):
    return {"name": "x", "dataset": {"name": "moving_digits"}, "backbone": {"name": "r3d18"},
            "head": {"name": "tanh", "bits": 16}, "loss": {"name": "dsh"}, "eval": eval_table}


def test_protocol_alone_gives_the_seven_labels_and_round_trips():
    experiment = experiment_from_dict(_doc(protocol="ssvh", select="test"))
    assert experiment.eval.metric_labels == SSVH_LABELS
    assert experiment.eval.metrics == []
    assert experiment.eval.select_metric == "map_over_k@5"  # the first metric, the protocol's
    assert experiment_from_dict(experiment.to_dict()) == experiment


def test_protocol_metrics_come_before_the_listed_ones():
    experiment = experiment_from_dict(_doc(protocol="ssvh", metrics=["map", "map@100"], select_metric="map"))
    assert experiment.eval.metric_labels == SSVH_LABELS + ["map", "map@100"]
    specs = experiment.eval.metric_specs(include_self=True)
    assert specs[0] == {"name": "map_over_k@k", "k": 5, "label": "map_over_k@5", "include_self": True}
    assert specs[-2:] == ["map", "map@100"]
    assert "include_self" not in experiment.eval.metric_specs()[6]


def test_the_default_protocol_changes_no_hash_and_no_identity():
    registry = hashbench.registry()
    plain = experiment_from_dict(_doc())
    explicit = experiment_from_dict(_doc(protocol="none"))
    assert "protocol" not in plain.to_dict()["eval"] and explicit == plain
    assert explicit.config_hash() == plain.config_hash()
    assert experiment_identity(explicit, registry) == experiment_identity(plain, registry)
    ssvh = experiment_from_dict(_doc(protocol="ssvh"))
    assert ssvh.config_hash() != plain.config_hash()  # what is computed is part of the config hash ...
    assert experiment_identity(ssvh, registry) == experiment_identity(plain, registry)  # ... not of the identity


@pytest.mark.parametrize("eval_table, words", [
    ({"protocol": "ssvh", "metrics": ["map_over_k@5"]}, ["eval.metrics[0]", "already added by protocol = 'ssvh'"]),
    ({"protocol": "bth"}, ["eval.protocol", "bth", "ssvh"]),
    ({"protocol": "none", "metrics": []}, ["eval.metrics", "non-empty"]),
])
def test_bad_protocol_settings_are_one_clear_error(eval_table, words):
    with pytest.raises(ConfigError) as info:
        experiment_from_dict(_doc(**eval_table))
    message = str(info.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_validate_cli_refuses_an_unknown_protocol_in_one_line(tmp_path):
    proc = run_cli("validate", str(FEATURES / "moving_digits_features_itq.toml"), "--set", 'eval.protocol="sssvh"',
                   cwd=tmp_path, env={"HASHBENCH_CACHE": str(tmp_path / "cache")})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "eval.protocol" in lines[0] and "sssvh" in lines[0]


@pytest.mark.parametrize("experiment, layout, include_self", [("fcvid_itq.toml", "fcvid", True),
                                                              ("activitynet_itq.toml", "activitynet", None)])
def test_include_self_follows_whether_query_and_database_are_the_same_rows(tmp_path, monkeypatch, experiment,
                                                                           layout, include_self):
    from hashbench_ref.datasets.moving_digits_features import (generate_features, write_activitynet_layout,
                                                               write_fcvid_layout)

    writer = write_fcvid_layout if layout == "fcvid" else write_activitynet_layout
    writer(tmp_path / layout, generate_features(**SMALL))
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path))
    loaded = load_experiment(FEATURES / experiment)
    assert loaded.eval.protocol == "ssvh" and loaded.eval.metrics == []
    built = build_components(loaded, hashbench.registry(), torch.device("cpu"))
    assert [label for label, _ in built.metrics] == SSVH_LABELS
    assert [metric.include_self for _, metric in built.metrics] == [include_self] * len(SSVH_LABELS)
