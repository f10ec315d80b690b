"""`hashbench run` and `hashbench validate` (parse, call :mod:`hashbench.run`, print)."""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ._app import app, console, err_console

SET_HELP = "Override a config value, e.g. --set train.epochs=3 (TOML value syntax). Repeatable."
UNSET_HELP = "Remove a key from the experiment, e.g. --unset backbone.pretrained. Repeatable."


def _results_path(results: Optional[Path]) -> Path:
    from ..results import default_results_path

    return results if results is not None else default_results_path()


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
    nproc: int = typer.Option(1, "--nproc", min=1, help="Train each run on N processes of this machine (one per"
                              " GPU): the same as torchrun --standalone --nproc_per_node N -m hashbench run ..."),
    launcher: Optional[str] = typer.Option(None, "--launcher", help="Submit the points still to run as jobs"
                                           " through submitit: slurm (an array job) or local (this machine; waits)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", min=0, help="GPUs per point (--launcher; > 1 = a"
                                       " distributed run) [default: [launcher] gpus, else 0]."),
    time_min: Optional[int] = typer.Option(None, "--time", min=1, help="Time limit per point in minutes"
                                           " (--launcher) [default: [launcher] time, else 60]."),
    partition: Optional[str] = typer.Option(None, "--partition", help="SLURM partition (--launcher slurm)."),
    cpus_per_task: Optional[int] = typer.Option(None, "--cpus-per-task", min=1, help="CPUs per task (--launcher)."),
    mem_gb: Optional[float] = typer.Option(None, "--mem-gb", min=0.1, help="Memory per job in GB (--launcher)."),
    slurm_option: List[str] = typer.Option([], "--slurm-option", help="A further submitit slurm option, KEY=VALUE"
                                           " (e.g. account=abc, qos=high). Repeatable."),
    wait: bool = typer.Option(False, "--wait", help="With --launcher slurm: wait for the jobs and report them."),
) -> None:
    """Train and evaluate an experiment (every point of its [sweep]); append rows to the results table."""
    if _worker_rank() > 0:  # a distributed run's other processes: rank 0 alone prints
        console.quiet = err_console.quiet = True
    from .. import registry
    from ..config import expand_sweep, load_experiment
    from ..errors import RunInterrupted
    from ..results import check_table
    from ..run.interrupts import sigterm_interrupts
    from ..run.preflight import check_points
    from ..run.sweeps import plan_points

    results_path = None if no_record else _results_path(results)
    points = expand_sweep(load_experiment(experiment_file, set_, unset))
    reg = registry()
    if results_path is not None:
        check_table(results_path)
    selected = points if point is None else [_point(points, point)]
    check_points(selected, reg)  # every point's plugins, keys, types and values, before any trains
    if nproc > 1 and _worker_rank() < 0:
        _launch(experiment_file, set_, unset, runs_dir, results, no_record, resume, force, point, quiet, nproc)
        return
    try:
        with sigterm_interrupts():
            if point is not None:
                _run_one(selected[0], reg, runs_dir, results_path, resume, quiet)
                return
            plan = plan_points(points, results_path, force=force, resume=resume)
            for p, config_hash in plan.done:
                console.print(f"skip {p.name}: already in {results_path} (config {config_hash});"
                              " add --force to run it again", style="dim", highlight=False, markup=False)
            if len(points) > 1:
                console.print(f"sweep: {len(points)} points, {len(plan.todo)} to run", highlight=False)
            if launcher is not None:
                given = {"gpus": gpus, "time": time_min, "partition": partition, "cpus_per_task": cpus_per_task,
                         "mem_gb": mem_gb, "slurm": _slurm_options(slurm_option)}
                _submit(experiment_file, set_, unset, points, plan.todo, launcher, given, wait, runs_dir,
                        results_path)
                return
            if jobs > 1 and len(plan.todo) > 1:
                _run_parallel(experiment_file, set_, unset, [i for i, _ in plan.todo], jobs, runs_dir, results_path)
                return
            for _, p in plan.todo:
                _run_one(p, reg, runs_dir, results_path, resume, quiet)
    except RunInterrupted as exc:
        command = _resume_command(experiment_file, set_, unset, runs_dir, results, not no_record)
        where = f"in epoch {exc.epoch}" if exc.epoch else "before training started"
        hint = f"; resume with: {command}" if exc.run_dir is not None else ""
        err_console.print(f"interrupted {where}{hint}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None


def _slurm_options(items: List[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--slurm-option {item!r}: expected KEY=VALUE, e.g. account=abc")
        out[key.strip()] = value.strip()
    return out


def _submit(experiment_file: Path, overrides: List[str], unsets: List[str], points: list, todo: list, launcher: str,
            given: dict, wait: bool, runs_dir: Path, results_path: Optional[Path]) -> None:
    """``--launcher``: submit the points still to run (:mod:`hashbench.run.cluster`); print the job ids,
    and, for ``local`` or with ``--wait``, how each ended."""
    from ..run.cluster import LauncherOptions, failure_line, submit_points, wait_for

    if not todo:
        return
    options = LauncherOptions(**todo[0][1].launcher).merged(**given)
    base = points[0].name.split("@")[0]  # a sweep's points are named <experiment>@<key=value,...>
    submitted = submit_points(experiment_file, overrides, unsets, todo, launcher, options, runs_dir, results_path,
                              base)
    for p in submitted:
        console.print(f"submitted {p.point} as job {p.job_id} ({launcher})", highlight=False)
    if launcher == "slurm" and not wait:
        console.print(f"follow them with: hashbench runs --runs-dir {runs_dir}", highlight=False)
        return
    ended = wait_for(submitted)
    failed = [p for p in ended if p.state != "finished"]
    for p in ended:
        console.print(f"{p.point}: {p.state}", highlight=False, markup=False)
    for p in failed:
        err_console.print(f"sweep point {p.index} ({p.point}) {p.state}: {failure_line(p)}", highlight=False,
                          markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _worker_rank() -> int:
    """This process's rank in a torchrun-launched distributed run, or -1 outside one."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return -1
    return int(os.environ.get("RANK", "0") or 0)


def _launch(experiment_file: Path, overrides: List[str], unsets: List[str], runs_dir: Path, results: Optional[Path],
            no_record: bool, resume: bool, force: bool, point: Optional[int], quiet: bool, nproc: int) -> None:
    """``--nproc N``: the same command on N local processes (:func:`hashbench.run.launch.launch_local`)."""
    from ..run.launch import launch_local

    args = ["run", str(experiment_file), "--runs-dir", str(runs_dir)]
    for item in unsets:
        args += ["--unset", item]
    for item in overrides:
        args += ["--set", item]
    if results is not None:
        args += ["--results", str(results)]
    args += [flag for flag, on in (("--no-record", no_record), ("--resume", resume), ("--force", force),
                                   ("--quiet", quiet)) if on]
    if point is not None:
        args += ["--point", str(point)]
    code, message = launch_local(args, nproc)
    if message:
        err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    if code:
        raise typer.Exit(code)


def _point(points: list, index: int):
    if not 0 <= index < len(points):
        raise typer.BadParameter(f"--point {index}: the sweep has {len(points)} points")
    return points[index]


def _run_one(experiment, reg, runs_dir: Path, results_path: Optional[Path], resume: bool, quiet: bool) -> None:
    from ..run.runner import run_experiment
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
    """Run sweep points in parallel processes (:func:`hashbench.run.sweeps.run_points_in_parallel`); print."""
    from ..run.sweeps import SweepEvents, run_points_in_parallel

    def failed_point(index: int, code: int, output: str) -> None:
        err_console.print(f"sweep point {index} failed (exit {code}):\n{output.strip()}", highlight=False,
                          markup=False)

    events = SweepEvents(
        started=lambda index, slot: console.print(f"started sweep point {index} (slot {slot})", highlight=False),
        finished=lambda index, output: console.print(output.strip(), highlight=False, markup=False),
        failed=failed_point)
    failed = run_points_in_parallel(experiment_file, overrides, unsets, indices, jobs, runs_dir, results_path, events)
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
    from ..run.validation import validate_experiment

    points = expand_sweep(load_experiment(experiment_file, set_, unset))
    reg = registry()
    for experiment in points:
        report = validate_experiment(experiment, reg)
        console.print(f"[green]ok[/] {experiment.name} (config {experiment.config_hash()})")
        for key, value in report.items():
            console.print(f"  {key}: {value}", highlight=False, markup=False)
