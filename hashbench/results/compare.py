"""How experiment identities are compared and shown: canonical values, the keys that vary between
identities (some compared only among rows of the same plugin), short key names, display values, sort
keys and labels made unique. Shared by the row labels (:mod:`~hashbench.results.labels`) and the
dataset columns (:mod:`~hashbench.results.columns`)."""
from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

__all__ = ["MISSING", "COMPONENT_TABLES", "canonical", "scope_of", "compared_value", "varying_keys", "shown",
           "format_value", "short_names", "general_order", "sort_value", "natural_key", "digest", "make_unique"]

#: The component tables whose keys are compared only among rows of the same plugin.
COMPONENT_TABLES = ("backbone", "head", "loss")
#: Sub-tables whose keys (but the listed exceptions) are compared only among rows of the same name.
_SCOPED_TABLES = ("train.optimizer", "train.scheduler", "method")
_UNSCOPED_KEYS = ("train.optimizer.lr",)
#: key -> the key whose value is its default (equal values count as "left at the default").
_DERIVED_DEFAULTS = {"train.scheduler.t_max": "train.epochs"}
#: A key absent from an identity.
MISSING = object()
_HASH_CHARS = 6


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def scope_of(key: str) -> str | None:
    """The ``*.name`` key whose value must be equal for ``key`` to be compared (None: all rows)."""
    table = key.split(".", 1)[0]
    if table in COMPONENT_TABLES:
        return None if key == f"{table}.name" else f"{table}.name"
    for sub in _SCOPED_TABLES:
        if key.startswith(sub + ".") and key != f"{sub}.name" and key not in _UNSCOPED_KEYS:
            return f"{sub}.name"
    return None


def compared_value(row: Mapping[str, Any], key: str) -> str:
    """The value of ``key`` in ``row`` as compared: canonical JSON, or markers for absent/default."""
    if key not in row:
        return "\0unset"
    default = _DERIVED_DEFAULTS.get(key)
    if default is not None and default in row and canonical(row[key]) == canonical(row[default]):
        return "\0default"
    return canonical(row[key])


def varying_keys(rows: Sequence[Mapping[str, Any]], skip: Optional[Callable[[str], bool]] = None) -> dict[str, set[str] | None]:
    """Keys whose value differs between ``rows``: key -> None (compared across all rows) or the set
    of scope values (canonical ``*.name`` values) among whose rows it differs."""
    out: dict[str, set[str] | None] = {}
    for key in sorted(set().union(*rows)) if rows else []:
        if skip is not None and skip(key):
            continue
        scope = scope_of(key)
        groups: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            groups[compared_value(row, scope) if scope else ""].add(compared_value(row, key))
        differing = {g for g, values in groups.items() if len(values) > 1}
        if differing:
            out[key] = differing if scope else None
    return out


def shown(row: Mapping[str, Any], key: str, varying: Mapping[str, set[str] | None]) -> bool:
    if key not in varying:
        return False
    scopes = varying[key]
    return scopes is None or compared_value(row, scope_of(key) or "") in scopes


def format_value(value: Any) -> str:
    """Short display text of an identity value (numbers as Python writes them: 0.001, 1e-08, 20.0)."""
    if value is MISSING:
        return "unset"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    return canonical(value)


def short_names(keys: Iterable[str], drop: int = 1) -> dict[str, str]:
    """Short display names: the last dotted segment (``*.name``: the table's name), more segments
    where two keys would otherwise look alike, the full key as the last resort."""
    keys = list(dict.fromkeys(keys))
    segments = {}
    for key in keys:
        parts = key.split(".")
        parts = parts[drop:] if len(parts) > drop else parts
        if len(parts) > 1 and parts[-1] == "name":
            parts = parts[:-1]
        segments[key] = parts
    depth = {k: 1 for k in keys}
    while True:
        names = {k: ".".join(segments[k][-depth[k]:]) for k in keys}
        counts: dict[str, int] = defaultdict(int)
        for name in names.values():
            counts[name] += 1
        clashing = [k for k in keys if counts[names[k]] > 1]
        if not clashing:
            return names
        grown = False
        for key in clashing:
            if depth[key] < len(segments[key]):
                depth[key] += 1
                grown = True
        if not grown:
            return {k: (k if counts[names[k]] > 1 else names[k]) for k in keys}


def general_order(key: str) -> tuple:
    """train.epochs first, then train.*, eval.*, the rest; a table's ``name`` before its other keys."""
    rank = {"train": 0, "eval": 1}.get(key.split(".", 1)[0], 2)
    parts = tuple("" if p == "name" else p for p in key.split("."))
    return (rank, key != "train.epochs", parts)


def sort_value(value: Any) -> tuple:
    """Sort numbers as numbers, then text, then none/unset (for row order)."""
    if value is MISSING:
        return (3, 0.0, "")
    if value is None:
        return (2, 0.0, "")
    if isinstance(value, (bool, int, float)):
        return (0, float(value), "")
    if isinstance(value, str):
        return (1, 0.0, value)
    return (1, 0.0, canonical(value))


def natural_key(text: str) -> tuple:
    """Sort key for labels: digit runs compare as numbers (``margin=8`` before ``margin=14``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def digest(key: str, chars: int) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:chars]


def make_unique(labels: Sequence[str], keys: Sequence[str]) -> list[str]:
    """Append `` #<hash of the key>`` to labels shared by different keys until all are distinct."""
    out = list(labels)
    chars = _HASH_CHARS
    while True:
        owners: dict[str, set[str]] = defaultdict(set)
        for label, key in zip(out, keys):
            owners[label].add(key)
        clash = {label for label, ks in owners.items() if len(ks) > 1}
        if not clash:
            return out
        if chars > 64:  # pragma: no cover - only equal keys could still clash
            return out
        out = [f"{label} #{digest(key, chars)}" if label in clash else label
               for label, key in zip(out, keys)]
        chars *= 2
