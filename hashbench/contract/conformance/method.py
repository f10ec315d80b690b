"""Conformance of a method: a :class:`~hashbench.contract.HashMethod` checked on random inputs of the
first item kind it consumes.

Checks, in order: ``builds`` (an ``nn.Module`` with ``encode``), ``consumes`` (known item kinds),
``fit`` (optional: deterministic, two builds fitted on the same data hold equal state), ``encode``
(finite float codes of shape batch x bits, no exact zero), ``training_loss`` (optional: a finite
scalar whose gradient reaches the parameters), ``state_dict`` (a fresh build loaded strictly with it
encodes the same codes), ``resume`` (optional, with ``training_loss``: two epochs in one go equal one epoch,
a checkpoint, a fresh build restored from it and the second epoch) and ``on_epoch_start``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Union

from .. import rules
from ..names import ITEM_KINDS
from ..registry import Component
from .kit import (CLIP, KIT_CONTEXT, CheckFailed, CheckResult, Checks, CheckSkipped, build, call_epoch, expect,
                  missing_grads, module_summary, require, run_kind)

__all__ = ["check_method", "kit_inputs"]

#: Items the kit fits on, and encodes a batch of.
ITEMS, BATCH = 32, 4


def check_method(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
                 device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of a method (registered component or bare factory)."""
    return run_kind("method", component, table, device=device, workdir=workdir, builds=_builds, body=_checks)


def _builds(component: Component, table: Mapping[str, Any], device: str) -> tuple[str, Any]:
    method = build(component, table, device=device)
    summary = module_summary(method, "method")
    expect(callable(getattr(method, "encode", None)), "it has no encode(inputs) (the method contract)")
    return summary, method.to(device)


def kit_inputs(consumes: Any, n: int = ITEMS, seed: int = 0) -> Any:
    """Random inputs of ``n`` items of the first item kind in ``consumes`` (seeded: ``seed`` 0 is what the
    kit fits on, 1 what it encodes)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    kind = next((k for k in consumes if k in ITEM_KINDS), None)
    frames, dim = KIT_CONTEXT["num_frames"], KIT_CONTEXT["feature_dim"]
    if kind == "frame_features":
        return torch.randn(n, frames, dim, generator=generator)
    if kind == "vector":
        return torch.randn(n, dim, generator=generator)
    if kind == "clips":
        return torch.randint(0, 256, (n, 3, CLIP[1], CLIP[2], CLIP[3]), generator=generator, dtype=torch.uint8)
    raise CheckFailed(f"consumes {tuple(consumes)!r}: none of {', '.join(ITEM_KINDS)}")


def _checks(checks: Checks, method: Any, component: Component, table: Mapping[str, Any], device: str) -> None:
    bits = int(table.get("bits", KIT_CONTEXT["bits"]))
    if not checks.run("consumes", consumes, method):
        return
    fitted = checks.run("fit", fit, method, component, table, device)
    if fitted and checks.run("encode", encode, method, bits, device):
        checks.run("training_loss", training_loss, method, device)
        checks.run("state_dict", state_dict, method, component, table, device)
        checks.run("resume", resume, method, component, table, device)
    checks.run("on_epoch_start", on_epoch_start, method)


def consumes(method: Any) -> str:
    """``consumes`` names known item kinds; ``needs_labels`` is a bool."""
    declared = tuple(getattr(method, "consumes", ()))
    unknown = [k for k in declared if k not in ITEM_KINDS]
    expect(declared and not unknown, f"consumes = {declared!r}; each must be one of {', '.join(ITEM_KINDS)}")
    expect(isinstance(getattr(method, "needs_labels", False), bool), "needs_labels is not a bool")
    return ", ".join(declared)


def _fitted(component: Component, table: Mapping[str, Any], device: str) -> Any:
    method = build(component, table, device=device).to(device)
    if callable(getattr(method, "fit", None)):
        method.fit(kit_inputs(method.consumes).to(device))
    return method


def _same_state(a: Any, b: Any) -> Optional[str]:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    if set(sa) != set(sb):
        return f"state keys differ: {rules.first(sorted(set(sa) ^ set(sb)))}"
    differ = [k for k in sa if not torch.equal(torch.as_tensor(sa[k]).cpu(), torch.as_tensor(sb[k]).cpu())]
    return f"state differs in {rules.first(differ)}" if differ else None


def fit(method: Any, component: Component, table: Mapping[str, Any], device: str) -> str:
    """Optional: ``fit`` on the same data from the same seed gives the same state, twice."""
    if not callable(getattr(method, "fit", None)):
        raise CheckSkipped("not defined (optional)")
    inputs = kit_inputs(method.consumes).to(device)
    method.fit(inputs)
    again = _fitted(component, table, device)
    require(_same_state(method, again))
    return f"deterministic on {tuple(inputs.shape)}, {len(method.state_dict())} state entries"


def encode(method: Any, bits: int, device: str) -> str:
    """Eval mode, no grad: finite float codes, one row of ``bits`` per input, no exact zero."""
    import torch

    method.eval()
    with torch.no_grad():
        codes = method.encode(kit_inputs(method.consumes, BATCH, seed=1).to(device))
    require(rules.codes(codes, BATCH, bits))
    require(rules.finite(codes, "codes"))
    zeros = int((torch.sign(codes) == 0).sum())
    expect(not zeros, f"{zeros} code entries are exactly 0: their sign is no binary code")
    return f"{BATCH} inputs -> ({BATCH}, {bits}), sign in {{-1, +1}}"


def training_loss(method: Any, device: str) -> str:
    """Optional: a finite scalar whose gradient reaches every parameter that requires grad."""
    import torch

    from ..methods import MethodBatch

    if not callable(getattr(method, "training_loss", None)):
        raise CheckSkipped("not defined (optional: the method trains no epochs)")
    method.train()
    labels = torch.arange(BATCH, device=device) % KIT_CONTEXT["num_classes"] if method.needs_labels else None
    batch = MethodBatch(kit_inputs(method.consumes, BATCH).to(device), torch.arange(BATCH, device=device), labels)
    method.zero_grad(set_to_none=True)
    loss = method.training_loss(batch)
    require(rules.scalar_loss(loss))
    require(rules.loss_gradient(loss))
    loss.backward()
    missing = missing_grads(method)
    expect(not missing, f"no gradient reached parameter(s) {rules.first(missing)}")
    return f"{float(loss.detach()):.4g}, gradients reach every parameter"


def state_dict(method: Any, component: Component, table: Mapping[str, Any], device: str) -> str:
    """A fresh build loaded (strictly) with the state dict encodes exactly the same codes."""
    import torch

    fresh = build(component, table, device=device).to(device)
    fresh.load_state_dict(method.state_dict(), strict=True)
    inputs = kit_inputs(method.consumes, BATCH, seed=1).to(device)
    method.eval()
    fresh.eval()
    with torch.no_grad():
        expect(torch.equal(method.encode(inputs), fresh.encode(inputs)), "codes differ after load_state_dict")
    return f"{len(method.state_dict())} entries round-trip"


def _train_epochs(method: Any, optimizer: Any, epochs: range, total: int, device: str) -> None:
    """Epochs ``epochs`` of ``total`` (1-based) of a tiny training run: on_epoch_start, then one optimizer
    step of ``training_loss`` on that epoch's fixed batch (inputs seeded by the epoch)."""
    import torch

    from ..methods import MethodBatch

    for epoch in epochs:
        call_epoch(method, epoch, total)
        method.train()
        labels = torch.arange(BATCH, device=device) % KIT_CONTEXT["num_classes"] if method.needs_labels else None
        batch = MethodBatch(kit_inputs(method.consumes, BATCH, seed=10 + epoch).to(device),
                            torch.arange(BATCH, device=device), labels)
        optimizer.zero_grad(set_to_none=True)
        method.training_loss(batch).backward()
        optimizer.step()


