"""Mixed precision: autocast on CUDA (bf16 where supported, else fp16 with a gradient scaler)."""
from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["Precision"]


class Precision:
    """Mixed precision on CUDA: bf16 autocast where supported, else fp16 with a gradient scaler.

    ``enabled`` (``train.amp``) has no effect off CUDA: there :attr:`dtype` stays float32.
    """

    def __init__(self, device: torch.device, enabled: bool) -> None:
        self.enabled = enabled and device.type == "cuda"
        self.dtype = torch.float32
        self.scaler = None
        if self.enabled:
            if torch.cuda.is_bf16_supported():
                self.dtype = torch.bfloat16
            else:
                self.dtype = torch.float16
                self.scaler = _grad_scaler()

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of the forward pass (a no-op when disabled)."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of ``loss`` (scaled when a gradient scaler is used); gradients accumulate."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step(self, optimizer: torch.optim.Optimizer, parameters: list[torch.nn.Parameter],
             grad_clip: float | None) -> None:
        """Optional gradient-norm clipping over ``parameters``, then the optimizer step (after :meth:`backward`)."""
        if self.scaler is not None:
            if grad_clip:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
        optimizer.step()


def _grad_scaler() -> Any:
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3
