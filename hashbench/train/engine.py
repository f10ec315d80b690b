"""Training and encoding loops: mixed precision, data loaders, one epoch, encoding a split.

The engine knows nothing about methods: it receives a HashModel, a loss module and torch Datasets
whose items are ``(uint8 clip (3,T,H,W), label)``; clips are normalised on the device. What a loss
declares (:class:`hashbench.contract.HashLoss`) decides what it is given: the clips' indices in the
training split (``needs_indices``), the backbone's features (``needs_features``). Components that
follow the epoch get :func:`start_epoch`'s call before each one.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..contract.losses import call_loss, wants
from ..errors import ConfigError, TrainingError
from .distributed import average_gradients, gather_batch, gather_values
from .model import HashModel, binarize
from .progress import Position, Reporter
from .sampler import MicroBatch

log = logging.getLogger(__name__)

__all__ = ["EpochStats", "Precision", "MIN_TRAIN_BATCH", "drops_last_batch", "make_loader", "train_epoch", "encode",
           "seed_everything", "IndexedDataset", "start_epoch", "loss_parameters", "Encoded", "windows",
           "random_window", "global_batches"]


@dataclass
class EpochStats:
    """Mean loss over steps, throughput (clips/s), steps taken and optimiser steps skipped (zero loss)."""

    loss: float
    clips_per_s: float
    steps: int
    skipped_steps: int
    seconds: float


class Precision:
    """Mixed precision on CUDA: bf16 autocast where supported, else fp16 with a gradient scaler."""

    def __init__(self, device: torch.device, enabled: bool) -> None:
        self.enabled = enabled and device.type == "cuda"
        self.dtype = torch.float32
        self.scaler = None
        if self.enabled:
            if torch.cuda.is_bf16_supported():
                self.dtype = torch.bfloat16
            else:
                self.dtype = torch.float16
                self.scaler = _grad_scaler()

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.dtype)

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                      parameters: list[torch.nn.Parameter], grad_clip: float | None) -> None:
        """Backward, optional gradient-norm clipping over ``parameters``, optimizer step."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if grad_clip:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
            optimizer.step()

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of ``loss`` (scaled when a gradient scaler is used); gradients accumulate."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step(self, optimizer: torch.optim.Optimizer, parameters: list[torch.nn.Parameter],
             grad_clip: float | None) -> None:
        """Optional gradient-norm clipping over ``parameters``, then the optimizer step (after :meth:`backward`)."""
        if self.scaler is not None:
            if grad_clip:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
        optimizer.step()


def _grad_scaler() -> Any:
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3


#: Training batches smaller than this are dropped: BatchNorm and pairwise losses need two clips.
MIN_TRAIN_BATCH = 2


def drops_last_batch(n: int, batch_size: int) -> bool:
    """Whether training on ``n`` clips in batches of ``batch_size`` drops a last batch that is too small."""
    return n > batch_size and 0 < n % batch_size < MIN_TRAIN_BATCH


def make_loader(dataset: Dataset, batch_size: int, num_workers: int, device: torch.device,
                shuffle_seed: int | None = None, drop_small_last: bool = False,
                batch_sampler: Any = None, pin_memory: bool | None = None) -> DataLoader:
    """A DataLoader of uint8 clips; shuffled with a generator seeded by ``shuffle_seed`` when given.

    ``drop_small_last`` (training) drops a last batch of fewer than :data:`MIN_TRAIN_BATCH` clips;
    evaluation keeps every clip. A ``batch_sampler`` (e.g. :class:`~hashbench.train.sampler.PKBatchSampler`)
    decides the batches instead. ``pin_memory`` (``train.pin_memory``): pinned host memory for
    non-blocking copies; None = on CUDA.
    """
    pin = device.type == "cuda" if pin_memory is None else bool(pin_memory and device.type == "cuda")
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                          pin_memory=pin, persistent_workers=False)
    generator = None
    if shuffle_seed is not None:
        generator = torch.Generator()
        generator.manual_seed(shuffle_seed)
    drop_last = drop_small_last and drops_last_batch(len(dataset), batch_size)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_seed is not None,
                      generator=generator, num_workers=num_workers,
                      pin_memory=pin, persistent_workers=False, drop_last=drop_last)


def global_batches(n: int, batch_size: int, shuffle_seed: int, drop_small_last: bool = True) -> list[list[int]]:
    """The batches of dataset indices that :func:`make_loader` with ``shuffle_seed`` draws for ``n``
    items (the same permutation, built by the same DataLoader machinery), for sharding them."""
    indices: Any = range(n)
    loader = make_loader(indices, batch_size, 0, torch.device("cpu"), shuffle_seed=shuffle_seed,
                         drop_small_last=drop_small_last)
    return [[int(i) for i in batch] for batch in loader]


