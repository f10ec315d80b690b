"""Reading an experiment: a TOML file (syntax errors with line and column) or a parsed document.

:func:`load_experiment` reads the file, then :func:`experiment_from_dict` removes ``--unset`` keys,
applies ``--set`` overrides, expands ``${VAR}`` and validates (:mod:`hashbench.config.tables`).
"""
from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from .overrides import expand_env, normalize_shorthands, parse_key, parse_override, set_path, unset_path
from .schema import Experiment
from .tables import validate_document
from .validate import ErrorContext

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = ["load_experiment", "experiment_from_dict"]

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def load_experiment(path: str | os.PathLike[str], overrides: Sequence[str] = (),
                    unsets: Sequence[str] = ()) -> Experiment:
    """Read, override, ``${}``-expand and validate the experiment file ``path``.

    ``unsets`` are dotted keys removed first (the CLI's ``--unset``), then ``overrides``
    (``"dotted.key=value"`` strings, the CLI's ``--set``) are set. A ``[sweep]`` is kept in
    ``Experiment.sweep``; call :func:`expand_sweep` for the grid. Raises ConfigError.
    """
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such experiment file") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: is a directory, not an experiment TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start}); TOML files must be UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_message(where, text, exc)) from None
    document.setdefault("name", path.stem)
    return experiment_from_dict(document, source=path, overrides=overrides, unsets=unsets)


def experiment_from_dict(data: Mapping[str, Any], source: str | os.PathLike[str] | None = None,
                         overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None,
                         expand: bool = True, unsets: Sequence[str] = ()) -> Experiment:
    """Validate a parsed document (e.g. a run directory's ``config.json``) into an Experiment.

    Removes ``unsets``, applies ``overrides``, then ``${}`` expansion (from ``environ``, default
    ``os.environ``; pass ``expand=False`` for an already resolved document such as
    :meth:`Experiment.to_dict` output).
    """
    ctx = ErrorContext(str(source) if source is not None else "<experiment>")
    document = copy.deepcopy(dict(data))
    normalize_shorthands(document)
    for text in unsets:
        unset_path(document, parse_key(text.strip(), text, option="--unset"), text)
    for text in overrides:
        keys, value = parse_override(text)
        ctx.overrides.append((tuple(keys), text))
        set_path(document, keys, value, text)
        normalize_shorthands(document)
    if expand:
        document = expand_env(document, where=ctx.file, environ=environ, ctx=ctx)
    return validate_document(document, ctx, Path(source) if source is not None else None)


def _syntax_message(where: str, text: str, exc: Exception) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = _TOML_POSITION.search(message)
    if match:
        return f"{where}:{match[1]}:{match[2]}: TOML syntax error: {message[:match.start()]}"
    if _TOML_END.search(message):
        line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1) + 1
        return (f"{where}:{line}:{column}: TOML syntax error: "
                f"{_TOML_END.sub('', message)} (at end of file)")
    return f"{where}: TOML syntax error: {message}"

