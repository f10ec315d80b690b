"""The training state a run checkpoints and resumes: optimizer, scheduler, precision (its gradient
scaler), the epoch to start from, the best epoch so far and the last test evaluation."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..errors import CheckpointError
from ..train.checkpoint import load_state_strict
from ..train.deep_method import DeepHashing
from ..train.precision import Precision
from .selection import Best

__all__ = ["TrainState", "loss_state", "method_parts", "module_state", "load_module_state"]


def loss_state(loss: Any) -> dict[str, Any]:
    """The loss's state dict (buffers and parameters), or {} for a stateless loss or a plain function."""
    return loss.state_dict() if isinstance(loss, torch.nn.Module) else {}


def method_parts(module: torch.nn.Module, loss: Any = None) -> tuple[torch.nn.Module, Any]:
    """The two parts a checkpoint (``"model"``, ``"loss"``) and the optimizer (two parameter groups) keep
    apart: the model and the loss of the built-in
    :class:`~hashbench.train.deep_method.DeepHashing` (the file format that predates methods), else
    ``module`` (a method plugin whole, or a bare model) and ``loss``."""
    if isinstance(module, DeepHashing):
        return module.model, module.loss
    return module, loss


def module_state(module: torch.nn.Module, loss: Any = None) -> dict[str, Any]:
    """``{"model": ..., "loss": ...}`` state dicts of ``module`` (see :func:`method_parts`)."""
    model, loss = method_parts(module, loss)
    return {"model": model.state_dict(), "loss": loss_state(loss)}


def load_module_state(module: torch.nn.Module, saved: dict[str, Any], where: str, loss: Any = None) -> None:
    """Load what :func:`module_state` wrote into ``module`` strictly (CheckpointError naming ``where``);
    a saved ``"loss"`` is loaded when the loss or the checkpoint has one."""
    model, loss = method_parts(module, loss)
    load_state_strict(model, saved.get("model"), f"{where} (model)")
    if isinstance(loss, torch.nn.Module) and (loss_state(loss) or saved.get("loss")):
        load_state_strict(loss, saved.get("loss", {}), f"{where} (loss)")


def rng_state() -> dict[str, Any]:
    """torch's global generator states (CPU, and every CUDA device once CUDA is initialised): what dropout
    and other global draws of the next epoch depend on, checkpointed so ``--resume`` draws the same."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(saved: dict[str, Any]) -> None:
    """Set what :func:`rng_state` saved (a checkpoint without it, from before, leaves the generators)."""
    if "torch" in saved:
        torch.set_rng_state(saved["torch"])
    if "cuda" in saved and torch.cuda.is_available() and len(saved["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(saved["cuda"])


@dataclass
class TrainState:
    """Optimizer, scheduler and precision, plus where training resumes and the best epoch so far."""

    optimizer: Optional[torch.optim.Optimizer]  # None: a method that trains no epochs
    scheduler: Any
    precision: Precision
    start_epoch: int = 1
    best: Best = field(default_factory=Best)
    last_test: Optional[tuple[int, dict[str, float], tuple[np.ndarray, ...]]] = None

    def checkpoint(self, model: torch.nn.Module, epoch: int, loss: Any = None) -> dict[str, Any]:
        """What ``checkpoint.pt`` holds after ``epoch``: the loss's state too (memory banks, its own
        parameters, hash centres), so that ``--resume`` continues exactly."""
        return {
            **module_state(model, loss),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.precision.scaler.state_dict() if self.precision.scaler is not None else {},
            "epoch": epoch, "best_value": float(self.best.value), "best_epoch": int(self.best.epoch),
            "rng": rng_state(),
        }

    def restore(self, model: torch.nn.Module, saved: dict[str, Any], path: Path, loss: Any = None) -> None:
        """Load a checkpoint written by :meth:`checkpoint`; every piece must fit (CheckpointError)."""
        load_module_state(model, saved, str(path), loss)
        try:
            if self.optimizer is not None:
                self.optimizer.load_state_dict(saved["optimizer"])
            if self.scheduler is not None and saved.get("scheduler"):
                self.scheduler.load_state_dict(saved["scheduler"])
            if self.precision.scaler is not None and saved.get("scaler"):
                self.precision.scaler.load_state_dict(saved["scaler"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: the optimizer or scheduler state does not fit this experiment"
                                  f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''});"
                                  " start a new run without --resume") from exc
        restore_rng_state(saved.get("rng") or {})
        self.start_epoch = int(saved["epoch"]) + 1
        self.best = Best(float(saved.get("best_value", -np.inf)), int(saved.get("best_epoch", 0)))
