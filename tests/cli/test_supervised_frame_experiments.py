"""Supervised losses on frame features (issue 19, section 3): experiments/features/supervised_csq_frames.toml runs
tiny and writes deep_hashing rows; the UCF101 pair (CSQ + ITQ) on files made by `hashbench features extract` from
the real test clips lands in one leaderboard table; a backbone / dataset kind mismatch is one line, exit 2."""
from __future__ import annotations

import pandas as pd
import pytest

from support import ROOT, run_cli, ucf_tree

FEATURES = ROOT / "experiments" / "features"
SSVH_K = (5, 10, 20, 40, 60, 80, 100)
TINY_TRANSFORMER = ["--set", "backbone.width=8", "--set", "backbone.heads=2", "--set", "backbone.layers=1",
                    "--set", "train.epochs=1", "--set", "train.eval_every=1", "--set", "train.batch_size=4",
                    "--set", 'device="cpu"']


def one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_a_clip_backbone_on_frame_features_is_one_line_naming_both(tmp_path):
    proc = run_cli("validate", str(FEATURES / "supervised_csq_frames.toml"), "--set", 'backbone.name="r3d18"',
                   cwd=tmp_path, env={"HASHBENCH_CACHE": str(tmp_path / "cache")})
    line = one_line_error(proc)
    assert ("backbone 'r3d18' consumes clips, but dataset 'moving_digits_features' yields frame_features;"
            " choose a clips dataset or another backbone") in line


def test_a_frame_feature_backbone_on_clips_is_one_line_naming_both(tmp_path):
    proc = run_cli("validate", str(ROOT / "experiments" / "zoo" / "csq.toml"), "--set", 'backbone.name="frame_mlp"',
                   cwd=tmp_path)
    line = one_line_error(proc)
    assert "backbone 'frame_mlp' consumes frame_features, vector, but dataset 'moving_digits' yields clips" in line


@pytest.mark.training
def test_supervised_csq_on_frame_features_runs_tiny_and_writes_deep_hashing_rows(tmp_path):
    results = tmp_path / "results.csv"
    proc = run_cli("run", str(FEATURES / "supervised_csq_frames.toml"), "-q", *TINY_TRANSFORMER,
                   "--set", "head.bits=8", "--set", "dataset.clips_per_class=4", "--set", "dataset.queries_per_class=2",
                   "--runs-dir", str(tmp_path / "runs"), "--results", str(results), cwd=tmp_path,
                   env={"HASHBENCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = pd.read_csv(results)
    assert set(rows["method"]) == {"frame_transformer+linear+csq"}
    assert (set(rows["backbone"]), set(rows["loss"]), set(rows["bits"])) == ({"frame_transformer"}, {"csq"}, {8})
    values = rows.set_index("metric")["value"]
    assert {f"map_over_k@{k}" for k in SSVH_K} <= set(values.index)
    assert ((values > 0) & (values <= 1)).all()


@pytest.mark.slow
@pytest.mark.training
def test_ucf101_features_from_the_real_clips_give_one_table_of_both_paradigms(tmp_path):
    root, lists = ucf_tree(tmp_path / "tree")
    data = tmp_path / "data"
    extract = run_cli("features", "extract", "ucf101", "--root", str(root), "-s", f'lists="{lists}"',
                      "--out", str(data / "ucf101_frames"), "--frames", "3", "--size", "32x40",
                      "-b", 'model="resnet18"', "--device", "cpu", "-q", cwd=tmp_path)
    assert extract.returncode == 0, extract.stderr
    env = {"HASHBENCH_DATA": str(data)}
    common = ["-q", "--runs-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "results.csv")]
    for name, tiny in (("ucf101_frames_csq.toml", [*TINY_TRANSFORMER, "--set", "head.bits=4"]),
                       ("ucf101_frames_itq.toml", ["--set", "method.bits=4", "--set", 'device="cpu"'])):
        assert run_cli("validate", str(FEATURES / name), cwd=tmp_path, env=env).returncode == 0, name
        proc = run_cli("run", str(FEATURES / name), *tiny, *common, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    board = run_cli("leaderboard", "--results", str(tmp_path / "results.csv"), "--runs-dir", str(tmp_path / "runs"),
                    "--metric", "map_over_k@20", "--no-published", cwd=tmp_path)
    assert board.returncode == 0, board.stderr
    table = [line for line in board.stdout.splitlines() if line.startswith("|")]
    assert "ucf101_frames" in table[0] and "4-bit" in table[0]
    rows = [line for line in table[2:] if not line.startswith("| random codes")]
    assert len(rows) == 2, board.stdout
    assert rows[0].startswith("| frame_transformer+linear+csq") and rows[1].startswith("| itq")
    assert all(line.count("|") == table[0].count("|") for line in rows)  # one column: both rows in one table
