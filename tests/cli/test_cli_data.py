"""`hashbench data prepare/check` in real subprocesses, bad data, and a tiny experiment end to end."""
from __future__ import annotations

import csv
import json

import pytest
import torch

import hashbench
from support import run_cli
from support import add_bad_files, hmdb_tree, jhmdb_tree, ucf_tree
from hashbench.data.cache import ClipCache
from hashbench.errors import DataError

SMALL = ["--frames", "4", "--size", "24x32"]


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    """A UCF101-shaped tree, prepared once through the CLI with 2 worker processes."""
    base = tmp_path_factory.mktemp("ucf")
    root, lists = ucf_tree(base)
    cache = base / "cache"
    result = run_cli("data", "prepare", "ucf101", "--root", str(root), "--lists", str(lists), "--cache",
                     str(cache), "--workers", "2", *SMALL)
    assert result.returncode == 0, result.stderr
    return root, lists, cache, result


def test_prepare_then_check_a_ucf101_tree(ucf):
    root, lists, cache, result = ucf
    assert "cached 6 of 6 listed videos (decoded 6 now" in result.stdout
    assert "bad 0, missing 0, refused 0" in result.stdout
    store = ClipCache(cache / "t4_24x32")
    assert len(store) == 6 and store.record("SoccerJuggling/v_SoccerJuggling_g23_c01.avi")["frames"] == 240
    check = run_cli("data", "check", "ucf101", "--root", str(root), "--lists", str(lists), "--cache", str(cache),
                    *SMALL)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok   videos found under" in check.stdout and ": 6 of 6" in check.stdout
    assert "ok   clips in the cache" in check.stdout
    again = run_cli("data", "prepare", "ucf101", "--root", str(root), "--lists", str(lists), "--cache",
                    str(cache), "--workers", "0", "-q", *SMALL)
    assert again.returncode == 0 and "decoded 0 now" in again.stdout and "reused 6" in again.stdout


def test_the_dataset_reads_the_prepared_cache(ucf):
    root, lists, cache, _ = ucf
    table = {"name": "ucf101", "root": str(root), "lists": str(lists), "cache": str(cache), "num_frames": 4,
             "resize": [24, 32], "crop": 20}
    ds = hashbench.registry().build("dataset", table)
    assert ds.mode() == "cache" and ds.info()["source"] == "cache"
    clip, label = ds.split("query")[0]
    assert clip.shape == (3, 4, 20, 20) and isinstance(label, int)
    loader = torch.utils.data.DataLoader(ds.split("train"), batch_size=4, num_workers=1)
    clips, labels = next(iter(loader))  # the cache travels to a worker process and reopens its maps there
    assert clips.shape == (4, 3, 4, 20, 20) and clips.dtype == torch.uint8 and labels.tolist() == [36, 36, 83, 83]
    other_frames = hashbench.registry().build("dataset", {**table, "num_frames": 8, "source": "cache"})
    with pytest.raises(DataError, match="no clip cache at .*t8_24x32; run `hashbench data prepare ucf101"):
        other_frames.split("train")


def test_bad_data_is_reported_and_the_good_clips_stay_usable(tmp_path):
    root, lists = ucf_tree(tmp_path)
    bad = add_bad_files(root, lists)
    result = run_cli("data", "prepare", "ucf101", "--root", str(root), "--lists", str(lists), "--workers", "0",
                     "-q", *SMALL)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "cached 6 of 11 listed videos" in out and "bad 3, missing 1, refused 1" in out
    assert f"bad: {bad['empty']}: empty file (0 bytes)" in out
    assert f"bad: {bad['truncated']}: truncated: decoded 97 of 240 frames" in out
    assert f"bad: {bad['text']}: cannot open as a video" in out
    assert f"missing: {bad['missing']}" in out and "trainlist01.txt:8" in out
    assert f"refused: {bad['escape']}" in out and "escapes the dataset root" in out
    report = (root / ".hashbench-cache" / "t4_24x32" / "report.txt").read_text()
    assert all(rel in report for rel in bad.values())
    check = run_cli("data", "check", "ucf101", "--root", str(root), "--lists", str(lists), *SMALL)
    assert check.returncode == 1
    assert "FAIL videos found under" in check.stdout and "9 of 11; missing 1" in check.stdout
    assert "could not be decoded 3" in check.stdout and bad["missing"] in check.stdout
    table = {"name": "ucf101", "root": str(root), "lists": str(lists), "num_frames": 4, "resize": [24, 32],
             "crop": 20}
    strict = hashbench.registry().build("dataset", table)
    with pytest.raises(DataError) as err:
        strict.split("train")
    assert "5 of 9 listed videos are unusable" in str(err.value) and "could not be decoded by prepare" in str(err.value)
    usable = hashbench.registry().build("dataset", {**table, "missing": "skip"})
    train = usable.split("train")
    assert len(train) == 4 and all(train[i][0].shape == (3, 4, 20, 20) for i in range(4))
    assert usable.info()["skipped"] == "5"