class IndexedDataset(Dataset):
    """Items ``(clip, label, index)``: ``dataset``'s items with their position in it (for memory banks)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        clip, label = self.dataset[index]
        return clip, label, index


def start_epoch(model: torch.nn.Module, loss_fn: Any, epoch: int, epochs: int) -> None:
    """Call ``on_epoch_start(epoch, epochs)`` on every submodule of ``model`` and on the loss that define it."""
    for component in list(model.modules()) + [loss_fn]:
        hook = getattr(component, "on_epoch_start", None)
        if callable(hook):
            hook(epoch, epochs)


def loss_parameters(loss_fn: Any) -> list[torch.nn.Parameter]:
    """The loss's own trainable parameters (a classifier, a learnable codebook); [] for a plain function."""
    if not isinstance(loss_fn, torch.nn.Module):
        return []
    return [p for p in loss_fn.parameters() if p.requires_grad]


def train_epoch(model: HashModel, loss_fn: torch.nn.Module, loader: DataLoader,
                optimizer: torch.optim.Optimizer, precision: Precision, device: torch.device,
                reporter: Reporter, epoch: int, epochs: int, skip_zero_loss: bool = True,
                grad_clip: float | None = None, position: Position | None = None,
                clip_frames: int | None = None, window_seed: int = 0, *, net: torch.nn.Module | None = None,
                plan: Sequence[MicroBatch] | None = None, loss_scope: str = "global",
                channels_last: bool = False, step_log: Callable[[dict[str, Any]], None] | None = None
                ) -> EpochStats:
    """One pass over ``loader``. A step whose loss is exactly 0 skips the optimiser step (original).

    ``loader`` yields ``(clips, labels)`` or, for a loss that needs them, ``(clips, labels, indices)``
    (see :class:`IndexedDataset`). ``clip_frames``: train on a random window of that many frames of
    each clip (drawn from a generator seeded with ``window_seed``, for the global batch). Raises
    TrainingError when the loss becomes NaN or infinite. ``position`` is kept up to date.

    Distributed runs and gradient accumulation: ``net`` is the module to call forward on (a
    DistributedDataParallel or compiled wrapper of ``model``); ``plan`` (from
    :class:`~hashbench.train.sampler.ShardedBatches`, one entry per loader batch) says which micro-batch of
    which step each batch is and how the global micro-batch is split over the processes. With
    ``loss_scope = "global"`` the relaxed codes, labels, indices and features are all-gathered and every
    process computes the loss of the global micro-batch (the same value everywhere); with ``"rank"`` each
    its own (the reported loss is their mean). A step's loss is the clip-weighted mean of its
    micro-batches' losses. ``step_log`` receives ``{"epoch", "step", "loss", "rank_losses"}`` per step.
    """
    model.train()
    net = net if net is not None else model
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.train()
    position = position if position is not None else Position()
    position.phase, position.epoch, position.step = "training", epoch, 0
    steps_in_epoch = len(loader) if plan is None else sum(1 for m in plan if m.last)
    reporter.start_epoch(epoch, epochs, steps_in_epoch)
    own_loss_parameters = loss_parameters(loss_fn)
    parameters = [p for p in model.parameters() if p.requires_grad] + own_loss_parameters
    with_features = wants(loss_fn, "features")
    window_rng = torch.Generator().manual_seed(window_seed) if clip_frames else None
    distributed = plan is not None and any(len(m.sizes) > 1 for m in plan[:1])
    gather = distributed and loss_scope == "global"
    total_loss, steps, skipped, clips = 0.0, 0, 0, 0
    step_loss, step_ranks = 0.0, [0.0] * (len(plan[0].sizes) if plan else 1)
    micro_plan = iter(plan) if plan is not None else None
    start_new_step = True
    start = time.perf_counter()
    for batch in loader:
        clips_u8, labels = batch[0], batch[1]
        micro = next(micro_plan) if micro_plan is not None else \
            MicroBatch((int(clips_u8.shape[0]),), 0, 1.0, True)
        indices = batch[2].to(device, non_blocking=True) if len(batch) > 2 else None
        position.step = steps + 1
        if window_rng is not None:
            clips_u8 = random_window(clips_u8, clip_frames, window_rng,  # type: ignore[arg-type]
                                     draws=micro.global_size, offset=micro.offset)
        clips_u8 = clips_u8.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if start_new_step:
            optimizer.zero_grad(set_to_none=True)
            step_loss, step_ranks = 0.0, [0.0] * len(micro.sizes)
            start_new_step = False
        no_sync = getattr(net, "no_sync", None)
        sync = contextlib.nullcontext() if micro.last or no_sync is None else no_sync()
        with sync:
            features = None
            inputs = model.normalize(clips_u8)
            if channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
            with precision.autocast():
                if with_features:
                    features, codes = net(inputs, return_features=True)
                    features = features.float()
                else:
                    codes = net(inputs)
            codes = codes.float()
            if gather:
                codes = gather_batch(codes, micro.sizes)
                labels = gather_batch(labels, micro.sizes)
                indices = gather_batch(indices, micro.sizes) if indices is not None else None
                features = gather_batch(features, micro.sizes) if features is not None else None
            loss = call_loss(loss_fn, codes, labels, indices, features)
            value = float(loss.detach())
            rank_values = gather_values(value, device) if distributed and not gather else [value]
            value = sum(rank_values) / len(rank_values)
            if not np.isfinite(value):
                amp = " or set train.amp = false" if precision.enabled else ""
                raise TrainingError(f"the loss became {value} at epoch {epoch}, step {steps + 1}: lower"
                                    f" train.optimizer.lr, set train.grad_clip (e.g. 1.0){amp}")
            plain = plan is None
            if not (plain and skip_zero_loss and value == 0.0):
                precision.backward(loss * micro.weight if micro.weight != 1.0 else loss)
        step_loss += value * micro.weight
        if len(rank_values) == len(step_ranks):
            step_ranks = [a + b * micro.weight for a, b in zip(step_ranks, rank_values)]
        clips += micro.global_size
        if not micro.last:
            continue
        start_new_step = True
        if distributed:
            average_gradients(own_loss_parameters)
        if skip_zero_loss and step_loss == 0.0:
            skipped += 1
        else:
            precision.step(optimizer, parameters, grad_clip)
        total_loss += step_loss
        steps += 1
        if step_log is not None:
            step_log({"epoch": epoch, "step": steps, "loss": step_loss,
                      "rank_losses": step_ranks if distributed and not gather else [step_loss]})
        reporter.step(total_loss / steps, clips / max(time.perf_counter() - start, 1e-9))
    seconds = time.perf_counter() - start
    reporter.end_epoch()
    return EpochStats(total_loss / max(steps, 1), clips / max(seconds, 1e-9), steps, skipped, seconds)


