"""Components that fail on purpose, one way each, for hashbench's fault-injection tests.

Every component takes ``mode`` (and sometimes ``at_step``): ``"ok"`` behaves, anything else breaks the
contract or raises in a chosen place. Torch is imported inside the factories, as the contract asks.
The lifecycle hook sends a signal to its own process when ``HASHBENCH_FAULTS_SIGNAL=NAME:EPOCH``
(``RAISE:EPOCH`` raises instead), and copies each epoch's ``checkpoint.pt`` into the folder
``HASHBENCH_FAULTS_KEEP`` names (to rebuild the state a crash would leave). In a distributed run,
``HASHBENCH_FAULTS_RANK=R`` confines the loss's faults to the process of rank R (any other value, e.g.
``none``, to no process).
"""
from __future__ import annotations

import os
import signal

from hashbench import hookimpl

BACKBONE_MODES = ("ok", "factory_error", "factory_oserror", "raise_forward", "no_feature_dim", "wrong_width",
                  "oom", "not_module")
HEAD_MODES = ("ok", "wrong_shape", "raise_forward")
LOSS_MODES = ("ok", "nan", "inf", "not_scalar", "raise_forward", "kill")


def faulty_backbone(mode: str = "ok", width: int = 8):
    """A tiny 3D CNN (B,3,T,H,W) -> (B, width) that fails as ``mode`` says."""
    if mode not in BACKBONE_MODES:
        raise ValueError(f"mode must be one of {BACKBONE_MODES}, got {mode!r}")
    if mode == "factory_error":
        raise RuntimeError("simulated failure while building the backbone")
    if mode == "factory_oserror":
        open("/nonexistent/hashbench-faults/weights.pth", "rb")
    if mode == "not_module":
        return object()
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv3d(3, width, kernel_size=3, padding=1)
            self.bn = nn.BatchNorm3d(width)
            if mode != "no_feature_dim":
                self.feature_dim = width
            self.input_mean = (128.0, 128.0, 128.0)
            self.input_std = (64.0, 64.0, 64.0)
            self.calls = 0

        def forward(self, clips: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if mode == "raise_forward":
                raise RuntimeError("simulated failure in the backbone's forward")
            if mode == "oom" and self.training:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            x = torch.relu(self.bn(self.conv(clips))).mean(dim=(2, 3, 4))
            return torch.cat([x, x], dim=1) if mode == "wrong_width" else x

    return Tiny()


def faulty_head(feature_dim: int, bits: int, mode: str = "ok"):
    """Linear + tanh to ``bits``, failing as ``mode`` says."""
    if mode not in HEAD_MODES:
        raise ValueError(f"mode must be one of {HEAD_MODES}, got {mode!r}")
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(feature_dim, bits + (1 if mode == "wrong_shape" else 0))

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            if mode == "raise_forward":
                raise ValueError("simulated failure in the head's forward")
            return torch.tanh(self.fc(features))

    return Head()


def faulty_loss(mode: str = "ok", at_step: int = 1):
    """Mean squared code norm (a harmless loss) that fails as ``mode`` says from training step ``at_step``."""
    if mode not in LOSS_MODES:
        raise ValueError(f"mode must be one of {LOSS_MODES}, got {mode!r}")
    import torch
    from torch import nn

    class Loss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.steps = 0

        def forward(self, codes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            if torch.is_grad_enabled():
                self.steps += 1
            broken = torch.is_grad_enabled() and self.steps >= at_step and _this_rank_faults()
            if mode == "kill" and broken:
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "not_scalar":
                return (codes ** 2).mean(dim=1)
            if mode == "raise_forward" and broken:
                raise KeyError("simulated failure in the loss")
            value = (1.0 - codes).pow(2).mean()
            if mode == "nan" and broken:
                return value * float("nan")
            if mode == "inf" and broken:
                return value * float("inf")
            return value

    return Loss()


def _this_rank_faults() -> bool:
    only = os.environ.get("HASHBENCH_FAULTS_RANK")
    return only is None or only == os.environ.get("RANK", "0")


@hookimpl
def hashbench_backbones():
    return {"faulty_backbone": faulty_backbone}


@hookimpl
def hashbench_heads():
    return {"faulty_head": faulty_head}


@hookimpl
def hashbench_losses():
    return {"faulty_loss": faulty_loss}


@hookimpl
def hashbench_epoch_end(run, epoch, logs):
    keep = os.environ.get("HASHBENCH_FAULTS_KEEP", "")
    if keep:
        import shutil

        shutil.copyfile(os.path.join(str(run.run_dir), "checkpoint.pt"), os.path.join(keep, "checkpoint.pt"))
    spec = os.environ.get("HASHBENCH_FAULTS_SIGNAL", "")
    if not spec:
        return
    name, _, when = spec.partition(":")
    if name == "RAISE" and epoch == int(when):
        raise RuntimeError("simulated failure in a lifecycle hook")
    if epoch == int(when or 1):
        os.kill(os.getpid(), getattr(signal, name))
