"""hashbench.run.sweeps: the skip-done rule (points already in the results table) and parallel points."""
from __future__ import annotations

import tomllib

from support import tiny_experiment_text
from hashbench.config import expand_sweep, experiment_from_dict
from hashbench.results import append_rows, metric_rows, RESULT_COLUMNS
from hashbench.run.sweeps import SweepEvents, plan_points, run_points_in_parallel


def points():
    doc = tomllib.loads(tiny_experiment_text(epochs=1))
    doc["sweep"] = {"seed": [0, 1, 2]}
    return expand_sweep(experiment_from_dict(doc))


def test_points_in_the_table_are_skipped_unless_forced_or_resumed(tmp_path):
    grid, table = points(), tmp_path / "results.csv"
    base = {c: "x" for c in RESULT_COLUMNS if c not in ("metric", "value")}
    base.update(bits=16, frames=8, epoch=1, seed=1, skipped=0, config_hash=grid[1].config_hash())
    append_rows(table, metric_rows(base, {"map": 0.5}))
    plan = plan_points(grid, table)
    assert [i for i, _ in plan.todo] == [0, 2] and plan.done == [(grid[1], grid[1].config_hash())]
    assert len(plan_points(grid, table, force=True).todo) == 3
    assert len(plan_points(grid, table, resume=True).todo) == 3
    assert len(plan_points(grid, None).todo) == 3 and len(plan_points(grid, tmp_path / "none.csv").todo) == 3


def test_parallel_points_report_through_events(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text('name = "x"\n')  # not a valid experiment: every point fails, quickly
    seen = []
    failed = run_points_in_parallel(toml, [], [], [0, 1], 2, tmp_path / "runs", None,
                                    SweepEvents(started=lambda i, slot: seen.append(("started", i, slot)),
                                                failed=lambda i, code, out: seen.append(("failed", i, code))))
    assert sorted(failed) == [0, 1]
    assert sorted(e for e in seen if e[0] == "started") == [("started", 0, 0), ("started", 1, 1)]
    assert sorted(e for e in seen if e[0] == "failed") == [("failed", 0, 2), ("failed", 1, 2)]