def test_prepare_and_check_hmdb51_and_jhmdb_trees(tmp_path):
    root, lists = hmdb_tree(tmp_path / "h")
    result = run_cli("data", "prepare", "hmdb51", "--root", str(root), "--lists", str(lists), "--workers", "0",
                     "-q", *SMALL)
    assert result.returncode == 0 and "cached 4 of 4" in result.stdout, result.stdout + result.stderr
    check = run_cli("data", "check", "hmdb51", "--root", str(root), "--lists", str(lists), *SMALL)
    assert check.returncode == 0 and "classes: 2" in check.stdout
    root, lists = jhmdb_tree(tmp_path / "j")
    opts = ["--set", "train_per_class=1", "--set", "query_per_class=1", "--set", "database_per_class=2"]
    result = run_cli("data", "prepare", "jhmdb", "--root", str(root), "--lists", str(lists), "--workers", "0",
                     "-q", *opts, *SMALL)
    assert result.returncode == 0 and "cached 6 of 6" in result.stdout, result.stdout + result.stderr
    assert "sampled lists:" in result.stdout
    written = root / ".hashbench-cache" / "lists" / "jhmdb_seed0_1_1_2" / "db_2_4.txt"
    assert len(written.read_text().splitlines()) == 4


def test_official_counts_are_checked_and_missing_videos_named(tmp_path):
    root, _ = ucf_tree(tmp_path)  # the shipped official lists against a tree holding 6 clips
    check = run_cli("data", "check", "ucf101", "--root", str(root), "--show", "3", *SMALL)
    assert check.returncode == 1
    assert "ok   classes: 101 (official: 101)" in check.stdout
    assert "ok   train list: 9537 (official: 9537)" in check.stdout
    assert "ok   videos listed (all splits): 13320 (official: 13320)" in check.stdout
    assert "FAIL videos found under" in check.stdout and "6 of 13320; missing 13314" in check.stdout
    assert "missing: ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi" in check.stdout  # trainlist01.txt line 1
    assert "... 13311 more" in check.stdout


def test_cli_errors_are_one_line_exit_2(tmp_path):
    cases = [
        (["data", "prepare", "nosuch", "--root", str(tmp_path)], "unknown dataset 'nosuch'"),
        (["data", "prepare", "ucf101", "--root", str(tmp_path / "absent")],
         "is not a folder; point it at the dataset as distributed (the folder holding the class folders):"
         " `hashbench data check DATASET --root FOLDER` checks it"),
        (["data", "prepare", "ucf101", "--root", str(tmp_path), "--size", "big"], "--size"),
        (["data", "prepare", "moving_digits", "--root", str(tmp_path)], "unknown key"),
        (["data", "prepare", "ucf101", "--root", str(tmp_path), "-q"], "none of the 13320 listed videos"),
    ]
    for args, text in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and text in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


TINY = """
name = "tiny-ucf"
seed = 0
device = "cpu"
[dataset]
name = "ucf101"
root = "${{HB_TEST_ROOT}}"
lists = "{lists}"
cache = "{cache}"
num_frames = 4
resize = [24, 32]
crop = 20
[backbone]
name = "r3d18"
width = 4
[head]
name = "tanh"
bits = 8
[loss]
name = "batch_all_triplet"
margin = 2
[train]
epochs = 1
batch_size = 4
optimizer = {{ name = "sgd", lr = 1e-4, momentum = 0.9, weight_decay = 5e-4 }}
[eval]
metrics = ["map"]
"""


@pytest.mark.training
def test_a_tiny_experiment_runs_end_to_end_from_the_cache(ucf, tmp_path):
    root, lists, cache, _ = ucf
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY.format(lists=lists, cache=cache))
    results = tmp_path / "results.csv"
    run = run_cli("run", str(toml), "-q", "--runs-dir", str(tmp_path / "runs"), "--results", str(results),
                  env={"HB_TEST_ROOT": str(root)}, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = list(csv.DictReader(results.open()))
    assert rows and all(r["dataset"] == "ucf101" and r["split"] == "1" for r in rows)
    assert len(rows[0]["data_checksum"]) >= 12 and rows[0]["frames"] == "4"
    record = json.loads(next((tmp_path / "runs").rglob("record.json")).read_text())
    assert record["dataset_info"]["source"] == "cache"


@pytest.mark.training
def test_a_damaged_cache_shard_is_redone_by_the_prepare_the_run_advises(tmp_path):
    """The whole loop: a shard cut short makes the run fail with one line naming `hashbench data prepare`;
    that prepare finds the shard damaged (its journal says the clips are done), decodes them again and
    drops the shard; the same run then trains from the cache."""
    root, lists = ucf_tree(tmp_path / "tree")
    cache = tmp_path / "cache"
    prepare = ["data", "prepare", "ucf101", "--root", str(root), "--lists", str(lists), "--cache", str(cache),
               "--workers", "0", "-q", "--frames", "4", "--size", "24x32"]
    assert run_cli(*prepare).returncode == 0
    (shard,) = (cache / "t4_24x32").glob("shard-*.npy")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # a disk that filled up, a copy cut short
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY.format(lists=lists, cache=cache))
    run = ["run", str(toml), "-q", "--no-record", "--runs-dir", str(tmp_path / "runs")]
    failed = run_cli(*run, env={"HB_TEST_ROOT": str(root)}, cwd=tmp_path)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
    assert shard.name in failed.stderr and "hashbench data prepare" in failed.stderr
    again = run_cli(*prepare)
    assert again.returncode == 0, again.stderr
    assert "cached 6 of 6 listed videos (decoded 6 now" in again.stdout and "reused 0" in again.stdout
    assert not shard.exists() and len(list((cache / "t4_24x32").glob("shard-*.npy"))) == 1
    store = ClipCache(cache / "t4_24x32")
    assert len(store) == 6 and store.read(next(store.keys())).shape == (3, 4, 24, 32)
    fixed = run_cli(*run, env={"HB_TEST_ROOT": str(root)}, cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
