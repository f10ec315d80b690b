"""Conformance of a loss, on fixed tiny batches of 8 codes: ``(codes (B, bits), labels) -> scalar``.

Checks, in order: ``builds`` (an ``nn.Module``), ``scalar``, ``finite``, ``gradient`` (finite, non-zero
w.r.t. the codes, and reaching the loss's own parameters), ``single_class_batch`` (no negative pair,
no triplet) and ``no_positive_pair_batch`` stay finite, ``multi_label`` (multi-hot labels, when the
loss supports them), ``classify`` (optional logits ``(B, C)``), ``state_dict`` (a fresh instance
loaded with it gives the same next loss, as ``--resume`` does), ``on_epoch_start`` (optional) and
``weight_penalty`` (optional: None, or a finite scalar with a gradient path to a hash-layer weight).
A loss gets ``indices`` (``num_train`` = 16) when it ``needs_indices``, ``features`` when it
``needs_features``, as the engine gives them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from ...errors import HashbenchError
from ...failures import first_line
from .. import rules
from ..binding import accepted_parameters
from ..registry import Component
from .kit import (KIT_CONTEXT, CheckFailed, CheckResult, Checks, CheckSkipped, build_module, call_epoch,
                  missing_grads, nonfinite_grads, expect, require, run_kind)

__all__ = ["check_loss"]

#: Tolerance of the state_dict round trip (the same computation twice on the same inputs).
RTOL, ATOL = 1e-5, 1e-6
LABELS = (0, 0, 1, 1, 2, 2, 3, 3)
MULTI_HOT = ((1, 1, 0, 0), (1, 0, 0, 0), (0, 1, 1, 0), (0, 0, 1, 0), (0, 0, 1, 1), (0, 0, 0, 1), (1, 0, 0, 1),
             (0, 1, 0, 0))


def check_loss(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
               device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of a loss (registered component or bare factory); a factory that raises fails ``builds``."""
    return run_kind("loss", component, table, device=device, workdir=workdir, builds=builds, body=_checks)


def _checks(checks: Checks, loss: Any, component: Component, table: Mapping[str, Any], device: str) -> None:
    if not checks.run("scalar", scalar, loss, device):
        return  # every later check calls the loss: they would fail for the same reason
    checks.run("finite", finite, loss, device)
    checks.run("gradient", gradient, loss, device)
    checks.run("single_class_batch", single_class_batch, component, table, device)
    checks.run("no_positive_pair_batch", no_positive_pair_batch, component, table, device)
    checks.run("multi_label", multi_label, loss, component, table, device)
    checks.run("classify", classify, loss, device)
    checks.run("state_dict", state_dict, component, table, device)
    checks.run("on_epoch_start", on_epoch_start, loss)
    checks.run("weight_penalty", weight_penalty, loss, device)


def inputs_for(labels: Any, device: str, seed: int, offset: int = 0) -> Dict[str, Any]:
    """Codes (B, bits) requiring grad, labels, indices offset..offset+B-1 and features (B, feature_dim)."""
    import torch

    labels = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    size = int(labels.shape[0])
    codes = (0.5 * torch.randn(size, KIT_CONTEXT["bits"], generator=generator)).to(device).requires_grad_()
    features = torch.randn(size, KIT_CONTEXT["feature_dim"], generator=generator).to(device)
    indices = (torch.arange(size) + offset) % KIT_CONTEXT["num_train"]
    return {"codes": codes, "labels": labels.to(device), "indices": indices.to(device), "features": features}


def call(loss: Any, inputs: Mapping[str, Any]) -> Any:
    """``loss(codes, labels)`` plus ``indices``/``features`` when it declares it needs them (as the engine)."""
    import torch

    kwargs = {}
    if getattr(loss, "needs_indices", False):
        kwargs["indices"] = inputs["indices"]
    if getattr(loss, "needs_features", False):
        kwargs["features"] = inputs["features"]
    with torch.random.fork_rng(devices=[]):  # a loss that draws random numbers draws the same ones each time
        torch.manual_seed(0)
        return loss(inputs["codes"], inputs["labels"], **kwargs)


def value_of(result: Any, what: str = "a regular batch") -> float:
    """The loss's value: a scalar tensor (the contract) whose value is finite."""
    require(rules.scalar_loss(result))
    value = float(result.detach())
    expect(math.isfinite(value), f"the loss of {what} is {value}")
    return value


