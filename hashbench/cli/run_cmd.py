"""`hashbench run` and `hashbench validate`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ._app import app, console, err_console

SET_HELP = "Override a config value, e.g. --set train.epochs=3 (TOML value syntax). Repeatable."


def _results_path(results: Optional[Path]) -> Path:
    from ..results import default_results_path

    return results if results is not None else default_results_path()


@app.command("run")
def run(
    experiment_file: Path = typer.Argument(..., help="Experiment TOML file."),
    set_: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished run of this config."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Sweep points run in parallel (one GPU each)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run directories go."),
    results: Optional[Path] = typer.Option(None, "--results", help="Results table [default: results/results.csv]."),
    force: bool = typer.Option(False, "--force", help="Run sweep points even if already in the results table."),
    point: Optional[int] = typer.Option(None, "--point", hidden=True, help="Run only this sweep point."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train and evaluate an experiment (every point of its [sweep]); append rows to the results table."""
    from .. import registry
    from ..config import expand_sweep, load_experiment
    from ..results import completed_config_hashes

    results_path = _results_path(results)
    points = expand_sweep(load_experiment(experiment_file, set_))
    reg = registry()
    if point is not None:
        if not 0 <= point < len(points):
            raise typer.BadParameter(f"--point {point}: the sweep has {len(points)} points")
        _run_one(points[point], reg, runs_dir, results_path, resume, quiet)
        return
    done = set() if force or resume else completed_config_hashes(results_path)
    todo = [(i, p) for i, p in enumerate(points) if p.config_hash() not in done]
    for i, p in enumerate(points):
        if p.config_hash() in done:
            console.print(f"[dim]skip {p.name}: already in {results_path} (config {p.config_hash()})[/]")
    if len(points) > 1:
        console.print(f"sweep: {len(points)} points, {len(todo)} to run")
    if jobs > 1 and len(todo) > 1:
        _run_parallel(experiment_file, set_, [i for i, _ in todo], jobs, runs_dir, results_path)
        return
    for _, p in todo:
        _run_one(p, reg, runs_dir, results_path, resume, quiet)


def _run_one(experiment, reg, runs_dir: Path, results_path: Path, resume: bool, quiet: bool) -> None:
    from ..engine import NullReporter
    from ..runner import run_experiment
    from .progress import RichReporter

    console.print(f"[bold]{experiment.name}[/] (config {experiment.config_hash()})")
    if quiet:
        result = run_experiment(experiment, reg, runs_dir=runs_dir, results_path=results_path,
                                resume=resume, reporter=NullReporter())
    else:
        with RichReporter(console) as reporter:
            result = run_experiment(experiment, reg, runs_dir=runs_dir, results_path=results_path,
                                    resume=resume, reporter=reporter)
    table = Table(title=f"{experiment.name}: epoch {result.epoch} ({result.selection})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, f"{value:.4f}")
    console.print(table)
    console.print(f"run directory: {result.run_dir}")
    console.print(f"rows appended to: {results_path}")


def _run_parallel(experiment_file: Path, overrides: List[str], indices: List[int], jobs: int,
                  runs_dir: Path, results_path: Path) -> None:
    """Run sweep points as separate processes, at most ``jobs`` at once; one visible GPU per process."""
    import torch

    gpus = list(range(torch.cuda.device_count()))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending, running, failed = list(indices), [], []
    slot_free = list(range(jobs))
    while pending or running:
        while pending and slot_free:
            slot, index = slot_free.pop(0), pending.pop(0)
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(gpus[slot % len(gpus)])
            cmd = [sys.executable, "-m", "hashbench", "run", str(experiment_file), "--point", str(index),
                   "--quiet", "--runs-dir", str(runs_dir), "--results", str(results_path)]
            for item in overrides:
                cmd += ["--set", item]
            running.append((slot, index, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                                          stderr=subprocess.STDOUT, text=True)))
            console.print(f"started sweep point {index} (slot {slot})")
        slot, index, proc = running.pop(0)
        output, _ = proc.communicate()
        slot_free.append(slot)
        if proc.returncode != 0:
            failed.append(index)
            err_console.print(f"sweep point {index} failed (exit {proc.returncode}):\n{output.strip()}")
        else:
            console.print(output.strip())
    if failed:
        err_console.print(f"{len(failed)} sweep point(s) failed: {failed}")
        raise typer.Exit(1)


@app.command("validate")
def validate(
    experiment_file: Path = typer.Argument(..., help="Experiment TOML file."),
    set_: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
) -> None:
    """Check an experiment: parse, build every component, load one batch and run the loss. No training."""
    from .. import registry
    from ..config import expand_sweep, load_experiment
    from ..validation import validate_experiment

    points = expand_sweep(load_experiment(experiment_file, set_))
    reg = registry()
    for experiment in points:
        report = validate_experiment(experiment, reg)
        console.print(f"[green]ok[/] {experiment.name} (config {experiment.config_hash()})")
        for key, value in report.items():
            console.print(f"  {key}: {value}")
