"""The conformance kit: every registered component checked against the plugin contract, one check at a time.

A plugin author checks a whole package with one command, ``hashbench check-plugins --dist NAME``, or
from pytest (the way timm tests every registered model)::

    import pytest
    from hashbench.contract.testing import assert_conforms, component_id, select_components

    @pytest.mark.parametrize("component", select_components(dist="my-package"), ids=component_id)
    def test_conformance(component):
        assert_conforms(component)

What is checked, per kind (each check gives one :class:`CheckResult`):

- backbone: builds an ``nn.Module``; ``feature_dim`` is a positive int; ``input_mean``/``input_std``
  are declared (3 numbers each, 0-255 units, std > 0); a tiny uint8 clip normalised with them goes
  forward to ``(B, feature_dim)`` finite features; backward reaches every parameter that requires
  grad; one SGD step with those gradients moves the parameters and keeps the features finite;
  eval-mode forward.
- head: ``(B, feature_dim) -> (B, bits)`` real-valued and finite, the sign is a binary code (no
  zeros), the gradient reaches the features and every parameter; eval mode; ``on_epoch_start``.
- loss: a scalar, finite, with a (finite, non-zero) gradient w.r.t. the codes (and to the loss's
  own parameters); a batch of a single class (no negative pair, no triplet) and a batch of distinct
  classes (no positive pair) stay finite; multi-hot labels when the loss supports them; ``indices``
  (with ``num_train``) when it ``needs_indices``, ``features`` when it ``needs_features``;
  ``classify`` logits ``(B, C)``; a ``state_dict`` round trip into a freshly built instance gives
  the same next loss (as ``--resume`` does); ``on_epoch_start`` is callable.
- dataset: the three splits, uint8 ``(3, T, H, W)`` items with T = ``num_frames``, labels in range
  (int, or multi-hot ``(C,)`` for multi-label data), unique ``video_ids`` as long as each split,
  ``info()`` with ``split``/``data_checksum``/``data_origin``; building twice gives the same ids
  and the same first clip.
- metric: a finite float on random codes; codes that are perfect (one code per class) score at least
  as high as the same codes shuffled across items; the reference metrics give exact known answers.

Factories whose table has keys without defaults (a dataset's ``root``) are checked with an example
table attached by :func:`conformance_example`; a callable example receives a temporary folder (to
write a tiny dataset tree into) and returns the table. Metrics registered as ``name@k`` /
``name@r`` get ``k`` / ``r`` from the kit. A component with neither is reported as needing an
example (a failed check).

This module imports torch and numpy only inside the checks (``hashbench plugins`` stays fast).
"""
from __future__ import annotations

import inspect
import math
import numbers
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TypeVar, Union

from ..errors import HashbenchError, MissingExtraError, PluginError
from ..failures import first_line
from .binding import accepted_parameters, settable
from .names import CONTEXT_NAMES, KINDS, TABLE_OWNED
from .registry import REFERENCE_DIST, Component, Registry

__all__ = [
    "conformance_example", "example_of", "CheckResult", "component_id", "select_components",
    "check_backbone", "check_head", "check_loss", "check_dataset", "check_metric", "check_component",
    "check_registered", "assert_conforms", "same_distribution", "KIT_CONTEXT", "KNOWN_ANSWERS",
]

F = TypeVar("F", bound=Callable[..., Any])
Example = Union[Mapping[str, Any], Callable[[Path], Mapping[str, Any]]]
#: The attribute :func:`conformance_example` sets on a factory.
EXAMPLE_ATTRIBUTE = "__hashbench_conformance_example__"
CLIP_ATTRIBUTE = "__hashbench_conformance_clip__"
#: The context values the kit injects (what a run would derive from its dataset, backbone and head).
KIT_CONTEXT: Dict[str, Any] = {"bits": 8, "feature_dim": 16, "num_classes": 4, "multi_label": False,
                               "num_frames": 4, "num_train": 16, "seed": 0, "device": "cpu"}
#: Which context each kind receives (as the run builds them: see hashbench.run.build).
KIND_CONTEXT = {
    "backbone": ("seed", "device", "bits", "num_classes", "multi_label", "num_frames", "num_train"),
    "head": ("feature_dim", "seed", "device", "num_classes", "multi_label", "num_frames", "num_train"),
    "loss": CONTEXT_NAMES,
    "dataset": ("seed", "device", "bits"),
    "metric": (),
}
#: The tiny clip a backbone is checked on: (B, T, H, W), uint8 RGB.
CLIP = (2, 4, 32, 32)
SPLITS = ("train", "query", "database")
ORIGINS = ("official", "custom", "generated")
#: Tolerance of the state_dict round trip (the same computation twice on the same inputs).
RTOL, ATOL = 1e-5, 1e-6


def conformance_example(example: Example, *, clip: Optional[Sequence[int]] = None) -> Callable[[F], F]:
    """Attach an example table to a factory, for the conformance kit (and nothing else).

    ``example`` is a table (``{"root": ...}``, without ``name``) or a callable receiving a temporary
    folder (``pathlib.Path``, empty, removed after the checks) and returning the table, e.g. after
    writing a tiny dataset tree into it. Needed only for factories with keys that have no default.
    ``clip``: for a backbone that takes only some clip shapes, the ``(T, H, W)`` it is checked on
    (default :data:`CLIP`'s ``(4, 32, 32)``); ``num_frames`` reaches the factory as T.
    """
    if not (isinstance(example, Mapping) or callable(example)):
        raise TypeError(f"conformance_example: expected a table (mapping) or a callable(folder) -> table,"
                        f" got {type(example).__name__}")
    if clip is not None and (len(clip) != 3 or not all(isinstance(v, int) and v >= 1 for v in clip)):
        raise TypeError(f"conformance_example: clip must be (T, H, W), three positive ints, got {clip!r}")

    def mark(factory: F) -> F:
        setattr(factory, EXAMPLE_ATTRIBUTE, example)
        if clip is not None:
            setattr(factory, CLIP_ATTRIBUTE, tuple(clip))
        return factory

    return mark


