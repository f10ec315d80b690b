"""Conformance of a backbone, on tiny inputs of the kind it consumes: what :mod:`hashbench.contract.hookspecs`
asks of one.

Checks, in order: ``consumes`` (its factory's declaration names known item kinds; default clips),
``builds`` (an ``nn.Module``; a backbone for frame features or vectors gets the kit's ``feature_dim``
as its input width), ``feature_dim`` and ``normalisation`` (declared as the contract says; no
normalisation for a backbone that does not consume clips), ``forward`` (finite ``(B, feature_dim)``
features from clips normalised with its own ``input_mean``/``input_std``, or from random float frame
features ``(B, T, D)`` / vectors ``(B, D)``), ``backward`` (every parameter that requires grad gets a finite
gradient), ``trains`` (one SGD step moves the parameters and keeps the features finite) and
``eval_forward``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Union

from .. import rules
from ..registry import Component
from .kit import (KIT_CONTEXT, CheckFailed, CheckResult, Checks, CheckSkipped, build_module, call_epoch, clip_of,
                  missing_grads, nonfinite_grads, expect, require, run_kind)

__all__ = ["check_backbone"]


def check_backbone(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
                   device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of a backbone (registered component or bare factory) on tiny inputs of its kind."""
    return run_kind("backbone", component, table, device=device, workdir=workdir, builds=_builds, body=_checks)


def _consumes(component: Component) -> tuple:
    """The factory's declared item kinds (CheckFailed naming the bad declaration)."""
    from ..methods import backbone_consumes
    from ...errors import ContractError

    try:
        return backbone_consumes(component.factory, "the factory")
    except ContractError as exc:
        raise CheckFailed(str(exc)) from None


def _builds(component: Component, table: Mapping[str, Any], device: str) -> tuple:
    """``build_module``; a backbone that does not consume clips gets the kit's ``feature_dim`` (its input width)."""
    consumes = _consumes(component)
    if "clips" in consumes:
        return build_module(component, table, device)
    summary, module = build_module(component, table, device, feature_dim=KIT_CONTEXT["feature_dim"])
    return f"{summary}; consumes {', '.join(consumes)}", module


def _checks(checks: Checks, model: Any, component: Component, table: Mapping[str, Any], device: str) -> None:
    dim_ok = checks.run("feature_dim", feature_dim, model)
    kind = _consumes(component)[0]
    if kind != "clips":
        if dim_ok:
            _trained_checks(checks, model, feature_inputs(kind, clip_of(component), device))
        return
    if not (checks.run("normalisation", normalisation, model) and dim_ok):
        return
    _trained_checks(checks, model, clip_inputs(model, clip_of(component), device))


def _trained_checks(checks: Checks, model: Any, inputs: Any) -> None:
    if checks.run("forward", forward, model, inputs) and checks.run("backward", backward, model, inputs):
        checks.run("trains", trains, model, inputs)
    checks.run("eval_forward", eval_forward, model, inputs)


def feature_dim(model: Any) -> str:
    """``feature_dim`` is a positive int (the output width)."""
    require(rules.feature_dim(getattr(model, "feature_dim", None)))
    return str(model.feature_dim)


def normalisation(model: Any) -> str:
    """``input_mean``/``input_std`` are declared: 3 numbers each in 0-255 pixel units, std > 0."""
    mean, std = getattr(model, "input_mean", None), getattr(model, "input_std", None)
    require(rules.normalisation(mean, std))
    return f"mean {tuple(round(float(v), 2) for v in mean)}, std {tuple(round(float(v), 2) for v in std)}"


def feature_inputs(kind: str, clip: tuple, device: str) -> Any:
    """Random float frame features ``(B, T, D)`` or vectors ``(B, D)`` (D: the kit's ``feature_dim``), on
    ``device``."""
    import torch

    batch, frames, dim = clip[0], clip[1], KIT_CONTEXT["feature_dim"]
    shape = (batch, frames, dim) if kind == "frame_features" else (batch, dim)
    return torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)


def clip_inputs(model: Any, clip: tuple, device: str) -> Any:
    """A random uint8 clip ``(B, 3, T, H, W)`` normalised with the backbone's own mean and std, on ``device``."""
    import torch

    batch, frames, height, width = clip
    generator = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (batch, 3, frames, height, width), generator=generator, dtype=torch.uint8)
    mean = torch.tensor([float(v) for v in model.input_mean]).view(1, 3, 1, 1, 1)
    std = torch.tensor([float(v) for v in model.input_std]).view(1, 3, 1, 1, 1)
    return ((clips.float() - mean) / std).to(device)


def _features(model: Any, inputs: Any) -> Any:
    out = model(inputs)
    require(rules.features(out, inputs.shape[0], model.feature_dim))
    require(rules.finite(out, "features"))
    return out


def forward(model: Any, inputs: Any) -> str:
    """Train-mode forward: finite float features ``(B, feature_dim)``."""
    model.train()
    out = _features(model, inputs)
    return f"{tuple(inputs.shape)} -> {tuple(out.shape)}"


def backward(model: Any, inputs: Any) -> str:
    """A random projection of the features back-propagates to every parameter that requires grad."""
    import torch

    model.zero_grad(set_to_none=True)
    out = _features(model, inputs)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out.device)
    (out * weights).sum().backward()
    missing = missing_grads(model)
    expect(not missing, f"no gradient reached {len(missing)} parameter(s) that require grad: {rules.first(missing)}"
           " (unused, or detached in forward)")
    bad = nonfinite_grads(model)
    expect(not bad, f"non-finite gradients in {rules.first(bad)}")
    return f"{sum(1 for p in model.parameters() if p.requires_grad)} parameter tensors get a gradient"


def trains(model: Any, inputs: Any) -> str:
    """One SGD step with the backward check's gradients moves the parameters; features stay finite."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise CheckSkipped("no parameter requires grad (a frozen backbone)")
    before = [p.detach().clone() for p in trainable]
    torch.optim.SGD(trainable, lr=1e-2).step()
    moved = sum(not torch.equal(b, p.detach()) for b, p in zip(before, trainable))
    expect(moved, "one SGD step with the backward check's gradients changed no parameter")
    expect(all(bool(torch.isfinite(p).all()) for p in trainable), "parameters are not finite after one step")
    with torch.no_grad():
        require(rules.finite(model(inputs), "features after one SGD step"))
    return f"one SGD step moved {moved} of {len(trainable)} parameter tensors"


def eval_forward(model: Any, inputs: Any) -> str:
    """Eval mode (after ``on_epoch_start``, if defined), no grad: the same contract."""
    import torch

    model.eval()
    call_epoch(model, 1, 2)
    with torch.no_grad():
        _features(model, inputs)
    return "eval mode, no grad"
