"""Changing an experiment document before validation: ``--set`` overrides, ``--unset``, ``${VAR}`` expansion.

Overrides (``--set train.epochs=3``) take a dotted key and a TOML value (``--set eval.metrics=["map"]``;
text that is not TOML is a plain string, ``--set dataset.name=ucf101``); they create or replace the key.
Setting ``<component>.name`` to another plugin replaces the whole table. ``optimizer = "adam"`` /
``scheduler = "cosine"`` are shorthands for ``{ name = ... }``, expanded before overrides apply.
Every string value (not keys) may use ``${VAR}`` or ``${VAR:-default}``; ``$${`` writes a literal ``${``.
"""
from __future__ import annotations

import copy
import os
import re
import sys
from typing import Any, Iterable, Mapping, Sequence

from ..contract.names import TABLE_OWNED
from ..errors import ConfigError
from .schema import COMPONENT_TABLES
from .validate import ErrorContext, contains_datetime, join_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = ["parse_override", "parse_key", "apply_overrides", "set_path", "unset_path", "normalize_shorthands",
           "expand_env"]

_VAR_BODY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.optimizer.lr=0.01"`` -> ``(["train", "optimizer", "lr"], 0.01)``.

    The key is a TOML dotted key (quote segments that contain dots: ``sweep."head.bits"=[16]``).
    The value is parsed as a TOML value; text that is not valid TOML is kept as a plain string.
    """
    key_text, sep, value_text = text.partition("=")
    if not sep or not key_text.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.epochs=3")
    keys = parse_key(key_text.strip(), text)
    value_text = value_text.strip()
    value: Any = value_text
    if "\n" not in value_text:
        try:
            parsed = tomllib.loads(f"v = {value_text}")
        except tomllib.TOMLDecodeError:
            parsed = {}
        if list(parsed) == ["v"] and not contains_datetime(parsed["v"]):
            value = parsed["v"]
    return keys, value


def parse_key(key_text: str, text: str, option: str = "--set") -> list[str]:
    bad = ConfigError(f"{option} {text!r}: {key_text!r} is not a dotted key like train.optimizer.lr")
    if any(ch in key_text for ch in "\n\r#[]{}="):
        raise bad
    try:
        node: Any = tomllib.loads(f"{key_text} = 0")
    except tomllib.TOMLDecodeError:
        raise bad from None
    keys: list[str] = []
    while isinstance(node, dict):
        if len(node) != 1:
            raise bad
        (key, node), = node.items()
        keys.append(key)
    return keys


def apply_overrides(document: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``document`` with each ``KEY=VALUE`` override set (tables created as needed)."""
    out = copy.deepcopy(dict(document))
    normalize_shorthands(out)
    for text in overrides:
        keys, value = parse_override(text)
        set_path(out, keys, value, text)
        normalize_shorthands(out)
    return out


def set_path(document: dict[str, Any], keys: Sequence[str], value: Any, origin: str) -> None:
    """Set ``keys`` to ``value`` (tables created as needed). Setting ``<component>.name`` to another
    plugin replaces the whole table, so the old plugin's keys do not follow it; the keys the kind's
    table owns whatever the plugin (:data:`hashbench.contract.TABLE_OWNED`: the head's ``bits``, the
    dataset's ``num_frames``) stay."""
    if len(keys) == 2 and keys[0] in COMPONENT_TABLES and keys[1] == "name":
        table = document.get(keys[0])
        if isinstance(table, dict) and table.get("name") != value:
            kept = {k: table[k] for k in TABLE_OWNED.get(keys[0], ()) if k in table}
            document[keys[0]] = {"name": copy.deepcopy(value), **copy.deepcopy(kept)}
            return
    node = document
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            prefix = ".".join(keys[: i + 1])
            raise ConfigError(f"{origin}: cannot set {'.'.join(keys)}: {prefix} is {child!r}, not a table")
        node = child
    node[keys[-1]] = copy.deepcopy(value)


def unset_path(document: dict[str, Any], keys: Sequence[str], origin: str) -> None:
    """Remove ``keys`` from ``document`` (``--unset``); ConfigError when it is not there."""
    if len(keys) == 2 and keys[0] in COMPONENT_TABLES and keys[1] == "name":
        raise ConfigError(f"--unset {origin}: a [{keys[0]}] table needs its name; to change the plugin,"
                          f" use --set {keys[0]}.name=<plugin>")
    node: Any = document
    for i, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(f"--unset {origin}: the experiment has no key {'.'.join(keys[: i + 1])}")
        if i == len(keys) - 1:
            del node[key]
        else:
            node = node[key]


def normalize_shorthands(document: dict[str, Any]) -> None:
    """Shorthands written into their long form, in place: ``train.optimizer = "adam"`` (also ``scheduler``,
    ``sampler``) becomes ``{name = "adam"}``; a top-level ``bits`` (the code length, whatever the kind
    of experiment: ``bits = 32``, ``--set bits=16``, ``[sweep] bits = [16, 32]``) becomes ``method.bits``
    in an experiment with a ``[method]`` table, else ``head.bits``, replacing the value there."""
    if "bits" in document:
        bits = document.pop("bits")
        target = "method" if isinstance(document.get("method"), dict) else "head"
        table = document.get(target)
        if table is None:
            table = document[target] = {}
        if not isinstance(table, dict):
            raise ConfigError(f"bits: cannot set {target}.bits: {target} is {table!r}, not a table")
        table["bits"] = bits
    train = document.get("train")
    if isinstance(train, dict):
        for key in ("optimizer", "scheduler", "sampler"):
            if isinstance(train.get(key), str):
                train[key] = {"name": train[key]}


def expand_env(value: Any, where: str = "<experiment>", environ: Mapping[str, str] | None = None,
               path: str = "", ctx: ErrorContext | None = None) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every string inside ``value`` (keys untouched).

    ``where`` (the file) and the key path name the spot in the ConfigError for an unset variable
    (``ctx``, when given, also names the overrides that set it).
    """
    environ = os.environ if environ is None else environ
    ctx = ctx or ErrorContext(where)
    if isinstance(value, str):
        return _expand_string(value, path, environ, ctx)
    if isinstance(value, dict):
        return {k: expand_env(v, where, environ, join_path(path, k), ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where, environ, f"{path}[{i}]", ctx) for i, v in enumerate(value)]
    return value


def _expand_string(text: str, path: str, environ: Mapping[str, str], ctx: ErrorContext) -> str:
    out: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        if text.startswith("$${", j):
            out.append("${")
            i = j + 3
        elif text.startswith("${", j):
            end = text.find("}", j + 2)
            if end < 0:
                ctx.fail(path, f"unterminated ${{ in {text!r}; write $${{ for a literal ${{")
            body = text[j + 2:end]
            match = _VAR_BODY.match(body)
            if not match or "${" in (match[2] or ""):
                ctx.fail(path, f"bad reference ${{{body}}} in {text!r}; use ${{VAR}} or ${{VAR:-default}}")
            name, default = match[1], match[2]
            found = environ.get(name)
            if found is None or (found == "" and default is not None):
                if default is None:
                    ctx.fail(path, f"uses ${{{name}}}, which is not set; export {name}=<value>"
                                   f" (or write ${{{name}:-default}})", sep=" ")
                found = default
            out.append(found)
            i = end + 1
        else:
            out.append("$")
            i = j + 1

