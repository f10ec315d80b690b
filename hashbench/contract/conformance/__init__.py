"""The conformance kit: every registered component checked against the plugin contract, one check at a time.

The contract is :mod:`hashbench.contract.hookspecs`; its rules are :mod:`hashbench.contract.rules`
(the run-time checks apply the same ones). One module per kind says what is checked, top to bottom:
:mod:`~.backbone`, :mod:`~.head`, :mod:`~.loss`, :mod:`~.dataset`, :mod:`~.metric`, :mod:`~.method`;
:mod:`~.kit` is the machinery (results, example tables,
building a component as a run does). Each check gives one :class:`CheckResult`.

A plugin author checks a whole package with one command, ``hashbench check-plugins --dist NAME``, or
from pytest (the way timm tests every registered model)::

    import pytest
    from hashbench.contract.conformance import assert_conforms, component_id, select_components

    @pytest.mark.parametrize("component", select_components(dist="my-package"), ids=component_id)
    def test_conformance(component):
        assert_conforms(component)

Factories whose table has keys without defaults (a dataset's ``root``) are checked with an example
table attached by :func:`conformance_example`; a callable example receives a temporary folder (to
write a tiny dataset tree into) and returns the table. Metrics registered as ``name@k`` /
``name@r`` get ``k`` / ``r`` from the kit. A component with neither is reported as needing an
example (a failed check). Torch and numpy are imported only inside the checks (``hashbench plugins``
stays fast).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional

from ...errors import PluginError
from ..names import KINDS
from ..registry import Component, Registry
from .backbone import check_backbone
from .dataset import check_dataset
from .head import check_head
from .kit import KIT_CONTEXT, CheckResult, component_id, conformance_example, example_of, same_distribution
from .loss import check_loss
from .metric import KNOWN_ANSWERS, check_metric
from .method import check_method

__all__ = [
    "conformance_example", "example_of", "CheckResult", "component_id", "select_components",
    "check_backbone", "check_head", "check_loss", "check_dataset", "check_metric", "check_method", "check_component",
    "check_registered", "assert_conforms", "same_distribution", "KIT_CONTEXT", "KNOWN_ANSWERS",
]

CHECKS = {"backbone": check_backbone, "head": check_head, "loss": check_loss, "dataset": check_dataset,
          "metric": check_metric, "method": check_method}


def _registry(registry: Optional[Registry]) -> Registry:
    if registry is not None:
        return registry
    import hashbench

    return hashbench.registry()


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


def check_component(component: Component, table: Optional[Mapping[str, Any]] = None, *, device: str = "cpu",
                    workdir: Optional[Path] = None) -> List[CheckResult]:
    """Every check of one component, by its kind (``table``: the component's table without ``name``;
    default: its example, or ``{}``)."""
    if component.kind not in CHECKS:
        raise PluginError(f"unknown component kind {component.kind!r}; kinds are {', '.join(KINDS)}")
    return CHECKS[component.kind](component, table, device=device, workdir=workdir)


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
