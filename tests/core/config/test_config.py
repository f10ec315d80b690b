"""hashbench.config: TOML experiments -> validated Experiment; errors, ${VAR}, --set overrides, hashing."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from hashbench.config import (DEFAULT_METRICS, EvalConfig, Experiment, OptimizerConfig, TrainConfig,
                              apply_overrides, experiment_from_dict, load_experiment, parse_override)
from hashbench.errors import ConfigError

REPO = ROOT

BASE = """\
name = "exp"
[dataset]
name = "moving_digits"
[backbone]
name = "r3d18"
[head]
name = "tanh"
bits = 48
[loss]
name = "batch_all_triplet"
margin = 14
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, overrides=(), name: str = "exp.toml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        load_experiment(path, overrides)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    assert message.startswith(str(path)), message
    return message


# ------------------------------------------------------------------------------------------------
# loading and defaults
# ------------------------------------------------------------------------------------------------
def test_minimal_file_gets_every_default(tmp_path):
    path = write(tmp_path, BASE)
    exp = load_experiment(path)
    assert (exp.name, exp.seed, exp.device, exp.label, exp.source) == ("exp", 0, "auto", None, path)
    assert exp.dataset == {"name": "moving_digits"}
    assert exp.head == {"name": "tanh", "bits": 48}
    assert exp.loss == {"name": "batch_all_triplet", "margin": 14}
    assert exp.train == TrainConfig()
    t = exp.train
    assert (t.epochs, t.batch_size, t.amp, t.eval_every, t.num_workers, t.skip_zero_loss, t.grad_clip) == \
        (10, 32, True, 5, 0, True, None)
    assert t.optimizer.kwargs() == {"lr": 1e-4, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
    assert t.optimizer.torch_name == "SGD"
    assert t.scheduler.name == "none" and t.scheduler.torch_name is None and t.scheduler.kwargs() == {}
    assert exp.eval == EvalConfig()
    assert exp.eval.metrics == list(DEFAULT_METRICS) == ["map", "map@100", "map_tie", "precision@100"]
    assert (exp.eval.select, exp.eval.val_fraction, exp.eval.select_metric, exp.eval.batch_size) == \
        ("last", 0.1, None, None)
    assert exp.sweep == {}
    assert exp.method == "r3d18+tanh+batch_all_triplet"


def test_name_defaults_to_file_stem_and_label_sets_method(tmp_path):
    text = BASE.replace('name = "exp"\n', 'label = "ours (48b)"\n')
    exp = load_experiment(write(tmp_path, text, "ucf_48bit.toml"))
    assert exp.name == "ucf_48bit"
    assert exp.label == "ours (48b)" and exp.method == "ours (48b)"


def test_design_example_with_env_and_full_train_section(tmp_path, monkeypatch):
    monkeypatch.setenv("HASHBENCH_DATA", "/data/sets")
    monkeypatch.setenv("HASHBENCH_WEIGHTS", "/w")
    text = """\
name = "ucf101-r3d18-48bit"
seed = 7
device = "cuda:1"
[dataset]
name = "ucf101"
root = "${HASHBENCH_DATA}/UCF-101"
split = 1
num_frames = 32
[backbone]
name = "r3d18"
pretrained = "${HASHBENCH_WEIGHTS}/resnet-18-kinetics.pth"
[head]
name = "tanh"
bits = 48
[loss]
name = "batch_all_triplet"
margin = 14
[train]
epochs = 160
batch_size = 120
optimizer = { name = "sgd", lr = 1e-4, momentum = 0.9, weight_decay = 5e-4, nesterov = true }
scheduler = { name = "step", step_size = 40, gamma = 0.1 }
amp = false
eval_every = 5
num_workers = 4
skip_zero_loss = false
grad_clip = 10
[eval]
metrics = ["map", "map@100", { name = "precision@r", r = 2, label = "p@r2" }]
select = "val"
val_fraction = 0.2
batch_size = 256
"""
    exp = load_experiment(write(tmp_path, text))
    assert exp.dataset == {"name": "ucf101", "root": "/data/sets/UCF-101", "split": 1, "num_frames": 32}
    assert exp.backbone["pretrained"] == "/w/resnet-18-kinetics.pth"
    assert (exp.seed, exp.device) == (7, "cuda:1")
    t = exp.train
    assert (t.epochs, t.batch_size, t.amp, t.num_workers, t.skip_zero_loss) == (160, 120, False, 4, False)
    assert t.grad_clip == 10.0 and isinstance(t.grad_clip, float)
    assert t.optimizer.params == {"lr": 1e-4, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": True}
    assert t.scheduler.kwargs() == {"step_size": 40, "gamma": 0.1} == t.scheduler.params
    assert t.scheduler.torch_name == "StepLR"
    assert exp.eval.metric_labels == ["map", "map@100", "p@r2"]
    assert exp.eval.select_metric == "map"  # the first metric when select = "val"
    assert (exp.eval.val_fraction, exp.eval.batch_size) == (0.2, 256)


def test_adam_adamw_defaults_and_shorthands(tmp_path):
    exp = load_experiment(write(tmp_path, BASE + '[train]\noptimizer = "adam"\nscheduler = "cosine"\nepochs = 7\n'))
    opt = exp.train.optimizer
    assert opt.kwargs() == {"lr": 1e-4, "betas": (0.9, 0.999), "weight_decay": 0.0, "eps": 1e-8}
    assert opt.momentum is None and opt.nesterov is None and opt.torch_name == "Adam"
    assert exp.train.scheduler.kwargs() == {"T_max": 7, "eta_min": 0.0}  # t_max defaults to epochs
    exp = load_experiment(write(tmp_path, BASE + '[train]\noptimizer = { name = "adamw", betas = [0.5, 0.9] }\n'))
    assert exp.train.optimizer.kwargs() == {"lr": 1e-4, "betas": (0.5, 0.9), "weight_decay": 0.01, "eps": 1e-8}


def test_every_experiment_in_the_repo_loads(monkeypatch):
    monkeypatch.setenv("HASHBENCH_DATA", "/data")
    monkeypatch.setenv("HASHBENCH_WEIGHTS", "/weights")
    files = sorted((REPO / "experiments").glob("*.toml"))
    assert REPO / "experiments" / "demo.toml" in files
    for path in files:
        exp = load_experiment(path)
        assert exp.name and exp.dataset["name"] and len(exp.config_hash()) == 16


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------
def test_toml_syntax_error_gives_file_line_column(tmp_path):
    message = error_of(tmp_path, BASE + "[train]\nepochs = = 3\n")
    line = BASE.count("\n") + 2
    assert re.match(rf"^{re.escape(str(tmp_path / 'exp.toml'))}:{line}:10: TOML syntax error: Invalid value$",
                    message), message
    message = error_of(tmp_path, BASE + "[train]\nepochs 3\n")
    assert f"exp.toml:{line}:8: TOML syntax error: Expected '=' after a key" in message


def test_toml_syntax_error_at_end_of_file(tmp_path):
    message = error_of(tmp_path, BASE + "[eval]\nmetrics = [\"map\",\n")
    line = BASE.count("\n") + 3
    assert f"exp.toml:{line}:1: TOML syntax error:" in message and "end of file" in message


def test_not_utf8_and_missing_file_and_directory(tmp_path):
    bad = tmp_path / "latin.toml"
    bad.write_bytes(BASE.encode() + b'label = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin\.toml: not UTF-8"):
        load_experiment(bad)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(tmp_path / 'nope.toml'))}: no such experiment file$"):
        load_experiment(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_experiment(tmp_path)


def test_unknown_top_level_table_and_key_suggest(tmp_path):
    message = error_of(tmp_path, BASE + "[trian]\nepochs = 3\n")
    assert "unknown table [trian] (did you mean [train]?)" in message
    message = error_of(tmp_path, "sed = 3\n" + BASE)
    assert "unknown top-level key sed (did you mean 'seed'?)" in message
    message = error_of(tmp_path, BASE + "[evaluation]\n")
    assert "unknown table [evaluation] (did you mean [eval]?)" in message


def test_unknown_train_and_eval_keys_suggest(tmp_path):
    message = error_of(tmp_path, BASE + "[train]\nepoch = 3\n")
    assert "unknown key train.epoch (did you mean 'epochs'?)" in message and "allowed in [train]:" in message
    message = error_of(tmp_path, BASE + '[eval]\nmetric = ["map"]\n')
    assert "unknown key eval.metric (did you mean 'metrics'?)" in message


def test_optimizer_and_scheduler_keys_depend_on_their_name(tmp_path):
    message = error_of(tmp_path, BASE + '[train]\noptimizer = { name = "sgd", betas = [0.9, 0.99] }\n')
    assert "unknown key train.optimizer.betas for optimizer 'sgd' (it is a key of adam and adamw)" in message
    message = error_of(tmp_path, BASE + '[train]\noptimizer = { name = "adam", momentun = 0.9 }\n')
    assert "train.optimizer.momentun" in message and "allowed: name, lr, betas, weight_decay, eps" in message
    message = error_of(tmp_path, BASE + '[train]\noptimizer = { name = "sgd", lr = 0.1, momentun = 0.9 }\n')
    assert "(did you mean 'momentum'?)" in message
    message = error_of(tmp_path, BASE + '[train]\noptimizer = { name = "adma" }\n')
    assert "train.optimizer.name: must be one of 'sgd', 'adam', 'adamw', got 'adma' (did you mean 'adam'?)" in message
    message = error_of(tmp_path, BASE + '[train]\nscheduler = { name = "cosine", step_size = 3 }\n')
    assert "train.scheduler.step_size for scheduler 'cosine' (it is a key of step)" in message
    message = error_of(tmp_path, BASE + '[train]\nscheduler = { name = "step" }\n')
    assert "train.scheduler: the step scheduler needs step_size" in message
    message = error_of(tmp_path, BASE + '[train]\noptimizer = { name = "sgd", momentum = 0, nesterov = true }\n')
    assert "train.optimizer.nesterov: needs momentum > 0" in message


@pytest.mark.parametrize("snippet, expected", [
    ("[train]\nepochs = 0", "train.epochs: must be >= 1, got 0"),
    ('[train]\nepochs = "3"', "train.epochs: expected an integer, got '3' (string)"),
    ("[train]\nepochs = true", "train.epochs: expected an integer, got True (boolean)"),
    ("[train]\nbatch_size = 1.5", "train.batch_size: expected an integer, got 1.5 (float)"),
    ("[train]\noptimizer = { lr = -0.1 }", "train.optimizer.lr: must be > 0, got -0.1"),
    ("[train]\noptimizer = { lr = nan }", "train.optimizer.lr: must be a finite number, got nan"),
    ("[train]\noptimizer = { momentum = 1.0 }", "train.optimizer.momentum: must be < 1, got 1"),
    ('[train]\noptimizer = { name = "adam", betas = [0.9] }', "train.optimizer.betas: expected two numbers"),
    ("[train]\namp = 1", "train.amp: expected true or false, got 1 (integer)"),
    ("[train]\nnum_workers = -1", "train.num_workers: must be >= 0, got -1"),
    ("[train]\ngrad_clip = 0", "train.grad_clip: must be > 0, got 0"),
    ("[train]\noptimizer = 3", "train.optimizer: expected a table [train.optimizer], got 3 (integer)"),
    ("[eval]\nval_fraction = 0.5", "eval.val_fraction: must be < 0.5, got 0.5"),
    ('[eval]\nselect = "best"', "eval.select: must be one of 'last', 'val', 'test', got 'best'"),
    ("[eval]\nmetrics = []", "eval.metrics: expected a non-empty array"),
    ('[eval]\nmetrics = "map"', "eval.metrics: expected a non-empty array"),
    ('[eval]\nmetrics = ["map", 3]', "eval.metrics[1]: expected a metric like"),
    ('[eval]\nmetrics = ["map", { k = 3 }]', "eval.metrics[1]: a metric table needs name"),
    ('[eval]\nmetrics = ["map", "map"]', "eval.metrics[1]: metric 'map' is listed twice"),
    ('[eval]\nselect = "val"\nselect_metric = "mAP"', "eval.select_metric: must be one of 'map', 'map@100',"),
    ("[eval]\nbatch_size = 0", "eval.batch_size: must be >= 1, got 0"),
    ("[sweep]\nseed = 3", 'sweep."seed": expected a non-empty array of values, got 3'),
    ("[dataset.extra]\nwhen = 2024-01-01", "dataset.extra.when: dates and times are not supported"),
])
def test_wrong_types_and_ranges_name_key_and_value(tmp_path, snippet, expected):
    assert expected in error_of(tmp_path, BASE + snippet + "\n")


@pytest.mark.parametrize("top, expected", [
    ("seed = -1\n", "seed: must be >= 0, got -1"),
    ("seed = 4294967296\n", "seed: must be <= 4294967295"),
    ('device = "gpu"\n', "device: must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got 'gpu'"),
    ('label = ""\n', "label: must not be empty"),
    ("label = 3\n", "label: expected a string, got 3 (integer)"),
])
def test_wrong_top_level_values(tmp_path, top, expected):
    assert expected in error_of(tmp_path, top + BASE)


def test_bad_experiment_names(tmp_path):
    message = error_of(tmp_path, BASE.replace('name = "exp"', 'name = "../escape"'))
    assert "name: '../escape' must start with a letter or digit" in message
    assert "names the run directory" in error_of(tmp_path, BASE.replace('name = "exp"', 'name = "a b"'))
    assert "at most 200" in error_of(tmp_path, BASE.replace('name = "exp"', f'name = "{"x" * 201}"'))


def test_component_tables_need_a_name(tmp_path):
    message = error_of(tmp_path, BASE.replace('[backbone]\nname = "r3d18"\n', ""))
    assert "missing table [backbone]; add it with name = \"<backbone plugin>\"" in message
    message = error_of(tmp_path, BASE.replace('[loss]\nname = "batch_all_triplet"\n', "[loss]\n"))
    assert "[loss] has no name; set name = \"<loss plugin>\"" in message
    message = error_of(tmp_path, BASE.replace('[head]\nname = "tanh"', "[head]\nname = 5"))
    assert "head.name: expected a plugin name (string), got 5" in message
    message = error_of(tmp_path, 'head = "tanh"\n' + BASE.replace('[head]\nname = "tanh"\nbits = 48\n', ""))
    assert "head: expected a table [head], got 'tanh' (string)" in message


def test_component_parameters_are_left_to_the_registry(tmp_path):
    text = BASE.replace("bits = 48", 'bits = 48\nanything_goes = { nested = [1, "two"] }')
    exp = load_experiment(write(tmp_path, text))
    assert exp.head["anything_goes"] == {"nested": [1, "two"]}


# ------------------------------------------------------------------------------------------------
# ${VAR} expansion
# ------------------------------------------------------------------------------------------------
def test_env_expansion_set_default_empty_and_literal(tmp_path, monkeypatch):
    monkeypatch.setenv("HB_ROOT", "/mnt/videos")
    monkeypatch.setenv("HB_EMPTY", "")
    monkeypatch.delenv("HB_UNSET", raising=False)
    text = BASE.replace('name = "moving_digits"', """name = "frames"
root = "${HB_ROOT}/ucf"
cache = "${HB_UNSET:-/tmp/cache}"
other = "${HB_EMPTY:-fallback}|${HB_EMPTY}|${HB_UNSET:-}"
literal = "cost: $5, $${HB_ROOT} stays"
"${HB_ROOT}" = "keys are not expanded"
tags = ["${HB_ROOT}", { deep = "${HB_UNSET:-d}" }]""")
    exp = load_experiment(write(tmp_path, text))
    assert exp.dataset["root"] == "/mnt/videos/ucf"
    assert exp.dataset["cache"] == "/tmp/cache"
    assert exp.dataset["other"] == "fallback||"
    assert exp.dataset["literal"] == "cost: $5, ${HB_ROOT} stays"
    assert exp.dataset["${HB_ROOT}"] == "keys are not expanded"
    assert exp.dataset["tags"] == ["/mnt/videos", {"deep": "d"}]


def test_env_missing_variable_names_file_key_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HASHBENCH_DATA", raising=False)
    path = tmp_path / "experiments" / "ucf_48bit.toml"
    path.parent.mkdir()
    path.write_text(BASE.replace('name = "moving_digits"', 'name = "ucf101"\nroot = "${HASHBENCH_DATA}/UCF-101"'))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value) == (f"{path}: dataset.root uses ${{HASHBENCH_DATA}}, which is not set;"
                               " export HASHBENCH_DATA=<value> (or write ${HASHBENCH_DATA:-default})")


def test_env_malformed_references(tmp_path):
    message = error_of(tmp_path, BASE + '[eval]\nmetrics = ["map", "${OOPS"]\n')
    assert "eval.metrics[1]: unterminated ${ in '${OOPS'" in message
    message = error_of(tmp_path, BASE.replace('bits = 48', 'x = "${1BAD}"'))
    assert "head.x: bad reference ${1BAD}" in message


def test_env_expansion_is_not_evaluation(tmp_path, monkeypatch):
    monkeypatch.setenv("HB_CODE", "__import__('os').getcwd()")
    exp = load_experiment(write(tmp_path, BASE.replace('bits = 48', 'note = "${HB_CODE}"')))
    assert exp.head["note"] == "__import__('os').getcwd()"


# ------------------------------------------------------------------------------------------------
# --set overrides
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, keys, value", [
    ("train.epochs=3", ["train", "epochs"], 3),
    ("train.optimizer.lr=0.01", ["train", "optimizer", "lr"], 0.01),
    ("train.optimizer.lr = 1e-3", ["train", "optimizer", "lr"], 1e-3),
    ("dataset.name=ucf101", ["dataset", "name"], "ucf101"),
    ('label="true"', ["label"], "true"),
    ("train.amp=false", ["train", "amp"], False),
    ('eval.metrics=["map"]', ["eval", "metrics"], ["map"]),
    ('train.optimizer={ name = "adam", lr = 2e-4 }', ["train", "optimizer"], {"name": "adam", "lr": 2e-4}),
    ("dataset.root=/data/a b=c", ["dataset", "root"], "/data/a b=c"),
    ('sweep."head.bits"=[16, 32]', ["sweep", "head.bits"], [16, 32]),
    ("dataset.when=2024-01-01", ["dataset", "when"], "2024-01-01"),
    ("head.note=", ["head", "note"], ""),
])
def test_parse_override(text, keys, value):
    assert parse_override(text) == (keys, value)