def example_of(factory: Any) -> Optional[Example]:
    """The example a factory declared with :func:`conformance_example` (None when it declared none)."""
    return getattr(factory, EXAMPLE_ATTRIBUTE, None)


@dataclass(frozen=True)
class CheckResult:
    """One check of one component: ``component`` (``kind:name``), ``check`` (its name), ``passed``,
    ``message`` (why it failed, or what was seen), ``dist`` (the distribution) and ``skipped`` (the check
    does not apply; counts as passed)."""

    component: str
    check: str
    passed: bool
    message: str = ""
    dist: str = ""
    skipped: bool = False

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def __str__(self) -> str:
        state = "skipped" if self.skipped else ("passed" if self.passed else "FAILED")
        return f"{self.component} {self.check}: {state}{': ' + self.message if self.message else ''}"


def component_id(component: Component) -> str:
    """``kind:name`` (the id of a component in results and pytest parametrisations)."""
    return f"{component.kind}:{component.name}"


def same_distribution(a: str, b: str) -> bool:
    """Whether two distribution names are the same as pip compares them (case and ``-_.`` runs ignored)."""
    return re.sub(r"[-_.]+", "-", a).lower() == re.sub(r"[-_.]+", "-", b).lower()


def select_components(registry: Optional[Registry] = None, dist: Optional[str] = None, kind: Optional[str] = None,
                      name: Optional[str] = None) -> List[Component]:
    """Registered components, ordered by kind then name, optionally only those of distribution ``dist``
    (compared as pip does: case and ``-``/``_``/``.`` ignored), of ``kind`` and named ``name``."""
    registry = _registry(registry)
    if kind is not None and kind not in KINDS:
        raise PluginError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
    return [c for c in registry.all()
            if (dist is None or same_distribution(c.dist, dist))
            and (kind is None or c.kind == kind) and (name is None or c.name == name)]


def check_registered(registry: Optional[Registry] = None, dist: Optional[str] = None, kind: Optional[str] = None,
                     name: Optional[str] = None, device: str = "cpu") -> List[CheckResult]:
    """Every check of every selected component (see :func:`select_components`); a plugin of ``dist``
    that failed to load is a failed ``loads`` check of ``plugin:<entry point>``."""
    registry = _registry(registry)
    results: List[CheckResult] = []
    if kind is None and name is None:
        for broken in registry.broken:
            if dist is None or same_distribution(broken.dist, dist):
                results.append(CheckResult(f"plugin:{broken.entry_point}", "loads", False, broken.error,
                                           broken.dist))
    for component in select_components(registry, dist, kind, name):
        results.extend(check_component(component, device=device))
    return results


def assert_conforms(component: Component, table: Optional[Mapping[str, Any]] = None, device: str = "cpu") -> None:
    """Run :func:`check_component`; AssertionError listing every failed check (for pytest)."""
    failed = [r for r in check_component(component, table, device=device) if not r.passed]
    if failed:
        raise AssertionError(f"{component_id(component)} ({component.dist} {component.version}) fails"
                             f" {len(failed)} check(s):\n" + "\n".join(f"  {r.check}: {r.message}" for r in failed))


