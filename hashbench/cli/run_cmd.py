"""`hashbench run` and `hashbench validate`."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.table import Table

from ._app import app, console, err_console

SET_HELP = "Override a config value, e.g. --set train.epochs=3 (TOML value syntax). Repeatable."
UNSET_HELP = "Remove a key from the experiment, e.g. --unset backbone.pretrained. Repeatable."


def _results_path(results: Optional[Path]) -> Path:
    from ..results import default_results_path

    return results if results is not None else default_results_path()


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM (a scheduler's kill) into the same clean interruption as Ctrl-C while a run trains."""
    from ..errors import RunInterrupted

    def handler(signum: int, frame: object) -> None:
        raise RunInterrupted("terminated", signal_name="SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _resume_command(experiment_file: Path, overrides: List[str], unsets: List[str], runs_dir: Path,
                    results: Optional[Path], record: bool) -> str:
    parts = ["hashbench", "run", str(experiment_file)]
    for item in unsets:
        parts += ["--unset", item]
    for item in overrides:
        parts += ["--set", item]
    if runs_dir != Path("runs"):
        parts += ["--runs-dir", str(runs_dir)]
    if results is not None:
        parts += ["--results", str(results)]
    if not record:
        parts.append("--no-record")
    return shlex.join(parts + ["--resume"])


@app.command("run")
def run(
    experiment_file: Path = typer.Argument(..., help="Experiment TOML file."),
    set_: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    unset: List[str] = typer.Option([], "--unset", help=UNSET_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest unfinished (interrupted or"
                                " failed) run of this config from its last checkpoint."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Sweep points run in parallel (one GPU each)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run directories go."),
    results: Optional[Path] = typer.Option(None, "--results", help="Results table [default:"
                                           " $HASHBENCH_RESULTS or results/results.csv]."),
    no_record: bool = typer.Option(False, "--no-record", help="Do not touch the results table (smoke runs)."),
    force: bool = typer.Option(False, "--force", help="Run sweep points even if already in the results table."),
    point: Optional[int] = typer.Option(None, "--point", hidden=True, help="Run only this sweep point."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train and evaluate an experiment (every point of its [sweep]); append rows to the results table."""
    from .. import registry
    from ..config import expand_sweep, load_experiment
    from ..errors import RunInterrupted
    from ..preflight import check_points
    from ..results import check_table, completed_config_hashes

    results_path = None if no_record else _results_path(results)
    points = expand_sweep(load_experiment(experiment_file, set_, unset))
    reg = registry()
    if results_path is not None:
        check_table(results_path)
    selected = points if point is None else [_point(points, point)]
    check_points(selected, reg)  # every point's plugins, keys, types and values, before any trains
    try:
        with _sigterm_interrupts():
            if point is not None:
                _run_one(selected[0], reg, runs_dir, results_path, resume, quiet)
                return
            done = set() if force or resume or results_path is None else completed_config_hashes(results_path)
            todo = [(i, p) for i, p in enumerate(points) if p.config_hash() not in done]
            for p in points:
                if p.config_hash() in done:
                    console.print(f"skip {p.name}: already in {results_path} (config {p.config_hash()});"
                                  " add --force to run it again", style="dim", highlight=False, markup=False)
            if len(points) > 1:
                console.print(f"sweep: {len(points)} points, {len(todo)} to run", highlight=False)
            if jobs > 1 and len(todo) > 1:
                _run_parallel(experiment_file, set_, unset, [i for i, _ in todo], jobs, runs_dir, results_path)
                return
            for _, p in todo:
                _run_one(p, reg, runs_dir, results_path, resume, quiet)
    except RunInterrupted as exc:
        command = _resume_command(experiment_file, set_, unset, runs_dir, results, not no_record)
        where = f"in epoch {exc.epoch}" if exc.epoch else "before training started"
        hint = f"; resume with: {command}" if exc.run_dir is not None else ""
        err_console.print(f"interrupted {where}{hint}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None


def _point(points: list, index: int):
    if not 0 <= index < len(points):
        raise typer.BadParameter(f"--point {index}: the sweep has {len(points)} points")
    return points[index]


def _run_one(experiment, reg, runs_dir: Path, results_path: Optional[Path], resume: bool, quiet: bool) -> None:
    from ..runner import run_experiment
    from .progress import PlainReporter, RichReporter

    console.print(f"[bold]{experiment.name}[/] (config {experiment.config_hash()})")
    if quiet:
        result = run_experiment(experiment, reg, runs_dir=runs_dir, results_path=results_path,
                                resume=resume, reporter=PlainReporter(console))
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
    console.print(f"run directory: {result.run_dir}", highlight=False)
    if results_path is None:
        console.print("results table not touched (--no-record)", highlight=False)
    elif result.appended:
        console.print(f"rows appended to: {results_path}", highlight=False)
    else:
        console.print(f"rows of run {result.run_id} were already in {results_path}; not appended again",
                      highlight=False)


def _run_parallel(experiment_file: Path, overrides: List[str], unsets: List[str], indices: List[int], jobs: int,
                  runs_dir: Path, results_path: Optional[Path]) -> None:
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
                   "--quiet", "--runs-dir", str(runs_dir)]
            cmd += ["--no-record"] if results_path is None else ["--results", str(results_path)]
            for item in unsets:
                cmd += ["--unset", item]
            for item in overrides:
                cmd += ["--set", item]
            running.append((slot, index, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                                          stderr=subprocess.STDOUT, text=True)))
            console.print(f"started sweep point {index} (slot {slot})", highlight=False)
        slot, index, proc = running.pop(0)
        output, _ = proc.communicate()
        slot_free.append(slot)
        if proc.returncode != 0:
            failed.append(index)
            err_console.print(f"sweep point {index} failed (exit {proc.returncode}):\n{output.strip()}",
                              highlight=False, markup=False)
        else:
            console.print(output.strip(), highlight=False, markup=False)
    if failed:
        err_console.print(f"{len(failed)} sweep point(s) failed: {failed}", highlight=False)
        raise typer.Exit(1)


@app.command("validate")
def validate(
    experiment_file: Path = typer.Argument(..., help="Experiment TOML file."),
    set_: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    unset: List[str] = typer.Option([], "--unset", help=UNSET_HELP),
) -> None:
    """Check an experiment: build every component, load a batch, one forward/backward pass. No training."""
    from .. import registry
    from ..config import expand_sweep, load_experiment
    from ..validation import validate_experiment

    points = expand_sweep(load_experiment(experiment_file, set_, unset))
    reg = registry()
    for experiment in points:
        report = validate_experiment(experiment, reg)
        console.print(f"[green]ok[/] {experiment.name} (config {experiment.config_hash()})")
        for key, value in report.items():
            console.print(f"  {key}: {value}", highlight=False, markup=False)
