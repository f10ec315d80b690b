"""A failure on one rank of a distributed run: every rank stops, one line names the rank and what
happened, the run is recorded ``failed`` (never left ``running``), and ``--resume`` finishes it.

The faults come from the hashbench-faults test plugin (pip-installed with --target, as in
tests/cli/test_cli_faults.py): its loss raises, or SIGKILLs its own process, at step 2 on the rank
``HASHBENCH_FAULTS_RANK`` names.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import ROOT, pip_install, run_cli, tiny_experiment_text

from hashbench.results import read_results

pytestmark = [pytest.mark.slow, pytest.mark.training]
FAULTS_SOURCE = ROOT / "tests" / "packages" / "hashbench_faults"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return pip_install(FAULTS_SOURCE, tmp_path_factory.mktemp("faults-site"))


def faulty_experiment(folder: Path, mode: str) -> Path:
    text = tiny_experiment_text(epochs=2, batch_size=16, backbone='name = "r3d18"\nwidth = 4', num_frames=4,
                                metrics='["map"]')
    text = text.replace('name = "batch_all_triplet"\nmargin = 4', f'name = "faulty_loss"\nmode = "{mode}"\nat_step = 5')
    path = folder / f"{mode}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("mode, expected", [
    ("raise_forward", r"rank 1: loss 'faulty_loss' (hashbench-faults 0.1.0) raised at epoch 2"),
    ("kill", "a process of the distributed run stopped without a message (killed?)"),
])
def test_a_failed_rank_stops_the_run_in_one_line_and_resume_finishes_it(tmp_path, site, mode, expected):
    toml = faulty_experiment(tmp_path, mode)
    env = {"PYTHONPATH": str(site), "HASHBENCH_FAULTS_RANK": "1", "OMP_NUM_THREADS": "1"}
    args = ("run", str(toml), "--quiet", "--nproc", "2", "--results", "results.csv")
    failed = run_cli(*args, cwd=tmp_path, env=env)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0] and "recorded as failed" in lines[0], failed.stderr
    (record_path,) = list((tmp_path / "runs").glob("*/*/record.json"))
    record = json.loads(record_path.read_text())
    assert record["status"] == "failed" and record["error"]["epoch"] == 2, record.get("error")
    assert not list(record_path.parent.glob("rank*.error"))
    assert not (tmp_path / "results.csv").exists() or read_results(tmp_path / "results.csv").empty

    resumed = run_cli(*args, "--resume", cwd=tmp_path, env=dict(env, HASHBENCH_FAULTS_RANK="none"))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    record = json.loads(record_path.read_text())
    assert record["status"] == "finished" and record["resumed"][-1]["from_epoch"] == 2
    assert len(read_results(tmp_path / "results.csv")) == 1  # one metric, one row
