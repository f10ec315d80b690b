"""Supervised losses on frame features (issue 19, section 3): experiments/features/supervised_csq_frames.toml runs
tiny and writes deep_hashing rows; the UCF101 pair and the HMDB-51 pair (CSQ + ITQ) on files made by
`hashbench features extract` from the real test clips each land in one leaderboard table; without the files one
line names the missing one and `hashbench features extract`; a backbone / dataset kind mismatch is one line, exit 2."""
from __future__ import annotations

import pandas as pd
import pytest

from support import KINETICS, ROOT, SPLITS, hmdb_tree, official_lines, place, run_cli, ucf_tree

FEATURES = ROOT / "experiments" / "features"
SSVH_K = (5, 10, 20, 40, 60, 80, 100)
#: the both-paradigms pairs: dataset -> (the CSQ file, the ITQ file)
PAIRS = {"ucf101": ("ucf101_frames_csq.toml", "ucf101_frames_itq.toml"),
         "hmdb51": ("hmdb51_frames_csq.toml", "hmdb51_frames_itq.toml")}
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


def hmdb_tree_two_queries(base):
    """``hmdb_tree`` plus a second split-1 query (a real clip under an official id-2 cartwheel name): the real
    HMDB-51 clips hold one split-1 test clip, and a run needs two queries."""
    root, lists = hmdb_tree(base)
    listed = SPLITS / "hmdb51" / "cartwheel_test_split1.txt"
    name = "Aerial_Cartwheel_Tutorial_By_Jujimufu_cartwheel_f_nm_np1_ri_med_0.avi"
    place(KINETICS[0], root / "cartwheel" / name)
    with open(lists / "cartwheel_test_split1.txt", "ab") as out:
        out.write(official_lines(listed, {name}))
    return root, lists


@pytest.mark.parametrize("name", [name for pair in PAIRS.values() for name in pair])
def test_without_the_extracted_files_one_line_names_the_file_and_features_extract(tmp_path, name):
    proc = run_cli("validate", str(FEATURES / name), cwd=tmp_path, env={"HASHBENCH_DATA": str(tmp_path)})
    line = one_line_error(proc)
    folder = tmp_path / f"{name.split('_')[0]}_frames"
    assert f"{folder / 'train.h5'}: feature file not found" in line and "`hashbench features extract`" in line


@pytest.mark.parametrize("name", [name for pair in PAIRS.values() for name in pair])
def test_each_pair_shares_its_data_and_protocol(name):
    import tomllib

    dataset = name.split("_")[0]
    table = tomllib.loads((FEATURES / name).read_text())
    assert table["dataset"]["root"] == f"${{HASHBENCH_DATA}}/{dataset}_frames"
    assert table["dataset"]["benchmark"] == f"{dataset}_frames"
    csq, itq = (tomllib.loads((FEATURES / pair).read_text()) for pair in PAIRS[dataset])
    assert csq["dataset"] == itq["dataset"] and csq["eval"] == itq["eval"]
    other = tomllib.loads((FEATURES / name.replace(dataset, "ucf101" if dataset == "hmdb51" else "hmdb51")).read_text())
    strip = ("root", "benchmark")
    assert {k: v for k, v in table.items() if k not in ("name", "dataset")} == \
        {k: v for k, v in other.items() if k not in ("name", "dataset")}  # the same recipe on both datasets
    assert {k: v for k, v in table["dataset"].items() if k not in strip} == \
        {k: v for k, v in other["dataset"].items() if k not in strip}


@pytest.mark.slow
@pytest.mark.training
@pytest.mark.parametrize("dataset,make_tree", [("ucf101", ucf_tree), ("hmdb51", hmdb_tree_two_queries)])
def test_features_from_the_real_clips_give_one_table_of_both_paradigms(tmp_path, dataset, make_tree):
    root, lists = make_tree(tmp_path / "tree")
    data = tmp_path / "data"
    extract = run_cli("features", "extract", dataset, "--root", str(root), "-s", f'lists="{lists}"',
                      "--out", str(data / f"{dataset}_frames"), "--frames", "3", "--size", "32x40",
                      "-b", 'model="resnet18"', "--device", "cpu", "-q", cwd=tmp_path)
    assert extract.returncode == 0, extract.stderr
    env = {"HASHBENCH_DATA": str(data)}
    common = ["-q", "--runs-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "results.csv")]
    csq, itq = PAIRS[dataset]
    for name, tiny in ((csq, [*TINY_TRANSFORMER, "--set", "head.bits=4"]),
                       (itq, ["--set", "method.bits=4", "--set", 'device="cpu"'])):
        assert run_cli("validate", str(FEATURES / name), cwd=tmp_path, env=env).returncode == 0, name
        proc = run_cli("run", str(FEATURES / name), *tiny, *common, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    board = run_cli("leaderboard", "--results", str(tmp_path / "results.csv"), "--runs-dir", str(tmp_path / "runs"),
                    "--metric", "map_over_k@20", "--no-published", cwd=tmp_path)
    assert board.returncode == 0, board.stderr
    table = [line for line in board.stdout.splitlines() if line.startswith("|")]
    assert f"{dataset}_frames" in table[0] and "4-bit" in table[0]
    rows = [line for line in table[2:] if not line.startswith(("| random codes", "| **"))]  # no section headings
    assert len(rows) == 2, board.stdout
    assert rows[0].startswith("| frame_transformer+linear+csq") and rows[1].startswith("| itq")
    assert all(line.count("|") == table[0].count("|") for line in rows)  # one column: both rows in one table