def windows(clips: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` consecutive windows of ``T // count`` frames of each clip: ``(B, 3, T, H, W)`` ->
    ``(B * count, 3, T // count, H, W)``, window-major within each clip (a remainder is left out)."""
    frames = clips.shape[2] // count
    if frames < 1:
        raise ConfigError(f"eval.clips = {count} needs clips of at least {count} frames, got {clips.shape[2]}")
    parts = [clips[:, :, i * frames:(i + 1) * frames] for i in range(count)]
    return torch.stack(parts, dim=1).flatten(0, 1)


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


@dataclass
class Encoded:
    """An encoded split: binary ``codes`` (N, bits) int8 and ``labels`` (N,) or (N, C); with a classifier,
    ``logits`` (N, C) float32 averaged over the clip's windows and ``window_logits`` (N, clips, C)."""

    codes: np.ndarray
    labels: np.ndarray
    logits: Optional[np.ndarray] = None
    window_logits: Optional[np.ndarray] = None


@torch.no_grad()
def encode(model: HashModel, dataset: Dataset, batch_size: int, num_workers: int,
           device: torch.device, precision: Precision, reporter: Reporter,
           split: str = "", clips: int = 1, classifier: Any = None) -> Encoded:
    """Codes of every item, in order: ``sign`` of the relaxed codes averaged over ``clips`` consecutive
    windows of each clip (``eval.clips``; 1 = the whole clip). ``classifier`` (a loss whose
    ``classify(codes, features)`` returns logits) adds the class logits, averaged the same way."""
    model.eval()
    loader = make_loader(dataset, batch_size, num_workers, device)
    reporter.start_encoding(split, len(dataset))  # type: ignore[arg-type]
    codes, labels, logits, window_logits = [], [], [], []
    for clips_u8, batch_labels in loader:
        clips_u8 = clips_u8.to(device, non_blocking=True)
        inputs = windows(clips_u8, clips) if clips > 1 else clips_u8
        with precision.autocast():
            features, relaxed = model(model.normalize(inputs), return_features=True)
        relaxed = relaxed.float().reshape(clips_u8.shape[0], clips, -1)
        codes.append(binarize(relaxed.mean(dim=1)).cpu().numpy())
        labels.append(batch_labels.numpy())
        if classifier is not None:
            flat = classifier.classify(relaxed.flatten(0, 1), features.float())
            per_window = flat.float().reshape(clips_u8.shape[0], clips, -1)
            window_logits.append(per_window.cpu().numpy())
            logits.append(per_window.mean(dim=1).cpu().numpy())
        reporter.encoded(clips_u8.shape[0])
    if classifier is None:
        return Encoded(np.concatenate(codes), np.concatenate(labels))
    return Encoded(np.concatenate(codes), np.concatenate(labels), np.concatenate(logits),
                   np.concatenate(window_logits))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
