"""Run loggers of the reference set, chosen per experiment by the top-level ``loggers`` list.

They are ordinary lifecycle-hook implementations (``hashbench_run_start``, ``hashbench_epoch_end``,
``hashbench_evaluated``, ``hashbench_run_end``), exactly what a third-party tracker plugin writes:

- ``"jsonl"`` (needs nothing): ``<run_dir>/metrics.jsonl``, one JSON object per line:
  ``{"event": "epoch", "epoch": 3, "loss": ..., "lr": ..., "clips_per_s": ..., "seconds": ...}``,
  ``{"event": "evaluated", "epoch": 5, "split": "test", "map": ...}`` and
  ``{"event": "end", "map": ...}`` (the reported metrics). A resumed run appends.
- ``"tensorboard"`` (``pip install 'hashbench[tensorboard]'``): event files in
  ``<run_dir>/tensorboard/``: scalars ``train/loss``, ``train/lr``, ``train/clips_per_s`` per epoch,
  ``<split>/<metric>`` per evaluation (``test/map``), ``final/<metric>`` at the end. View with
  ``tensorboard --logdir runs/``.

Only rank 0 of a distributed run logs. Each event is written and flushed when it happens, so a run
that fails or is interrupted keeps what it logged up to then.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Mapping

from hashbench.contract import RunInfo, hookimpl
from hashbench.errors import MissingExtraError

__all__ = ["LOGGERS", "JSONL_FILE", "TENSORBOARD_DIR"]

#: The names the experiment's ``loggers`` list may hold.
LOGGERS = ("jsonl", "tensorboard")
JSONL_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"

_writers: Dict[str, Any] = {}  # run_dir -> SummaryWriter of the runs in progress


def _enabled(run: RunInfo, name: str) -> bool:
    return run.rank == 0 and name in (getattr(run.experiment, "loggers", None) or ())


def _finite(values: Mapping[str, Any]) -> Dict[str, float]:
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def _jsonl(run: RunInfo, event: Dict[str, Any]) -> None:
    with open(Path(run.run_dir) / JSONL_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, sort_keys=False) + "\n")


def _writer(run: RunInfo) -> Any:
    key = str(run.run_dir)
    if key not in _writers:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingExtraError("loggers: \"tensorboard\" needs the tensorboard package: pip install"
                                    " 'hashbench[tensorboard]' (or remove it from the experiment's loggers)") from None
        _writers[key] = SummaryWriter(log_dir=str(Path(run.run_dir) / TENSORBOARD_DIR))
    return _writers[key]


def _log(run: RunInfo, event: Dict[str, Any], values: Dict[str, float], prefix: str, step: int) -> None:
    """One event to every enabled logger: a JSONL line ``{**event, **values}`` and scalars ``prefix/<key>``."""
    if _enabled(run, "jsonl"):
        _jsonl(run, {**event, **values})
    if _enabled(run, "tensorboard"):
        writer = _writer(run)
        for key, value in values.items():
            writer.add_scalar(f"{prefix}/{key}", value, step)
        writer.flush()


@hookimpl
def hashbench_run_start(run: RunInfo) -> None:
    if _enabled(run, "tensorboard"):
        _writer(run)  # fail at the start (missing extra), not after the first epoch
    if _enabled(run, "jsonl"):
        _jsonl(run, {"event": "start", "run_id": run.run_id, "device": run.device,
                     "world_size": run.world_size, "resumed_from": run.resumed_from})


@hookimpl
def hashbench_epoch_end(run: RunInfo, epoch: int, logs: Mapping[str, float]) -> None:
    values = _finite({k: v for k, v in logs.items() if k != "epoch"})
    _log(run, {"event": "epoch", "epoch": epoch}, values, "train", epoch)


@hookimpl
def hashbench_evaluated(run: RunInfo, epoch: int, split: str, metrics: Mapping[str, float]) -> None:
    _log(run, {"event": "evaluated", "epoch": epoch, "split": split}, _finite(metrics), split, epoch)


@hookimpl
def hashbench_run_end(run: RunInfo, metrics: Mapping[str, float]) -> None:
    _log(run, {"event": "end"}, _finite(metrics), "final", 0)
    if _enabled(run, "tensorboard"):
        _writers.pop(str(run.run_dir)).close()
