"""`hashbench features extract` as a real subprocess: on the real test clips (a UCF101-shaped tree) and on
moving_digits with a random-init resnet18 (no download); the printed TOML table passes `hashbench data check`;
kill -9 mid-extraction, then the same command resumes and gives the arrays of an uninterrupted run; bad input
is one line and exit 2."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import h5py
import pytest

from support import HASHBENCH, run_cli, ucf_tree
from support.data_trees import UCF_TEST, UCF_TRAIN

TINY = ["--frames", "2", "--size", "16", "-b", 'model="resnet18"', "--device", "cpu", "--batch-size", "2", "-q"]


def printed_table(stdout: str) -> dict:
    return tomllib.loads(stdout[stdout.index("[dataset]"):])["dataset"]


def check_args(table: dict) -> list[str]:
    args = ["data", "check", "frame_features", "--root", table.pop("root")]
    for key, value in table.items():
        if key != "name":
            args += ["-s", f"{key}={value!r}".replace("'", '"')]
    return args


def arrays(path: Path) -> tuple:
    with h5py.File(str(path), "r") as f:
        return f["feats"][()].tobytes(), f["labels"][()].tobytes(), f["video_ids"][()].tolist()


def test_extract_real_clips_and_data_check(tmp_path):
    root, lists = ucf_tree(tmp_path / "tree")
    out = tmp_path / "feats"
    proc = run_cli("features", "extract", "ucf101", "--root", str(root), "-s", f'lists="{lists}"', "--out", str(out),
                   "--frames", "3", "--size", "32x40", "-b", 'model="resnet18"', "--device", "cpu", "-q")
    assert proc.returncode == 0, proc.stderr
    assert f"{out / 'train.h5'}: train, database; 4 x 3 x 512" in proc.stdout
    table = printed_table(proc.stdout)
    assert (table["train"], table["database"], table["query"]) == ("train.h5", "train.h5", "query.h5")
    with h5py.File(str(out / "train.h5"), "r") as f:
        assert sorted(v.decode() for v in f["video_ids"][()]) == sorted(UCF_TRAIN)
        assert (f.attrs["size"], f.attrs["frames"], f.attrs["split"]) == ("32x40", 3, "train")
        assert "round(i * n / T)" in f.attrs["sampling"]
    with h5py.File(str(out / "query.h5"), "r") as f:
        assert sorted(v.decode() for v in f["video_ids"][()]) == sorted(UCF_TEST)
    check = run_cli(*check_args(table))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "train: every feature finite" in check.stdout and "query: 2 rows in 1 file(s)" in check.stdout


@pytest.mark.slow
def test_extract_moving_digits_float16_then_a_mismatch_is_one_line(tmp_path):
    out = tmp_path / "feats"
    args = ["features", "extract", "moving_digits", "--out", str(out), "-s", "clips_per_class=1",
            "-s", "queries_per_class=1", "--dtype", "float16", *TINY]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    table = printed_table(proc.stdout)
    assert table["class_names"][:2] == ["left", "right"] and len(table["class_names"]) == 8
    with h5py.File(str(out / "query.h5"), "r") as f:
        assert f["feats"].dtype == "float16" and f["feats"].shape == (8, 2, 512)
    check = run_cli(*check_args(table))
    assert check.returncode == 0, check.stdout + check.stderr
    again = run_cli(*[a if a != "float16" else "float32" for a in args])
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert "train.h5: was extracted with dtype = 'float16', now 'float32'" in again.stderr
    bad = run_cli("features", "extract", "moving_digits", "--out", str(tmp_path / "x"), "--backbone", "r3d18",
                  "-b", "width=8", "--device", "cpu", "-q")
    assert bad.returncode == 2 and "no per-frame features" in bad.stderr and "Traceback" not in bad.stderr


def rows_done(part: Path) -> int:
    """The flushed ``rows_done`` of a file another process is writing (0 while it cannot be read)."""
    try:
        with h5py.File(str(part), "r", locking=False) as f:
            return int(f.attrs.get("rows_done", 0))
    except (OSError, KeyError):
        return 0


@pytest.mark.slow
def test_kill_9_then_rerun_resumes_and_gives_the_same_file(tmp_path):
    common = ["-s", "clips_per_class=3", "-s", "queries_per_class=1", *TINY[:-1], "--chunk", "2", "-q"]
    reference = run_cli("features", "extract", "moving_digits", "--out", str(tmp_path / "ref"), *common)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    proc = subprocess.Popen([*HASHBENCH, "features", "extract", "moving_digits", "--out", str(out), *common],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    part = out / "train.h5.part"
    deadline = time.monotonic() + 300
    while proc.poll() is None and rows_done(part) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "extraction ended before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = rows_done(part)
    assert 2 <= done < 24 and not (out / "train.h5").exists()
    rerun = run_cli("features", "extract", "moving_digits", "--out", str(out), *common)
    assert rerun.returncode == 0, rerun.stderr
    assert f"(resumed at row {done})" in rerun.stdout
    for name in ("train.h5", "query.h5"):
        assert arrays(out / name) == arrays(tmp_path / "ref" / name), name
    assert not list(out.glob("*.part"))