@pytest.mark.parametrize("text", ["train.epochs", "=3", "train..epochs=3", "a b=1", "x[0]=1"])
def test_parse_override_rejects_bad_syntax(text):
    with pytest.raises(ConfigError, match=r"^--set .*(expected KEY=VALUE|is not a dotted key)"):
        parse_override(text)


def test_overrides_of_several_types_apply_before_validation(tmp_path):
    path = write(tmp_path, BASE + "[train]\nepochs = 0\n")  # invalid as written; fixed by --set
    exp = load_experiment(path, [
        "train.epochs=3", "train.optimizer.lr=0.01", "dataset.name=ucf101", 'eval.metrics=["map"]',
        "head.bits=16", "train.amp=false", "dataset.new.deep=1.5", "seed=4",
    ])
    assert exp.train.epochs == 3 and exp.train.optimizer.lr == 0.01 and exp.train.amp is False
    assert exp.dataset == {"name": "ucf101", "new": {"deep": 1.5}}
    assert exp.eval.metrics == ["map"] and exp.head["bits"] == 16 and exp.seed == 4
    assert exp.raw["train"]["epochs"] == 3


def test_override_on_optimizer_shorthand_and_table_replacement(tmp_path):
    path = write(tmp_path, BASE + '[train]\noptimizer = "adam"\n')
    exp = load_experiment(path, ["train.optimizer.lr=0.003"])
    assert exp.train.optimizer.name == "adam" and exp.train.optimizer.lr == 0.003
    exp = load_experiment(path, ['train.optimizer={name="sgd", momentum=0.5}'])
    assert exp.train.optimizer.kwargs() == {"lr": 1e-4, "momentum": 0.5, "weight_decay": 5e-4, "nesterov": False}


