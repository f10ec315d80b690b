"""Sweep points as cluster jobs through submitit: ``hashbench run sweep.toml --launcher slurm|local``.

Each point still to run (the skip-done rule of :mod:`hashbench.run.sweeps`) becomes one job of an
array (``executor.batch()``), running ``hashbench run FILE --point I`` with the same overrides; the
job appends the point's rows to the results table itself (all or nothing, as every run does). A point
with ``gpus`` > 1 is one job of that many tasks on one node: submitit starts one process per GPU and
:func:`run_point` maps its job environment to torch.distributed's (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), so the point is a distributed run (see
:mod:`hashbench.train.distributed`).

``local`` is submitit's LocalExecutor: the same code path on this machine (tests use it). What was
submitted is kept in ``<runs>/<experiment>/jobs.json`` (job id, point, config hash), which
:func:`submitted_points` reads back with each job's state (queued, running, finished, failed).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..atomic import write_text_atomic
from ..errors import ConfigError, HashbenchError, MissingExtraError
from ..results.rundir import now_iso, safe_name

__all__ = ["LAUNCHERS", "LauncherOptions", "SubmittedPoint", "submit_points", "run_point", "submitted_points",
           "wait_for", "JOBS_FILE"]

LAUNCHERS = ("local", "slurm")
JOBS_FILE = "jobs.json"


@dataclass
class LauncherOptions:
    """Where each point runs: ``gpus`` (per point; > 1 = a distributed run), ``time`` (minutes),
    ``partition``, ``cpus_per_task``, ``mem_gb`` and ``slurm`` (further submitit ``slurm_*`` options).
    Built from the ``[launcher]`` table, then the CLI's options over it (:meth:`merged`)."""

    gpus: int = 0
    time: int = 60
    partition: Optional[str] = None
    cpus_per_task: Optional[int] = None
    mem_gb: Optional[float] = None
    slurm: dict[str, Any] = field(default_factory=dict)

    def merged(self, **given: Any) -> "LauncherOptions":
        """These options with every non-None value of ``given`` over them (``slurm`` dicts merged)."""
        out = LauncherOptions(**{**self.__dict__, "slurm": dict(self.slurm)})
        for key, value in given.items():
            if value is None:
                continue
            if key == "slurm":
                out.slurm.update(value)
            else:
                setattr(out, key, value)
        return out

    def parameters(self, name: str) -> dict[str, Any]:
        """submitit's ``update_parameters`` keywords for a job named ``name``."""
        tasks = max(1, self.gpus)
        params: dict[str, Any] = {"name": name, "timeout_min": self.time, "nodes": 1, "tasks_per_node": tasks,
                                  "gpus_per_node": self.gpus}
        if self.cpus_per_task is not None:
            params["cpus_per_task"] = self.cpus_per_task
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.partition is not None:
            params["slurm_partition"] = self.partition
        for key, value in self.slurm.items():
            params[key if key.startswith("slurm_") else f"slurm_{key}"] = value
        return params


@dataclass
class SubmittedPoint:
    """One submitted sweep point and, when read back, its job's ``state``."""

    experiment: str
    point: str
    index: int
    config_hash: str
    job_id: str
    launcher: str
    folder: str
    submitted: str
    state: str = ""
    handle: Any = field(default=None, repr=False, compare=False)  # submitit's Job (this process only)


def _submitit() -> Any:
    try:
        import submitit
    except ImportError as exc:
        raise MissingExtraError("--launcher needs submitit: pip install 'hashbench[slurm]'") from exc
    return submitit


