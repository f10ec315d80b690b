"""S5VH's shipped experiments (experiments/ssvh/s5vh_*.toml): each validates on synthetic files in its
released layout (FCVID and ActivityNet from the embedded dataset's writers; UCF101 and HMDB51 written
here: the train file is also the database, the test file the queries), and without the files one line
names the missing one (exit 2, no traceback)."""
from __future__ import annotations

from pathlib import Path

import pytest

from support import ROOT, run_cli

SSVH = ROOT / "experiments" / "ssvh"
SMALL = dict(num_frames=6, feature_dim=16, clips_per_class=6, queries_per_class=3, seed=0)
#: experiment -> (the layout its released files have, the first file validate looks for)
EXPERIMENTS = {"s5vh_fcvid.toml": ("fcvid", "fcv_train_feats.h5"),
               "s5vh_activitynet.toml": ("activitynet", "train_feats.h5"),
               "s5vh_ucf101.toml": ("ucf", "ucf_train_feats.h5"),
               "s5vh_hmdb51.toml": ("hmdb", "hmdb_train_feats.h5")}
FOLDERS = {"fcvid": "fcvid", "activitynet": "activitynet", "ucf": "ucf101", "hmdb": "hmdb51"}


def test_every_s5vh_experiment_is_listed_here():
    assert sorted(p.name for p in SSVH.glob("s5vh_*.toml")) == sorted(EXPERIMENTS)


def _write(folder: Path, layout: str) -> None:
    from hashbench_ref.datasets.moving_digits_features import (generate_features, write_activitynet_layout,
                                                               write_fcvid_layout, write_feats, write_mat)

    data = generate_features(**SMALL)
    if layout == "fcvid":
        write_fcvid_layout(folder, data)
    elif layout == "activitynet":
        write_activitynet_layout(folder, data)
    else:  # UCF101 / HMDB51 (S5VH configs/S5VH/{ucf,hmdb}.py)
        for split, stem in (("train", "train"), ("query", "test")):
            write_feats(folder / f"{layout}_{stem}_feats.h5", data.feats[split])
            write_mat(folder / f"{layout}_{stem}_labels.mat", "labels", data.multi_hot(split))


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_it_validates_on_files_in_the_released_layout(tmp_path, experiment):
    layout = EXPERIMENTS[experiment][0]
    _write(tmp_path / "data" / FOLDERS[layout], layout)
    proc = run_cli("validate", str(SSVH / experiment), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path / "data")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "method: s5vh: 64 bits" in proc.stdout and "map_over_k@100" in proc.stdout


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_without_the_released_files_one_line_names_the_missing_file(tmp_path, experiment, command):
    proc = run_cli(command, str(SSVH / experiment), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert EXPERIMENTS[experiment][1] in lines[0] and str(tmp_path) in lines[0]
