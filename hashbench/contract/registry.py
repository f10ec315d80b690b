"""Plugin discovery and component tables: ``kind -> name -> Component``, built from entry points.

Each entry point of the ``hashbench`` group is loaded on its own: a plugin that fails to import, that
implements a hook hashbench does not have (pluggy's ``check_pending``: a typo such as
``hashbench_backbone``), or whose registration hook raises is recorded in ``Registry.broken`` and
reported (``hashbench plugins``; the error of an unknown component names it), never fatal.
Set ``HASHBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` to load only the reference set shipped with hashbench.
"""
from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Mapping, Sequence

import pluggy

from ..errors import ConfigError, HashbenchError, PluginError
from ..failures import first_line
from ..suggest import did_you_mean
from . import hookspecs
from .binding import bind_parameters
from .names import CORE_KEYS, KINDS, TABLE_OWNED, parse_metric_spec

log = logging.getLogger(__name__)

__all__ = ["Component", "BrokenPlugin", "Registry", "load_registry", "DISABLE_ENV", "REFERENCE_DIST"]

DISABLE_ENV = "HASHBENCH_DISABLE_PLUGIN_AUTOLOAD"
REFERENCE_DIST = "hashbench"
_HOOKS = {
    "backbone": "hashbench_backbones",
    "head": "hashbench_heads",
    "loss": "hashbench_losses",
    "dataset": "hashbench_datasets",
    "metric": "hashbench_metrics",
    "method": "hashbench_methods",
}