def resume(method: Any, component: Component, table: Mapping[str, Any], device: str) -> str:
    """Optional (with ``training_loss``): a run of two epochs (on_epoch_start + one Adam step each) ends in
    exactly the state of a run stopped after epoch 1, checkpointed (the method's state_dict, the
    optimizer's and the torch RNG state, as a run's checkpoint holds them), restored into a fresh build
    (not fitted again) and continued for epoch 2."""
    import copy

    import torch

    if not callable(getattr(method, "training_loss", None)):
        raise CheckSkipped("not defined (optional: the method trains no epochs)")

    def adam(m: Any) -> Any:
        return torch.optim.Adam([p for p in m.parameters() if p.requires_grad] or [torch.zeros(1, requires_grad=True)],
                                lr=1e-3)

    torch.manual_seed(0)
    whole = _fitted(component, table, device)
    _train_epochs(whole, adam(whole), range(1, 3), 2, device)
    torch.manual_seed(0)
    stopped = _fitted(component, table, device)
    optimizer = adam(stopped)
    _train_epochs(stopped, optimizer, range(1, 2), 2, device)
    saved = (copy.deepcopy(stopped.state_dict()), copy.deepcopy(optimizer.state_dict()), torch.get_rng_state())
    resumed = build(component, table, device=device).to(device)
    resumed.load_state_dict(saved[0], strict=True)
    optimizer = adam(resumed)
    optimizer.load_state_dict(saved[1])
    torch.set_rng_state(saved[2])
    _train_epochs(resumed, optimizer, range(2, 3), 2, device)
    require(_same_state(whole, resumed))
    return "2 epochs == 1 epoch + checkpoint + fresh build + 1 epoch, exactly"


def on_epoch_start(method: Any) -> str:
    """Optional: ``on_epoch_start(epoch, 3)`` for epochs 1..3 runs."""
    if not getattr(type(method), "on_epoch_start", None) or not call_epoch(method, 1, 3):
        raise CheckSkipped("not defined (optional)")
    call_epoch(method, 2, 3)
    call_epoch(method, 3, 3)
    return "called for epochs 1..3"
