"""Classification accuracy of a run whose loss trains a classifier (``HashLoss.classify``).

``top1``/``top5``: share of query videos whose true class (multi-label: any true class) is among the k
highest logits, the logits averaged over the video's ``eval.clips`` windows (video-level, as
Video_Classification_ResNet3D evaluates). With more than one window, ``top1_clip``/``top5_clip`` give
the same accuracy per window (clip-level). Values in [0, 1].
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["accuracy_at_k", "classification_scores", "CLASSIFICATION_METRICS"]

#: The result rows a classifying run adds (the ``_clip`` ones only with ``eval.clips`` > 1).
CLASSIFICATION_METRICS = ("top1", "top5", "top1_clip", "top5_clip")


def accuracy_at_k(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows of ``logits`` (N, C) whose true class is among their k largest entries.

    ``labels``: class ids (N,) or multi-hot (N, C) (a hit: any positive class in the top k).
    """
    if len(logits) == 0:
        return float("nan")
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    if labels.ndim == 1:
        hits = (top == labels.astype(np.int64)[:, None]).any(axis=1)
    else:
        hits = np.take_along_axis(labels > 0, top, axis=1).any(axis=1)
    return float(hits.mean())


def classification_scores(logits: np.ndarray, labels: np.ndarray,
                          window_logits: Optional[np.ndarray] = None) -> dict[str, float]:
    """``{"top1", "top5"}`` of video-level ``logits`` (N, C), plus ``top1_clip``/``top5_clip`` of the
    per-window ``window_logits`` (N, W, C) when W > 1."""
    scores = {"top1": accuracy_at_k(logits, labels, 1), "top5": accuracy_at_k(logits, labels, 5)}
    if window_logits is not None and window_logits.shape[1] > 1:
        n, w, c = window_logits.shape
        repeated = np.repeat(labels, w, axis=0)
        flat = window_logits.reshape(n * w, c)
        scores.update(top1_clip=accuracy_at_k(flat, repeated, 1), top5_clip=accuracy_at_k(flat, repeated, 5))
    return scores
