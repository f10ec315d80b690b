"""Optimizer and learning-rate scheduler, built from the validated ``[train]`` settings.

The names (``sgd``, ``adam``, ``adamw``; ``none``, ``step``, ``cosine``), the ``torch.optim`` class each
stands for and their keys are owned by :mod:`hashbench.config.schema` (``OPTIMIZERS``,
``SCHEDULERS``), which validates them; here they are only built: every value, ``step_size`` included,
comes from the validated config (no default is filled in here).
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from ..config import OptimizerConfig, SchedulerConfig

__all__ = ["make_optimizer", "make_scheduler", "step_scheduler"]


def make_optimizer(model: torch.nn.Module, config: OptimizerConfig, loss: Any = None) -> torch.optim.Optimizer:
    """``config.torch_name`` (SGD, Adam, AdamW) with ``config.kwargs()`` over the model's trainable
    parameters and, as a second group, the loss's own (a classifier, a codebook) at
    ``lr * loss.lr_multiplier`` (see :class:`hashbench.contract.HashLoss`)."""
    kwargs = config.kwargs()
    groups: list[dict[str, Any]] = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if isinstance(loss, torch.nn.Module):
        own = [p for p in loss.parameters() if p.requires_grad]
        if own:
            groups.append({"params": own, "lr": kwargs["lr"] * float(getattr(loss, "lr_multiplier", 1.0))})
    return getattr(torch.optim, config.torch_name)(groups, **kwargs)


def make_scheduler(optimizer: torch.optim.Optimizer, config: SchedulerConfig) -> Optional[Any]:
    """The per-epoch LR schedule ``config`` describes (StepLR, CosineAnnealingLR), or None for ``none``."""
    if config.torch_name is None:
        return None
    return getattr(torch.optim.lr_scheduler, config.torch_name)(optimizer, **config.kwargs())


def step_scheduler(scheduler: Any) -> None:
    """``scheduler.step()`` before the epoch's optimizer steps (``at = "epoch_start"``), without torch's
    warning about that order: it is the schedule asked for, not a mistake."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
        scheduler.step()
