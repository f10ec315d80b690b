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
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..contract.losses import call_loss, wants
from ..errors import TrainingError
from .model import HashModel, binarize
from .progress import Position, Reporter

log = logging.getLogger(__name__)

__all__ = ["EpochStats", "Precision", "MIN_TRAIN_BATCH", "drops_last_batch", "make_loader", "train_epoch", "encode",
           "seed_everything", "IndexedDataset", "start_epoch", "loss_parameters"]


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
                batch_sampler: Any = None) -> DataLoader:
    """A DataLoader of uint8 clips; shuffled with a generator seeded by ``shuffle_seed`` when given.

    ``drop_small_last`` (training) drops a last batch of fewer than :data:`MIN_TRAIN_BATCH` clips;
    evaluation keeps every clip. A ``batch_sampler`` (e.g. :class:`~hashbench.train.sampler.PKBatchSampler`)
    decides the batches instead.
    """
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                          pin_memory=device.type == "cuda", persistent_workers=False)
    generator = None
    if shuffle_seed is not None:
        generator = torch.Generator()
        generator.manual_seed(shuffle_seed)
    drop_last = drop_small_last and drops_last_batch(len(dataset), batch_size)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_seed is not None,
                      generator=generator, num_workers=num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=False, drop_last=drop_last)


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
                grad_clip: float | None = None, position: Position | None = None) -> EpochStats:
    """One pass over ``loader``. A batch whose loss is exactly 0 skips the optimiser step (original).

    ``loader`` yields ``(clips, labels)`` or, for a loss that needs them, ``(clips, labels, indices)``
    (see :class:`IndexedDataset`). Raises TrainingError when the loss becomes NaN or infinite.
    ``position`` is kept up to date.
    """
    model.train()
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.train()
    position = position if position is not None else Position()
    position.phase, position.epoch, position.step = "training", epoch, 0
    reporter.start_epoch(epoch, epochs, len(loader))
    parameters = [p for p in model.parameters() if p.requires_grad] + loss_parameters(loss_fn)
    with_features = wants(loss_fn, "features")
    total_loss, steps, skipped, clips = 0.0, 0, 0, 0
    start = time.perf_counter()
    for batch in loader:
        clips_u8, labels = batch[0], batch[1]
        indices = batch[2].to(device, non_blocking=True) if len(batch) > 2 else None
        position.step = steps + 1
        clips_u8 = clips_u8.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        features = None
        with precision.autocast():
            if with_features:
                features, codes = model(model.normalize(clips_u8), return_features=True)
                features = features.float()
            else:
                codes = model(model.normalize(clips_u8))
        loss = call_loss(loss_fn, codes.float(), labels, indices, features)
        value = float(loss.detach())
        if not np.isfinite(value):
            amp = " or set train.amp = false" if precision.enabled else ""
            raise TrainingError(f"the loss became {value} at epoch {epoch}, step {steps + 1}: lower"
                                f" train.optimizer.lr, set train.grad_clip (e.g. 1.0){amp}")
        if skip_zero_loss and value == 0.0:
            skipped += 1
        else:
            precision.backward_step(loss, optimizer, parameters, grad_clip)
        total_loss += value
        steps += 1
        clips += clips_u8.shape[0]
        reporter.step(total_loss / steps, clips / max(time.perf_counter() - start, 1e-9))
    seconds = time.perf_counter() - start
    reporter.end_epoch()
    return EpochStats(total_loss / max(steps, 1), clips / max(seconds, 1e-9), steps, skipped, seconds)


@torch.no_grad()
def encode(model: HashModel, dataset: Dataset, batch_size: int, num_workers: int,
           device: torch.device, precision: Precision, reporter: Reporter,
           split: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Binary codes (N, bits) int8 in {-1,0,1} and labels (N,) or (N, C) of every item, in order."""
    model.eval()
    loader = make_loader(dataset, batch_size, num_workers, device)
    reporter.start_encoding(split, len(dataset))  # type: ignore[arg-type]
    codes, labels = [], []
    for clips_u8, batch_labels in loader:
        clips_u8 = clips_u8.to(device, non_blocking=True)
        with precision.autocast():
            relaxed = model(model.normalize(clips_u8))
        codes.append(binarize(relaxed).cpu().numpy())
        labels.append(batch_labels.numpy())
        reporter.encoded(clips_u8.shape[0])
    return np.concatenate(codes), np.concatenate(labels)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
