"""The kit's machinery: results, the check runner, example tables, building a component as a run does.

A check is a plain function returning a short message of what it saw; it fails by raising
:class:`CheckFailed` (see :func:`require`, which takes what a rule of :mod:`hashbench.contract.rules`
returns) or any exception (a plugin's bug is a failed check, never a crash of the kit), and does not
apply by raising :class:`CheckSkipped`. Torch-free at import.
"""
from __future__ import annotations

import inspect
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from ...errors import MissingExtraError, PluginError
from ...failures import first_line
from ..binding import accepted_parameters, settable
from ..names import CONTEXT_NAMES, TABLE_OWNED
from ..registry import Component, Registry

__all__ = ["conformance_example", "example_of", "CheckResult", "CheckFailed", "CheckSkipped", "Checks",
           "require", "expect", "component_id", "same_distribution", "build", "build_module", "run_kind",
           "call_epoch", "module_summary", "missing_grads", "nonfinite_grads", "clip_of", "KIT_CONTEXT",
           "KIND_CONTEXT", "CLIP", "PER_CLASS_DB"]

F = TypeVar("F", bound=Callable[..., Any])
Example = Union[Mapping[str, Any], Callable[[Path], Mapping[str, Any]]]
#: The attributes :func:`conformance_example` sets on a factory.
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
    "method": ("seed", "device", "bits", "feature_dim", "num_classes", "multi_label", "num_frames", "num_train"),
}
#: The tiny clip a backbone is checked on: batch, T, H, W (uint8 RGB).
CLIP = (2, 4, 32, 32)
#: Metric check data: database items per class (a ``name@k`` metric is checked with k = this).
PER_CLASS_DB = 3


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


def clip_of(component: Component) -> Tuple[int, ...]:
    """The clip size (batch, T, H, W) a backbone is checked on: its declared ``clip``, else CLIP."""
    declared = getattr(component.factory, CLIP_ATTRIBUTE, None)
    return (CLIP[0], *declared) if declared else CLIP


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


class CheckFailed(Exception):
    """Raised inside a check: the check failed with this message."""


class CheckSkipped(Exception):
    """Raised inside a check: the check does not apply (the message says why)."""


def require(problem: Optional[str]) -> None:
    """Fail the check with ``problem`` (what a rule of :mod:`hashbench.contract.rules` returned), if any."""
    if problem is not None:
        raise CheckFailed(problem)


