"""One training epoch of a method: micro-batches, gradient accumulation, the optimizer step.

The loop drives any :class:`~hashbench.contract.HashMethod` with ``training_loss``: it receives the
:class:`Training` (the method, optimizer, precision, settings) and the epoch's batches
(:class:`~hashbench.train.loaders.EpochBatches`) of ``(item, label, index)``; uint8 clips stay uint8
(the method normalises them), features become float32. Each micro-batch is one
:class:`~hashbench.contract.MethodBatch`; ``training_loss`` runs in the precision's autocast. A
distributed run (the built-in ``deep_hashing`` only) gives the batch each process's share of the global
batch when the loss covers it (``loss_scope = "global"``). The rest is bookkeeping.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch

from ..config import TrainConfig
from ..contract.methods import MethodBatch
from ..errors import ConfigError, TrainingError
from .distributed import average_gradients, gather_values
from .loaders import EpochBatches
from .precision import Precision
from .progress import NullReporter, Position, Reporter
from .sampler import MicroBatch

__all__ = ["EpochStats", "TrainSettings", "Training", "train_epoch", "loss_parameters", "random_window"]

#: One loader batch on the device: inputs (B, ...), labels (B,) or (B, C), indices (B,).
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class EpochStats:
    """Mean loss over steps, throughput (clips/s), steps taken and optimiser steps skipped (zero loss)."""

    loss: float
    clips_per_s: float
    steps: int
    skipped_steps: int
    seconds: float


@dataclass(frozen=True)
class TrainSettings:
    """What the epoch loop reads from ``[train]`` (see :class:`~hashbench.config.TrainConfig`): ``epochs``;
    ``skip_zero_loss`` (a step whose loss is exactly 0 skips the optimizer step, as the original does);
    ``grad_clip`` (max gradient norm, None = off); ``clip_frames`` (train on a random window of that many
    frames, None = whole clips); ``loss_scope`` (``"global"``: in a distributed run every process computes
    the loss of the gathered global batch; ``"rank"``: each its own)."""

    epochs: int
    skip_zero_loss: bool = True
    grad_clip: Optional[float] = None
    clip_frames: Optional[int] = None
    loss_scope: str = "global"

    @classmethod
    def from_config(cls, train: TrainConfig) -> "TrainSettings":
        """The settings of the validated ``[train]`` table (built once per run)."""
        return cls(train.epochs, train.skip_zero_loss, train.grad_clip, train.clip_frames, train.scope)


@dataclass
class Training:
    """What a run trains with, built once: the ``method`` (its trainable parameters are optimized), the
    ``optimizer``, ``precision``, ``device`` and ``settings``. ``position`` is kept up to date;
    ``step_log`` receives ``{"epoch", "step", "loss", "rank_losses"}`` after every step."""

    method: Any
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    settings: TrainSettings
    reporter: Reporter = field(default_factory=NullReporter)
    position: Position = field(default_factory=Position)
    step_log: Optional[Callable[[dict[str, Any]], None]] = None


@dataclass
class _StepLoss:
    """The loss of the optimizer step being accumulated: the clip-weighted sum over its micro-batches,
    overall (``loss``) and per process (``ranks``)."""

    ranks: list[float]
    loss: float = 0.0

    def add(self, value: float, rank_values: list[float], weight: float) -> None:
        self.loss += value * weight
        if len(rank_values) == len(self.ranks):
            self.ranks = [a + b * weight for a, b in zip(self.ranks, rank_values)]


def loss_parameters(loss_fn: Any) -> list[torch.nn.Parameter]:
    """The loss's own trainable parameters (a classifier, a learnable codebook); [] for a plain function."""
    if not isinstance(loss_fn, torch.nn.Module):
        return []
    return [p for p in loss_fn.parameters() if p.requires_grad]