def check_component(component: Component, table: Optional[Mapping[str, Any]] = None, *, device: str = "cpu",
                    workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of one component, by its kind (``table``: the component's table without ``name``;
    default: its example, or ``{}``)."""
    checks = {"backbone": check_backbone, "head": check_head, "loss": check_loss, "dataset": check_dataset,
              "metric": check_metric}
    if component.kind not in checks:
        raise PluginError(f"unknown component kind {component.kind!r}; kinds are {', '.join(KINDS)}")
    return checks[component.kind](component, table, device=device, workdir=workdir)


# -- the machinery: results, failures, tables, building --------------------------------------------
class CheckFailed(Exception):
    """Raised inside a check: the check failed with this message."""


class CheckSkipped(Exception):
    """Raised inside a check: the check does not apply (the message says why)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class _Checks:
    """Runs named checks of one component and collects their results; an exception is a failure."""

    def __init__(self, component: Component) -> None:
        self.component = component
        self.results: List[CheckResult] = []

    def run(self, check: str, call: Callable[[], Optional[str]]) -> bool:
        ref = component_id(self.component)
        try:
            message = call()
        except CheckSkipped as exc:
            self.results.append(CheckResult(ref, check, True, str(exc), self.component.dist, skipped=True))
            return True
        except MissingExtraError as exc:  # an optional dependency absent here: not checkable, not broken
            self.results.append(CheckResult(ref, check, True, first_line(exc), self.component.dist, skipped=True))
            return False
        except CheckFailed as exc:
            self.results.append(CheckResult(ref, check, False, str(exc), self.component.dist))
            return False
        except Exception as exc:  # a plugin's bug is a failed check, never a crash of the kit
            self.results.append(CheckResult(ref, check, False, first_line(exc), self.component.dist))
            return False
        self.results.append(CheckResult(ref, check, True, message or "", self.component.dist))
        return True


def _as_component(kind: str, component: Union[Component, Callable[..., Any]]) -> Component:
    if isinstance(component, Component):
        if component.kind != kind:
            raise PluginError(f"{component_id(component)} is a {component.kind}, not a {kind}")
        return component
    if not callable(component):
        raise PluginError(f"expected a registered {kind} (Component) or its factory, got {type(component).__name__}")
    return Component(kind, getattr(component, "__name__", kind), component, "?", "?")


def _required_keys(component: Component, given: Mapping[str, Any]) -> List[str]:
    """Table keys without a default that neither ``given`` nor the kit's context provide."""
    accepted, _ = accepted_parameters(component.factory)
    owned = TABLE_OWNED.get(component.kind, ())
    context = KIND_CONTEXT[component.kind]
    return [n for n, p in accepted.items() if p.default is inspect.Parameter.empty and n not in given
            and settable(n, owned) and n not in context]


def _derived_table(component: Component) -> Dict[str, Any]:
    """What the kit fills in itself: a head's ``bits``, a ``name@k`` metric's ``k``, ``name@r``'s ``r``."""
    if component.kind == "head":
        return {"bits": KIT_CONTEXT["bits"]}
    if component.kind == "metric":
        if component.name.endswith("@k"):
            return {"k": PER_CLASS_DB}
        if component.name.endswith("@r"):
            return {"r": 0}
    return {}


def _table(component: Component, table: Optional[Mapping[str, Any]], folder: Path) -> Dict[str, Any]:
    """The table to check the component with; CheckFailed when it needs an example it lacks."""
    base = _derived_table(component)
    if table is not None:
        chosen: Mapping[str, Any] = table
    else:
        example = example_of(component.factory)
        if example is None:
            chosen = {}
        elif isinstance(example, Mapping):
            chosen = example
        else:
            chosen = example(folder)
            if not isinstance(chosen, Mapping):
                raise CheckFailed(f"its conformance example returned {type(chosen).__name__}, not a table")
    merged = {**base, **{k: v for k, v in chosen.items() if k != "name"}}
    missing = _required_keys(component, merged)
    if missing:
        raise CheckFailed(f"needs an example table: the factory requires key(s) {', '.join(missing)} without"
                          " a default; decorate it with @hashbench.contract.conformance_example({...}) or a"
                          " callable(folder) -> table")
    return merged


def _clip_of(component: Component) -> Sequence[int]:
    """(B, T, H, W) a backbone is checked on: its declared ``clip`` with the kit's batch, else CLIP."""
    declared = getattr(component.factory, CLIP_ATTRIBUTE, None)
    return (CLIP[0], *declared) if declared else CLIP


def _build(component: Component, table: Mapping[str, Any], **overrides: Any) -> Any:
    """Build through a registry holding only ``component`` (the same binding and error rules as a run)."""
    context = {k: v for k, v in KIT_CONTEXT.items() if k in KIND_CONTEXT[component.kind]}
    if component.kind == "backbone":
        context["num_frames"] = _clip_of(component)[1]
    context.update(overrides)
    registry = Registry()
    registry.components[component.kind][component.name] = component
    return registry.build(component.kind, {"name": component.name, **table}, where=component.kind, **context)


def _registry(registry: Optional[Registry]) -> Registry:
    if registry is not None:
        return registry
    import hashbench

    return hashbench.registry()


def _with_table(kind: str, component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]],
                workdir: Optional[Path], body: Callable[[_Checks, Component, Dict[str, Any]], None]
                ) -> List[CheckResult]:
    component = _as_component(kind, component)
    checks = _Checks(component)
    with tempfile.TemporaryDirectory(prefix="hashbench-conformance-", dir=workdir) as tmp:
        folder = Path(tmp)
        resolved: Dict[str, Any] = {}

        def resolve() -> Optional[str]:
            resolved.update(_table(component, table, folder / "example"))
            text = ", ".join(f"{k}={v!r}" for k, v in resolved.items()) or "defaults"
            return text.replace(str(folder / "example"), "<tmp>")

        (folder / "example").mkdir()
        if checks.run("example", resolve):
            body(checks, component, resolved)
    return checks.results


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if hasattr(x, "shape") else type(x).__name__