@dataclass(frozen=True)
class Component:
    """One registered component: what ``hashbench plugins`` lists and ``Registry.build`` calls."""

    kind: str
    name: str
    factory: Callable[..., Any]
    dist: str
    version: str

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.factory) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that could not be loaded or whose hook raised."""

    entry_point: str
    dist: str
    version: str
    error: str


@dataclass
class Registry:
    """Component tables of every loaded plugin. Create with :func:`load_registry`."""

    components: dict[str, dict[str, Component]] = field(default_factory=lambda: {k: {} for k in KINDS})
    broken: list[BrokenPlugin] = field(default_factory=list)
    plugin_manager: pluggy.PluginManager | None = None
    #: Run loggers the plugins implement (``hashbench_loggers``): name -> (summary, distribution).
    loggers: dict[str, tuple[str, str]] = field(default_factory=dict)

    # -- lookup -----------------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        """Sorted component names of ``kind`` (one of KINDS)."""
        _check_kind(kind)
        return sorted(self.components[kind])

    def get(self, kind: str, name: str) -> Component:
        """The component ``kind``/``name``; PluginError listing the available names if unknown."""
        _check_kind(kind)
        table = self.components[kind]
        if name in table:
            return table[name]
        hint = did_you_mean(name, table)
        broken = f"; {len(self.broken)} plugin(s) failed to load: " \
            f"{', '.join(f'{b.dist} ({b.error})' for b in self.broken)}" if self.broken else ""
        raise PluginError(
            f"unknown {kind} {name!r}{hint}; available: {', '.join(sorted(table)) or '(none)'}"
            f"{broken} (see `hashbench plugins`)"
        )

    def check_loggers(self, names: Sequence[str]) -> None:
        """ConfigError naming the first of ``names`` (an experiment's ``loggers``) that no plugin declares."""
        for name in names:
            if name not in self.loggers:
                raise ConfigError(f"loggers: unknown logger {name!r}{did_you_mean(name, self.loggers)}; available:"
                                  f" {', '.join(sorted(self.loggers)) or '(none)'} (see `hashbench plugins`)")

    def all(self) -> list[Component]:
        """Every component, ordered by kind then name."""
        return [self.components[k][n] for k in KINDS for n in sorted(self.components[k])]

    # -- building ---------------------------------------------------------------------------------
    def build(self, kind: str, table: Mapping[str, Any], where: str | None = None, **context: Any) -> Any:
        """Build a component from its TOML table (a dict with ``name``) plus injected context.

        ``where`` names the table in error messages (defaults to ``kind``). Keys of the table must be
        keyword parameters of the factory; context values are passed only to parameters that ask for
        them by name. Raises ConfigError for unknown/missing/mistyped keys, PluginError for unknown
        names.
        """
        where = where or kind
        if not isinstance(table, Mapping) or "name" not in table:
            raise ConfigError(f"[{where}] needs a `name` key naming a {kind} plugin"
                              f" (one of: {', '.join(self.names(kind))})")
        params = {k: v for k, v in table.items() if k != "name" and k not in CORE_KEYS.get(kind, ())}
        component = self.get(kind, str(table["name"]))
        kwargs = bind_parameters(component.factory, params, context, where=where,
                                 owned=TABLE_OWNED.get(kind, ()))
        try:
            return component.factory(**kwargs)
        except HashbenchError:
            raise
        except ValueError as exc:  # plugins need not import hashbench's errors: a bad value is a config error
            message = str(exc)
            named = message.startswith((f"{where}.", f"{where}:"))  # already names the table
            raise ConfigError(message if named else f"{where}: {message}") from exc
        except Exception as exc:  # a plugin's bug or environment problem, named with its distribution
            raise PluginError(f"{kind} {component.name!r} ({component.dist} {component.version}) failed to"
                              f" build from [{where}]: {first_line(exc)}") from exc

    def build_metric(self, spec: str | Mapping[str, Any]) -> tuple[str, Any]:
        """Build a metric from ``"map"``, ``"map@100"``, ``"precision@r2"`` or a table with ``name``.

        Returns ``(label, metric_callable)``; the label is the spec string as the user wrote it.
        """
        if isinstance(spec, Mapping):
            label = str(spec.get("label") or spec.get("name"))
            table = {k: v for k, v in spec.items() if k != "label"}
            return label, self.build("metric", table, where=f"eval.metrics.{label}")
        spec = str(spec)
        if spec in self.components["metric"]:
            return spec, self.build("metric", {"name": spec}, where=f"eval.metrics.{spec}")
        parsed = parse_metric_spec(spec)
        if parsed is not None and parsed.registered in self.components["metric"]:
            table = {"name": parsed.registered, parsed.param: parsed.value}
            return spec, self.build("metric", table, where=f"eval.metrics.{spec}")
        self.get("metric", spec)  # raises with the available names
        raise AssertionError("unreachable")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise PluginError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")


def _check_hooks(pm: pluggy.PluginManager, plugin: object) -> None:
    """PluginError naming a hook ``plugin`` implements that is no hashbench hook (a typo such as
    ``hashbench_backbone``), found by pluggy's ``check_pending``; the plugins before it passed already."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        hooks = [name for name in vars(hookspecs) if name.startswith(f"{hookspecs.PROJECT}_")]
        unknown = [name for name, caller in vars(pm.hook).items() if not name.startswith("_")
                   and not caller.has_spec() and any(i.plugin is plugin for i in caller.get_hookimpls())]
        name = unknown[0] if unknown else "?"
        raise PluginError(f"it implements {name}(), which is not a hashbench hook{did_you_mean(name, hooks)};"
                          " the hooks are listed in hashbench.contract.hookspecs") from None


def _dist_of(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"], dist.version


def _entry_points() -> list[metadata.EntryPoint]:
    eps = metadata.entry_points()
    if hasattr(eps, "select"):
        found = list(eps.select(group=hookspecs.PROJECT))
    else:  # Python < 3.10
        found = list(eps.get(hookspecs.PROJECT, []))
    seen: set[tuple[str, str]] = set()
    unique = []
    for ep in found:  # the same distribution can be visible twice on sys.path
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    return unique


def load_registry(autoload: bool | None = None) -> Registry:
    """Load every ``hashbench`` entry point one by one and collect their components.

    ``autoload`` defaults to True unless HASHBENCH_DISABLE_PLUGIN_AUTOLOAD is set to a non-empty,
    non-"0" value; when off, only the reference set (distribution ``hashbench``) is loaded.
    Raises PluginError when two distributions register the same kind and name.
    """
    if autoload is None:
        autoload = os.environ.get(DISABLE_ENV, "") in ("", "0")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry(plugin_manager=pm)
    dists: dict[object, tuple[str, str]] = {}
    for ep in _entry_points():
        dist, version = _dist_of(ep)
        if not autoload and dist != REFERENCE_DIST:
            continue
        plugin = None
        try:
            plugin = ep.load()
            pm.register(plugin, name=f"{dist}:{ep.name}")
            _check_hooks(pm, plugin)
        except Exception as exc:  # a broken plugin must not take the tool down
            if plugin is not None and pm.is_registered(plugin):
                pm.unregister(plugin)
            registry.broken.append(BrokenPlugin(f"{ep.name} = {ep.value}", dist, version, first_line(exc)))
            # not a warning: `hashbench plugins` lists it, and an unknown component's error names it
            log.debug("plugin %s (%s) failed to load: %s", ep.name, dist, first_line(exc))
            continue
        dists[plugin] = (dist, version)
    for kind, hook_name in _HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            dist, version = dists.get(impl.plugin, ("?", "?"))
            try:
                provided = dict(impl.function() or {})
            except Exception as exc:
                registry.broken.append(BrokenPlugin(f"{impl.plugin_name} ({hook_name})", dist, version,
                                                    first_line(exc)))
                continue
            for name, factory in provided.items():
                existing = registry.components[kind].get(name)
                if existing is not None and existing.dist != dist:
                    raise PluginError(
                        f"{kind} {name!r} is registered by two distributions: {existing.dist}"
                        f" {existing.version} and {dist} {version}; uninstall one of them or rename"
                    )
                registry.components[kind][name] = Component(kind, name, factory, dist, version)
    for impl in pm.hook.hashbench_loggers.get_hookimpls():
        dist, _ = dists.get(impl.plugin, ("?", "?"))
        try:
            declared = dict(impl.function() or {})
        except Exception as exc:
            registry.broken.append(BrokenPlugin(f"{impl.plugin_name} (hashbench_loggers)", dist, "?", first_line(exc)))
            continue
        for name, summary in declared.items():
            registry.loggers[str(name)] = (str(summary), dist)
    return registry

