"""Encoding a split with a method: binary codes (and a classifier's logits) of every item, in order,
averaged over ``eval.clips`` consecutive windows of each clip."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, ContractError
from .loaders import make_loader
from .model import binarize
from .precision import Precision
from .progress import Reporter

__all__ = ["Encoded", "encode", "windows"]


@dataclass
class Encoded:
    """An encoded split: binary ``codes`` (N, bits) int8 and ``labels`` (N,) or (N, C); with a classifier,
    ``logits`` (N, C) float32 averaged over the clip's windows and ``window_logits`` (N, clips, C)."""

    codes: np.ndarray
    labels: np.ndarray
    logits: Optional[np.ndarray] = None
    window_logits: Optional[np.ndarray] = None


def windows(clips: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` consecutive windows of ``T // count`` frames of each clip: ``(B, 3, T, H, W)`` ->
    ``(B * count, 3, T // count, H, W)``, window-major within each clip (a remainder is left out)."""
    frames = clips.shape[2] // count
    if frames < 1:
        raise ConfigError(f"eval.clips = {count} needs clips of at least {count} frames, got {clips.shape[2]}")
    parts = [clips[:, :, i * frames:(i + 1) * frames] for i in range(count)]
    return torch.stack(parts, dim=1).flatten(0, 1)


@torch.no_grad()
def encode(method: Any, dataset: Dataset, batch_size: int, num_workers: int, device: torch.device,
           precision: Optional[Precision], reporter: Reporter, split: str = "", clips: int = 1,
           classifier: Any = None) -> Encoded:
    """Codes of every item, in order: ``sign`` of ``method.encode`` (relaxed codes ``(B, bits)``; uint8
    clips are passed as they are, features as float32) averaged over ``clips`` consecutive windows of
    each clip (``eval.clips``; 1 = the whole item), in ``precision``'s autocast (None: full precision).
    ``classifier`` (a loss whose ``classify(codes, features)`` returns logits; the method then has
    ``encode_with_features``) adds the class logits, averaged the same way."""
    method.eval()
    loader = make_loader(dataset, batch_size, num_workers, device)
    reporter.start_encoding(split, len(dataset))  # type: ignore[arg-type]
    autocast = precision.autocast if precision is not None else contextlib.nullcontext
    codes, labels, logits, window_logits = [], [], [], []
    for raw, batch_labels in loader:
        raw = raw.to(device, non_blocking=True)
        inputs = raw if raw.dtype == torch.uint8 else raw.float()
        inputs = windows(inputs, clips) if clips > 1 else inputs
        with autocast():
            if classifier is not None:
                features, relaxed = method.encode_with_features(inputs)
            else:
                relaxed = method.encode(inputs)
        _check_codes(method, relaxed, int(inputs.shape[0]))
        relaxed = relaxed.float().reshape(raw.shape[0], clips, -1)
        codes.append(binarize(relaxed.mean(dim=1)).cpu().numpy())
        labels.append(batch_labels.numpy())
        if classifier is not None:
            flat = classifier.classify(relaxed.flatten(0, 1), features.float())
            per_window = flat.float().reshape(raw.shape[0], clips, -1)
            window_logits.append(per_window.cpu().numpy())
            logits.append(per_window.mean(dim=1).cpu().numpy())
        reporter.encoded(raw.shape[0])
    if classifier is None:
        return Encoded(np.concatenate(codes), np.concatenate(labels))
    return Encoded(np.concatenate(codes), np.concatenate(labels), np.concatenate(logits),
                   np.concatenate(window_logits))


def _check_codes(method: Any, relaxed: Any, items: int) -> None:
    """ContractError unless ``method.encode`` gave a tensor of shape ``(items, bits)``."""
    if not isinstance(relaxed, torch.Tensor) or tuple(relaxed.shape) != (items, method.bits):
        shape = tuple(relaxed.shape) if isinstance(relaxed, torch.Tensor) else type(relaxed).__name__
        raise ContractError(f"method {type(method).__name__}.encode returned {shape} for {items}"
                            f" items; the contract is real-valued codes (B, bits) = ({items}, {method.bits})")