def _first(names: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _missing_grads(module: Any) -> List[str]:
    return [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]


def _nonfinite_grads(module: Any) -> List[str]:
    import torch

    return [n for n, p in module.named_parameters()
            if p.grad is not None and not bool(torch.isfinite(p.grad).all())]


def _module_check(obj: Any, what: str) -> str:
    from torch import nn

    _require(isinstance(obj, nn.Module), f"the factory returned {type(obj).__name__}, not a torch.nn.Module"
                                         f" (the {what} contract)")
    parameters = sum(p.numel() for p in obj.parameters())
    return f"{type(obj).__name__}, {parameters:,} parameters"


def _call_epoch(obj: Any, epoch: int, epochs: int) -> bool:
    hook = getattr(obj, "on_epoch_start", None)
    if hook is None:
        return False
    _require(callable(hook), "on_epoch_start is not callable")
    hook(epoch, epochs)
    return True


# -- backbone --------------------------------------------------------------------------------------
def check_backbone(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
                   device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Checks of a backbone (registered component or bare factory) on a tiny uint8 clip (see module doc)."""
    return _with_table("backbone", component, table, workdir,
                       lambda checks, c, t: _backbone_checks(checks, c, t, device))


def _backbone_checks(checks: _Checks, component: Component, table: Dict[str, Any], device: str) -> None:
    import torch

    state: Dict[str, Any] = {}

    def builds() -> str:
        state["model"] = _build(component, table, device=device)
        message = _module_check(state["model"], "backbone")
        state["model"].to(device)
        return message

    if not checks.run("builds", builds):
        return
    model = state["model"]

    def feature_dim() -> str:
        dim = getattr(model, "feature_dim", None)
        _require(isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1,
                 f"feature_dim must be a positive int (the output width), got {dim!r}")
        return str(dim)

    def normalisation() -> str:
        mean, std = getattr(model, "input_mean", None), getattr(model, "input_std", None)
        _require(mean is not None and std is not None,
                 "input_mean/input_std are not declared: set them (3 numbers each, 0-255 pixel units, RGB)"
                 " to the normalisation the weights expect")
        try:
            mean_t, std_t = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        except (TypeError, ValueError):
            raise CheckFailed(f"input_mean {mean!r} / input_std {std!r} are not sequences of numbers") from None
        _require(len(mean_t) == 3 and len(std_t) == 3, f"input_mean {mean_t} / input_std {std_t}: 3 numbers each")
        _require(all(math.isfinite(v) and 0 <= v <= 255 for v in mean_t),
                 f"input_mean {mean_t} must lie in 0..255 (pixel units)")
        _require(all(math.isfinite(v) and v > 0 for v in std_t), f"input_std {std_t} must be positive")
        state["norm"] = (mean_t, std_t)
        return f"mean {tuple(round(v, 2) for v in mean_t)}, std {tuple(round(v, 2) for v in std_t)}"

    dim_ok = checks.run("feature_dim", feature_dim)
    norm_ok = checks.run("normalisation", normalisation)
    if not (dim_ok and norm_ok):
        return
    batch, frames, height, width = _clip_of(component)
    generator = torch.Generator().manual_seed(0)
    clip = torch.randint(0, 256, (batch, 3, frames, height, width), generator=generator, dtype=torch.uint8)
    mean_t, std_t = state["norm"]
    inputs = ((clip.float() - torch.tensor(mean_t).view(1, 3, 1, 1, 1))
              / torch.tensor(std_t).view(1, 3, 1, 1, 1)).to(device)

    def forward() -> str:
        model.train()
        model.zero_grad(set_to_none=True)
        out = model(inputs)
        _require(isinstance(out, torch.Tensor) and tuple(out.shape) == (batch, model.feature_dim),
                 f"returned {_shape(out)} for clips {tuple(inputs.shape)}; the contract is (B, feature_dim) ="
                 f" ({batch}, {model.feature_dim})")
        _require(out.is_floating_point() and bool(torch.isfinite(out).all()), "features are not finite floats")
        state["out"] = out
        return f"{tuple(inputs.shape)} -> {tuple(out.shape)}"

    def backward() -> str:
        out = state["out"]
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out.device)
        (out * weights).sum().backward()
        missing = _missing_grads(model)
        _require(not missing, f"no gradient reached {len(missing)} parameter(s) that require grad: {_first(missing)}"
                              " (unused, or detached in forward)")
        bad = _nonfinite_grads(model)
        _require(not bad, f"non-finite gradients in {_first(bad)}")
        return f"{sum(1 for p in model.parameters() if p.requires_grad)} parameter tensors get a gradient"

    def eval_forward() -> str:
        model.eval()
        _call_epoch(model, 1, 2)
        with torch.no_grad():
            out = model(inputs)
        _require(isinstance(out, torch.Tensor) and tuple(out.shape) == (batch, model.feature_dim)
                 and bool(torch.isfinite(out).all()), f"eval mode returned {_shape(out)} (or non-finite values)")
        return "eval mode, no grad"

    def trains() -> str:
        import torch

        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise CheckSkipped("no parameter requires grad (a frozen backbone)")
        before = [p.detach().clone() for p in trainable]
        torch.optim.SGD(trainable, lr=1e-2).step()  # the gradients of the backward check
        moved = sum(not torch.equal(b, p.detach()) for b, p in zip(before, trainable))
        _require(moved > 0, "one SGD step with the backward check's gradients changed no parameter")
        _require(all(bool(torch.isfinite(p).all()) for p in trainable), "parameters are not finite after one step")
        with torch.no_grad():
            out = model(inputs)
        _require(bool(torch.isfinite(out).all()), "features are not finite after one SGD step")
        return f"one SGD step moved {moved} of {len(trainable)} parameter tensors"

    if checks.run("forward", forward) and checks.run("backward", backward):
        checks.run("trains", trains)
    checks.run("eval_forward", eval_forward)


# -- head ------------------------------------------------------------------------------------------
def check_head(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
               device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Checks of a hash head: ``(B, feature_dim) -> (B, bits)`` real codes, sign, gradient (see module doc)."""
    return _with_table("head", component, table, workdir, lambda checks, c, t: _head_checks(checks, c, t, device))


def _head_checks(checks: _Checks, component: Component, table: Dict[str, Any], device: str) -> None:
    import torch

    state: Dict[str, Any] = {}
    bits, dim, batch = int(table.get("bits", KIT_CONTEXT["bits"])), KIT_CONTEXT["feature_dim"], 4

    def builds() -> str:
        state["head"] = _build(component, table, device=device)
        message = _module_check(state["head"], "head")
        state["head"].to(device)
        return message

    if not checks.run("builds", builds):
        return
    head = state["head"]
    features = torch.randn(batch, dim, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_()

    def shape() -> str:
        head.train()
        codes = head(features)
        _require(isinstance(codes, torch.Tensor) and tuple(codes.shape) == (batch, bits),
                 f"returned {_shape(codes)} for features ({batch}, {dim}); the contract is (B, bits) ="
                 f" ({batch}, {bits})")
        state["codes"] = codes
        return f"({batch}, {dim}) -> ({batch}, {bits})"

    def sign() -> str:
        codes = state["codes"]
        _require(codes.is_floating_point(), f"codes are {codes.dtype}; the contract is real-valued codes (floats)")
        _require(bool(torch.isfinite(codes).all()), "codes are not finite")
        zeros = int((torch.sign(codes) == 0).sum())
        _require(zeros == 0, f"{zeros} code entries are exactly 0: their sign is no binary code")
        low, high = float(codes.detach().min()), float(codes.detach().max())
        return f"real-valued in [{low:.3g}, {high:.3g}], sign in {{-1, +1}}"

    def gradient() -> str:
        codes = state["codes"]
        weights = torch.randn(codes.shape, generator=torch.Generator().manual_seed(1)).to(codes.device)
        head.zero_grad(set_to_none=True)
        (codes * weights).sum().backward()
        _require(features.grad is not None and bool(torch.isfinite(features.grad).all())
                 and float(features.grad.abs().sum()) > 0, "no (finite, non-zero) gradient reaches the features")
        missing = _missing_grads(head)
        _require(not missing, f"no gradient reached parameter(s) {_first(missing)}")
        bad = _nonfinite_grads(head)
        _require(not bad, f"non-finite gradients in {_first(bad)}")
        return "reaches the features and every parameter"

    def eval_forward() -> str:
        head.eval()
        with torch.no_grad():
            codes = head(features.detach())
        _require(isinstance(codes, torch.Tensor) and tuple(codes.shape) == (batch, bits)
                 and bool(torch.isfinite(codes).all()), f"eval mode returned {_shape(codes)} (or non-finite values)")
        return "eval mode, no grad"

    def on_epoch_start() -> str:
        if not hasattr(head, "on_epoch_start"):
            raise CheckSkipped("not defined (optional)")
        head.train()
        for epoch in (1, 2, 3):
            _call_epoch(head, epoch, 3)
            with torch.no_grad():
                codes = head(features.detach())
            _require(tuple(codes.shape) == (batch, bits) and bool(torch.isfinite(codes).all()),
                     f"after on_epoch_start({epoch}, 3) the head returned {_shape(codes)} (or non-finite values)")
        return "called for epochs 1..3"

    if checks.run("shape", shape):
        checks.run("sign", sign)
        checks.run("gradient", gradient)
    checks.run("eval_forward", eval_forward)
    checks.run("on_epoch_start", on_epoch_start)


# -- loss ------------------------------------------------------------------------------------------
def check_loss(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
               device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Checks of a loss on fixed tiny batches (see module doc); a factory that raises fails ``builds``."""
    return _with_table("loss", component, table, workdir, lambda checks, c, t: _loss_checks(checks, c, t, device))


def _loss_inputs(labels: Any, device: str, seed: int, offset: int = 0) -> Dict[str, Any]:
    """Codes (B, bits) requiring grad, labels, indices offset..offset+B-1 and features (B, feature_dim)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    size = int(labels.shape[0])
    codes = (0.5 * torch.randn(size, KIT_CONTEXT["bits"], generator=generator)).to(device).requires_grad_()
    features = torch.randn(size, KIT_CONTEXT["feature_dim"], generator=generator).to(device)
    indices = (torch.arange(size) + offset) % KIT_CONTEXT["num_train"]
    return {"codes": codes, "labels": labels.to(device), "indices": indices.to(device), "features": features}


def _call_loss(loss: Any, inputs: Mapping[str, Any]) -> Any:
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


def _scalar(value: Any) -> float:
    import torch

    _require(isinstance(value, torch.Tensor) and value.numel() == 1 and value.dim() <= 1,
             f"returned {_shape(value)}; the contract is a scalar tensor (reduce over the batch)")
    return float(value.detach())


def _finite_value_and_grad(loss: Any, inputs: Mapping[str, Any]) -> str:
    """One call: a finite scalar whose gradient w.r.t. the codes (if any) is finite."""
    import torch

    result = _call_loss(loss, inputs)
    value = _scalar(result)
    _require(math.isfinite(value), f"the loss is {value}")
    if result.requires_grad:
        grad, = torch.autograd.grad(result.reshape(()), inputs["codes"], allow_unused=True)
        _require(grad is None or bool(torch.isfinite(grad).all()), "the gradient w.r.t. the codes is not finite")
    return f"loss {value:.4g}"


def _loss_checks(checks: _Checks, component: Component, table: Dict[str, Any], device: str) -> None:
    import torch

    state: Dict[str, Any] = {}
    classes = KIT_CONTEXT["num_classes"]
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    regular = _loss_inputs(labels, device, seed=0)

    def build(**overrides: Any) -> Any:
        loss = _build(component, table, device=device, **overrides)
        _module_check(loss, "loss")
        loss.to(device)
        loss.train()
        return loss

    def builds() -> str:
        state["loss"] = loss = build()
        needs = [f"needs_{w}" for w in ("indices", "features") if getattr(loss, f"needs_{w}", False)]
        declared = f" ({', '.join(needs)}; num_train={KIT_CONTEXT['num_train']})" if needs else ""
        return f"{_module_check(loss, 'loss')}{declared}"

    if not checks.run("builds", builds):
        return
    loss = state["loss"]

    def scalar() -> str:
        _call_epoch(loss, 1, 2)
        value = _call_loss(loss, regular)
        state["value"] = _scalar(value)
        state["tensor"] = value
        return f"{tuple(value.shape)} for codes {tuple(regular['codes'].shape)}"

    def finite() -> str:
        _require(math.isfinite(state["value"]), f"the loss of a regular batch is {state['value']}")
        return f"{state['value']:.4g}"

    def gradient() -> str:
        value = state["tensor"]
        _require(value.requires_grad, "the loss has no gradient path to the codes (was it detached?)")
        loss.zero_grad(set_to_none=True)
        value.reshape(()).backward()
        grad = regular["codes"].grad
        _require(grad is not None, "no gradient reaches the codes")
        _require(bool(torch.isfinite(grad).all()), "the gradient w.r.t. the codes is not finite")
        _require(float(grad.abs().sum()) > 0, "the gradient w.r.t. the codes is zero on a regular batch")
        missing = _missing_grads(loss)
        _require(not missing, f"no gradient reached the loss's own parameter(s) {_first(missing)}")
        bad = _nonfinite_grads(loss)
        _require(not bad, f"non-finite gradients in the loss's parameters {_first(bad)}")
        return f"|grad| = {float(grad.norm()):.3g}"

    def single_class() -> str:
        same = _loss_inputs(torch.zeros(8, dtype=torch.long), device, seed=2, offset=8)
        return _finite_value_and_grad(build(), same) + " (one class: no negative pair, no triplet)"

    def no_positive_pair() -> str:
        distinct = _loss_inputs(torch.arange(classes), device, seed=3)
        return _finite_value_and_grad(build(), distinct) + " (distinct classes: no positive pair, no triplet)"

    def multi_label() -> str:
        supported = getattr(loss, "supports_multi_label", None)
        if supported is False:
            raise CheckSkipped("single-label only (supports_multi_label = False)")
        if supported and "multi_label" not in accepted_parameters(component.factory)[0]:
            raise CheckFailed("supports_multi_label is true (the HashLoss default) but the factory has no"
                              " `multi_label` parameter, so it is always built for single-label data: take it"
                              " and pass it on to HashLoss.__init__, or set supports_multi_label = False")
        try:
            multi = build(multi_label=True)
        except (HashbenchError, ValueError) as exc:
            if supported is None:
                raise CheckSkipped(f"refuses multi-label data: {first_line(exc)}") from None
            raise CheckFailed(f"supports_multi_label is true but it does not build for multi-label data:"
                              f" {first_line(exc)}") from None
        hot = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0],
                            [0, 0, 1, 1], [0, 0, 0, 1], [1, 0, 0, 1], [0, 1, 0, 0]], dtype=torch.float32)
        inputs = _loss_inputs(hot, device, seed=4)
        _call_epoch(multi, 1, 2)
        result = _call_loss(multi, inputs)
        value = _scalar(result)
        _require(math.isfinite(value), f"the loss of a multi-hot batch is {value}")
        _require(result.requires_grad, "the loss of a multi-hot batch has no gradient path to the codes")
        grad, = torch.autograd.grad(result.reshape(()), inputs["codes"], allow_unused=True)
        _require(grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0,
                 "no finite, non-zero gradient w.r.t. the codes on a multi-hot batch")
        return f"multi-hot (8, {classes}) -> {value:.4g}"

    def classify() -> str:
        method = getattr(loss, "classify", None)
        if method is None:
            raise CheckSkipped("no classify method (optional)")
        logits = method(regular["codes"].detach(), regular["features"])
        if logits is None:
            raise CheckSkipped("trains no classifier (classify returns None)")
        _require(isinstance(logits, torch.Tensor) and tuple(logits.shape) == (8, classes),
                 f"classify returned {_shape(logits)}; the contract is logits (B, num_classes) = (8, {classes})")
        return f"logits {tuple(logits.shape)}"

    def state_dict() -> str:
        first = build()
        _call_epoch(first, 1, 2)
        _call_loss(first, _loss_inputs(labels, device, seed=5))
        saved = first.state_dict()
        second = build()
        second.load_state_dict(saved)
        for key, value in second.state_dict().items():
            if isinstance(value, torch.Tensor):
                _require(torch.equal(value, saved[key]), f"{key} differs after load_state_dict")
        for model in (first, second):  # as --resume: load, then the next epoch begins
            _call_epoch(model, 2, 2)
        follow = _loss_inputs(torch.tensor([3, 3, 2, 2, 1, 1, 0, 0]), device, seed=6, offset=8)
        a = _scalar(_call_loss(first, follow))
        b = _scalar(_call_loss(second, {**follow, "codes": follow["codes"].detach().clone().requires_grad_()}))
        _require(math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL),
                 f"a fresh instance loaded with the state_dict gives {b:.7g} where the original gives {a:.7g}:"
                 " state that must survive --resume (memory banks, centres, schedules) is not in the state_dict"
                 " (register buffers/parameters)")
        return f"{len(saved)} entries; the next loss agrees ({a:.4g})"

    def on_epoch_start() -> str:
        if not hasattr(loss, "on_epoch_start"):
            raise CheckSkipped("not defined (optional)")
        for epoch in (1, 2, 3):
            _call_epoch(loss, epoch, 3)
        return "called for epochs 1..3"

    if not checks.run("scalar", scalar):
        return  # every later check calls the loss: they would fail for the same reason
    checks.run("finite", finite)
    checks.run("gradient", gradient)
    checks.run("single_class_batch", single_class)
    checks.run("no_positive_pair_batch", no_positive_pair)
    checks.run("multi_label", multi_label)
    checks.run("classify", classify)
    checks.run("state_dict", state_dict)
    checks.run("on_epoch_start", on_epoch_start)