def test_override_errors(tmp_path):
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError, match=r"^--set 'train.epochs': expected KEY=VALUE, e.g. --set train.epochs=3$"):
        load_experiment(path, ["train.epochs"])
    with pytest.raises(ConfigError, match=r"seed.x=1: cannot set seed.x: seed is 0, not a table"):
        load_experiment(write(tmp_path, "seed = 0\n" + BASE), ["seed.x=1"])
    with pytest.raises(ConfigError) as info:
        load_experiment(path, ["train.epochs=0"])
    assert str(info.value) == f"{path}: train.epochs: must be >= 1, got 0 (from --set train.epochs=0)"
    with pytest.raises(ConfigError) as info:
        load_experiment(path, ["train.epoch=3"])
    assert "unknown key train.epoch (did you mean 'epochs'?)" in str(info.value)
    assert str(info.value).endswith("(from --set train.epoch=3)")


def test_apply_overrides_returns_a_copy():
    doc = {"train": {"optimizer": "adam"}}
    out = apply_overrides(doc, ["train.optimizer.lr=0.5", "head.bits=8"])
    assert out == {"train": {"optimizer": {"name": "adam", "lr": 0.5}}, "head": {"bits": 8}}
    assert doc == {"train": {"optimizer": "adam"}}


# ------------------------------------------------------------------------------------------------
# to_dict / config_hash
# ------------------------------------------------------------------------------------------------
REORDERED = """\
[loss]
margin = 14
name = "batch_all_triplet"
[head]
bits = 48
name = "tanh"
[backbone]
name = "r3d18"
[dataset]
name = "moving_digits"
[train]
optimizer = { lr = 1e-4, name = "sgd" }
epochs = 10
"""


