"""AutoSSVH's shipped experiments (experiments/ssvh/autossvh_*.toml): each validates on synthetic files in its
released layout (the released cluster counts need more training videos than the synthetic files hold, so
the check sets smaller ones, and shows that the released ones are refused by name), and without the files
one line names the missing one (exit 2, no traceback)."""
from __future__ import annotations

import pytest

from support import ROOT, run_cli

SSVH = ROOT / "experiments" / "ssvh"
SMALL = dict(num_frames=6, feature_dim=16, clips_per_class=6, queries_per_class=3, seed=0)
#: experiment -> (the layout its released files have, the first file validate looks for)
EXPERIMENTS = {"autossvh_fcvid.toml": ("fcvid", "fcv_train_feats.h5"),
               "autossvh_activitynet.toml": ("activitynet", "train_feats.h5"),
               "autossvh_ucf101.toml": ("ucf", "ucf_train_feats.h5"),
               "autossvh_hmdb51.toml": ("hmdb", "hmdb_train_feats.h5")}
FOLDERS = {"fcvid": "fcvid", "activitynet": "activitynet", "ucf": "ucf101", "hmdb": "hmdb51"}


def _write(folder, layout: str) -> None:
    from hashbench_ref.datasets.moving_digits_features import (generate_features, write_activitynet_layout,
                                                               write_fcvid_layout, write_feats, write_mat)

    data = generate_features(**SMALL)
    if layout == "fcvid":
        return write_fcvid_layout(folder, data)
    if layout == "activitynet":
        return write_activitynet_layout(folder, data)
    folder.mkdir(parents=True)  # UCF101 / HMDB51 split 1: train (also the database) and test files
    for split, name in (("train", "train"), ("query", "test")):
        write_feats(folder / f"{layout}_{name}_feats.h5", data.feats[split])
        write_mat(folder / f"{layout}_{name}_labels.mat", "labels", data.multi_hot(split))


def test_every_autossvh_experiment_is_listed_here():
    assert sorted(p.name for p in SSVH.glob("autossvh_*.toml")) == sorted(EXPERIMENTS)


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_it_validates_on_files_in_the_released_layout(tmp_path, experiment):
    layout = EXPERIMENTS[experiment][0]
    _write(tmp_path / "data" / FOLDERS[layout], layout)
    env = {"HASHBENCH_DATA": str(tmp_path / "data")}
    proc = run_cli("validate", str(SSVH / experiment), "--set", "method.clusters=[4, 6]", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "method: autossvh: 64 bits" in proc.stdout and "map_over_k@100" in proc.stdout
    released = run_cli("validate", str(SSVH / experiment), cwd=tmp_path, env=env)
    assert released.returncode == 2 and "method.clusters: 250 clusters but only" in released.stderr


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_without_the_released_files_one_line_names_the_missing_file(tmp_path, experiment):
    proc = run_cli("run", str(SSVH / experiment), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert EXPERIMENTS[experiment][1] in lines[0] and str(tmp_path) in lines[0]