# -- dataset ---------------------------------------------------------------------------------------
def check_dataset(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
                  device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Checks of a dataset: splits, items, labels, ids, provenance, determinism (see module doc)."""
    return _with_table("dataset", component, table, workdir, lambda checks, c, t: _dataset_checks(checks, c, t))


def _label_problem(label: Any, classes: int, multi_label: bool) -> Optional[str]:
    import numpy as np
    import torch

    if multi_label:
        row = label.detach().cpu() if isinstance(label, torch.Tensor) else torch.as_tensor(np.asarray(label))
        if tuple(row.shape) != (classes,) or not row.is_floating_point():
            return (f"a multi-label item's label is {_shape(row)} {row.dtype}; the contract is multi-hot float"
                    f" ({classes},)")
        if not bool(((row == 0) | (row == 1)).all()):
            return "a multi-hot label has values other than 0 and 1"
        return None
    if isinstance(label, torch.Tensor):
        if label.dim() != 0 or label.is_floating_point():
            return f"a label is a tensor {_shape(label)} {label.dtype}; the contract is an int class id"
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, numbers.Integral):
        return f"a label is {type(label).__name__} {label!r}; the contract is an int class id"
    if not 0 <= int(label) < classes:
        return f"label {int(label)} outside 0..{classes - 1} (num_classes = {classes})"
    return None


def _dataset_checks(checks: _Checks, component: Component, table: Dict[str, Any]) -> None:
    import torch

    state: Dict[str, Any] = {}

    def builds() -> str:
        state["ds"] = ds = _build(component, table)
        return type(ds).__name__

    if not checks.run("builds", builds):
        return
    ds = state["ds"]

    def attributes() -> str:
        classes, names = getattr(ds, "num_classes", None), getattr(ds, "class_names", None)
        multi, frames = getattr(ds, "multi_label", None), getattr(ds, "num_frames", None)
        _require(isinstance(classes, int) and not isinstance(classes, bool) and classes >= 1,
                 f"num_classes must be a positive int, got {classes!r}")
        _require(names is not None and len(list(names)) == classes,
                 f"class_names must list num_classes = {classes} names, got {names!r:.80}")
        _require(isinstance(multi, bool), f"multi_label must be a bool, got {multi!r}")
        _require(isinstance(frames, int) and not isinstance(frames, bool) and frames >= 1,
                 f"num_frames must be a positive int, got {frames!r}")
        return f"{classes} classes, {frames} frames{', multi-label' if multi else ''}"

    if not checks.run("attributes", attributes):
        return

    def splits() -> str:
        found = {}
        for name in SPLITS:
            split = ds.split(name)
            _require(hasattr(split, "__getitem__") and hasattr(split, "__len__"),
                     f"split({name!r}) returned {type(split).__name__}, not a torch Dataset (len, getitem)")
            _require(len(split) >= 1, f"split({name!r}) is empty")
            found[name] = split
        state["splits"] = found
        return ", ".join(f"{n}={len(s)}" for n, s in found.items())

    def items() -> str:
        shapes = set()
        for name, split in state["splits"].items():
            for index in sorted({0, len(split) - 1}):
                item = split[index]
                _require(isinstance(item, (tuple, list)) and len(item) == 2,
                         f"{name}[{index}] is {type(item).__name__}; the contract is (clip, label)")
                clip, label = item
                _require(isinstance(clip, torch.Tensor) and clip.dtype == torch.uint8 and clip.dim() == 4
                         and clip.shape[0] == 3, f"{name}[{index}] clip is {_shape(clip)}"
                         f" {getattr(clip, 'dtype', '')}; the contract is uint8 (3, T, H, W)")
                _require(clip.shape[1] == ds.num_frames,
                         f"{name}[{index}] has {clip.shape[1]} frames; num_frames is {ds.num_frames}")
                problem = _label_problem(label, ds.num_classes, ds.multi_label)
                _require(problem is None, f"{name}[{index}]: {problem}")
                shapes.add(tuple(clip.shape))
        return f"uint8 {', '.join(map(str, sorted(shapes)))}; labels in range"

    def video_ids() -> str:
        for name, split in state["splits"].items():
            ids = list(ds.video_ids(name))
            _require(len(ids) == len(split), f"video_ids({name!r}) has {len(ids)} ids for {len(split)} items")
            _require(all(isinstance(i, str) for i in ids), f"video_ids({name!r}) are not all strings")
            duplicates = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
            _require(not duplicates, f"video_ids({name!r}) repeats {_first(duplicates)}")
        return "unique, one per item"

    def info() -> str:
        provenance = ds.info()
        _require(isinstance(provenance, Mapping), f"info() returned {type(provenance).__name__}, not a dict")
        missing = [k for k in ("split", "data_checksum", "data_origin") if k not in provenance]
        _require(not missing, f"info() lacks {', '.join(missing)} (recorded in results rows)")
        _require(provenance["data_origin"] in ORIGINS,
                 f"info()['data_origin'] is {provenance['data_origin']!r}; one of {', '.join(ORIGINS)}")
        return f"split={provenance['split']!r}, data_origin={provenance['data_origin']!r}"

    def deterministic() -> str:
        again = _build(component, table)
        for name in SPLITS:
            _require(list(again.video_ids(name)) == list(ds.video_ids(name)),
                     f"building twice gives different video_ids({name!r})")
        (clip_a, label_a), (clip_b, label_b) = ds.split("train")[0], again.split("train")[0]
        _require(torch.equal(torch.as_tensor(clip_a), torch.as_tensor(clip_b)),
                 "building twice gives a different first training clip")
        _require(torch.equal(torch.as_tensor(label_a), torch.as_tensor(label_b)),
                 "building twice gives a different first training label")
        return "same ids and first clip"

    if checks.run("splits", splits):
        checks.run("items", items)
        checks.run("video_ids", video_ids)
    checks.run("info", info)
    checks.run("deterministic", deterministic)


# -- metric ----------------------------------------------------------------------------------------
#: Metric check data: CLASSES classes, PER_CLASS_DB database items and 2 queries per class, 8-bit codes.
PER_CLASS_DB = 3
#: Known answers of the reference metrics: (table, case, expected). Case "ranked": one query (label 0),
#: database at Hamming distances 0, 1, 2, 3 with labels 0, 1, 0, 1 (relevant at ranks 1 and 3, no
#: ties): AP = (1/1 + 2/3) / 2. Case "tied": the same query, every database code equal (labels 1, 0, 1,
#: 0): in database order relevant at ranks 2 and 4, AP = (1/2 + 2/4) / 2 = 0.5; over random tie orders,
#: the mean AP of 2 relevant among 4 is 49/72. Every reference metric is 1 on perfect codes.
KNOWN_ANSWERS: Dict[str, List[tuple]] = {
    "map": [({}, "ranked", 5 / 6), ({}, "tied", 0.5)],
    "map_tie": [({}, "ranked", 5 / 6), ({}, "tied", 49 / 72)],
    "map@k": [({"k": 2}, "ranked", 1.0), ({"k": 4}, "ranked", 5 / 6)],
    "map_over_k@k": [({"k": 2}, "ranked", 0.5), ({"k": 4}, "ranked", (1 + 2 / 3) / 4)],
    "map_tie@k": [({"k": 2}, "ranked", 1.0), ({"k": 4}, "tied", 49 / 72)],
    "precision@k": [({"k": 2}, "ranked", 0.5), ({"k": 3}, "ranked", 2 / 3)],
    "recall@k": [({"k": 1}, "ranked", 0.5), ({"k": 3}, "ranked", 1.0)],
    "precision@r": [({"r": 1}, "ranked", 0.5), ({"r": 0}, "ranked", 1.0)],
    "recall@r": [({"r": 1}, "ranked", 0.5), ({"r": 2}, "ranked", 1.0)],
}


def _known_case(case: str) -> tuple:
    import numpy as np

    query = -np.ones((1, 8), dtype=np.int8)
    if case == "ranked":
        db = -np.ones((4, 8), dtype=np.int8)
        for i in range(4):
            db[i, :i] = 1  # Hamming distance i from the query
        return query, np.array([0]), db, np.array([0, 1, 0, 1])
    return query, np.array([0]), -np.ones((4, 8), dtype=np.int8), np.array([1, 0, 1, 0])


def _score(component: Component, table: Mapping[str, Any], qc: Any, ql: Any, dc: Any, dl: Any) -> float:
    """The metric's value through ``hashbench.score`` (codes packed as a run packs them)."""
    import hashbench

    registry = hashbench.registry()
    metrics = registry.components["metric"]
    name, temporary = component.name, None
    registered = metrics.get(name)
    if registered is None or registered.factory is not component.factory:  # a component built elsewhere
        temporary = name = f"conformance-check-{id(component)}"
        metrics[name] = Component("metric", name, component.factory, component.dist, component.version)
    try:
        values = hashbench.score(qc, ql, dc, dl, [{"name": name, "label": "value", **table}])
    finally:
        if temporary is not None:
            metrics.pop(temporary, None)
    return values["value"]


def check_metric(component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]] = None, *,
                 device: str = "cpu", workdir: Optional[Path] = None) -> List[CheckResult]:
    """Checks of a metric on tiny code sets: a finite float, perfect codes score at least as high as
    shuffled ones, known answers of the reference metrics (see module doc)."""
    return _with_table("metric", component, table, workdir, lambda checks, c, t: _metric_checks(checks, c, t))