def test_config_hash_stable_across_key_order_and_defaults(tmp_path):
    a = load_experiment(write(tmp_path, BASE, "a.toml"))
    b = load_experiment(write(tmp_path, 'name = "exp"\n' + REORDERED, "b.toml"))
    assert a.config_hash() == b.config_hash()
    assert re.fullmatch(r"[0-9a-f]{16}", a.config_hash())
    assert a == b  # same resolved content, different files


def test_config_hash_is_sha256_of_canonical_resolved_json(tmp_path):
    exp = load_experiment(write(tmp_path, 'label = "x"\n' + BASE + "[train]\nnum_workers = 2\n"))
    data = exp.to_dict()
    for key in ("label", "sweep", "device"):
        data.pop(key, None)
    data["train"].pop("num_workers")
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert exp.config_hash() == hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_config_hash_changes_with_parameters_not_with_presentation(tmp_path):
    path = write(tmp_path, BASE)
    base = load_experiment(path).config_hash()
    for change in ["head.bits=64", "loss.margin=8", "seed=1", "train.optimizer.lr=0.001", "name=other",
                   "train.epochs=11", 'eval.metrics=["map"]', "dataset.size=64", "train.amp=false"]:
        assert load_experiment(path, [change]).config_hash() != base, change
    for same in ['label="my method"', 'device="cpu"', "train.num_workers=3", "eval.batch_size=7",
                 "train.optimizer.lr=1e-4", 'train.optimizer.name="sgd"', "train.epochs=10"]:
        assert load_experiment(path, [same]).config_hash() == base, same


