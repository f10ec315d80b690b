"""The demo's and the zoo's numbers, pinned: the method contract reshaped the run path (the triple is the
built-in ``deep_hashing`` method, trained by the one epoch loop), and an experiment built from the
backbone/head/loss triple must train and score exactly as before (CPU, seed 0, two epochs; the demo's
measured before the method kind existed, at commit 671bf2e; the zoo's before the triple became a method,
at commit 8059fd0)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LOSSES = [9.617615826924641, 9.874494043986003]
MAP = 0.1542892903647918
#: zoo member -> (the two epochs' losses, map): a hash-centre loss, a memory bank (indices), a classifier.
ZOO = {"csq": ([0.9600586295127869, 0.7552500565846761], 0.09433281185817778),
       "dpsh": ([2.1310969326231213, 1.8848623699612088], 0.09051947526794196),
       "greedyhash": ([2.833155552546183, 2.6049361758761935], 0.09297842167737029)}


def two_cpu_epochs(toml: Path, runs_dir: Path) -> dict:
    """The record of ``toml`` run for two epochs on the CPU (evaluated once, at the end)."""
    proc = subprocess.run([sys.executable, "-m", "hashbench", "run", str(toml), "--set", "train.epochs=2",
                           "--set", "train.eval_every=2", "--set", 'device="cpu"', "--no-record", "--runs-dir",
                           str(runs_dir)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = [p for folder in runs_dir.iterdir() for p in folder.iterdir()]
    return json.loads((run_dir / "record.json").read_text())


@pytest.mark.slow
def test_two_demo_epochs_on_the_cpu_give_the_pinned_numbers(tmp_path):
    record = two_cpu_epochs(ROOT / "experiments" / "demo.toml", tmp_path)
    assert [e["loss"] for e in record["epochs"]] == LOSSES
    assert record["metrics"]["map"] == MAP


@pytest.mark.slow
@pytest.mark.parametrize("member", sorted(ZOO))
def test_two_zoo_epochs_on_the_cpu_give_the_pinned_numbers(tmp_path, member):
    losses, map_value = ZOO[member]
    record = two_cpu_epochs(ROOT / "experiments" / "zoo" / f"{member}.toml", tmp_path)
    assert [e["loss"] for e in record["epochs"]] == losses
    assert record["metrics"]["map"] == map_value
