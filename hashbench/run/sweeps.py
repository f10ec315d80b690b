"""Running the points of a sweep: which points still need a run, and several at once in parallel.

The skip-done rule: a point whose config hash already has rows in the results table is skipped
(``--force`` runs it again; with ``--resume`` or without a results table nothing is skipped), so an
interrupted sweep resumes where it stopped. Parallel points (``--jobs N``) are separate processes of
``hashbench run --point I``, at most N at once, each seeing one GPU (round-robin over the visible ones)
and a share of the CPU threads; their output comes back through :class:`SweepEvents`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..config import Experiment
from ..device import usable_cpus
from ..results import completed_config_hashes

__all__ = ["SweepPlan", "plan_points", "SweepEvents", "run_points_in_parallel"]


@dataclass
class SweepPlan:
    """The points to run (``(index, experiment)`` in grid order) and those already in the table."""

    todo: list[tuple[int, Experiment]] = field(default_factory=list)
    done: list[tuple[Experiment, str]] = field(default_factory=list)  # (point, its config hash)


def plan_points(points: Sequence[Experiment], results_path: Optional[Path], *, force: bool = False,
                resume: bool = False) -> SweepPlan:
    """Split ``points`` by the skip-done rule (see the module docstring)."""
    done = set() if force or resume or results_path is None else completed_config_hashes(results_path)
    plan = SweepPlan()
    for index, point in enumerate(points):
        config_hash = point.config_hash()
        if config_hash in done:
            plan.done.append((point, config_hash))
        else:
            plan.todo.append((index, point))
    return plan


@dataclass
class SweepEvents:
    """Callbacks of :func:`run_points_in_parallel` (the CLI prints them): a point started in a slot, a
    point finished (its combined output), a point failed (exit code and output)."""

    started: Callable[[int, int], None] = lambda index, slot: None
    finished: Callable[[int, str], None] = lambda index, output: None
    failed: Callable[[int, int, str], None] = lambda index, code, output: None


def run_points_in_parallel(experiment_file: Path, overrides: Sequence[str], unsets: Sequence[str],
                           indices: Sequence[int], jobs: int, runs_dir: Path, results_path: Optional[Path],
                           events: SweepEvents = SweepEvents()) -> list[int]:
    """Run sweep points as separate processes, at most ``jobs`` at once; one visible GPU per process.

    Returns the indices of the points that failed (in the order they ended).
    """
    import torch

    gpus = list(range(torch.cuda.device_count()))
    threads = max(1, usable_cpus() // jobs)
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
            events.started(index, slot)
        slot, index, proc = running.pop(0)
        output, _ = proc.communicate()
        slot_free.append(slot)
        if proc.returncode != 0:
            failed.append(index)
            events.failed(index, proc.returncode, output)
        else:
            events.finished(index, output)
    return failed
