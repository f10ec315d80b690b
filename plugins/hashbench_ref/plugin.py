"""Hook implementations of the reference set. Factory modules import torch lazily."""
from __future__ import annotations

from typing import Mapping

from hashbench.contract import Factories, hookimpl

from .loggers import hashbench_epoch_end, hashbench_evaluated, hashbench_run_end, hashbench_run_start  # noqa: F401


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


@hookimpl
def hashbench_methods() -> Factories:
    from .methods.registry import FACTORIES

    return FACTORIES


@hookimpl
def hashbench_loggers() -> Mapping[str, str]:
    return {"jsonl": "metrics per epoch and evaluation in <run_dir>/metrics.jsonl (needs nothing)",
            "tensorboard": "TensorBoard scalars in <run_dir>/tensorboard/ (pip install 'hashbench[tensorboard]')"}
