"""Dry check of an experiment: every component builds, data loads, one loss evaluates. No training."""
from __future__ import annotations

from typing import Any

import torch

from .config import Experiment
from .engine import resolve_device
from .registry import Registry


def validate_experiment(experiment: Experiment, registry: Registry) -> dict[str, Any]:
    """Build everything on the CPU, push a few training clips through model and loss; return a summary.

    Raises HashbenchError subclasses (ConfigError, PluginError, DataError, ...) on the first problem.
    """
    from .runner import build_components

    resolve_device(experiment.device)  # a cuda request without a GPU is a clear error here too
    built = build_components(experiment, registry, torch.device("cpu"))
    dataset = built.dataset
    sizes = {name: len(dataset.split(name)) for name in ("train", "query", "database")}
    train = dataset.split("train")
    n = sizes["train"]
    picks = sorted({i for i in (0, 1, n // 2, n // 2 + 1, n - 2, n - 1) if 0 <= i < n})  # pairs at 3 places
    items = [train[i] for i in picks]
    clips = torch.stack([torch.as_tensor(c) for c, _ in items])
    labels = torch.stack([torch.as_tensor(lbl) for _, lbl in items])
    built.model.eval()
    with torch.no_grad():
        codes = built.model(built.model.normalize(clips))
        loss = built.loss(codes.float(), labels)
    return {
        "dataset": f"{experiment.dataset['name']}: {sizes['train']} train / {sizes['query']} query / "
                   f"{sizes['database']} database clips, {dataset.num_classes} classes, "
                   f"clip {tuple(clips.shape[1:])} uint8",
        "model": f"{experiment.backbone['name']} + {experiment.head['name']}: "
                 f"{sum(p.numel() for p in built.model.parameters()):,} parameters, codes {tuple(codes.shape[1:])}",
        "loss": f"{experiment.loss['name']} = {float(loss):.4f} on {len(items)} clips",
        "metrics": ", ".join(label for label, _ in built.metrics),
    }
