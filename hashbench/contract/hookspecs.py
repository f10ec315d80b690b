"""The plugin contract: pluggy hook specifications of the ``hashbench`` project (what a plugin author reads).

A plugin is a module registered under the ``hashbench`` entry-point group that implements any of
these hooks with ``@hashbench.hookimpl``. Registration hooks return ``{name: factory}``; a factory is a
plain callable whose keyword parameters ARE the keys of that component's TOML table. Context values are
injected by parameter name when the factory declares them: ``bits``, ``feature_dim``, ``num_classes``,
``multi_label``, ``num_frames``, ``num_train`` (clips the run trains on), ``device``, ``seed``. Keep factory modules free of heavy imports
(import torch inside the factory) so that ``hashbench plugins`` stays fast.

Component shapes (duck-typed):

backbone  ``factory(**table, **context) -> nn.Module``: float clips ``(B, 3, T, H, W)`` -> features
          ``(B, D)``. Attributes: ``feature_dim: int``; ``input_mean``/``input_std``: 3-tuples in
          0-255 pixel units that the engine uses to normalise uint8 clips on the device.
          Declaring ``input_mean``/``input_std`` is required (no fallback): it is the normalisation its
          weights expect.
head      ``factory(feature_dim, bits, **table) -> nn.Module``: ``(B, D)`` -> real-valued codes
          ``(B, bits)``; the binary code is their ``sign``.
loss      ``factory(**table, **context) -> nn.Module``: ``(codes (B, bits), labels)`` -> scalar;
          labels are int64 ``(B,)`` or multi-hot float ``(B, C)``. Subclass
          ``hashbench.contract.HashLoss`` and implement ``compute_loss(batch)``; a loss may declare
          ``needs_indices`` (memory banks of the training split, with ``num_train``), ``needs_features``,
          own parameters (optimised at ``lr * lr_multiplier``, checkpointed) and ``classify``.
Heads, backbones and losses may define ``on_epoch_start(epoch, epochs)`` (1-based), called before
every epoch and again after ``--resume`` (continuation schedules).
dataset   ``factory(**table, **context) -> object`` with
          ``num_classes: int``, ``class_names: list[str]``, ``multi_label: bool``, ``num_frames: int``,
          ``split(name) -> torch.utils.data.Dataset`` for name in ``train``/``query``/``database``,
          whose items are ``(clip uint8 tensor (3, T, H, W), label)`` with label an ``int`` or a
          multi-hot float tensor ``(C,)``; ``video_ids(name) -> list[str]`` (stable ids, one per item);
          ``info() -> dict[str, str]``: provenance recorded in results rows (``split``,
          ``data_checksum``, ``data_origin`` = official / custom / generated, ``skipped``).
          Optional: ``clip_geometry() -> {"num_frames": T, "resize": [H, W] or None, "crop": int or
          None}``, how a video file becomes one of its clips (frames sampled, resized, centre-cropped);
          recorded in the run's ``record.json`` so that ``hashbench search --video`` encodes a new
          video the same way. ``hashbench.data.VideoDataset`` implements all of this.
metric    ``factory(**params) -> callable(query_codes, query_labels, db_codes, db_labels) -> float``
          on packed codes (``hashbench.codes.PackedCodes``); subclass
          ``hashbench.eval.metrics.Metric`` to share the ranking pass of the reference metrics. A metric registered as ``"name@k"`` is
          asked for as ``"name@100"`` (k=100); ``"name@r"`` as ``"name@r2"`` (r=2).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import pluggy

if TYPE_CHECKING:
    from .protocols import RunInfo

__all__ = ["PROJECT", "hookspec", "hookimpl", "Factories", "hashbench_backbones", "hashbench_heads",
           "hashbench_losses", "hashbench_datasets", "hashbench_metrics", "hashbench_run_start",
           "hashbench_epoch_end", "hashbench_evaluated", "hashbench_run_end", "hashbench_loggers"]

PROJECT = "hashbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: What a registration hook returns: ``{name: factory}``.
Factories = Mapping[str, Callable[..., Any]]


@hookspec
def hashbench_backbones() -> Factories:
    """Backbones this plugin provides: ``{name: factory}`` (see module docstring for the shape)."""


@hookspec
def hashbench_heads() -> Factories:
    """Hash heads this plugin provides: ``{name: factory(feature_dim, bits, **table)}``."""


@hookspec
def hashbench_losses() -> Factories:
    """Losses this plugin provides: ``{name: factory(**table, **context)}``."""


@hookspec
def hashbench_datasets() -> Factories:
    """Datasets this plugin provides: ``{name: factory(**table, **context)}``."""


@hookspec
def hashbench_metrics() -> Factories:
    """Retrieval metrics this plugin provides: ``{name: factory(**params)}``."""


@hookspec
def hashbench_loggers() -> Mapping[str, str]:
    """Run loggers this plugin implements (with the lifecycle hooks below): ``{name: summary}``. An
    experiment turns them on by name in its top-level ``loggers = [...]`` list, which hashbench checks
    against the names every plugin declares; the hooks see the list as ``run.experiment.loggers``."""


@hookspec
def hashbench_run_start(run: "RunInfo") -> None:
    """A run begins. ``run`` is a :class:`hashbench.contract.RunInfo`: ``run_id``, ``run_dir`` (Path),
    ``experiment``, ``device``, ``rank``/``world_size`` and ``resumed_from`` (the epoch a ``--resume``
    continues from, else None)."""


@hookspec
def hashbench_epoch_end(run: "RunInfo", epoch: int, logs: Mapping[str, float]) -> None:
    """An epoch (1-based) finished; ``logs`` holds at least ``loss`` and ``clips_per_s``."""


@hookspec
def hashbench_evaluated(run: "RunInfo", epoch: int, split: str, metrics: Mapping[str, float]) -> None:
    """Codes were scored at ``epoch`` on ``split`` (``validation`` or ``test``)."""


@hookspec
def hashbench_run_end(run: "RunInfo", metrics: Mapping[str, float]) -> None:
    """A run finished; ``metrics`` are the reported test metrics of the selected epoch."""
