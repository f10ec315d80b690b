"""Validation primitives: check one value, raise one line that says where (file, key, override, point).

Every message is ``<file>: <key path>: <what is wrong>`` plus ``(from --set ...)`` when an override
set the key and ``(sweep point ...)`` inside a sweep, with a did-you-mean for names
(:mod:`hashbench.suggest`). :class:`ErrorContext` knows the file, the overrides and the point; the
``check_*`` functions check a type and range (``check_float(ctx, "train.optimizer.lr", v, 0.0,
low_open=True)``).

Why not pydantic v2 (considered; it is even installed here, through other packages): it would replace
the ~100 lines below with field declarations, but not the messages. Its errors are a list of
``(loc, type, msg)`` in its own words ("Input should be greater than or equal to 1"); today's lines are
pinned by the tests and by users' scripts (``got 3.5 (float)``, ``must be > 0, got 0``, the
``(from --set ...)`` attribution, the sweep point), so every error type would need a translation back,
and the bulk of the rules is not per-field anyway: the keys an optimizer allows depend on its ``name``,
``t_max`` defaults to ``train.epochs``, ``select_metric`` must be one of the listed metric labels,
sweep keys must not overlap, unknown tables get a "did you mean [train]". Those would be
model validators raising our own messages, i.e. this module again plus a translation layer and a
compiled dependency (pydantic-core) that the rest of hashbench does not need. Strict-mode details also
differ from TOML's types (an int is a valid float, a bool is never an int) and would need per-field
configuration. So the schema stays plain dataclasses (:mod:`hashbench.config.schema`) checked by these
primitives.
"""
from __future__ import annotations

import datetime
import math
import os
import re
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, NoReturn, Sequence

from ..errors import ConfigError
from ..suggest import did_you_mean

__all__ = ["ErrorContext", "in_file", "join_path", "check_keys", "type_name", "check_int", "check_float", "check_bool",
           "check_str", "check_table", "check_plain", "contains_datetime"]


class ErrorContext:
    """Where errors point: the file, overrides that touched a key, and the sweep point (if any)."""

    def __init__(self, file: str, point: str | None = None) -> None:
        self.file = file
        self.point = point
        self.overrides: list[tuple[tuple[str, ...], str]] = []

    def fail(self, path: str, message: str, sep: str = ": ", at: str | None = None) -> NoReturn:
        """Raise ``<file>: <path><sep><message>``; ``at`` (default ``path``) is the key whose --set to cite."""
        origin = ""
        at = path if at is None else at
        keys = tuple(re.sub(r"\[\d+\]", "", at).split(".")) if at else ()
        for okeys, text in reversed(self.overrides):
            n = min(len(okeys), len(keys))
            if n and okeys[:n] == keys[:n]:
                origin = f" (from --set {text})"
                break
        point = f" (sweep point {self.point})" if self.point else ""
        head = f"{path}{sep}" if path else ""
        raise ConfigError(f"{self.file}: {head}{message}{origin}{point}")


@contextmanager
def in_file(source: str | os.PathLike[str] | None) -> Iterator[None]:
    """ConfigErrors raised inside (a plugin's table keys, checked when the registry builds the component:
    ``loss.margn: unknown key``) start with the experiment file, as the schema's own errors do:
    ``exp.toml: loss.margn: unknown key ...``. Messages that already name it, and ``source`` None
    (an experiment built from a dict), are left as they are."""
    try:
        yield
    except ConfigError as exc:
        text = str(exc)
        if source is None or text.startswith(f"{source}:"):
            raise
        named = ConfigError(f"{source}: {text}")
        named.run_dir, named.epoch = exc.run_dir, exc.epoch
        raise named from exc


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_keys(ctx: ErrorContext, table: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            ctx.fail("", f"unknown key {join_path(path, key)}{did_you_mean(key, allowed)}"
                         f"; allowed in [{path}]: {', '.join(allowed)}", at=join_path(path, key))


def type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


def check_int(ctx: ErrorContext, path: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.fail(path, f"expected an integer, got {value!r} ({type_name(value)})")
    if minimum is not None and value < minimum:
        ctx.fail(path, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        ctx.fail(path, f"must be <= {maximum}, got {value}")
    return int(value)


def check_float(ctx: ErrorContext, path: str, value: Any, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.fail(path, f"expected a number, got {value!r} ({type_name(value)})")
    value = float(value)
    if not math.isfinite(value):
        ctx.fail(path, f"must be a finite number, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        ctx.fail(path, f"must be {'>' if low_open else '>='} {low:g}, got {value:g}")
    if high is not None and (value >= high if high_open else value > high):
        ctx.fail(path, f"must be {'<' if high_open else '<='} {high:g}, got {value:g}")
    return value


def check_bool(ctx: ErrorContext, path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        ctx.fail(path, f"expected true or false, got {value!r} ({type_name(value)})")
    return value


def check_str(ctx: ErrorContext, path: str, value: Any, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str):
        ctx.fail(path, f"expected a string, got {value!r} ({type_name(value)})")
    if choices is not None and value not in choices:
        ctx.fail(path, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
                       f"{did_you_mean(value, choices)}")
    return value


def check_table(ctx: ErrorContext, path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        ctx.fail(path, f"expected a table [{path}], got {value!r} ({type_name(value)})")
    return value


def check_plain(ctx: ErrorContext, path: str, value: Any) -> None:
    """Values must be JSON-representable: no TOML dates/times, no inf/nan."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_plain(ctx, join_path(path, k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_plain(ctx, f"{path}[{i}]", v)
    elif isinstance(value, (datetime.date, datetime.time)):
        ctx.fail(path, f"dates and times are not supported, got {value!r}; quote it to make a string")
    elif isinstance(value, float) and not math.isfinite(value):
        ctx.fail(path, f"must be a finite number, got {value}")


def contains_datetime(value: Any) -> bool:
    if isinstance(value, dict):
        return any(contains_datetime(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_datetime(v) for v in value)
    return isinstance(value, (datetime.date, datetime.time))


