"""hashbench.config.sweep: [sweep] tables -> a deterministic, validated, distinctly named grid of experiments."""
from __future__ import annotations

import json

import itertools
import re
from pathlib import Path

import pytest

from hashbench.config import expand_sweep, experiment_from_dict, load_experiment
from hashbench.errors import ConfigError
from hashbench.config import point_names

BASE = """\
name = "demo"
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
[train]
optimizer = { name = "sgd", lr = 0.01, momentum = 0.8 }
"""


def load(tmp_path: Path, sweep: str, overrides=(), base: str = BASE):
    path = tmp_path / "demo.toml"
    path.write_text(base + "[sweep]\n" + sweep, encoding="utf-8")
    return load_experiment(path, overrides)


def sweep_error(tmp_path: Path, sweep: str, expand: bool = False) -> str:
    with pytest.raises(ConfigError) as info:
        exp = load(tmp_path, sweep)
        if expand:
            expand_sweep(exp)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "demo.toml")) and "\n" not in message
    return message


def test_grid_size_order_names_and_values(tmp_path):
    exp = load(tmp_path, '"head.bits" = [16, 32, 48, 64]\n"loss.margin" = [8, 14]\nseed = [0, 1, 2]\n')
    assert exp.sweep == {"head.bits": [16, 32, 48, 64], "loss.margin": [8, 14], "seed": [0, 1, 2]}
    points = expand_sweep(exp)
    assert len(points) == 24
    expected = list(itertools.product([16, 32, 48, 64], [8, 14], [0, 1, 2]))  # last key fastest
    assert [(p.head["bits"], p.loss["margin"], p.seed) for p in points] == expected
    assert points[0].name == "demo@bits=16,margin=8,seed=0"
    assert points[1].name == "demo@bits=16,margin=8,seed=1"
    assert points[-1].name == "demo@bits=64,margin=14,seed=2"
    assert len({p.name for p in points}) == 24
    assert len({p.config_hash() for p in points}) == 24
    for p in points:
        assert p.sweep == {} and p.to_dict()["sweep"] == {}
        assert p.head["name"] == "tanh" and p.train.optimizer.lr == 0.01  # the rest is the base
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+=,@-]*", p.name)
        assert p.source == exp.source
        assert expand_sweep(p) == [p]  # a point is a plain experiment


def test_expansion_is_deterministic_and_points_round_trip(tmp_path):
    exp = load(tmp_path, '"head.bits" = [16, 32]\n"train.optimizer.lr" = [0.1, 1e-05]\n')
    first, second = expand_sweep(exp), expand_sweep(load(tmp_path, '"head.bits" = [16, 32]\n'
                                                               '"train.optimizer.lr" = [0.1, 1e-05]\n'))
    assert [p.config_hash() for p in first] == [p.config_hash() for p in second]
    assert [p.name for p in first] == ["demo@bits=16,lr=0.1", "demo@bits=16,lr=1e-05",
                                       "demo@bits=32,lr=0.1", "demo@bits=32,lr=1e-05"]
    for p in first:
        again = experiment_from_dict(p.to_dict(), expand=False)
        assert again == p and again.config_hash() == p.config_hash()