def test_to_dict_round_trip_keeps_hash_and_equality(tmp_path, monkeypatch):
    monkeypatch.setenv("HB_ROOT", "/x")
    text = ('label = "L"\n' + BASE.replace('name = "moving_digits"', 'name = "moving_digits"\nroot = "${HB_ROOT}/v"')
            + '[train]\noptimizer = "adamw"\nscheduler = { name = "step", step_size = 3 }\n'
            + '[eval]\nselect = "val"\nmetrics = ["map", { name = "map@k", k = 5, label = "m5" }]\n'
            + '[sweep]\nseed = [0, 1]\n')
    exp = load_experiment(write(tmp_path, text))
    data = exp.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data  # JSON-serialisable
    assert "null" not in json.dumps(data)  # unset optional keys are left out, not None
    assert data["label"] == "L" and data["dataset"]["root"] == "/x/v"
    assert data["train"]["optimizer"] == {"name": "adamw", "lr": 1e-4, "betas": [0.9, 0.999],
                                          "weight_decay": 0.01, "eps": 1e-8}
    assert data["eval"]["select_metric"] == "map" and data["sweep"] == {"seed": [0, 1]}
    again = experiment_from_dict(json.loads(json.dumps(data)), source="config.json", expand=False)
    assert again == exp and again.config_hash() == exp.config_hash() and again.to_dict() == data
    # and through a TOML file written from the resolved dict
    assert load_experiment(write(tmp_path, json_to_toml(data), "resolved.toml")).to_dict() == data


