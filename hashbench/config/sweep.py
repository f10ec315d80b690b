"""Sweeps: an experiment's ``[sweep]`` table -> the grid of experiments it stands for.

``[sweep]`` maps dotted keys to non-empty lists of values::

    [sweep]
    "head.bits" = [16, 32, 48, 64]
    "loss.margin" = [8, 14]
    seed = [0, 1, 2]

The grid is the cartesian product in file order with the **last key varying fastest**
(``itertools.product``): (16, 8, 0), (16, 8, 1), ..., (64, 14, 2). Each point is the base experiment
with the values set (tables are created, a swept table replaces the whole table), ``sweep`` cleared,
and fully validated; an error names the point.

A ``[[sweep.variant]]`` array is one axis whose values set several keys together, e.g. a method's head
and loss (each variant needs a ``name``, its point name; a component's ``name`` switches the plugin
first, keeping the keys its kind owns, such as ``head.bits``)::

    [[sweep.variant]]
    name = "csq"
    head = { name = "linear" }
    loss = { name = "csq", lam = 0.0001 }

Points keep the base experiment's ``label`` (if any): the leaderboard names the swept settings in which
its rows differ (see :mod:`hashbench.results.labels`). Point names (they name ``runs/<name>/``) are ``<name>@<key>=<value>,<key>=<value>``, e.g.
``demo@bits=16,margin=8,seed=0``:

- ``<key>`` is the last segment of the dotted key (``bits``), or the whole dotted key when two swept
  keys share a last segment (``dataset.num_frames`` and ``backbone.num_frames``);
- ``<value>``: integers and floats as Python writes them (``0.0001``, ``1e-05``), booleans as
  ``true``/``false``, strings as written, tables by their ``name``, anything else as compact JSON;
  every character outside ``A-Z a-z 0-9 . _ + -`` becomes ``_``; if that makes two values of one key
  equal, each gets ``_<position>`` (0-based) appended;
- names longer than 200 characters become ``<name>@<12 hex chars of sha256 of the suffix>``.

So names are distinct, readable and safe as file names on Linux, macOS and Windows.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from typing import Any, Sequence

from pathlib import Path

from ..errors import ConfigError
from .overrides import normalize_shorthands, set_path
from .schema import NAME_MAX, Experiment
from .tables import VARIANT, validate_document
from .validate import ErrorContext

__all__ = ["expand_sweep", "point_names"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def expand_sweep(exp: Experiment) -> list[Experiment]:
    """The grid of ``exp.sweep`` as validated experiments, in grid order; ``[exp]`` without a sweep."""
    if not exp.sweep:
        return [exp]
    keys = list(exp.sweep)
    base = copy.deepcopy(exp.raw) if exp.raw else exp.to_dict()
    base.pop("sweep", None)
    file = str(exp.source) if exp.source is not None else "<experiment>"
    suffixes = point_names(exp.sweep)
    points = []
    for suffix, combo in zip(suffixes, itertools.product(*(exp.sweep[k] for k in keys))):
        doc = copy.deepcopy(base)
        for key, value in zip(keys, combo):
            if key == VARIANT:
                _apply_variant(doc, value, file)
                continue
            set_path(doc, key.split("."), value, origin=f'{file}: sweep."{key}"')
            normalize_shorthands(doc)
        doc["name"] = _point_name(exp.name, suffix)
        points.append(_validate_point(doc, file, exp.source, suffix))
    names = [p.name for p in points]
    if len(set(names)) != len(names):  # cannot happen by construction; never let runs collide
        raise ConfigError(f"{file}: sweep point names collide: {names}")
    return points


def _apply_variant(doc: dict[str, Any], variant: dict[str, Any], file: str) -> None:
    """Set every key of one ``[[sweep.variant]]`` table; a component's ``name`` first (a new plugin
    starts from an empty table, keeping what its kind owns, such as the head's ``bits``)."""
    leaves = _leaves({k: v for k, v in variant.items() if k != "name"})
    leaves.sort(key=lambda item: not (len(item[0]) == 2 and item[0][1] == "name"))
    for keys, value in leaves:
        set_path(doc, keys, value, origin=f"{file}: sweep.variant {variant['name']!r}")
        normalize_shorthands(doc)


def _leaves(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[list[str], Any]]:
    out: list[tuple[list[str], Any]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            out += _leaves(value, prefix + (key,))
        else:
            out.append((list(prefix + (key,)), value))
    return out


def point_names(sweep: dict[str, Sequence[Any]]) -> list[str]:
    """The ``key=value,...`` suffix of every grid point of ``sweep``, in grid order."""
    keys = list(sweep)
    labels = _key_labels(keys)
    tokens = {key: _value_tokens(sweep[key]) for key in keys}
    combos = itertools.product(*(range(len(sweep[k])) for k in keys))
    return [",".join(f"{labels[k]}={tokens[k][i]}" for k, i in zip(keys, combo)) for combo in combos]


def _validate_point(doc: dict[str, Any], file: str, source: Path | None, point: str) -> Experiment:
    """Validate one point's document (overridden and expanded already); errors name the point."""
    normalize_shorthands(doc)
    return validate_document(doc, ErrorContext(file, point=point), source)


def _point_name(base: str, suffix: str) -> str:
    name = f"{base}@{suffix}"
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(suffix.encode("utf-8")).hexdigest()[:12]
    return f"{base[:NAME_MAX - 13]}@{digest}"


def _key_labels(keys: Sequence[str]) -> dict[str, str]:
    last = [k.split(".")[-1] for k in keys]
    return {k: _UNSAFE.sub("_", short if last.count(short) == 1 else k) for k, short in zip(keys, last)}


def _value_tokens(values: Sequence[Any]) -> list[str]:
    tokens = [_token(v) for v in values]
    if len(set(tokens)) != len(tokens):
        tokens = [f"{t}_{i}" for i, t in enumerate(tokens)]
    return tokens


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict) and isinstance(value.get("name"), str):
        text = value["name"]
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return _UNSAFE.sub("_", text) or "_"
