"""Typed protocols of the component kinds and of the ``run`` object lifecycle hooks receive.

They state the duck-typed contract of :mod:`hashbench.contract.hookspecs` for type checkers and
readers; hashbench checks the same points at run time (:mod:`hashbench.contract.checks`) and the
conformance kit (:mod:`hashbench.contract.conformance`) checks them on every registered component.
Losses have a base class instead (:class:`hashbench.contract.losses.HashLoss`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Protocol, Sequence, Tuple, runtime_checkable

__all__ = ["Backbone", "Head", "Dataset", "Metric", "EpochAware", "RunInfo"]


@runtime_checkable
class Backbone(Protocol):
    """An ``nn.Module``: float clips ``(B, 3, T, H, W)`` -> features ``(B, feature_dim)``.

    ``input_mean``/``input_std``: 3-tuples in 0-255 pixel units (RGB), the normalisation its weights
    expect; hashbench normalises uint8 clips with them on the device. Declaring them is required.
    """

    feature_dim: int
    input_mean: Tuple[float, float, float]
    input_std: Tuple[float, float, float]

    def __call__(self, clips: Any) -> Any: ...


@runtime_checkable
class Head(Protocol):
    """An ``nn.Module``: features ``(B, D)`` -> real-valued codes ``(B, bits)``; the binary code is the sign."""

    def __call__(self, features: Any) -> Any: ...


@runtime_checkable
class EpochAware(Protocol):
    """A head, backbone or loss that follows the epoch (a continuation schedule): called before every
    epoch (1-based), and again after ``--resume``."""

    def on_epoch_start(self, epoch: int, epochs: int) -> None: ...


@runtime_checkable
class Dataset(Protocol):
    """Train / query / database splits of ``(uint8 clip (3, T, H, W), label)`` items.

    Labels are ``int`` class ids (single-label) or multi-hot float tensors ``(C,)`` (``multi_label``).
    ``video_ids(split)`` gives one stable id per item, in order; ``info()`` the provenance recorded in
    results rows (``split``, ``data_checksum``, ``data_origin``, ``skipped``). Optional:
    ``clip_geometry()`` (how a video file becomes one of its clips).
    """

    num_classes: int
    class_names: Sequence[str]
    multi_label: bool
    num_frames: int

    def split(self, name: str) -> Any: ...

    def video_ids(self, name: str) -> Sequence[str]: ...

    def info(self) -> Mapping[str, str]: ...


@runtime_checkable
class Metric(Protocol):
    """``(query_codes, query_labels, db_codes, db_labels) -> float`` on packed codes."""

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