def test_resolved_documents_are_not_expanded_twice():
    doc = {"name": "e", "dataset": {"name": "d", "root": "${NOT_A_VAR}"}, "backbone": {"name": "b"},
           "head": {"name": "h"}, "loss": {"name": "l"}}
    assert experiment_from_dict(doc, expand=False).dataset["root"] == "${NOT_A_VAR}"
    with pytest.raises(ConfigError, match=r"^<experiment>: dataset.root uses \$\{NOT_A_VAR\}"):
        experiment_from_dict(doc, environ={})


def json_to_toml(data: dict) -> str:
    """Tiny TOML writer for the round-trip test (strings, numbers, bools, arrays, nested tables)."""
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v)
    return "\n".join(f"{json.dumps(k)} = {value(v)}" for k, v in data.items()) + "\n"


def test_experiment_is_frozen(tmp_path):
    exp = load_experiment(write(tmp_path, BASE))
    with pytest.raises(Exception):
        exp.seed = 3  # type: ignore[misc]
    assert isinstance(exp, Experiment) and isinstance(exp.train.optimizer, OptimizerConfig)


def test_cli_prints_config_errors_verbatim_on_one_line(tmp_path):
    """Through the real console script: exit 2, one line, TOML table brackets not eaten as markup."""
    path = write(tmp_path, BASE + "[trian]\nepochs = 3\n")
    script = Path(sys.executable).with_name("hashbench")
    proc = subprocess.run([str(script), "validate", str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "60"})
    assert proc.returncode == 2
    assert proc.stderr == (f"error: {path}: unknown table [trian] (did you mean [train]?); tables are [dataset],"
                           " [backbone], [head], [loss], [method], [train], [eval], [sweep], [launcher]\n")
    assert proc.stdout == ""


