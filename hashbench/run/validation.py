"""Dry check of an experiment: every component builds, data loads, one forward/backward. No training."""
from __future__ import annotations

from typing import Any

import torch

from ..config import Experiment
from ..contract import Registry
from ..contract.checks import check_batch
from ..device import resolve_device
from ..failures import explaining
from ..train.seeding import seed_everything
from .build import build_components


def validate_experiment(experiment: Experiment, registry: Registry) -> dict[str, Any]:
    """Build everything on the CPU, push a few training clips through model and loss forward and
    backward (each component's contract checked on its own); return a summary.

    Raises HashbenchError subclasses (ConfigError, PluginError, ContractError, DataError, ...) on the
    first problem.
    """
    resolve_device(experiment.device)  # a cuda request without a GPU is a clear error here too
    seed_everything(experiment.seed)  # the same initial weights as the run: a reproducible report
    built = build_components(experiment, registry, torch.device("cpu"))
    dataset = built.dataset
    if built.deep is None:
        return _method_summary(experiment, built)
    with explaining(built.components, "while loading training clips"):
        sizes = {name: len(dataset.split(name)) for name in ("train", "query", "database")}
        train = dataset.split("train")
        n = sizes["train"]
        picks = sorted({i for i in (0, 1, n // 2, n // 2 + 1, n - 2, n - 1) if 0 <= i < n})  # pairs at 3 places
        items = [train[i] for i in picks]
        clips = torch.stack([torch.as_tensor(c) for c, _ in items])
        labels = torch.stack([torch.as_tensor(lbl) for _, lbl in items])
    report = check_batch(built.model, built.loss, clips, labels, built.bits, built.components, backward=True)
    return {
        "dataset": f"{experiment.dataset['name']}: {sizes['train']} train / {sizes['query']} query / "
                   f"{sizes['database']} database clips, {dataset.num_classes} classes, "
                   f"{'clip' if clips.dtype == torch.uint8 else 'item'} {tuple(clips.shape[1:])}"
                   f" {str(clips.dtype)[6:]}",
        "model": f"{experiment.part('backbone')['name']} + {experiment.part('head')['name']}: "
                 f"{sum(p.numel() for p in built.model.parameters()):,} parameters, features "
                 f"{report.features[1:]}, codes {report.codes[1:]}",
        "loss": f"{experiment.part('loss')['name']} = {report.loss:.4f} on {len(items)} clips, gradient norm "
                f"{report.grad_norm:.3g}",
        "metrics": ", ".join(label for label, _ in built.metrics),
    }


def _method_summary(experiment: Experiment, built: Any) -> dict[str, Any]:
    """What `hashbench validate` reports of a ``[method]`` experiment: the splits and what the method
    consumes and runs (its stages need the whole training split, so nothing is fitted here)."""
    from ..contract.methods import fits, item_kind_of, trains
    from .selection import check_selectable

    dataset, method = built.dataset, built.method
    check_selectable(dataset, experiment)
    with explaining(built.components, "while loading the data"):
        sizes = {name: len(dataset.split(name)) for name in ("train", "query", "database")}
    stages = [s for s, has in (("fit", fits(method)), ("training_loss", trains(method))) if has]
    return {
        "dataset": f"{experiment.dataset['name']}: {sizes['train']} train / {sizes['query']} query / "
                   f"{sizes['database']} database items ({item_kind_of(dataset)}), {dataset.num_classes} classes",
        "method": f"{experiment.method_name}: {built.bits} bits, consumes {', '.join(method.consumes)};"
                  f" stages {', '.join(stages + ['encode'])}",
        "metrics": ", ".join(label for label, _ in built.metrics),
    }