def code_gradient(result: Any, inputs: Mapping[str, Any], what: str, nonzero: bool = True) -> Any:
    """The gradient of the loss w.r.t. the codes: finite (and non-zero) when the loss has a gradient path."""
    import torch

    grad, = torch.autograd.grad(result.reshape(()), inputs["codes"], allow_unused=True)
    expect(grad is None or bool(torch.isfinite(grad).all()), f"the gradient w.r.t. the codes on {what}"
           " is not finite")
    expect(not nonzero or (grad is not None and float(grad.abs().sum()) > 0),
           f"no non-zero gradient w.r.t. the codes on {what}")
    return grad


def builds(component: Component, table: Mapping[str, Any], device: str, **overrides: Any) -> tuple:
    """An ``nn.Module`` in train mode; the message names what it declares it needs."""
    summary, loss = build_module(component, table, device, **overrides)
    needs = [f"needs_{w}" for w in ("indices", "features") if getattr(loss, f"needs_{w}", False)]
    declared = f" ({', '.join(needs)}; num_train={KIT_CONTEXT['num_train']})" if needs else ""
    return summary + declared, loss


def scalar(loss: Any, device: str) -> str:
    """A regular batch (4 classes, 2 clips each) gives a scalar tensor."""
    call_epoch(loss, 1, 2)
    inputs = inputs_for(LABELS, device, seed=0)
    result = call(loss, inputs)
    require(rules.scalar_loss(result))
    return f"{tuple(result.shape)} for codes {tuple(inputs['codes'].shape)}"


def finite(loss: Any, device: str) -> str:
    """The loss of a regular batch is finite."""
    return f"{value_of(call(loss, inputs_for(LABELS, device, seed=0))):.4g}"


def gradient(loss: Any, device: str) -> str:
    """A gradient path to the codes: finite, non-zero; and to every parameter the loss owns."""
    inputs = inputs_for(LABELS, device, seed=0)
    result = call(loss, inputs)
    require(rules.loss_gradient(result))
    loss.zero_grad(set_to_none=True)
    result.reshape(()).backward()
    grad = inputs["codes"].grad
    expect(grad is not None, "no gradient reaches the codes")
    require(rules.finite(grad, "the gradients w.r.t. the codes"))
    expect(float(grad.abs().sum()) > 0, "the gradient w.r.t. the codes is zero on a regular batch")
    missing = missing_grads(loss)
    expect(not missing, f"no gradient reached the loss's own parameter(s) {rules.first(missing)}")
    bad = nonfinite_grads(loss)
    expect(not bad, f"non-finite gradients in the loss's parameters {rules.first(bad)}")
    return f"|grad| = {float(grad.norm()):.3g}"


def _finite_on(component: Component, table: Mapping[str, Any], device: str, inputs: Mapping[str, Any],
               what: str) -> str:
    loss = builds(component, table, device)[1]
    result = call(loss, inputs)
    value = value_of(result, what)
    if result.requires_grad:
        code_gradient(result, inputs, what, nonzero=False)
    return f"loss {value:.4g} ({what})"


def single_class_batch(component: Component, table: Mapping[str, Any], device: str) -> str:
    """A batch of one class (no negative pair, no triplet) gives a finite loss and gradient."""
    same = inputs_for([0] * 8, device, seed=2, offset=8)
    return _finite_on(component, table, device, same, "one class: no negative pair, no triplet")


def no_positive_pair_batch(component: Component, table: Mapping[str, Any], device: str) -> str:
    """A batch of distinct classes (no positive pair) gives a finite loss and gradient."""
    distinct = inputs_for(list(range(KIT_CONTEXT["num_classes"])), device, seed=3)
    return _finite_on(component, table, device, distinct, "distinct classes: no positive pair, no triplet")


