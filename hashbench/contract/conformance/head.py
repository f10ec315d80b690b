"""Conformance of a hash head: features ``(B, feature_dim)`` -> real-valued codes ``(B, bits)``.

Checks, in order: ``builds`` (an ``nn.Module``), ``shape`` (float codes ``(B, bits)``), ``sign``
(finite codes, no exact zero, so their sign is a binary code), ``gradient`` (reaches the features
and every parameter), ``eval_forward``, ``on_epoch_start`` (optional: called for epochs 1..3) and
``hash_weight`` (optional: a parameter of the head, ``(bits, feature_dim)``, that the codes depend on).
The range of the codes is free (the ``linear`` head's are any real numbers).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Union

from .. import rules
from ..registry import Component
from .kit import (KIT_CONTEXT, CheckResult, Checks, CheckSkipped, build_module, call_epoch, missing_grads,
                  nonfinite_grads, expect, require, run_kind)

__all__ = ["check_head"]

BATCH = 4


def check_head(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
               device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of a hash head (registered component or bare factory) on random features."""
    return run_kind("head", component, table, device=device, workdir=workdir, builds=build_module, body=_checks)


def _checks(checks: Checks, head: Any, component: Component, table: Mapping[str, Any], device: str) -> None:
    bits = int(table.get("bits", KIT_CONTEXT["bits"]))
    if checks.run("shape", shape, head, bits, device):
        checks.run("sign", sign, head, bits, device)
        checks.run("gradient", gradient, head, bits, device)
    checks.run("eval_forward", eval_forward, head, bits, device)
    checks.run("on_epoch_start", on_epoch_start, head, bits, device)
    checks.run("hash_weight", hash_weight, head, bits, device)


def features_for(device: str) -> Any:
    """Random features ``(BATCH, KIT_CONTEXT["feature_dim"])`` that require grad."""
    import torch

    generator = torch.Generator().manual_seed(0)
    return torch.randn(BATCH, KIT_CONTEXT["feature_dim"], generator=generator).to(device).requires_grad_()


def _codes(head: Any, features: Any, bits: int) -> Any:
    codes = head(features)
    require(rules.codes(codes, features.shape[0], bits))
    return codes


def shape(head: Any, bits: int, device: str) -> str:
    """Train mode: float codes ``(B, bits)``."""
    head.train()
    _codes(head, features_for(device), bits)
    return f"({BATCH}, {KIT_CONTEXT['feature_dim']}) -> ({BATCH}, {bits})"


def sign(head: Any, bits: int, device: str) -> str:
    """Finite codes without exact zeros: their sign is a binary code."""
    import torch

    codes = _codes(head, features_for(device), bits)
    require(rules.finite(codes, "codes"))
    zeros = int((torch.sign(codes) == 0).sum())
    expect(not zeros, f"{zeros} code entries are exactly 0: their sign is no binary code")
    low, high = float(codes.detach().min()), float(codes.detach().max())
    return f"real-valued in [{low:.3g}, {high:.3g}], sign in {{-1, +1}}"


def gradient(head: Any, bits: int, device: str) -> str:
    """A random projection of the codes back-propagates to the features and to every parameter."""
    import torch

    features = features_for(device)
    codes = _codes(head, features, bits)
    weights = torch.randn(codes.shape, generator=torch.Generator().manual_seed(1)).to(codes.device)
    head.zero_grad(set_to_none=True)
    (codes * weights).sum().backward()
    grad = features.grad
    expect(grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0,
           "no (finite, non-zero) gradient reaches the features")
    missing = missing_grads(head)
    expect(not missing, f"no gradient reached parameter(s) {rules.first(missing)}")
    bad = nonfinite_grads(head)
    expect(not bad, f"non-finite gradients in {rules.first(bad)}")
    return "reaches the features and every parameter"


def eval_forward(head: Any, bits: int, device: str) -> str:
    """Eval mode, no grad: finite codes ``(B, bits)``."""
    import torch

    head.eval()
    with torch.no_grad():
        require(rules.finite(_codes(head, features_for(device).detach(), bits), "codes in eval mode"))
    return "eval mode, no grad"


def on_epoch_start(head: Any, bits: int, device: str) -> str:
    """Optional: after ``on_epoch_start(epoch, 3)`` for epochs 1..3 the head keeps the contract."""
    import torch

    if not hasattr(head, "on_epoch_start"):
        raise CheckSkipped("not defined (optional)")
    head.train()
    for epoch in (1, 2, 3):
        call_epoch(head, epoch, 3)
        with torch.no_grad():
            codes = _codes(head, features_for(device).detach(), bits)
        require(rules.finite(codes, f"codes after on_epoch_start({epoch}, 3)"))
    return "called for epochs 1..3"


def hash_weight(head: Any, bits: int, device: str) -> str:
    """Optional ``hash_weight`` (for a loss's ``weight_penalty``): one of the head's parameters, shaped
    ``(bits, feature_dim)``, that the codes depend on."""
    import torch

    weight = getattr(head, "hash_weight", None)
    if weight is None:
        raise CheckSkipped("not declared (optional; losses with a weight_penalty need it)")
    expected = (bits, KIT_CONTEXT["feature_dim"])
    expect(isinstance(weight, torch.Tensor) and tuple(weight.shape) == expected,
           f"hash_weight is {rules.shape_of(weight)}; the contract is the hash layer's weight (bits, D) = {expected}")
    expect(any(weight is p for p in head.parameters()), "hash_weight is not one of the head's parameters")
    head.train()
    codes = _codes(head, features_for(device).detach(), bits)
    grad, = torch.autograd.grad(codes.sum(), weight, allow_unused=True)
    expect(grad is not None and float(grad.abs().sum()) > 0, "the codes do not depend on hash_weight")
    return f"{tuple(weight.shape)}"
