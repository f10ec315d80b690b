"""Parameter binding: a component table plus injected context -> the factory's keyword arguments.

A factory's keyword parameters ARE the keys of its TOML table. :func:`bind_parameters` checks every
key (unknown keys get a did-you-mean from the signature, simple annotations are type-checked) and
injects context values (:data:`~hashbench.contract.names.CONTEXT_NAMES`) into the parameters that ask
for them by name.
"""
from __future__ import annotations

import inspect
import typing
from typing import Any, Callable, Mapping, Sequence

from ..errors import ConfigError
from ..suggest import did_you_mean
from .names import CONTEXT_NAMES, CONTEXT_ORIGINS

__all__ = ["bind_parameters", "accepted_parameters", "settable"]

_SIMPLE_TYPES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _expected_types(annotation: Any) -> tuple[type, ...] | None:
    """Simple types an annotation allows, or None when it is not a simple (checkable) annotation."""
    if annotation in _SIMPLE_TYPES:
        return (annotation,)
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and type(None) in args and args):
        simple = [a for a in args if a is not type(None)]
        if simple and all(a in _SIMPLE_TYPES for a in simple):
            return tuple(simple) + (type(None),)
    return None


def _type_ok(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    return isinstance(value, allowed)


def accepted_parameters(factory: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """Keyword parameters of ``factory`` and whether it takes ``**kwargs``."""
    signature = inspect.signature(factory)
    accepted = {n: p for n, p in signature.parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return accepted, var_kw


def settable(name: str, owned: Sequence[str]) -> bool:
    """Whether a table may set parameter ``name`` (context names only where its kind ``owned`` them)."""
    return name not in CONTEXT_NAMES or name in owned


def bind_parameters(
    factory: Callable[..., Any], params: Mapping[str, Any], context: Mapping[str, Any], where: str,
    owned: Sequence[str] = (),
) -> dict[str, Any]:
    """Match table keys and context to ``factory``'s keyword parameters, checking names and types.

    Context names (:data:`CONTEXT_NAMES`) are injected by hashbench and cannot be table keys, except
    those in ``owned`` (the ones this kind's table defines, see :data:`TABLE_OWNED`).
    """
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # unresolved forward references: skip type checks
        hints = {}
    accepted, var_kw = accepted_parameters(factory)
    table_keys = sorted(n for n in accepted if settable(n, owned))
    allowed_text = ", ".join(table_keys) or "(none)"
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        if key in CONTEXT_NAMES and key not in owned:
            raise ConfigError(f"{where}.{key}: set by hashbench from {CONTEXT_ORIGINS[key]}, not a key of"
                              f" [{where}]; remove it (allowed keys: {allowed_text})")
        if key not in accepted and not var_kw:
            raise ConfigError(
                f"{where}.{key}: unknown key{did_you_mean(key, table_keys)}; allowed keys: {allowed_text}"
            )
        allowed = _expected_types(hints.get(key)) if key in hints else None
        if allowed and not _type_ok(value, allowed):
            wanted = " or ".join(_SIMPLE_TYPES.get(t, "null") for t in allowed if t is not type(None))
            raise ConfigError(f"{where}.{key}: expected {wanted}, got {value!r} ({type(value).__name__})")
        kwargs[key] = value
    for name, parameter in accepted.items():
        if name in kwargs:
            continue
        if name in context:
            kwargs[name] = context[name]
        elif parameter.default is inspect.Parameter.empty:
            raise ConfigError(f"{where}: missing required key {name!r}")
    return kwargs