def multi_label(loss: Any, component: Component, table: Mapping[str, Any], device: str) -> str:
    """Multi-hot labels, when the loss supports them (``supports_multi_label``, the HashLoss default)."""
    import torch

    supported = getattr(loss, "supports_multi_label", None)
    if supported is False:
        raise CheckSkipped("single-label only (supports_multi_label = False)")
    if supported and "multi_label" not in accepted_parameters(component.factory)[0]:
        raise CheckFailed("supports_multi_label is true (the HashLoss default) but the factory has no"
                          " `multi_label` parameter, so it is always built for single-label data: take it"
                          " and pass it on to HashLoss.__init__, or set supports_multi_label = False")
    try:
        multi = builds(component, table, device, multi_label=True)[1]
    except (HashbenchError, ValueError) as exc:
        if supported is None:
            raise CheckSkipped(f"refuses multi-label data: {first_line(exc)}") from None
        raise CheckFailed(f"supports_multi_label is true but it does not build for multi-label data:"
                          f" {first_line(exc)}") from None
    inputs = inputs_for(torch.tensor(MULTI_HOT, dtype=torch.float32), device, seed=4)
    call_epoch(multi, 1, 2)
    result = call(multi, inputs)
    value = value_of(result, "a multi-hot batch")
    expect(result.requires_grad, "the loss of a multi-hot batch has no gradient path to the codes")
    code_gradient(result, inputs, "a multi-hot batch")
    return f"multi-hot {tuple(inputs['labels'].shape)} -> {value:.4g}"


def classify(loss: Any, device: str) -> str:
    """Optional ``classify(codes, features)``: logits ``(B, C)`` (or None: no classifier)."""
    import torch

    method = getattr(loss, "classify", None)
    if method is None:
        raise CheckSkipped("no classify method (optional)")
    inputs = inputs_for(LABELS, device, seed=0)
    logits = method(inputs["codes"].detach(), inputs["features"])
    if logits is None:
        raise CheckSkipped("trains no classifier (classify returns None)")
    expected = (len(LABELS), KIT_CONTEXT["num_classes"])
    expect(isinstance(logits, torch.Tensor) and tuple(logits.shape) == expected,
           f"classify returned {rules.shape_of(logits)}; the contract is logits (B, C) = {expected}")
    return f"logits {tuple(logits.shape)}"


def state_dict(component: Component, table: Mapping[str, Any], device: str) -> str:
    """A fresh instance loaded with the state_dict gives the same next loss (as ``--resume`` does)."""
    import torch

    first = builds(component, table, device)[1]
    call_epoch(first, 1, 2)
    call(first, inputs_for(LABELS, device, seed=5))
    saved = first.state_dict()
    second = builds(component, table, device)[1]
    second.load_state_dict(saved)
    for key, value in second.state_dict().items():
        if isinstance(value, torch.Tensor):
            expect(torch.equal(value, saved[key]), f"{key} differs after load_state_dict")
    for model in (first, second):  # as --resume: load, then the next epoch begins
        call_epoch(model, 2, 2)
    follow = inputs_for(LABELS[::-1], device, seed=6, offset=8)
    a = value_of(call(first, follow))
    b = value_of(call(second, {**follow, "codes": follow["codes"].detach().clone().requires_grad_()}))
    expect(math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL),
           f"a fresh instance loaded with the state_dict gives {b:.7g} where the original gives {a:.7g}:"
           " state that must survive --resume (memory banks, centres, schedules) is not in the state_dict"
           " (register buffers/parameters)")
    return f"{len(saved)} entries; the next loss agrees ({a:.4g})"


def on_epoch_start(loss: Any) -> str:
    """Optional ``on_epoch_start(epoch, epochs)``: callable for epochs 1..3."""
    if not hasattr(loss, "on_epoch_start"):
        raise CheckSkipped("not defined (optional)")
    for epoch in (1, 2, 3):
        call_epoch(loss, epoch, 3)
    return "called for epochs 1..3"


def weight_penalty(loss: Any, device: str) -> str:
    """Optional ``weight_penalty(weight)`` on a hash-layer weight ``(bits, feature_dim)``: None, or a finite
    scalar tensor with a finite gradient w.r.t. the weight."""
    import torch

    from ..losses import penalises_weights  # imports torch

    if not penalises_weights(loss):
        raise CheckSkipped("not overridden (optional)")
    generator = torch.Generator().manual_seed(7)
    weight = (0.1 * torch.randn(KIT_CONTEXT["bits"], KIT_CONTEXT["feature_dim"], generator=generator)).to(device)
    weight.requires_grad_()
    value = loss.weight_penalty(weight)
    if value is None:
        raise CheckSkipped("returns None (no term) with this table")
    require(rules.scalar_loss(value))
    number = value_of(value, "the weight penalty")
    expect(value.requires_grad, "the weight penalty has no gradient path to the weight")
    grad, = torch.autograd.grad(value.reshape(()), weight, allow_unused=True)
    expect(grad is not None and bool(torch.isfinite(grad).all()), "the weight penalty's gradient w.r.t. the"
           " weight is missing or not finite")
    return f"{number:.4g} on a weight {tuple(weight.shape)}"
