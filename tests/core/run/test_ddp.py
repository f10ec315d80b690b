"""One run over two processes (torchrun, gloo on the CPU), against the same run in one process.

Real processes: ``python -m torch.distributed.run --standalone`` and ``hashbench run --nproc 2`` (which
launches the same). r3d18 has BatchNorm, whose per-process statistics differ from the global batch's,
so the equality runs set ``train.sync_bn = true`` (BatchNorm over the global batch on every process).
``HASHBENCH_STEP_LOG`` makes rank 0 trace every step's loss.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import run_cli, tiny_experiment_text

from hashbench.results import read_results

pytestmark = [pytest.mark.slow, pytest.mark.training]


def experiment(folder: Path, *, batch_size: int = 16, extra: str = "", loss: str = "batch_all_triplet",
               file: str = "exp.toml") -> Path:
    """The tiny experiment (r3d18 width 4, 8 frames of 32x32, 3 steps of 16 clips), SGD without momentum."""
    text = tiny_experiment_text(epochs=1, batch_size=batch_size, backbone='name = "r3d18"\nwidth = 4')
    text = text.replace('optimizer = { name = "adam", lr = 1e-3 }',
                        'optimizer = { name = "sgd", lr = 0.01, momentum = 0.0 }') + "\n"
    text = text.replace('name = "batch_all_triplet"\nmargin = 4', f'name = "{loss}"')
    text = text.replace("[train]\n", "[train]\n" + extra)
    path = folder / file
    path.write_text(text)
    return path


def steps(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def model_state(runs: Path) -> dict:
    (found,) = list(runs.glob("*/*/model.pt"))
    return torch.load(found, weights_only=True)["model"]


def record(runs: Path) -> dict:
    (found,) = list(runs.glob("*/*/record.json"))
    return json.loads(found.read_text())


def torchrun(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    full = dict(os.environ, COLUMNS="200", NO_COLOR="1", OMP_NUM_THREADS="1", **env)
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "hashbench", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


def test_two_processes_train_the_same_run_as_one(tmp_path):
    """DPSH (a memory bank indexed by the gathered clip indices), BatchNorm over the global batch.

    Why not the batch-all triplet here: its hinge and r3d18's ReLUs make three steps of that run
    ill-conditioned in float32 (one process with 1 or 2 threads already differs by ~1e-3 after 3 SGD
    steps); DPSH's smooth loss keeps one-process runs within ~1e-6 of each other."""
    toml = experiment(tmp_path, extra="sync_bn = true\n", loss="dpsh")
    one = run_cli("run", str(toml), "--quiet", "--runs-dir", "one", "--results", "one.csv", cwd=tmp_path,
                  env={"HASHBENCH_STEP_LOG": str(tmp_path / "one.jsonl")})
    assert one.returncode == 0, one.stderr
    two = torchrun("run", str(toml), "--quiet", "--runs-dir", "two", "--results", "two.csv", cwd=tmp_path,
                   env={"HASHBENCH_STEP_LOG": str(tmp_path / "two.jsonl")})
    assert two.returncode == 0, two.stdout + two.stderr
    a, b = steps(tmp_path / "one.jsonl"), steps(tmp_path / "two.jsonl")
    assert len(a) == len(b) == 3 and b[0]["world_size"] == 2
    relative = abs(a[0]["loss"] - b[0]["loss"]) / abs(a[0]["loss"])
    assert relative <= 1e-6, relative
    pa, pb = model_state(tmp_path / "one"), model_state(tmp_path / "two")
    worst = max(float((pa[k].double() - pb[k].double()).abs().max()) for k in pa)
    assert worst <= 1e-5, worst  # parameters and BatchNorm statistics after 3 steps
    rows_one, rows_two = read_results(tmp_path / "one.csv"), read_results(tmp_path / "two.csv")
    assert len(rows_two) == len(rows_one) == 3  # one set of rows: rank 0 alone appends
    assert list(rows_one["value"]) == list(rows_two["value"])  # the same metrics
    assert list(rows_one["config"]) == list(rows_two["config"])  # the same experiment identity
    assert rows_two["device"].iloc[0].startswith("2 x ")
    assert record(tmp_path / "two")["world_size"] == 2 and record(tmp_path / "one")["world_size"] == 1
    assert two.stdout.count("rows appended") == 1  # rank 0 alone prints
    print(f"first-step loss relative difference {relative:.2e}, parameter max difference {worst:.2e}")


