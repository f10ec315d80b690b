"""Encoding a split: binary codes (and a classifier's logits) of every clip, in order, averaged over
``eval.clips`` consecutive windows of each clip."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from .loaders import make_loader
from .model import HashModel, binarize
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