def run_point(args: Sequence[str], cwd: str) -> str:
    """A job's work: ``hashbench ARGS`` in ``cwd`` (a subprocess), as a distributed run when the job has
    several tasks. Returns the command's last output line; HashbenchError with its error line when it
    fails (submitit records the job as failed)."""
    env = dict(os.environ)
    submitit = _submitit()
    job = submitit.JobEnvironment()
    if job.num_tasks > 1:
        port = 20000 + int("".join(c for c in str(job.job_id) if c.isdigit()) or 0) % 20000
        env.update(RANK=str(job.global_rank), WORLD_SIZE=str(job.num_tasks), LOCAL_RANK=str(job.local_rank),
                   LOCAL_WORLD_SIZE=str(job.num_tasks // max(1, job.num_nodes)), MASTER_ADDR=job.hostnames[0],
                   MASTER_PORT=str(port))
    proc = subprocess.run([sys.executable, "-m", "hashbench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise HashbenchError(lines[-1] if lines else f"hashbench {' '.join(args)} exited with {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def submit_points(experiment_file: Path, overrides: Sequence[str], unsets: Sequence[str],
                  points: Sequence[tuple[int, Any]], launcher: str, options: LauncherOptions, runs_dir: Path,
                  results_path: Optional[Path], experiment_name: str) -> list[SubmittedPoint]:
    """Submit every ``(index, experiment)`` point as one job of an array; record them in
    ``<runs_dir>/<experiment_name>/jobs.json``. Returns the submitted points (with their job ids)."""
    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher {launcher!r}: choose one of {', '.join(LAUNCHERS)}")
    submitit = _submitit()
    folder = (Path(runs_dir) / safe_name(experiment_name) / "jobs").resolve()
    executor = submitit.AutoExecutor(folder=folder, cluster="local" if launcher == "local" else "slurm")
    executor.update_parameters(**options.parameters(f"hashbench-{experiment_name}"))
    cwd = os.getcwd()
    jobs = []
    with executor.batch():
        for index, _ in points:
            args = ["run", str(Path(experiment_file).resolve()), "--point", str(index), "--quiet",
                    "--runs-dir", str(Path(runs_dir).resolve())]
            args += ["--no-record"] if results_path is None else ["--results", str(Path(results_path).resolve())]
            for item in unsets:
                args += ["--unset", item]
            for item in overrides:
                args += ["--set", item]
            jobs.append(executor.submit(run_point, args, cwd))
    submitted = [SubmittedPoint(experiment_name, point.name, index, point.config_hash(), str(job.job_id), launcher,
                                str(folder), now_iso(), handle=job) for (index, point), job in zip(points, jobs)]
    _record(Path(runs_dir) / safe_name(experiment_name) / JOBS_FILE, submitted)
    return submitted


def _record(path: Path, submitted: Sequence[SubmittedPoint]) -> None:
    previous = json.loads(path.read_text()) if path.is_file() else []
    rows = previous + [{k: v for k, v in p.__dict__.items() if k not in ("state", "handle")} for p in submitted]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(rows, indent=2))


def _job(point: SubmittedPoint) -> Any:
    if point.handle is not None:
        return point.handle
    submitit = _submitit()
    if point.launcher == "slurm":
        return submitit.SlurmJob(point.folder, point.job_id)
    from submitit.local.local import LocalJob

    return LocalJob(point.folder, point.job_id)


def _state(point: SubmittedPoint) -> str:
    """queued, running, finished, failed or unknown (from the job's result file, else the scheduler)."""
    job = _job(point)
    result = Path(job.paths.result_pickle)
    if result.is_file():
        try:
            job.results()  # every task's (one per GPU)
            return "finished"
        except Exception:  # submitit re-raises the job's error: the point failed
            return "failed"
    if point.launcher == "local" and point.handle is not None:
        return "running" if job.state == "RUNNING" else "unknown"
    if point.launcher == "local":
        try:
            os.kill(int(point.job_id), 0)
            return "running"
        except (OSError, ValueError):
            return "unknown"
    state = str(job.state).upper()
    if state in ("PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED"):
        return "queued"
    if state in ("RUNNING", "COMPLETING"):
        return "running"
    if state == "COMPLETED":
        return "finished"
    if state in ("FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"):
        return "failed"
    return "unknown"


def submitted_points(runs_dir: Path) -> list[SubmittedPoint]:
    """Every point recorded in a ``jobs.json`` under ``runs_dir``, with its job's current state."""
    out = []
    for path in sorted(Path(runs_dir).glob(f"*/{JOBS_FILE}")):
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for row in rows:
            point = SubmittedPoint(**{k: row[k] for k in SubmittedPoint.__dataclass_fields__ if k in row})
            point.state = _state(point)
            out.append(point)
    return out


def wait_for(points: Sequence[SubmittedPoint], poll_s: float = 1.0) -> list[SubmittedPoint]:
    """Wait until every point's job has ended; returns them with their final state."""
    while True:
        states = [_state(p) for p in points]
        if all(s in ("finished", "failed", "unknown") for s in states):
            for p, s in zip(points, states):
                p.state = s
            return list(points)
        time.sleep(poll_s)


def failure_line(point: SubmittedPoint) -> str:
    """The one-line error a failed point's job raised (empty when there is none to read)."""
    try:
        _job(point).results()
    except Exception as exc:  # the job's own error, re-raised by submitit with its traceback text
        text = str(exc).strip().splitlines()
        errors = [line for line in text if "HashbenchError:" in line or line.startswith("error:")]
        return (errors[-1] if errors else (text[-1] if text else "")).split("HashbenchError:")[-1].strip()
    return ""