def _metric_checks(checks: _Checks, component: Component, table: Dict[str, Any]) -> None:
    import numpy as np

    classes, bits = KIT_CONTEXT["num_classes"], 8
    hadamard = np.array([[1]])
    while hadamard.shape[0] < bits:
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    class_codes = hadamard[:classes].astype(np.int8)  # pairwise Hamming distance bits / 2
    db_labels = np.repeat(np.arange(classes), PER_CLASS_DB)
    query_labels = np.repeat(np.arange(classes), 2)
    rng = np.random.default_rng(0)

    def builds() -> str:
        metric = _build(component, table)
        _require(callable(metric), f"the factory returned {type(metric).__name__}, not a callable"
                                   " (query_codes, query_labels, db_codes, db_labels) -> float")
        return type(metric).__name__

    if not checks.run("builds", builds):
        return

    def value() -> str:
        qc = rng.choice([-1, 1], size=(len(query_labels), bits)).astype(np.int8)
        dc = rng.choice([-1, 1], size=(len(db_labels), bits)).astype(np.int8)
        result = _score(component, table, qc, query_labels, dc, db_labels)
        _require(isinstance(result, float) and math.isfinite(result), f"random codes score {result!r}")
        return f"random codes: {result:.4g}"

    def perfect() -> str:
        qc, dc = class_codes[query_labels], class_codes[db_labels]
        best = _score(component, table, qc, query_labels, dc, db_labels)
        order_q, order_d = rng.permutation(len(qc)), rng.permutation(len(dc))
        shuffled = _score(component, table, qc[order_q], query_labels, dc[order_d], db_labels)
        _require(best >= shuffled, f"perfect codes (one per class) score {best:.4g} < class-shuffled codes"
                                   f" {shuffled:.4g}: higher must be better")
        if component.dist == REFERENCE_DIST and component.name in KNOWN_ANSWERS:
            _require(math.isclose(best, 1.0, abs_tol=1e-9), f"perfect codes score {best!r}, expected 1.0")
        return f"perfect {best:.4g} >= shuffled {shuffled:.4g}"

    def known_answers() -> str:
        if component.dist != REFERENCE_DIST or component.name not in KNOWN_ANSWERS:
            raise CheckSkipped("no known answers for this metric")
        seen = []
        for extra, case, expected in KNOWN_ANSWERS[component.name]:
            got = _score(component, {**table, **extra}, *_known_case(case))
            _require(math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12),
                     f"{case} case with {extra or 'defaults'}: got {got!r}, expected {expected!r}")
            seen.append(f"{case}{extra or ''}={expected:.4g}")
        return ", ".join(seen)

    checks.run("value", value)
    checks.run("perfect_beats_shuffled", perfect)
    checks.run("known_answers", known_answers)
