"""Running experiments: orchestration of the other packages (the only place that ties them together).

- :mod:`~hashbench.run.build`: the components of an experiment, built with context and checked;
- :mod:`~hashbench.run.runner`: ``run_experiment`` — build, check, train, evaluate, record;
- :mod:`~hashbench.run.selection`: which epoch is reported (last / best on validation / best on test);
- :mod:`~hashbench.run.evaluator`: encode the splits, score them with the run's metrics;
- :mod:`~hashbench.run.state`: what a checkpoint holds, and resuming from it;
- :mod:`~hashbench.run.provenance`: the results row and the run's record (git commit, versions, data);
- :mod:`~hashbench.run.preflight`: every sweep point checked before the first one trains;
- :mod:`~hashbench.run.sweeps`: the skip-done rule and parallel sweep points;
- :mod:`~hashbench.run.validation`: ``hashbench validate``'s dry check;
- :mod:`~hashbench.run.interrupts`: SIGTERM stops a run like Ctrl-C.

Plugins never import this package.
"""
from __future__ import annotations

from .build import BuiltExperiment, build_components
from .preflight import check_points
from .runner import RunResult, find_resumable, run_experiment
from .sweeps import SweepEvents, SweepPlan, plan_points, run_points_in_parallel
from .validation import validate_experiment

__all__ = ["BuiltExperiment", "build_components", "check_points", "RunResult", "find_resumable",
           "run_experiment", "SweepEvents", "SweepPlan", "plan_points", "run_points_in_parallel",
           "validate_experiment"]