def expect(condition: Any, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def component_id(component: Component) -> str:
    """``kind:name`` (the id of a component in results and pytest parametrisations)."""
    return f"{component.kind}:{component.name}"


def same_distribution(a: str, b: str) -> bool:
    """Whether two distribution names are the same as pip compares them (case and ``-_.`` runs ignored)."""
    return re.sub(r"[-_.]+", "-", a).lower() == re.sub(r"[-_.]+", "-", b).lower()


class Checks:
    """The results of one component's checks, in the order they ran."""

    def __init__(self, component: Component) -> None:
        self.component = component
        self.results: List[CheckResult] = []

    def _add(self, check: str, passed: bool, message: str, skipped: bool = False) -> None:
        self.results.append(CheckResult(component_id(self.component), check, passed, message,
                                        self.component.dist, skipped))

    def run(self, check: str, call: Callable[..., Optional[str]], *args: Any) -> bool:
        """Run ``call(*args)`` (a message) as check ``check``; whether it passed (a skip counts as passed)."""
        return self._attempt(check, call, *args)[0]

    def produce(self, check: str, call: Callable[..., Tuple[str, Any]], *args: Any) -> Any:
        """Run a check that makes something (``call(*args)`` returns ``(message, value)``): the value, or
        None when the check did not pass."""
        passed, value = self._attempt(check, call, *args)
        return value if passed else None

    def _attempt(self, check: str, call: Callable[..., Any], *args: Any) -> Tuple[bool, Any]:
        try:
            outcome = call(*args)
        except CheckSkipped as exc:
            self._add(check, True, str(exc), skipped=True)
            return True, None
        except MissingExtraError as exc:  # an optional dependency absent here: not checkable, not broken
            self._add(check, True, first_line(exc), skipped=True)
            return False, None
        except CheckFailed as exc:
            self._add(check, False, str(exc))
            return False, None
        except Exception as exc:  # a plugin's bug is a failed check, never a crash of the kit
            self._add(check, False, first_line(exc))
            return False, None
        message, value = outcome if isinstance(outcome, tuple) else (outcome, None)
        self._add(check, True, message or "")
        return True, value


def as_component(kind: str, component: Union[Component, Callable[..., Any]]) -> Component:
    """A registered component of ``kind``, or a bare factory wrapped as one (dist ``?``)."""
    if isinstance(component, Component):
        if component.kind != kind:
            raise PluginError(f"{component_id(component)} is a {component.kind}, not a {kind}")
        return component
    if not callable(component):
        raise PluginError(f"expected a registered {kind} (Component) or its factory, got {type(component).__name__}")
    return Component(kind, getattr(component, "__name__", kind), component, "?", "?")


def required_keys(component: Component, given: Mapping[str, Any]) -> List[str]:
    """Table keys without a default that neither ``given`` nor the kit's context provide."""
    accepted, _ = accepted_parameters(component.factory)
    owned = TABLE_OWNED.get(component.kind, ())
    context = KIND_CONTEXT[component.kind]
    return [n for n, p in accepted.items() if p.default is inspect.Parameter.empty and n not in given
            and settable(n, owned) and n not in context]


def derived_table(component: Component) -> Dict[str, Any]:
    """What the kit fills in itself: a head's ``bits``, a ``name@k`` metric's ``k``, ``name@r``'s ``r``."""
    if component.kind == "head":
        return {"bits": KIT_CONTEXT["bits"]}
    if component.kind == "metric" and component.name.endswith("@k"):
        return {"k": PER_CLASS_DB}
    if component.kind == "metric" and component.name.endswith("@r"):
        return {"r": 0}
    return {}


def example_table(component: Component, table: Optional[Mapping[str, Any]], folder: Path) -> Dict[str, Any]:
    """The table to check the component with: ``table``, else its example, else ``{}`` (plus what the kit
    derives); CheckFailed when it needs an example it lacks."""
    chosen: Any = table if table is not None else example_of(component.factory) or {}
    if callable(chosen):
        chosen = chosen(folder)
        if not isinstance(chosen, Mapping):
            raise CheckFailed(f"its conformance example returned {type(chosen).__name__}, not a table")
    merged = {**derived_table(component), **{k: v for k, v in chosen.items() if k != "name"}}
    missing = required_keys(component, merged)
    if missing:
        raise CheckFailed(f"needs an example table: the factory requires key(s) {', '.join(missing)} without"
                          " a default; decorate it with @hashbench.contract.conformance_example({...}) or a"
                          " callable(folder) -> table")
    return merged


def build(component: Component, table: Mapping[str, Any], **overrides: Any) -> Any:
    """Build through a registry holding only ``component`` (the same binding and error rules as a run)."""
    context = {k: v for k, v in KIT_CONTEXT.items() if k in KIND_CONTEXT[component.kind]}
    if component.kind == "backbone":
        context["num_frames"] = clip_of(component)[1]
    context.update(overrides)
    registry = Registry()
    registry.components[component.kind][component.name] = component
    return registry.build(component.kind, {"name": component.name, **table}, where=component.kind, **context)


#: The checks of one kind after ``builds``: ``body(checks, built, component, table, device)``.
Body = Callable[[Checks, Any, Component, Dict[str, Any], str], None]


def run_kind(kind: str, component: Union[Component, Callable[..., Any]], table: Optional[Mapping[str, Any]], *,
             device: str, workdir: Optional[Path], builds: Callable[..., Tuple[str, Any]], body: Body
             ) -> List[CheckResult]:
    """The ``example`` check (the table resolved in a temporary folder), the ``builds`` check
    (``builds(component, table, device)`` returns a message and the built object), then ``body``'s."""
    component = as_component(kind, component)
    checks = Checks(component)
    with tempfile.TemporaryDirectory(prefix="hashbench-conformance-", dir=workdir) as tmp:
        folder = Path(tmp) / "example"
        folder.mkdir()

        def resolve() -> Tuple[str, Dict[str, Any]]:
            resolved = example_table(component, table, folder)
            text = ", ".join(f"{k}={v!r}" for k, v in resolved.items()) or "defaults"
            return text.replace(str(folder), "<tmp>"), resolved

        resolved = checks.produce("example", resolve)
        built = None if resolved is None else checks.produce("builds", builds, component, resolved, device)
        if built is not None:
            body(checks, built, component, resolved, device)
    return checks.results


def module_summary(obj: Any, what: str) -> str:
    """``TanhHead, 136 parameters``; CheckFailed unless ``obj`` is an ``nn.Module`` (the ``what`` contract)."""
    from torch import nn

    if not isinstance(obj, nn.Module):
        raise CheckFailed(f"the factory returned {type(obj).__name__}, not a torch.nn.Module (the {what} contract)")
    return f"{type(obj).__name__}, {sum(p.numel() for p in obj.parameters()):,} parameters"


def build_module(component: Component, table: Mapping[str, Any], device: str, **overrides: Any) -> Tuple[str, Any]:
    """The ``builds`` check of a backbone, head or loss: ``(summary, module on device, train mode)``."""
    module = build(component, table, device=device, **overrides)
    summary = module_summary(module, component.kind)
    module.to(device)
    module.train()
    return summary, module


def missing_grads(module: Any) -> List[str]:
    """Parameters that require grad but got none (unused, or detached in forward)."""
    return [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]


def nonfinite_grads(module: Any) -> List[str]:
    """Parameters whose gradient has a NaN or an infinity."""
    import torch

    return [n for n, p in module.named_parameters() if p.grad is not None and not bool(torch.isfinite(p.grad).all())]


def call_epoch(obj: Any, epoch: int, epochs: int) -> bool:
    """Call ``obj.on_epoch_start(epoch, epochs)`` if it defines it; whether it does."""
    hook = getattr(obj, "on_epoch_start", None)
    if hook is None:
        return False
    if not callable(hook):
        raise CheckFailed("on_epoch_start is not callable")
    hook(epoch, epochs)
    return True
