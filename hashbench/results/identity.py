"""The experiment identity: everything a result depends on except the seed.

Two runs with equal identities differ only in their seed (and in things that do not change what is
measured), so the leaderboard averages them in one cell; runs that differ in anything else are
different rows. The identity is a flat mapping of dotted keys to JSON values:

- each component table (``dataset``, ``backbone``, ``head``, ``loss``): ``<kind>.name`` and every key
  the user may set, with the plugin factory's default when the table leaves it out; keys the factory
  declares with :func:`hashbench.contract.identity_keys` are left out (``ignore``) or reduced to a
  file name (``basename``, ``weights``);
- ``train.*`` and ``eval.*`` as resolved, without ``train.num_workers``, ``train.pin_memory``, ``eval.batch_size``,
  ``eval.metrics`` and ``eval.protocol`` (which metrics are computed does not change any one of them), and
  without what the epoch selection does not use: ``eval.select_metric`` and ``train.eval_every`` when
  ``select = "last"``, ``eval.val_fraction`` unless ``select = "val"``;
- not: ``name``, ``seed``, ``device``, ``label``, ``sweep``.

It is stored, as canonical JSON, in the ``config`` column of the results table.
"""
from __future__ import annotations

import inspect
import json
from pathlib import PurePath
from typing import Any, Mapping

from ..config import COMPONENT_TABLES
from ..contract import CONTEXT_NAMES, CORE_DEFAULTS, CORE_KEYS, TABLE_OWNED, Registry, identity_resolver, key_modes

__all__ = ["experiment_identity", "component_identity", "identity_json", "NOT_IN_IDENTITY"]

#: Resolved-experiment keys that never enter the identity (see the module docstring).
NOT_IN_IDENTITY = ("name", "seed", "device", "label", "loggers", "sweep", "train.num_workers", "train.pin_memory",
                   "eval.batch_size", "eval.metrics", "eval.protocol")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    else:
        out[prefix] = _jsonable(value)


def component_identity(registry: Registry, kind: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """``{"<kind>.name": ..., "<kind>.<key>": value-or-default, ...}`` for one component table."""
    name = str(table["name"])
    factory = registry.get(kind, name).factory
    modes: Mapping[str, str] = key_modes(factory)
    owned = TABLE_OWNED.get(kind, ())
    values: dict[str, Any] = {}
    for key, parameter in inspect.signature(factory).parameters.items():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            continue
        if key in CONTEXT_NAMES and key not in owned:
            continue
        if parameter.default is not inspect.Parameter.empty:
            values[key] = parameter.default
    values.update({k: v for k, v in table.items() if k != "name"})
    resolve = identity_resolver(factory)
    if resolve is not None:
        values.update({k: v for k, v in dict(resolve(dict(values))).items() if v is not None and k in values})
    out: dict[str, Any] = {f"{kind}.name": name}
    for key in sorted(values):
        core = key in CORE_KEYS.get(kind, ())
        if core and key in CORE_DEFAULTS and values[key] == CORE_DEFAULTS[key]:
            continue  # freeze = false is the unset default
        mode = "basename" if core else modes.get(key)  # init_from: the run id
        if mode == "ignore":
            continue
        value = values[key]
        if mode in ("basename", "weights") and isinstance(value, str):
            value = PurePath(value).name
        _flatten(f"{kind}.{key}", value, out)
    return out


def experiment_identity(experiment: Any, registry: Registry) -> dict[str, Any]:
    """The identity of ``experiment`` (a :class:`hashbench.config.Experiment`), see the module docstring."""
    resolved = experiment.to_dict()
    out: dict[str, Any] = {}
    for kind in experiment.components:
        out.update(component_identity(registry, kind, resolved[kind]))
    rest: dict[str, Any] = {}
    for key, value in resolved.items():
        if key not in COMPONENT_TABLES:
            _flatten(key, value, rest)
    unused = _unused_by_selection(str(resolved.get("eval", {}).get("select", "last")))
    for key, value in rest.items():
        if key in unused or any(key == skip or key.startswith(skip + ".") for skip in NOT_IN_IDENTITY):
            continue
        out[key] = value
    return dict(sorted(out.items()))


def _unused_by_selection(select: str) -> set[str]:
    """Keys the epoch selection ``select`` never reads (they cannot change a result)."""
    unused = set() if select == "val" else {"eval.val_fraction"}
    if select == "last":
        unused |= {"eval.select_metric", "train.eval_every"}
    return unused


def identity_json(identity: Mapping[str, Any]) -> str:
    """Canonical, compact JSON of an identity (what the ``config`` column holds)."""
    return json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
