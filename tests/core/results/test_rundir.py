"""hashbench.results.rundir: the one owner of the run-directory layout, records and statuses."""
from __future__ import annotations

import json
import re

import pytest

from hashbench.errors import DataError, ResourceError
from hashbench.results.rundir import STATUSES, RunDir, iter_runs, mark, safe_name, summarize


def test_new_run_directories_are_named_and_laid_out_by_rundir(tmp_path):
    run = RunDir.create(tmp_path / "runs", "demo@bits=16", "0123456789abcdef")
    assert run.path.parent == tmp_path / "runs" / "demo@bits=16" and run.exists()
    assert re.fullmatch(r"\d{8}-\d{6}-01234567-[0-9a-f]{4}", run.run_id)
    names = {p.name for p in (run.config_path, run.record_path, run.log_path, run.checkpoint_path, run.best_path,
                              run.model_path, run.codes_path, run.metrics_path, run.index_path("flat"))}
    assert names == {"config.json", "record.json", "log.txt", "checkpoint.pt", "best.pt", "model.pt", "codes.npz",
                     "metrics.json", "index-flat.faiss"}
    assert safe_name("a b/c") == "a_b_c" and safe_name("...") == "experiment"
    (tmp_path / "file").write_text("")
    with pytest.raises(ResourceError, match="while creating the run directory"):
        RunDir.create(tmp_path / "file", "x", "0" * 16)


def test_records_statuses_and_summaries(tmp_path):
    run = RunDir.create(tmp_path, "exp", "f" * 16)
    with pytest.raises(DataError, match="record.json: missing"):
        run.read_record()
    assert run.status() == "unknown"
    record = {"row": {"experiment": "exp"}, "status": "running", "started": "t", "epochs": [{"epoch": 1}],
              "metrics": {}, "evaluations": [{"metrics": {"map": 0.25}}]}
    run.write_record(record)
    mark(run, record, "failed", {"message": "boom"})
    assert run.status() == "failed" and json.loads(run.record_path.read_text())["error"] == {"message": "boom"}
    summary = summarize(run)
    assert (summary.status, summary.epoch, summary.metric, summary.value, summary.message) == ("failed", 1, "map", 0.25,
                                                                                                "boom")
    assert [r.path for r in iter_runs(tmp_path)] == [run.path] and "interrupted" in STATUSES
    run.record_path.write_text("{broken")
    assert summarize(run).status == "unreadable"


def test_the_reported_weights_of_old_runs(tmp_path):
    run = RunDir.create(tmp_path, "exp", "a" * 16)
    run.write_record({"row": {"selection": "best_val:map"}})
    assert run.weights_path() == run.checkpoint_path  # no best.pt either
    run.best_path.write_bytes(b"")
    assert run.weights_path() == run.best_path
    run.model_path.write_bytes(b"")
    assert run.weights_path() == run.model_path
