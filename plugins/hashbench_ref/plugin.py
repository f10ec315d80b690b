"""Hook implementations of the reference set. Factory modules import torch lazily."""
from __future__ import annotations

from hashbench.contract import Factories, hookimpl


@hookimpl
def hashbench_backbones() -> Factories:
    from .backbones import FACTORIES

    return FACTORIES


@hookimpl
def hashbench_heads() -> Factories:
    from .heads import FACTORIES

    return FACTORIES


@hookimpl
def hashbench_losses() -> Factories:
    from .losses import FACTORIES

    return FACTORIES


@hookimpl
def hashbench_datasets() -> Factories:
    from .datasets import FACTORIES

    return FACTORIES


@hookimpl
def hashbench_metrics() -> Factories:
    from .metrics import FACTORIES

    return FACTORIES
