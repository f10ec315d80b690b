"""The shipped papers' experiments of the self-supervised methods (experiments/ssvh/<method>_<dataset>.toml):
each validates on synthetic files in its dataset's released layout (FCVID and ActivityNet from the
embedded dataset's writers; YFCC's shards, UCF101's and HMDB-51's files written here from the same
arrays), and without the files one line names the missing one (exit 2, no traceback, for validate and run).

Validation runs in this process (``validate_experiment``, what ``hashbench validate`` prints); two real
CLI subprocesses check the one-line failure end to end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hashbench
from hashbench.config import load_experiment
from hashbench.errors import HashbenchError
from hashbench.run import validate_experiment
from support import ROOT, run_cli

SSVH = ROOT / "experiments" / "ssvh"
SMALL = dict(num_frames=6, feature_dim=16, clips_per_class=6, queries_per_class=3, seed=0)
#: dataset -> the first file validate looks for
FIRST_FILE = {"fcvid": "fcv_train_feats.h5", "activitynet": "train_feats.h5", "yfcc": "yfcc_train_feats_1.h5",
              "ucf101": "ucf_train_feats.h5", "hmdb51": "hmdb_train_feats.h5"}
SELF_SUPERVISED = ("ssvh", "bth", "dkph", "mcmsh", "conmh", "s5vh", "autossvh")
EXPERIMENTS = sorted(p.name for p in SSVH.glob("*.toml"))
#: overrides for settings that need more videos than the synthetic files hold (AutoSSVH's 250+ clusters)
SMALL_DATA = {"autossvh": ["method.clusters=[4, 6]"]}


def _split(name: str) -> tuple[str, str]:
    method, _, dataset = name[: -len(".toml")].rpartition("_")
    return method, dataset


def write_layout(folder: Path, dataset: str) -> None:
    """Synthetic files under the released names of ``dataset``."""
    from hashbench_ref.datasets.moving_digits_features import (generate_features, write_activitynet_layout,
                                                               write_fcvid_layout, write_feats, write_mat)

    data = generate_features(**SMALL)
    if dataset == "fcvid":
        write_fcvid_layout(folder, data)
    elif dataset == "activitynet":
        write_activitynet_layout(folder, data)
    elif dataset == "yfcc":  # nine training shards, two database shards, 1,000 queries
        for k, part in enumerate(np.array_split(data.feats["train"], 9), start=1):
            write_feats(folder / f"yfcc_train_feats_{k}.h5", part)
        database = data.multi_hot("database")
        for k, (part, labels) in enumerate(zip(np.array_split(data.feats["database"], 2),
                                               np.array_split(database, 2)), start=1):
            write_feats(folder / f"yfcc_test_feats_{k}.h5", part)
            write_mat(folder / f"yfcc_test_labels_{k}.mat", "labels", labels)  # released: one per shard
        write_feats(folder / "query1000_feats.h5", data.feats["query"])
        write_mat(folder / "query1000_labels.mat", "labels", data.multi_hot("query"))
    else:  # UCF101 / HMDB-51 (S5VH's and AutoSSVH's configs): train is also the database, test the queries
        stem = {"ucf101": "ucf", "hmdb51": "hmdb"}[dataset]
        for split, name in (("train", "train"), ("query", "test")):
            write_feats(folder / f"{stem}_{name}_feats.h5", data.feats[split])
            write_mat(folder / f"{stem}_{name}_labels.mat", "labels", data.multi_hot(split))


def test_every_method_ships_its_papers_datasets_and_nothing_else():
    pairs = [_split(name) for name in EXPERIMENTS]
    assert {method for method, _ in pairs} == set(SELF_SUPERVISED)
    assert {dataset for _, dataset in pairs} <= set(FIRST_FILE)
    assert len(EXPERIMENTS) >= 2 * len(SELF_SUPERVISED)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_it_validates_on_files_in_the_released_layout(tmp_path, monkeypatch, experiment):
    method, dataset = _split(experiment)
    write_layout(tmp_path / dataset, dataset)
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path))
    overrides = SMALL_DATA.get(method, ())
    report = validate_experiment(load_experiment(SSVH / experiment, overrides), hashbench.registry())
    assert report["method"].startswith(f"{method}: ") and "map_over_k@100" in report["metrics"]
    if overrides:  # the paper's setting needs more videos than the synthetic files hold: one clear line
        with pytest.raises(HashbenchError, match=r"method.clusters: 250 clusters but only \d+ training videos"):
            validate_experiment(load_experiment(SSVH / experiment), hashbench.registry())


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_without_the_released_files_the_error_names_the_missing_file(tmp_path, monkeypatch, experiment):
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path))
    with pytest.raises(HashbenchError) as info:
        validate_experiment(load_experiment(SSVH / experiment), hashbench.registry())
    message = str(info.value)
    assert "\n" not in message and FIRST_FILE[_split(experiment)[1]] in message and str(tmp_path) in message
    assert "docs/datasets.md" in message and "`hashbench features extract`" in message  # where, or how to make it


@pytest.mark.parametrize("command", ["validate", "run"])
def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path, command):
    proc = run_cli(command, str(SSVH / "conmh_fcvid.toml"), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "fcv_train_feats.h5" in lines[0] and str(tmp_path) in lines[0]
