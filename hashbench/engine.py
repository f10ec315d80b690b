"""Training and encoding loops: device placement, mixed precision, atomic checkpoints.

The engine knows nothing about methods: it receives a HashModel, a loss module and torch Datasets
whose items are ``(uint8 clip (3,T,H,W), label)``; clips are normalised on the device.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .atomic import atomic_path
from .errors import CheckpointError, ConfigError, ResourceError, TrainingError
from .model import HashModel, binarize

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """What the engine and runner tell about progress; the CLI shows it with rich, tests ignore it.

    ``step`` gets the running mean loss of the epoch so far and the throughput in clips/s;
    ``evaluated`` the metrics of an evaluation as soon as they exist; ``note`` a line for the console.
    """

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, loss: float, clips_per_s: float) -> None: ...
    def end_epoch(self) -> None: ...
    def start_encoding(self, split: str, clips: int) -> None: ...
    def encoded(self, clips: int) -> None: ...
    def evaluated(self, epoch: int, split: str, metrics: dict[str, float]) -> None: ...
    def note(self, text: str) -> None: ...


class NullReporter:
    """Reports nothing (the library default)."""

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, loss: float, clips_per_s: float) -> None:
        pass

    def end_epoch(self) -> None:
        pass

    def start_encoding(self, split: str, clips: int) -> None:
        pass

    def encoded(self, clips: int) -> None:
        pass

    def evaluated(self, epoch: int, split: str, metrics: dict[str, float]) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass
class Position:
    """Where a run is (for error messages and the record): phase, epoch (1-based, 0 = before) and step."""

    phase: str = "building"
    epoch: int = 0
    step: int = 0

    def describe(self) -> str:
        """``at epoch 3, step 5 (training)`` / ``at epoch 5 (encoding the query split)`` / ``while building``."""
        if self.phase == "training":
            return f"at epoch {self.epoch}, step {self.step} (training)"
        if self.epoch:
            return f"at epoch {self.epoch} ({self.phase})"
        return f"while {self.phase}"


@dataclass
class EpochStats:
    """Mean loss over steps, throughput (clips/s), steps taken and optimiser steps skipped (zero loss)."""

    loss: float
    clips_per_s: float
    steps: int
    skipped_steps: int
    seconds: float


def make_optimizer(model: torch.nn.Module, name: str, params: dict[str, Any]) -> torch.optim.Optimizer:
    """``sgd``/``adam``/``adamw`` over the model's trainable parameters with ``params`` (lr, ...)."""
    classes = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if name not in classes:
        raise ConfigError(f"train.optimizer.name: unknown optimizer {name!r}; use one of {', '.join(classes)}")
    kwargs = dict(params)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    return classes[name](trainable, **kwargs)


def make_scheduler(optimizer: torch.optim.Optimizer, name: str, params: dict[str, Any],
                   epochs: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-epoch LR schedule: ``none``, ``step`` (step_size, gamma) or ``cosine`` (t_max=epochs, eta_min)."""
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(params.get("step_size", 40)),
                                               gamma=float(params.get("gamma", 0.1)))
    if name == "cosine":
        t_max = params.get("t_max") or epochs
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(t_max),
                                                          eta_min=float(params.get("eta_min", 0.0)))
    raise ConfigError(f"train.scheduler.name: unknown scheduler {name!r}; use none, step or cosine")


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
                      model: torch.nn.Module, grad_clip: float | None) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if grad_clip:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
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
                shuffle_seed: int | None = None, drop_small_last: bool = False) -> DataLoader:
    """A DataLoader of uint8 clips; shuffled with a generator seeded by ``shuffle_seed`` when given.

    ``drop_small_last`` (training) drops a last batch of fewer than :data:`MIN_TRAIN_BATCH` clips;
    evaluation keeps every clip.
    """
    generator = None
    if shuffle_seed is not None:
        generator = torch.Generator()
        generator.manual_seed(shuffle_seed)
    drop_last = drop_small_last and drops_last_batch(len(dataset), batch_size)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_seed is not None,
                      generator=generator, num_workers=num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=False, drop_last=drop_last)


def train_epoch(model: HashModel, loss_fn: torch.nn.Module, loader: DataLoader,
                optimizer: torch.optim.Optimizer, precision: Precision, device: torch.device,
                reporter: Reporter, epoch: int, epochs: int, skip_zero_loss: bool = True,
                grad_clip: float | None = None, position: Position | None = None) -> EpochStats:
    """One pass over ``loader``. A batch whose loss is exactly 0 skips the optimiser step (original).

    Raises TrainingError when the loss becomes NaN or infinite. ``position`` is kept up to date.
    """
    model.train()
    position = position if position is not None else Position()
    position.phase, position.epoch, position.step = "training", epoch, 0
    reporter.start_epoch(epoch, epochs, len(loader))
    total_loss, steps, skipped, clips = 0.0, 0, 0, 0
    start = time.perf_counter()
    for clips_u8, labels in loader:
        position.step = steps + 1
        clips_u8 = clips_u8.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            codes = model(model.normalize(clips_u8))
        loss = loss_fn(codes.float(), labels)
        value = float(loss.detach())
        if not np.isfinite(value):
            amp = " or set train.amp = false" if precision.enabled else ""
            raise TrainingError(f"the loss became {value} at epoch {epoch}, step {steps + 1}: lower"
                                f" train.optimizer.lr, set train.grad_clip (e.g. 1.0){amp}")
        if skip_zero_loss and value == 0.0:
            skipped += 1
        else:
            precision.backward_step(loss, optimizer, model, grad_clip)
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


class _RecordingFile:
    """A binary file whose first OSError is kept: torch's zip writer reports write failures as a bare
    RuntimeError, so this is how a full disk is still told as "No space left on device"."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file in the same folder, then atomically replace ``path``.

    ResourceError naming ``path`` when the disk refuses (the old file, if any, stays as it was).
    """
    from .failures import os_error

    recorder: _RecordingFile | None = None
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                recorder = _RecordingFile(handle)
                torch.save(state, recorder)
    except OSError as exc:
        raise os_error(exc, "while writing a checkpoint", path=path) from exc
    except RuntimeError as exc:
        if recorder is None or recorder.error is None:
            raise
        raise os_error(recorder.error, "while writing a checkpoint", path=path) from exc


def load_state_strict(module: torch.nn.Module, state: Any, where: str) -> None:
    """Load ``state`` into ``module`` strictly; CheckpointError listing missing, unexpected and
    mis-shaped keys (at most 12 of each) when it does not fit."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: holds no state dict for the model")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in state if k in expected and hasattr(state[k], "shape")
                  and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        raise CheckpointError(f"{where}: does not fit this model; " + "; ".join(
            key_listing(label, keys) for label, keys in (
                ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
            if keys))
    module.load_state_dict(state, strict=True)


def key_listing(label: str, keys: list[str], limit: int = 12) -> str:
    """``missing keys (3): a, b, c`` with at most ``limit`` names shown."""
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{label} ({len(keys)}): {', '.join(keys[:limit])}{more}"


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot load checkpoint ({type(exc).__name__}: {exc})") from exc


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available else cpu (see :func:`hashbench.config.resolve_device`)."""
    from .config import resolve_device as resolve_device_name

    return torch.device(resolve_device_name(name))


def device_description(device: torch.device) -> str:
    """``cpu`` or ``cuda:<name>`` for the results table."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
