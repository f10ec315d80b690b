"""The reference loggers (``loggers = ["jsonl", "tensorboard"]``) on a real run through the CLI: what each
writes per epoch and evaluation, the resumed run appending, and an unknown logger name refused up front."""
from __future__ import annotations

import json

import pytest

from support import run_cli, tiny_experiment_text


def _experiment(tmp_path, loggers: str, epochs: int = 2):
    text = f"loggers = {loggers}\n" + tiny_experiment_text(epochs=epochs)
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def _run(tmp_path, path, *extra):
    return run_cli("run", str(path), "-q", "--runs-dir", str(tmp_path / "runs"), *extra,
                   env={"HASHBENCH_RESULTS": str(tmp_path / "results.csv")}, cwd=tmp_path)


def _run_dir(tmp_path):
    (run_dir,) = [p for p in (tmp_path / "runs" / "tiny").iterdir() if p.is_dir()]
    return run_dir


@pytest.mark.training
def test_jsonl_logs_every_epoch_evaluation_and_the_end(tmp_path):
    proc = _run(tmp_path, _experiment(tmp_path, '["jsonl"]'))
    assert proc.returncode == 0, proc.stderr
    run_dir = _run_dir(tmp_path)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "evaluated", "epoch", "evaluated", "epoch", "end"]  # an epoch is logged after its evaluation
    record = json.loads((run_dir / "record.json").read_text())
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert [e["loss"] for e in epochs] == pytest.approx([e["loss"] for e in record["epochs"]])
    assert all(e["lr"] == pytest.approx(1e-3) and e["clips_per_s"] > 0 for e in epochs)
    evaluated = [e for e in events if e["event"] == "evaluated"]
    assert [e["split"] for e in evaluated] == ["test", "test"]
    assert evaluated[-1]["map"] == pytest.approx(record["evaluations"][-1]["metrics"]["map"])
    assert events[-1]["map"] == pytest.approx(record["metrics"]["map"])
    assert not (run_dir / "tensorboard").exists()  # only what the experiment asked for


@pytest.mark.training
def test_tensorboard_writes_scalars_readable_by_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    proc = _run(tmp_path, _experiment(tmp_path, '["tensorboard"]'))
    assert proc.returncode == 0, proc.stderr
    run_dir = _run_dir(tmp_path)
    assert not (run_dir / "metrics.jsonl").exists()
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/clips_per_s", "test/map", "test/map@10", "final/map"} <= tags
    assert [s.step for s in events.Scalars("train/loss")] == [1, 2]
    record = json.loads((run_dir / "record.json").read_text())
    assert events.Scalars("final/map")[0].value == pytest.approx(record["metrics"]["map"], abs=1e-6)


def test_an_unknown_logger_is_refused_before_training(tmp_path):
    proc = _run(tmp_path, _experiment(tmp_path, '["jsonl", "wandb"]'))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "loggers" in lines[0] and "'wandb'" in lines[0] and "jsonl, tensorboard" in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("record.json"))


def test_a_sweep_checks_its_loggers_before_the_first_point_trains(tmp_path):
    path = _experiment(tmp_path, '["jsonl", "tensorbord"]')
    path.write_text(path.read_text() + "\n[sweep]\nseed = [0, 1]\n")
    proc = _run(tmp_path, path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown logger 'tensorbord' (did you mean 'tensorboard'?)" in proc.stderr
    assert "sweep point" in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("record.json"))


def test_plugins_lists_the_loggers():
    proc = run_cli("plugins")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "logger" in line]
    assert any("jsonl" in row and "hashbench" in row for row in rows)
    assert any("tensorboard" in row for row in rows)
    only = run_cli("plugins", "--kind", "loss")
    assert "jsonl" not in only.stdout