def test_the_loss_sees_the_global_batch(tmp_path):
    """A batch-all triplet (not additive over clips) over 16 clips on 2 ranks equals the one-process loss
    over the same 16 clips."""
    whole = run_cli("run", str(experiment(tmp_path, extra="sync_bn = true\n")), "--quiet", "--no-record",
                    "--runs-dir", "whole", cwd=tmp_path, env={"HASHBENCH_STEP_LOG": str(tmp_path / "whole.jsonl")})
    assert whole.returncode == 0, whole.stderr
    full = run_cli("run", str(experiment(tmp_path, extra="sync_bn = true\n")), "--quiet", "--no-record", "--nproc",
                   "2", "--runs-dir", "full", cwd=tmp_path, env={"HASHBENCH_STEP_LOG": str(tmp_path / "full.jsonl")})
    assert full.returncode == 0, full.stdout + full.stderr
    one, two_global = steps(tmp_path / "whole.jsonl")[0]["loss"], steps(tmp_path / "full.jsonl")[0]["loss"]
    assert abs(one - two_global) <= 1e-6 * abs(one), (one, two_global)


def test_loss_scope_rank_reports_the_mean_of_the_ranks_own_losses(tmp_path):
    """With loss_scope = "rank" each rank's loss covers its own 8 clips; the step reports their mean."""
    toml = experiment(tmp_path, extra='loss_scope = "rank"\n')
    two = run_cli("run", str(toml), "--quiet", "--no-record", "--nproc", "2", "--runs-dir", "two", cwd=tmp_path,
                  env={"HASHBENCH_STEP_LOG": str(tmp_path / "two.jsonl"), "OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, two.stdout + two.stderr
    first = steps(tmp_path / "two.jsonl")[0]
    assert len(first["rank_losses"]) == 2 and first["rank_losses"][0] != first["rank_losses"][1]
    assert abs(first["loss"] - sum(first["rank_losses"]) / 2) <= 1e-6 * abs(first["loss"])
    # rank 0's loss is the loss of the global batch's first half alone: a one-process run with half the
    # batch sees exactly these clips first (the same seeded permutation), BatchNorm statistics included
    half = experiment(tmp_path, batch_size=8, file="half.toml")
    one = run_cli("run", str(half), "--quiet", "--no-record", "--runs-dir", "one", cwd=tmp_path,
                  env={"HASHBENCH_STEP_LOG": str(tmp_path / "one.jsonl")})
    assert one.returncode == 0, one.stderr
    assert abs(steps(tmp_path / "one.jsonl")[0]["loss"] - first["rank_losses"][0]) <= 1e-5 * abs(first["loss"])


def test_a_global_batch_that_does_not_split_is_one_line(tmp_path):
    toml = experiment(tmp_path, batch_size=15)
    proc = run_cli("run", str(toml), "--quiet", "--no-record", "--nproc", "2", cwd=tmp_path,
                   env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "train.batch_size = 15 (the global batch) does not divide among 2 processes" \
        in lines[0], proc.stderr
    assert not (tmp_path / "runs").exists()


def test_accumulation_and_a_loss_with_its_own_parameters_train_the_same_on_two_processes(tmp_path):
    """cross_entropy (a classifier owned by the loss: its gradients are averaged over the ranks, outside
    DDP), 2 micro-batches per step (DDP's no_sync on the first): 2 processes = 1 process, same settings."""
    toml = experiment(tmp_path, extra="sync_bn = true\naccumulate_steps = 2\n", loss="cross_entropy")
    one = run_cli("run", str(toml), "--quiet", "--no-record", "--runs-dir", "one", cwd=tmp_path,
                  env={"HASHBENCH_STEP_LOG": str(tmp_path / "one.jsonl")})
    assert one.returncode == 0, one.stderr
    two = run_cli("run", str(toml), "--quiet", "--no-record", "--nproc", "2", "--runs-dir", "two", cwd=tmp_path,
                  env={"HASHBENCH_STEP_LOG": str(tmp_path / "two.jsonl"), "OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, two.stdout + two.stderr
    a, b = [s["loss"] for s in steps(tmp_path / "one.jsonl")], [s["loss"] for s in steps(tmp_path / "two.jsonl")]
    assert len(a) == 3 and all(abs(x - y) <= 1e-6 * abs(x) for x, y in zip(a, b)), (a, b)
    saved = [torch.load(next((tmp_path / d).glob("*/*/model.pt")), weights_only=True) for d in ("one", "two")]
    for part in ("model", "loss"):
        assert saved[0][part].keys() == saved[1][part].keys() and saved[0][part]
        worst = max(float((saved[0][part][k].double() - saved[1][part][k].double()).abs().max())
                    for k in saved[0][part])
        assert worst <= 1e-5, (part, worst)
