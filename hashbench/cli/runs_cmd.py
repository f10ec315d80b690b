"""`hashbench runs`: the run directories under --runs-dir, with their status and main metric."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ._app import app, console


@app.command("runs")
def runs(
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run directories are."),
    status: Optional[List[str]] = typer.Option(None, "--status", help="Only runs with this status: running,"
                                               " finished, failed or interrupted (repeatable)."),
    experiment: Optional[str] = typer.Option(None, "--experiment", "-e", help="Only runs of this experiment"
                                             " (a prefix matches sweep points too)."),
    last: Optional[int] = typer.Option(None, "--last", min=1, help="Only the N most recent runs."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List runs: id, experiment, status, epoch, main metric, path (and why a run failed)."""
    from ..errors import HashbenchError
    from ..results.rundir import STATUSES, iter_runs, summarize

    for value in status or []:
        if value not in STATUSES:
            raise HashbenchError(f"--status {value!r}: choose one of {', '.join(STATUSES)}")
    rows = [summarize(run) for run in iter_runs(runs_dir)]
    rows = [r for r in rows if (not status or r.status in status)
            and (experiment is None or r.experiment.startswith(experiment))]
    rows.sort(key=lambda r: (r.started, r.run_id))
    if last:
        rows = rows[-last:]
    submitted = _submitted(runs_dir, experiment)
    if json_out:
        typer.echo(json.dumps([{**r.__dict__, "path": str(r.path)} for r in rows], indent=2))
        return
    if submitted:
        _print_submitted(submitted)
    if not rows:
        console.print(f"no runs under {runs_dir}" + (" matching the filters" if status or experiment else ""),
                      highlight=False)
        return
    table = Table(title=f"runs under {runs_dir}")
    for column in ("run id", "experiment", "status", "epoch", "metric", "path", "note"):
        table.add_column(column, justify="right" if column == "epoch" else "left", overflow="fold")
    for r in rows:
        epoch = f"{r.epoch}/{r.epochs}" if r.epochs else str(r.epoch)
        metric = f"{r.metric} {r.value:.4f}" if r.value is not None else "–"
        table.add_row(r.run_id, r.experiment, r.status, epoch, metric, str(r.path), r.message)
    console.print(table)


def _submitted(runs_dir: Path, experiment: Optional[str]) -> list:
    """Sweep points submitted with --launcher (runs/<experiment>/jobs.json), with their jobs' states."""
    if not any(runs_dir.glob("*/jobs.json")):
        return []
    from ..run.cluster import submitted_points

    return [p for p in submitted_points(runs_dir) if experiment is None or p.point.startswith(experiment)]


def _print_submitted(points: list) -> None:
    table = Table(title="submitted sweep points")
    for column in ("point", "job", "launcher", "state", "submitted"):
        table.add_column(column, overflow="fold")
    for p in points:
        table.add_row(p.point, p.job_id, p.launcher, p.state, p.submitted)
    console.print(table)
