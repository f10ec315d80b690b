"""A method's stages as a run drives them: one training epoch of ``training_loss`` and the encoding of a
split with ``encode`` (the method contract: :mod:`hashbench.contract.hookspecs`).

Items are ``(inputs, label)`` of the dataset's item kind (uint8 clips are passed as they are; features
as float32). One process, one optimizer step per batch; a loss that is not finite stops the run.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..contract.methods import MethodBatch
from ..errors import ContractError, TrainingError
from .encoding import Encoded
from .loaders import EpochBatches, make_loader
from .loop import EpochStats
from .model import binarize
from .precision import Precision
from .progress import Position, Reporter

__all__ = ["train_method_epoch", "encode_method"]


def _inputs(raw: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A loader batch's inputs on the device: uint8 clips kept, features as float32."""
    raw = raw.to(device, non_blocking=True)
    return raw if raw.dtype == torch.uint8 else raw.float()


def train_method_epoch(method: Any, optimizer: torch.optim.Optimizer, batches: EpochBatches, epoch: int,
                       epochs: int, precision: Precision, device: torch.device, reporter: Reporter,
                       position: Position, grad_clip: float | None = None) -> EpochStats:
    """One pass of ``method.training_loss`` over ``batches`` (items with their indices). Raises
    TrainingError when the loss is not finite."""
    method.train()
    position.phase, position.epoch, position.step = "training", epoch, 0
    reporter.start_epoch(epoch, epochs, len(batches.loader))
    parameters = [p for p in method.parameters() if p.requires_grad]
    total, steps, items = 0.0, 0, 0
    start = time.perf_counter()
    for raw, labels, indices in batches.loader:
        position.step = steps + 1
        batch = MethodBatch(_inputs(raw, device), indices.to(device),
                            labels.to(device) if method.needs_labels else None)
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = method.training_loss(batch)
        value = float(loss.detach())
        if not np.isfinite(value):
            raise TrainingError(f"the loss became {value} at epoch {epoch}, step {steps + 1}: lower"
                                " train.optimizer.lr or set train.grad_clip (e.g. 1.0)")
        precision.backward(loss)
        precision.step(optimizer, parameters, grad_clip)
        total, steps, items = total + value, steps + 1, items + int(raw.shape[0])
        reporter.step(total / steps, items / max(time.perf_counter() - start, 1e-9))
    seconds = time.perf_counter() - start
    reporter.end_epoch()
    return EpochStats(total / max(steps, 1), items / max(seconds, 1e-9), steps, 0, seconds)


@torch.no_grad()
def encode_method(method: Any, dataset: Dataset, batch_size: int, num_workers: int, device: torch.device,
                  reporter: Reporter, split: str = "") -> Encoded:
    """Binary codes (int8, the sign of ``method.encode``) and labels of every item of ``dataset``, in order."""
    method.eval()
    loader = make_loader(dataset, batch_size, num_workers, device)
    reporter.start_encoding(split, len(dataset))  # type: ignore[arg-type]
    codes, labels = [], []
    for raw, batch_labels in loader:
        relaxed = method.encode(_inputs(raw, device))
        if not isinstance(relaxed, torch.Tensor) or tuple(relaxed.shape) != (raw.shape[0], method.bits):
            shape = tuple(relaxed.shape) if isinstance(relaxed, torch.Tensor) else type(relaxed).__name__
            raise ContractError(f"method {type(method).__name__}.encode returned {shape} for {raw.shape[0]}"
                                f" items; the contract is real-valued codes (B, bits) = ({raw.shape[0]}, {method.bits})")
        codes.append(binarize(relaxed).cpu().numpy())
        labels.append(batch_labels.numpy())
        reporter.encoded(int(raw.shape[0]))
    return Encoded(np.concatenate(codes), np.concatenate(labels))
