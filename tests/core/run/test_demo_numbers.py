"""The demo's numbers, pinned: the method contract reshaped the run path, and an experiment built from
the backbone/head/loss triple must train and score exactly as before (CPU, seed 0, two epochs; measured
before the method kind existed, at commit 671bf2e)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LOSSES = [9.617615826924641, 9.874494043986003]
MAP = 0.1542892903647918


@pytest.mark.slow
def test_two_demo_epochs_on_the_cpu_give_the_pinned_numbers(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hashbench", "run", str(ROOT / "experiments" / "demo.toml"),
                           "--set", "train.epochs=2", "--set", "train.eval_every=2", "--set", 'device="cpu"',
                           "--no-record", "--runs-dir", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = list((tmp_path / "demo").iterdir())
    record = json.loads((run_dir / "record.json").read_text())
    assert [e["loss"] for e in record["epochs"]] == LOSSES
    assert record["metrics"]["map"] == MAP