# -- --unset and switching a plugin by name ---------------------------------------------------------------
def test_unset_removes_keys_and_tables_before_overrides(tmp_path):
    path = write(tmp_path, BASE)
    exp = load_experiment(path, ["loss.margin=9"], ["loss.margin"])
    assert exp.loss["margin"] == 9  # unset first, then set
    exp = load_experiment(path, [], ["loss.margin"])
    assert "margin" not in exp.loss
    with pytest.raises(ConfigError, match=r"--unset backbone\.pretrained: the experiment has no key backbone\.pretrained"):
        load_experiment(path, [], ["backbone.pretrained"])
    with pytest.raises(ConfigError, match=r"--unset loss\.name: a \[loss\] table needs its name"):
        load_experiment(path, [], ["loss.name"])
    with pytest.raises(ConfigError, match=r"--unset 'a\.\.b'"):
        load_experiment(path, [], ["a..b"])


def test_setting_another_plugin_name_drops_the_old_plugins_keys(tmp_path):
    path = write(tmp_path, BASE)
    exp = load_experiment(path, ["loss.name=csq", "loss.lam=0.1"])
    assert exp.loss == {"name": "csq", "lam": 0.1}
    same = load_experiment(path, ["loss.name=batch_all_triplet"])  # the same plugin keeps its keys
    assert same.loss == load_experiment(path).loss and "margin" in same.loss


def test_batch_size_of_one_is_refused(tmp_path):
    assert "train.batch_size: must be >= 2" in error_of(tmp_path, BASE + "[train]\nbatch_size = 1\n")
