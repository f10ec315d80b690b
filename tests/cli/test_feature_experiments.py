"""The shipped frame-feature experiments (experiments/features/*.toml): the embedded one validates, the FCVID and
ActivityNet ones name the missing file in one line, and with synthetic files in the exact released layouts
(written by the embedded dataset's writers) `hashbench run` writes the papers' map_over_k@K rows."""
from __future__ import annotations

import pandas as pd
import pytest

from support import ROOT, run_cli, run_cli_here

FEATURES = ROOT / "experiments" / "features"
SSVH_K = (5, 10, 20, 40, 60, 80, 100)
SMALL = dict(num_frames=6, feature_dim=16, clips_per_class=6, queries_per_class=3, seed=0)


def test_every_shipped_feature_experiment_is_listed_here():
    assert sorted(p.name for p in FEATURES.glob("*.toml")) == [
        "activitynet_itq.toml", "baselines.toml", "fcvid_itq.toml", "hmdb51_frames_csq.toml", "hmdb51_frames_itq.toml",
        "moving_digits_features_itq.toml", "supervised_csq_frames.toml", "ucf101_frames_csq.toml",
        "ucf101_frames_itq.toml", "zoo.toml"]


@pytest.mark.parametrize("experiment, name", [("moving_digits_features_itq.toml", "features-itq"),
                                              ("baselines.toml", "baselines@"),
                                              ("zoo.toml", "unsupervised-zoo@")])
def test_the_embedded_feature_experiments_validate(tmp_path, experiment, name):
    """The single experiment in a real subprocess; the two sweeps (57 and 18 points) in this process."""
    run = run_cli if experiment == "moving_digits_features_itq.toml" else run_cli_here
    proc = run("validate", str(FEATURES / experiment), cwd=tmp_path, env={"HASHBENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert name in proc.stdout


@pytest.mark.parametrize("experiment, missing", [("fcvid_itq.toml", "fcv_train_feats.h5"),
                                                 ("activitynet_itq.toml", "train_feats.h5")])
def test_without_the_released_files_one_line_names_the_missing_file(tmp_path, experiment, missing):
    proc = run_cli("validate", str(FEATURES / experiment), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert missing in lines[0]


@pytest.mark.training
@pytest.mark.parametrize("experiment, layout", [("fcvid_itq.toml", "fcvid"),
                                                ("activitynet_itq.toml", "activitynet")])
def test_the_released_layouts_run_end_to_end_and_write_map_over_k_rows(tmp_path, experiment, layout):
    from hashbench_ref.datasets.moving_digits_features import (generate_features, write_activitynet_layout,
                                                               write_fcvid_layout)

    data = generate_features(**SMALL)
    writer = write_fcvid_layout if layout == "fcvid" else write_activitynet_layout
    writer(tmp_path / "data" / layout, data, mat="v7.3" if layout == "activitynet" else "v5")
    results = tmp_path / "results.csv"
    proc = run_cli("run", str(FEATURES / experiment), "-q", "--set", "method.bits=8", "--set", 'device="cpu"',
                   "--runs-dir", str(tmp_path / "runs"), "--results", str(results), cwd=tmp_path,
                   env={"HASHBENCH_DATA": str(tmp_path / "data")})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = pd.read_csv(results)
    values = rows.set_index("metric")["value"]
    assert sorted(values.index) == sorted(f"map_over_k@{k}" for k in SSVH_K)
    assert ((values > 0) & (values <= 1)).all()
    assert set(rows["bits"]) == {8} and set(rows["dataset"]) == {layout}  # dataset.benchmark names the rows


def test_the_unsupervised_zoo_holds_every_label_free_method_of_the_reference_set():
    """experiments/features/zoo.toml: one variant per registered label-free method (the classic baselines,
    the self-supervised video methods and FIRe's deep unsupervised families), each at the settings of its
    own zoo file, 3 seeds."""
    import tomllib

    import hashbench
    from hashbench.config import expand_sweep, load_experiment

    points = expand_sweep(load_experiment(FEATURES / "zoo.toml"))
    names = {p.method_table["name"] for p in points}
    from hashbench.contract import REFERENCE_DIST

    registered = {c.name for c in hashbench.registry().all() if c.kind == "method" and c.dist == REFERENCE_DIST}
    registered -= {"deep_hashing"}
    assert names == registered and len(points) == 3 * len(registered)
    for point in points:
        own = ROOT / "experiments" / "ssvh" / "zoo" / f"{point.method_table['name']}.toml"
        own = own if own.exists() else FEATURES / "zoo" / own.name
        if own.exists():
            table = tomllib.loads(own.read_text())["method"]
            assert {k: v for k, v in point.method_table.items() if k in table} == table