def train_epoch(training: Training, epoch: int, batches: EpochBatches) -> EpochStats:
    """One pass of ``training.method.training_loss`` over ``batches`` (epoch ``epoch``, 1-based). Raises
    TrainingError when the loss becomes NaN or infinite.

    Distributed runs and gradient accumulation: ``batches.plan`` (from
    :class:`~hashbench.train.sampler.ShardedBatches`) says which micro-batch of which step each loader
    batch is and how the global micro-batch is split over the processes (``MethodBatch.sizes``). A
    step's loss is the item-weighted mean of its micro-batches' losses; with ``loss_scope = "rank"`` the
    reported loss is the mean of the processes' losses.
    """
    method, settings, position, plan = training.method, training.settings, training.position, batches.plan
    method.train()
    position.phase, position.epoch, position.step = "training", epoch, 0
    training.reporter.start_epoch(epoch, settings.epochs,
                                  len(batches.loader) if plan is None else sum(1 for m in plan if m.last))
    own_parameters = loss_parameters(getattr(method, "loss", None))  # averaged by hand in a distributed run
    parameters = [p for p in method.parameters() if p.requires_grad]
    window_rng = torch.Generator().manual_seed(batches.seed) if settings.clip_frames else None
    distributed = plan is not None and any(len(m.sizes) > 1 for m in plan[:1])
    per_rank = distributed and settings.loss_scope != "global"
    total_loss, steps, skipped, clips = 0.0, 0, 0, 0
    step: _StepLoss | None = None
    start = time.perf_counter()
    for raw, micro in _micro_batches(batches):
        position.step = steps + 1
        batch = _on_device(raw, micro, window_rng, training)
        if step is None:
            training.optimizer.zero_grad(set_to_none=True)
            step = _StepLoss([0.0] * len(micro.sizes))
        step.add(*_backward(training, batch, micro, epoch, steps + 1, plan is None, distributed), micro.weight)
        clips += micro.global_size
        if not micro.last:
            continue
        if distributed:
            average_gradients(own_parameters)
        if settings.skip_zero_loss and step.loss == 0.0:
            skipped += 1
        else:
            training.precision.step(training.optimizer, parameters, settings.grad_clip)
        total_loss += step.loss
        steps += 1
        if training.step_log is not None:
            training.step_log({"epoch": epoch, "step": steps, "loss": step.loss,
                               "rank_losses": step.ranks if per_rank else [step.loss]})
        training.reporter.step(total_loss / steps, clips / max(time.perf_counter() - start, 1e-9))
        step = None
    seconds = time.perf_counter() - start
    training.reporter.end_epoch()
    return EpochStats(total_loss / max(steps, 1), clips / max(seconds, 1e-9), steps, skipped, seconds)


def _backward(training: Training, batch: Batch, micro: MicroBatch, epoch: int, step: int, plain: bool,
              distributed: bool) -> tuple[float, list[float]]:
    """Loss and backward of one micro-batch (gradients accumulate; DDP syncs them on the step's last);
    returns the loss (the processes' mean with ``loss_scope = "rank"``) and each process's loss. A plain
    run (no plan) skips the backward of a loss that is exactly 0 when ``skip_zero_loss``."""
    settings, method = training.settings, training.method
    gather = distributed and settings.loss_scope == "global"
    no_sync = getattr(method, "no_sync", None)
    inputs, labels, indices = batch
    with contextlib.nullcontext() if micro.last or no_sync is None else no_sync():
        with training.precision.autocast():
            loss = method.training_loss(MethodBatch(inputs, indices, labels if method.needs_labels else None,
                                                    micro.sizes if gather else None))
        value = float(loss.detach())
        rank_values = gather_values(value, training.device) if distributed and not gather else [value]
        value = sum(rank_values) / len(rank_values)
        if not np.isfinite(value):
            amp = " or set train.amp = false" if training.precision.enabled else ""
            raise TrainingError(f"the loss became {value} at epoch {epoch}, step {step}: lower"
                                f" train.optimizer.lr, set train.grad_clip (e.g. 1.0){amp}")
        if not (plain and settings.skip_zero_loss and value == 0.0):
            training.precision.backward(loss * micro.weight if micro.weight != 1.0 else loss)
    return value, rank_values


def _micro_batches(batches: EpochBatches) -> Iterator[tuple[Any, MicroBatch]]:
    """Every loader batch with its micro-batch (a whole step of one process when there is no plan)."""
    plan = iter(batches.plan) if batches.plan is not None else None
    for batch in batches.loader:
        yield batch, next(plan) if plan is not None else MicroBatch((int(batch[0].shape[0]),), 0, 1.0, True)


def _on_device(batch: Any, micro: MicroBatch, window_rng: torch.Generator | None, training: Training) -> Batch:
    """A loader batch ``(inputs, labels, indices)`` on the device (uint8 clips kept, features as
    float32), clips cut to a random window of ``clip_frames`` frames when set."""
    device = training.device
    inputs, labels, indices = batch[0], batch[1], batch[2]
    if window_rng is not None:
        inputs = random_window(inputs, training.settings.clip_frames,  # type: ignore[arg-type]
                               window_rng, draws=micro.global_size, offset=micro.offset)
    inputs = inputs.to(device, non_blocking=True)
    return (inputs if inputs.dtype == torch.uint8 else inputs.float(), labels.to(device, non_blocking=True),
            indices.to(device, non_blocking=True))


def random_window(clips: torch.Tensor, frames: int, generator: torch.Generator, draws: int | None = None,
                  offset: int = 0) -> torch.Tensor:
    """A random window of ``frames`` consecutive frames of each clip (``train.clip_frames``), drawn with
    ``generator`` (seeded per epoch and step, so a resumed run draws the same windows). In a distributed
    run ``draws`` starts are drawn for the global batch and this process's clips take ``offset`` onwards."""
    total = clips.shape[2]
    if frames > total:
        raise ConfigError(f"train.clip_frames = {frames} is longer than the clips ({total} frames)")
    count = clips.shape[0] if draws is None else draws
    starts = torch.randint(0, total - frames + 1, (count,), generator=generator).tolist()
    starts = starts[offset:offset + clips.shape[0]]
    return torch.stack([clip[:, s:s + frames] for clip, s in zip(clips, starts)])
