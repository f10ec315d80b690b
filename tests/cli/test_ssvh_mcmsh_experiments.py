"""MCMSH's shipped experiments (experiments/ssvh/mcmsh_*.toml): FCVID and ActivityNet validate on
synthetic files in their released layouts (written by the embedded dataset's writers; YFCC's shards are
checked for the missing-file line only), and without the files one line names the missing one (exit 2,
no traceback)."""
from __future__ import annotations

import pytest

from support import ROOT, run_cli

SSVH = ROOT / "experiments" / "ssvh"
SMALL = dict(num_frames=6, feature_dim=16, clips_per_class=6, queries_per_class=3, seed=0)
#: experiment -> (the layout its released files have, the first file validate looks for)
EXPERIMENTS = {"mcmsh_fcvid.toml": ("fcvid", "fcv_train_feats.h5"),
               "mcmsh_activitynet.toml": ("activitynet", "train_feats.h5"),
               "mcmsh_yfcc.toml": ("yfcc", "yfcc_train_feats_1.h5")}
WRITTEN = sorted(e for e, (layout, _) in EXPERIMENTS.items() if layout != "yfcc")


def test_every_mcmsh_experiment_is_listed_here():
    assert sorted(p.name for p in SSVH.glob("mcmsh_*.toml")) == sorted(EXPERIMENTS)


@pytest.mark.parametrize("experiment", WRITTEN)
def test_it_validates_on_files_in_the_released_layout(tmp_path, experiment):
    from hashbench_ref.datasets.moving_digits_features import (generate_features, write_activitynet_layout,
                                                               write_fcvid_layout)

    layout = EXPERIMENTS[experiment][0]
    writer = write_fcvid_layout if layout == "fcvid" else write_activitynet_layout
    writer(tmp_path / "data" / layout, generate_features(**SMALL))
    proc = run_cli("validate", str(SSVH / experiment), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path / "data")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "method: mcmsh: 64 bits" in proc.stdout and "map_over_k@100" in proc.stdout


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_without_the_released_files_one_line_names_the_missing_file(tmp_path, experiment, command):
    proc = run_cli(command, str(SSVH / experiment), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert EXPERIMENTS[experiment][1] in lines[0] and str(tmp_path) in lines[0]
