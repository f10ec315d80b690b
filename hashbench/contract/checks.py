"""Contract checks on a real batch: each component, one at a time, against what the hookspecs promise.

The rules themselves are :mod:`hashbench.contract.rules` (the conformance kit applies the same ones).

:func:`check_batch` pushes uint8 clips through backbone, head and loss separately, so a broken
contract is named precisely (a backbone whose output width differs from its ``feature_dim`` is the
backbone's fault, not the head's that chokes on it). ``hashbench validate`` runs it with a backward
pass; ``hashbench run`` runs it forward-only on two clips before the run directory is made.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..errors import ContractError, HashbenchError
from . import rules
from .losses import call_loss
from ..failures import ComponentRef, explain, first_line

__all__ = ["BatchReport", "check_batch"]


@dataclass
class BatchReport:
    """What one checked batch gave: feature and code shapes, the loss value, gradient norm (or None)."""

    features: tuple[int, ...]
    codes: tuple[int, ...]
    loss: float
    grad_norm: float | None


def _ref(components: Sequence[ComponentRef], kind: str) -> str:
    for ref in components:
        if ref.kind == kind:
            return ref.describe()
    return kind


def _require(components: Sequence[ComponentRef], kind: str, problem: str | None) -> None:
    """ContractError naming the component ``kind`` when a rule found a ``problem``."""
    if problem is not None:
        raise ContractError(f"{_ref(components, kind)} {problem}")


def _guard(components: Sequence[ComponentRef], kind: str, what: str, call: Any) -> Any:
    """Run ``call()``; an exception becomes a one-line error naming the component ``kind``."""
    try:
        return call()
    except HashbenchError:
        raise
    except Exception as exc:
        explained = explain(exc, [r for r in components if r.kind == kind], where=f"in {what}")
        if explained is None:  # raised from torch directly under the component's forward
            raise ContractError(f"{_ref(components, kind)} raised in {what}: {first_line(exc)}") from exc
        raise explained from exc


def check_batch(model: Any, loss_fn: Any, clips_u8: torch.Tensor, labels: torch.Tensor, bits: int,
                components: Sequence[ComponentRef] = (), backward: bool = False,
                indices: torch.Tensor | None = None) -> BatchReport:
    """Check backbone ``(B,3,T,H,W) -> (B, feature_dim)``, head ``-> (B, bits)`` and loss ``-> scalar``.

    ``clips_u8``: uint8 ``(B, 3, T, H, W)`` with B >= 2. With ``backward``, the model is in train mode
    and the loss is back-propagated (gradients are left in ``.grad``); otherwise eval mode, no grad.
    Raises ContractError (or the explained PluginError) naming the component at fault.
    """
    feature_dim = getattr(model.backbone, "feature_dim", None)
    _require(components, "backbone", rules.feature_dim(feature_dim))
    model.train(backward)
    context = torch.enable_grad() if backward else torch.no_grad()
    batch = clips_u8.shape[0]
    with context:
        inputs = model.normalize(clips_u8)
        features = _guard(components, "backbone", "forward", lambda: model.backbone(inputs))
        _require(components, "backbone", rules.features(features, batch, feature_dim))
        codes = _guard(components, "head", "forward", lambda: model.head(features))
        _require(components, "head", rules.codes(codes, batch, bits))
        if indices is None:
            indices = torch.arange(batch, device=codes.device)
        loss = _guard(components, "loss", "forward",
                      lambda: call_loss(loss_fn, codes.float(), labels, indices, features.float()))
        _require(components, "loss", rules.scalar_loss(loss))
        value = float(loss.detach())
        grad_norm = None
        if backward:
            _require(components, "loss", rules.loss_gradient(loss))
            model.zero_grad(set_to_none=True)
            _guard(components, "loss", "backward", lambda: loss.backward())
            grads = [p.grad.detach().float().norm() for p in model.parameters() if p.grad is not None]
            grad_norm = float(torch.stack(grads).norm()) if grads else 0.0
    return BatchReport(tuple(features.shape), tuple(codes.shape), value, grad_norm)
