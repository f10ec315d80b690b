"""Typed protocols of the component kinds and of the ``run`` object lifecycle hooks receive.

They give the duck-typed contract of :mod:`hashbench.contract.hookspecs` (its one statement: shapes,
dtypes, what each kind declares) to type checkers; hashbench checks the same rules
(:mod:`hashbench.contract.rules`) at run time and in the conformance kit
(:mod:`hashbench.contract.conformance`). Losses have a base class instead
(:class:`hashbench.contract.losses.HashLoss`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Protocol, Sequence, Tuple, runtime_checkable

__all__ = ["Backbone", "Head", "Dataset", "Metric", "EpochAware", "RunInfo"]


@runtime_checkable
class Backbone(Protocol):
    """A backbone ``nn.Module`` (see :mod:`hashbench.contract.hookspecs`): clips to features, with its
    output width and input normalisation declared."""

    feature_dim: int
    input_mean: Tuple[float, float, float]
    input_std: Tuple[float, float, float]

    def __call__(self, clips: Any) -> Any: ...


@runtime_checkable
class Head(Protocol):
    """A hash head ``nn.Module``: features to real-valued codes (see :mod:`hashbench.contract.hookspecs`)."""

    def __call__(self, features: Any) -> Any: ...


@runtime_checkable
class EpochAware(Protocol):
    """A head, backbone or loss that follows the epoch (a continuation schedule): called before every
    epoch (1-based), and again after ``--resume``."""

    def on_epoch_start(self, epoch: int, epochs: int) -> None: ...


@runtime_checkable
class Dataset(Protocol):
    """A dataset: train / query / database splits of ``(clip, label)`` items, stable video ids and
    provenance (see :mod:`hashbench.contract.hookspecs`)."""

    num_classes: int
    class_names: Sequence[str]
    multi_label: bool
    num_frames: int

    def split(self, name: str) -> Any: ...

    def video_ids(self, name: str) -> Sequence[str]: ...

    def info(self) -> Mapping[str, str]: ...


@runtime_checkable
class Metric(Protocol):
    """A retrieval metric on packed codes, higher is better (see :mod:`hashbench.contract.hookspecs`)."""

    def __call__(self, query_codes: Any, query_labels: Any, db_codes: Any, db_labels: Any) -> float: ...


@dataclass(frozen=True)
class RunInfo:
    """What lifecycle hooks receive as ``run``: the run's id and directory, the experiment, the device
    (``cpu`` or ``cuda:<name>``) and, for distributed runs, this process's rank and the world size."""

    run_id: str
    run_dir: Path
    experiment: Any
    device: str
    rank: int = 0
    world_size: int = 1
    resumed_from: Optional[int] = None