def test_no_sweep_expands_to_itself(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text(BASE)
    exp = load_experiment(path)
    assert expand_sweep(exp) == [exp] and expand_sweep(exp)[0] is exp


def test_nested_table_syntax_equals_quoted_dotted_keys(tmp_path):
    quoted = load(tmp_path, '"head.bits" = [16, 32]\n"loss.margin" = [8]\n')
    nested = load(tmp_path, "head.bits = [16, 32]\n[sweep.loss]\nmargin = [8]\n")
    assert quoted.sweep == nested.sweep == {"head.bits": [16, 32], "loss.margin": [8]}
    assert [p.name for p in expand_sweep(quoted)] == [p.name for p in expand_sweep(nested)]


def test_ambiguous_short_keys_use_the_full_path(tmp_path):
    exp = load(tmp_path, '"dataset.num_frames" = [8, 16]\n"backbone.num_frames" = [8]\n"head.bits" = [16]\n')
    assert [p.name for p in expand_sweep(exp)] == [
        "demo@dataset.num_frames=8,backbone.num_frames=8,bits=16",
        "demo@dataset.num_frames=16,backbone.num_frames=8,bits=16",
    ]
    assert [p.dataset["num_frames"] for p in expand_sweep(exp)] == [8, 16]  # created where missing


def test_value_formatting_is_filesystem_safe_and_distinct(tmp_path):
    exp = load(tmp_path, '"dataset.root" = ["/data/a b", "/data/a:b", "C:\\\\x"]\n'
                         '"train.amp" = [true, false]\n')
    names = [p.name for p in expand_sweep(exp)]
    assert names[:2] == ["demo@root=_data_a_b_0,amp=true", "demo@root=_data_a_b_0,amp=false"]
    assert names[2] == "demo@root=_data_a_b_1,amp=true" and names[4] == "demo@root=C__x_2,amp=true"
    assert [p.dataset["root"] for p in expand_sweep(exp)][::2] == ["/data/a b", "/data/a:b", "C:\\x"]
    for name in names:  # really creatable as directories
        (tmp_path / "runs" / name).mkdir(parents=True)
    assert len(list((tmp_path / "runs").iterdir())) == 6


def test_swept_tables_replace_the_whole_table(tmp_path):
    exp = load(tmp_path, '"train.optimizer" = [{ name = "sgd" }, { name = "adam", lr = 1e-3 }]\n')
    sgd, adam = expand_sweep(exp)
    assert (sgd.name, adam.name) == ("demo@optimizer=sgd", "demo@optimizer=adam")
    assert sgd.train.optimizer.kwargs() == {"lr": 1e-4, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
    assert adam.train.optimizer.kwargs() == {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.0, "eps": 1e-8}
    # tables without a name and arrays: compact JSON, made safe; positions added only if needed
    assert point_names({"head": [{"bits": 1}, {"bits": 2}]}) == ["head=__bits__1_", "head=__bits__2_"]
    assert point_names({"x": [[1, 2], "[1,2]"]}) == ["x=_1_2__0", "x=_1_2__1"]
    assert point_names({"x": ["a/b", "a:b"]}) == ["x=a_b_0", "x=a_b_1"]


def test_sweeping_the_optimizer_name_starts_from_the_file_not_resolved_defaults(tmp_path):
    base = BASE.replace('optimizer = { name = "sgd", lr = 0.01, momentum = 0.8 }', 'optimizer = { lr = 0.01 }')
    sgd, adam = expand_sweep(load(tmp_path, '"train.optimizer.name" = ["sgd", "adam"]\n', base=base))
    assert sgd.train.optimizer.momentum == 0.9
    assert adam.train.optimizer.momentum is None and adam.train.optimizer.lr == 0.01


def test_overrides_apply_to_the_base_and_can_replace_the_sweep(tmp_path):
    exp = load(tmp_path, '"head.bits" = [16, 32]\n', ["loss.margin=3", 'sweep."head.bits"=[8]'])
    (point,) = expand_sweep(exp)
    assert point.name == "demo@bits=8" and point.loss["margin"] == 3 and point.head["bits"] == 8


def test_point_validation_errors_name_the_point(tmp_path):
    message = sweep_error(tmp_path, '"train.epochs" = [2, 0]\n', expand=True)
    assert message.endswith("train.epochs: must be >= 1, got 0 (sweep point epochs=0)")
    message = sweep_error(tmp_path, '"train.optimizer.name" = ["adam"]\n', expand=True)
    assert "unknown key train.optimizer.momentum for optimizer 'adam'" in message
    assert message.endswith("(sweep point name=adam)")
    message = sweep_error(tmp_path, '"seed.x" = [1]\n')
    assert 'sweep."seed.x": seed is a single value, not a table' in message
    message = sweep_error(tmp_path, '"head.bits.x" = [1]\n', expand=True)
    assert "cannot set head.bits.x: head.bits is 48, not a table" in message


@pytest.mark.parametrize("sweep, expected", [
    ('"head.bits" = []\n', 'sweep."head.bits": expected a non-empty array of values, got []'),
    ('"head.bits" = 16\n', 'sweep."head.bits": expected a non-empty array of values, got 16'),
    ('"haed.bits" = [16]\n', "sweep.\"haed.bits\": 'haed' is not a key that can be swept (did you mean 'head'?)"),
    ('name = ["a", "b"]\n', "sweep.\"name\": 'name' is not a key that can be swept"),
    ('"train.epoch" = [1, 2]\n', "unknown key train.epoch (did you mean 'epochs'?)"),
    ('"head.bits" = [16, 32, 16]\n', 'sweep."head.bits": lists 16 twice'),
    ('"train.optimizer" = [{ name = "sgd" }]\n"train.optimizer.lr" = [0.1]\n',
     'sweep."train.optimizer": overlaps sweep key "train.optimizer.lr"'),
    ('"head..bits" = [1]\n', 'sweep."head..bits": is not a dotted key'),
])
def test_bad_sweeps_are_config_errors(tmp_path, sweep, expected):
    assert expected in sweep_error(tmp_path, sweep)


def test_long_names_are_shortened_with_a_hash_and_stay_distinct(tmp_path):
    values = ", ".join(f'"{c * 200}"' for c in "ab")
    exp = load(tmp_path, f'"dataset.root" = [{values}]\n')
    names = [p.name for p in expand_sweep(exp)]
    assert len(set(names)) == 2 and all(len(n) <= 200 for n in names)
    assert all(re.fullmatch(r"demo@[0-9a-f]{12}", n) for n in names)


def test_env_values_in_a_sweep_are_expanded_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HB_ROOT", "/v")
    exp = load(tmp_path, '"dataset.root" = ["${HB_ROOT}/a", "$${HB_ROOT}/b"]\n')
    assert [p.dataset["root"] for p in expand_sweep(exp)] == ["/v/a", "${HB_ROOT}/b"]


def test_points_keep_the_method_label_and_differ_in_identity(tmp_path):
    from hashbench.config import load_experiment
    from hashbench.config import expand_sweep

    path = tmp_path / "m.toml"
    path.write_text('name = "m"\n[dataset]\nname = "moving_digits"\n[backbone]\nname = "r3d18"\n'
                    '[head]\nname = "tanh"\nbits = 16\n[loss]\nname = "batch_all_triplet"\n'
                    '[sweep]\n"head.bits" = [16, 32]\n"loss.margin" = [8, 14]\nseed = [0, 1]\n')
    points = expand_sweep(load_experiment(path))
    assert {p.method for p in points} == {"r3d18+tanh+batch_all_triplet"}  # the leaderboard names the margins
    assert len({p.config_hash() for p in points}) == 8
    import hashbench
    from hashbench.results.identity import experiment_identity

    identities = {json.dumps(experiment_identity(p, hashbench.registry()), sort_keys=True) for p in points}
    assert len(identities) == 4  # the two seeds of a (bits, margin) point share one identity


# -- [[sweep.variant]]: several keys set together (a method = its head and loss) -------------------------
VARIANTS = '''seed = [0, 1]
[[sweep.variant]]
name = "triplet-10"
loss = { margin = 10 }
[[sweep.variant]]
name = "csq"
head = { name = "linear" }
loss = { name = "csq", lam = 0.001 }
'''


def test_variants_are_one_axis_setting_several_keys(tmp_path):
    points = expand_sweep(load(tmp_path, VARIANTS))
    assert [p.name for p in points] == ["demo@variant=triplet-10,seed=0", "demo@variant=triplet-10,seed=1",
                                        "demo@variant=csq,seed=0", "demo@variant=csq,seed=1"]
    triplet, csq = points[0], points[2]
    assert triplet.loss == {"name": "batch_all_triplet", "margin": 10} and triplet.head["name"] == "tanh"
    # switching the plugin drops the old plugin's keys (margin) but keeps what the head table owns (bits)
    assert csq.loss == {"name": "csq", "lam": 0.001} and csq.head == {"name": "linear", "bits": 48}
    assert len({p.config_hash() for p in points}) == 4


@pytest.mark.parametrize("sweep,message", [
    ("[[sweep.variant]]\nloss = { margin = 1 }\n", r'sweep.variant\[0\]: needs name = "..."'),
    ('[[sweep.variant]]\nname = "a"\nloss = { margin = 1 }\n[[sweep.variant]]\nname = "a"\n'
     'loss = { margin = 2 }\n', r"sweep.variant\[1\]: name 'a' is used twice"),
    ('[[sweep.variant]]\nname = "a"\n', r"sweep.variant\[0\]: variant 'a' sets no key"),
    ('[[sweep.variant]]\nname = "a"\nlos = { margin = 1 }\n', r"sweep.variant\[0\].los.margin: 'los' is not a key"
     r" that can be swept \(did you mean 'loss'\?\)"),
    ('[[sweep.variant]]\nname = "a"\ntrain = { epoch = 3 }\n', r"unknown key train.epoch \(did you mean 'epochs'\?\)"),
    ('variant = [1, 2]\n', r"sweep.variant: expected \[\[sweep.variant\]\] tables"),
])
def test_bad_variants_are_named(tmp_path, sweep, message):
    assert re.search(message, sweep_error(tmp_path, sweep)), sweep_error(tmp_path, sweep)


METHOD_BASE = """\
name = "feat"
[dataset]
name = "moving_digits_features"
[method]
name = "itq"
bits = 32
"""


@pytest.mark.parametrize("base, table", [(BASE, "head"), (METHOD_BASE, "method")], ids=["triple", "method"])
def test_one_top_level_bits_key_sets_the_code_length_of_either_kind(tmp_path, base, table):
    """``bits`` (file, --set or [sweep]) is the code length of a triple (head.bits) or a [method] (method.bits):
    the same experiment, the same config hash, as spelling the table's key."""
    spelled = load(tmp_path, f'"{table}.bits" = [16, 24]', base=base)
    short = load(tmp_path, "bits = [16, 24]", base=base)
    assert [p.table(table)["bits"] for p in expand_sweep(short)] == [16, 24]
    assert [p.config_hash() for p in expand_sweep(short)] == [p.config_hash() for p in expand_sweep(spelled)]
    overridden = load(tmp_path, "seed = [0]", overrides=["bits=12"], base=base)
    assert overridden.table(table)["bits"] == 12 and "bits" not in overridden.to_dict()
    in_file = tmp_path / "in_file.toml"
    in_file.write_text(base.replace('name = "', 'bits = 8\nname = "', 1), encoding="utf-8")
    assert load_experiment(in_file).table(table)["bits"] == 8
