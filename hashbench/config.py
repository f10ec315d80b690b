"""Experiment files: TOML -> a typed, validated :class:`Experiment`.

One file is one experiment (or a grid of them, see ``[sweep]``). Every key is checked; an unknown
key is an error with a "did you mean". Component tables (``[dataset]``, ``[backbone]``, ``[head]``,
``[loss]``) need ``name`` (the plugin); their other keys are the plugin factory's parameters and are
checked by the registry when the component is built (``hashbench validate`` does that).

Schema (defaults shown)::

    name   = "demo"       # default: the file's stem. Letters, digits and . _ - + = , @ (it names runs/<name>/)
    seed   = 0            # integer in [0, 2**32)
    device = "auto"       # "auto" (cuda if available, else cpu) | "cpu" | "cuda" | "cuda:N"
    label  = "..."        # optional method label for the leaderboard (default: backbone+head+loss names)

    [dataset]             # name = a dataset plugin, other keys = its parameters
    name = "moving_digits"
    [backbone]            # likewise for [backbone], [head] (gets `bits`), [loss]
    name = "r3d18"

    [train]
    epochs = 10           # >= 1
    batch_size = 32       # >= 2 (clips per step: BatchNorm and pairwise losses need two)
    optimizer = { name = "sgd", lr = 1e-4, momentum = 0.9, weight_decay = 5e-4, nesterov = false }
      # or { name = "adam",  lr = 1e-4, betas = [0.9, 0.999], weight_decay = 0.0,  eps = 1e-8 }
      # or { name = "adamw", lr = 1e-4, betas = [0.9, 0.999], weight_decay = 0.01, eps = 1e-8 }
      # or just optimizer = "adam"; keys of another optimizer are errors
    scheduler = "none"    # or { name = "step", step_size = 40 (required), gamma = 0.1 }
                          # or { name = "cosine", t_max = <epochs>, eta_min = 0.0 }; stepped once per epoch
    amp = true            # mixed precision; used only on CUDA
    eval_every = 5        # evaluate every N epochs (>= 1)
    num_workers = 0       # DataLoader worker processes (>= 0)
    skip_zero_loss = true # skip the optimiser step on a batch whose loss is exactly 0 (as the original)
    grad_clip = 1.0       # optional: clip the gradient norm to this value (> 0); unset = no clipping

    [eval]
    metrics = ["map", "map@100", "map_tie", "precision@100"]   # spec strings or tables {name=..., label=...}
    select = "last"       # which epoch is reported: "last", or "val" = best on a validation split
                          # carved from the training data, or "test" = best on the test queries (the
                          # original repo's protocol; optimistic, and every row says "best_test:<metric>")
    val_fraction = 0.1    # share of the training clips held out when select = "val" (0 < x < 0.5)
    select_metric = "map" # the metric "val"/"test" maximises (default: the first metric)
    batch_size = 64       # optional batch size for encoding (default: train.batch_size)

    [sweep]               # dotted keys -> non-empty lists; the run is the cartesian grid (see hashbench.sweep)
    "head.bits" = [16, 32, 48, 64]
    seed = [0, 1, 2]

Every string value (not keys) may use ``${VAR}`` or ``${VAR:-default}`` (the default is used when
VAR is unset or empty); ``$${`` writes a literal ``${``. Overrides (``--set train.epochs=3``) take a
dotted key and a TOML value (``--set eval.metrics=["map"]``; text that is not TOML is a plain string,
``--set dataset.name=ucf101``); they create or replace the key before ``${}`` expansion and validation.
``optimizer = "adam"`` / ``scheduler = "cosine"`` are shorthands for ``{ name = ... }``, expanded before
overrides apply, so ``--set train.optimizer.lr=0.01`` works on either form.

Errors are :class:`~hashbench.errors.ConfigError` with one line: the file, the key path, the value and
what to do (TOML syntax errors give ``file:line:column``).
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NoReturn, Sequence

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = [
    "Experiment", "TrainConfig", "OptimizerConfig", "SchedulerConfig", "EvalConfig",
    "load_experiment", "experiment_from_dict", "parse_override", "apply_overrides", "expand_env",
    "resolve_device", "expand_sweep", "COMPONENTS", "DEFAULT_METRICS", "HASH_EXCLUDE",
]

COMPONENTS = ("dataset", "backbone", "head", "loss")
DEFAULT_METRICS = ("map", "map@100", "map_tie", "precision@100")
#: Keys left out of :meth:`Experiment.config_hash`: presentation (label, sweep) and execution placement
#: (device, worker processes, encoding batch size) that do not change what the experiment measures.
HASH_EXCLUDE = ("label", "sweep", "device", "train.num_workers", "eval.batch_size")

_TOP_SCALARS = ("name", "seed", "device", "label")
_TOP_TABLES = COMPONENTS + ("train", "eval", "sweep")
_TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "scheduler", "amp", "eval_every", "num_workers",
               "skip_zero_loss", "grad_clip")
_EVAL_KEYS = ("metrics", "select", "val_fraction", "select_metric", "batch_size")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=,@-]*$")
_NAME_MAX = 200
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
_VAR_BODY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")

_OPTIMIZERS = {  # name -> (torch.optim class, defaults of its keys other than lr)
    "sgd": ("SGD", {"momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}),
    "adam": ("Adam", {"betas": (0.9, 0.999), "weight_decay": 0.0, "eps": 1e-8}),
    "adamw": ("AdamW", {"betas": (0.9, 0.999), "weight_decay": 0.01, "eps": 1e-8}),
}
_SCHEDULERS = {"none": (), "step": ("step_size", "gamma"), "cosine": ("t_max", "eta_min")}


# ---------------------------------------------------------------------------------------------------
# The typed experiment
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizerConfig:
    """``[train].optimizer``. Keys that do not apply to ``name`` are None (e.g. ``betas`` for sgd).

    Build the torch optimiser with ``getattr(torch.optim, cfg.torch_name)(params, **cfg.kwargs())``.
    """

    name: str = "sgd"
    lr: float = 1e-4
    momentum: float | None = 0.9
    weight_decay: float | None = 5e-4
    nesterov: bool | None = False
    betas: tuple[float, float] | None = None
    eps: float | None = None

    @property
    def torch_name(self) -> str:
        """The class name in ``torch.optim`` ("SGD", "Adam", "AdamW")."""
        return _OPTIMIZERS[self.name][0]

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the torch optimiser: ``lr`` plus every key that applies (not None)."""
        out: dict[str, Any] = {"lr": self.lr}
        for key in _OPTIMIZERS[self.name][1]:
            value = getattr(self, key)
            if value is not None:
                out[key] = tuple(value) if key == "betas" else value
        return out

    @property
    def params(self) -> dict[str, Any]:
        """Same as :meth:`kwargs` (``lr`` and the optimiser's other keys)."""
        return self.kwargs()


@dataclass(frozen=True)
class SchedulerConfig:
    """``[train].scheduler``: ``none``, ``step`` (step_size epochs, gamma) or ``cosine`` (t_max epochs, eta_min).

    Stepped once per epoch. ``t_max`` is resolved to ``train.epochs`` when not given.
    """

    name: str = "none"
    step_size: int | None = None
    gamma: float | None = None
    t_max: int | None = None
    eta_min: float | None = None

    @property
    def torch_name(self) -> str | None:
        """The class name in ``torch.optim.lr_scheduler`` (None for ``none``)."""
        return {"none": None, "step": "StepLR", "cosine": "CosineAnnealingLR"}[self.name]

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the torch scheduler (``T_max`` spelled as torch wants it)."""
        if self.name == "step":
            return {"step_size": self.step_size, "gamma": self.gamma}
        if self.name == "cosine":
            return {"T_max": self.t_max, "eta_min": self.eta_min}
        return {}

    @property
    def params(self) -> dict[str, Any]:
        """The scheduler's keys as spelled in TOML (``step_size``, ``gamma`` / ``t_max``, ``eta_min``)."""
        return {key: getattr(self, key) for key in _SCHEDULERS[self.name]}


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: the engine's training settings (see the module docstring for units and defaults)."""

    epochs: int = 10
    batch_size: int = 32
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    amp: bool = True
    eval_every: int = 5
    num_workers: int = 0
    skip_zero_loss: bool = True
    grad_clip: float | None = None


@dataclass(frozen=True)
class EvalConfig:
    """``[eval]``: metric specs (strings like ``"map@100"`` or tables with ``name``) and epoch selection."""

    metrics: list[Any] = field(default_factory=lambda: list(DEFAULT_METRICS))
    select: str = "last"
    val_fraction: float = 0.1
    select_metric: str | None = None
    batch_size: int | None = None

    @property
    def metric_labels(self) -> list[str]:
        """The result label of each metric: the spec string, or a table's ``label`` (else its ``name``)."""
        return [_metric_label(spec) for spec in self.metrics]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment. Component tables are plain dicts including ``name``.

    ``raw`` is the document as given (after overrides and ``${}`` expansion, before defaults); sweeps
    are expanded from it. ``source`` is the file it came from (None when built from a dict).
    """

    name: str
    dataset: dict[str, Any]
    backbone: dict[str, Any]
    head: dict[str, Any]
    loss: dict[str, Any]
    seed: int = 0
    device: str = "auto"
    label: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def method(self) -> str:
        """The leaderboard's method label: ``label``, else ``"<backbone>+<head>+<loss>"`` plugin names."""
        if self.label:
            return self.label
        return "+".join(str(getattr(self, kind)["name"]) for kind in ("backbone", "head", "loss"))

    def to_dict(self) -> dict[str, Any]:
        """The resolved experiment, defaults included, as JSON/TOML-serialisable data.

        Keys whose value is None (unset optional keys) are left out; ``experiment_from_dict`` of the
        result gives an equal Experiment.
        """
        data: dict[str, Any] = {"name": self.name, "seed": self.seed, "device": self.device}
        if self.label is not None:
            data["label"] = self.label
        for kind in COMPONENTS:
            data[kind] = copy.deepcopy(getattr(self, kind))
        data["train"] = _asdict(self.train)
        data["eval"] = _asdict(self.eval)
        data["sweep"] = copy.deepcopy(self.sweep)
        return data

    def config_hash(self) -> str:
        """16 hex chars of sha256 over the canonical JSON of :meth:`to_dict` minus :data:`HASH_EXCLUDE`.

        Identifies "the same experiment" in the results table (used to skip finished sweep points).
        """
        data = self.to_dict()
        for dotted in HASH_EXCLUDE:
            *parents, last = dotted.split(".")
            node = data
            for key in parents:
                node = node.get(key, {})
            node.pop(last, None)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _asdict(obj: Any) -> Any:
    """dataclass -> dict recursively, tuples -> lists, None-valued keys dropped."""
    if dataclasses.is_dataclass(obj):
        return {f.name: _asdict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if getattr(obj, f.name) is not None}
    if isinstance(obj, (list, tuple)):
        return [_asdict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _asdict(v) for k, v in obj.items()}
    return obj


def _metric_label(spec: Any) -> str:
    if isinstance(spec, Mapping):
        return str(spec.get("label") or spec.get("name"))
    return str(spec)


# ---------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------
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
    ctx = _Context(str(source) if source is not None else "<experiment>")
    document = copy.deepcopy(dict(data))
    _normalize_shorthands(document)
    for text in unsets:
        _unset_path(document, _parse_key(text.strip(), text, option="--unset"), text)
    for text in overrides:
        keys, value = parse_override(text)
        ctx.overrides.append((tuple(keys), text))
        _set_path(document, keys, value, text)
        _normalize_shorthands(document)
    if expand:
        document = expand_env(document, where=ctx.file, environ=environ, _ctx=ctx)
    return _validate(document, ctx, Path(source) if source is not None else None)


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


# ---------------------------------------------------------------------------------------------------
# Overrides and ${VAR} expansion
# ---------------------------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.optimizer.lr=0.01"`` -> ``(["train", "optimizer", "lr"], 0.01)``.

    The key is a TOML dotted key (quote segments that contain dots: ``sweep."head.bits"=[16]``).
    The value is parsed as a TOML value; text that is not valid TOML is kept as a plain string.
    """
    key_text, sep, value_text = text.partition("=")
    if not sep or not key_text.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.epochs=3")
    keys = _parse_key(key_text.strip(), text)
    value_text = value_text.strip()
    value: Any = value_text
    if "\n" not in value_text:
        try:
            parsed = tomllib.loads(f"v = {value_text}")
        except tomllib.TOMLDecodeError:
            parsed = {}
        if list(parsed) == ["v"] and not _contains_datetime(parsed["v"]):
            value = parsed["v"]
    return keys, value


def _parse_key(key_text: str, text: str, option: str = "--set") -> list[str]:
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
    _normalize_shorthands(out)
    for text in overrides:
        keys, value = parse_override(text)
        _set_path(out, keys, value, text)
        _normalize_shorthands(out)
    return out


def _set_path(document: dict[str, Any], keys: Sequence[str], value: Any, origin: str) -> None:
    """Set ``keys`` to ``value`` (tables created as needed). Setting ``<component>.name`` to another
    plugin replaces the whole table, so the old plugin's keys do not follow it."""
    if len(keys) == 2 and keys[0] in COMPONENTS and keys[1] == "name":
        table = document.get(keys[0])
        if isinstance(table, dict) and table.get("name") != value:
            document[keys[0]] = {"name": copy.deepcopy(value)}
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


def _unset_path(document: dict[str, Any], keys: Sequence[str], origin: str) -> None:
    """Remove ``keys`` from ``document`` (``--unset``); ConfigError when it is not there."""
    if len(keys) == 2 and keys[0] in COMPONENTS and keys[1] == "name":
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


def _normalize_shorthands(document: dict[str, Any]) -> None:
    train = document.get("train")
    if isinstance(train, dict):
        for key in ("optimizer", "scheduler"):
            if isinstance(train.get(key), str):
                train[key] = {"name": train[key]}


def expand_env(value: Any, where: str = "<experiment>", environ: Mapping[str, str] | None = None,
               path: str = "", _ctx: "_Context | None" = None) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every string inside ``value`` (keys untouched).

    ``where`` (the file) and the key path name the spot in the ConfigError for an unset variable.
    """
    environ = os.environ if environ is None else environ
    ctx = _ctx or _Context(where)
    if isinstance(value, str):
        return _expand_string(value, path, environ, ctx)
    if isinstance(value, dict):
        return {k: expand_env(v, where, environ, _join(path, k), ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where, environ, f"{path}[{i}]", ctx) for i, v in enumerate(value)]
    return value


def _expand_string(text: str, path: str, environ: Mapping[str, str], ctx: "_Context") -> str:
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


# ---------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------
class _Context:
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


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _closest(key: str, options: Iterable[str]) -> str | None:
    """The option ``key`` most likely misspells (difflib), else one it abbreviates or extends."""
    options = list(options)
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    if close:
        return close[0]
    lower = key.lower()
    for option in options:
        if min(len(lower), len(option)) >= 3 and (lower.startswith(option) or option.startswith(lower)):
            return option
    return None


def _did_you_mean(key: str, options: Iterable[str]) -> str:
    close = _closest(key, options)
    return f" (did you mean {close!r}?)" if close else ""


def _check_keys(ctx: _Context, table: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            ctx.fail("", f"unknown key {_join(path, key)}{_did_you_mean(key, allowed)}"
                         f"; allowed in [{path}]: {', '.join(allowed)}", at=_join(path, key))


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


def _int(ctx: _Context, path: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.fail(path, f"expected an integer, got {value!r} ({_type_name(value)})")
    if minimum is not None and value < minimum:
        ctx.fail(path, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        ctx.fail(path, f"must be <= {maximum}, got {value}")
    return int(value)


def _float(ctx: _Context, path: str, value: Any, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.fail(path, f"expected a number, got {value!r} ({_type_name(value)})")
    value = float(value)
    if not math.isfinite(value):
        ctx.fail(path, f"must be a finite number, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        ctx.fail(path, f"must be {'>' if low_open else '>='} {low:g}, got {value:g}")
    if high is not None and (value >= high if high_open else value > high):
        ctx.fail(path, f"must be {'<' if high_open else '<='} {high:g}, got {value:g}")
    return value


def _bool(ctx: _Context, path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        ctx.fail(path, f"expected true or false, got {value!r} ({_type_name(value)})")
    return value


def _str(ctx: _Context, path: str, value: Any, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str):
        ctx.fail(path, f"expected a string, got {value!r} ({_type_name(value)})")
    if choices is not None and value not in choices:
        ctx.fail(path, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
                       f"{_did_you_mean(value, choices)}")
    return value


def _table(ctx: _Context, path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        ctx.fail(path, f"expected a table [{path}], got {value!r} ({_type_name(value)})")
    return value


def _check_plain(ctx: _Context, path: str, value: Any) -> None:
    """Values must be JSON-representable: no TOML dates/times, no inf/nan."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(ctx, _join(path, k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_plain(ctx, f"{path}[{i}]", v)
    elif isinstance(value, (datetime.date, datetime.time)):
        ctx.fail(path, f"dates and times are not supported, got {value!r}; quote it to make a string")
    elif isinstance(value, float) and not math.isfinite(value):
        ctx.fail(path, f"must be a finite number, got {value}")


def _contains_datetime(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_contains_datetime(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_datetime(v) for v in value)
    return isinstance(value, (datetime.date, datetime.time))


def _validate(doc: dict[str, Any], ctx: _Context, source: Path | None) -> Experiment:
    allowed_top = _TOP_SCALARS + _TOP_TABLES
    for key, value in doc.items():
        if key not in allowed_top:
            if isinstance(value, dict):
                close = _closest(key, _TOP_TABLES)
                hint = f" (did you mean [{close}]?)" if close else ""
                ctx.fail("", f"unknown table [{key}]{hint}; tables are"
                             f" {', '.join(f'[{t}]' for t in _TOP_TABLES)}", at=key)
            ctx.fail("", f"unknown top-level key {key}{_did_you_mean(key, allowed_top)};"
                         f" top-level keys are {', '.join(_TOP_SCALARS)}", at=key)
    _check_plain(ctx, "", doc)

    if "name" not in doc:
        ctx.fail("", "missing top-level key name (it names runs/<name>/)")
    name = _check_name(ctx, doc["name"])
    seed = _int(ctx, "seed", doc.get("seed", 0), 0, 2**32 - 1)
    device = _str(ctx, "device", doc.get("device", "auto"))
    if not _DEVICE_RE.match(device):
        ctx.fail("device", f"must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got {device!r}")
    label = doc.get("label")
    if label is not None:
        label = _str(ctx, "label", label)
        if not label.strip():
            ctx.fail("label", "must not be empty (leave it out to use backbone+head+loss)")

    components = {}
    for kind in COMPONENTS:
        if kind not in doc:
            ctx.fail("", f"missing table [{kind}]; add it with name = \"<{kind} plugin>\""
                         " (see `hashbench plugins`)")
        table = _table(ctx, kind, doc[kind])
        if "name" not in table:
            ctx.fail("", f"[{kind}] has no name; set name = \"<{kind} plugin>\" (see `hashbench plugins`)")
        if not isinstance(table["name"], str) or not table["name"].strip():
            ctx.fail(f"{kind}.name", f"expected a plugin name (string), got {table['name']!r}")
        components[kind] = copy.deepcopy(table)

    train = _validate_train(ctx, _table(ctx, "train", doc.get("train", {})))
    evaluation = _validate_eval(ctx, _table(ctx, "eval", doc.get("eval", {})))
    sweep = _validate_sweep(ctx, _table(ctx, "sweep", doc.get("sweep", {})))
    return Experiment(name=name, seed=seed, device=device, label=label, train=train, eval=evaluation,
                      sweep=sweep, source=source, raw=doc, **components)


def _check_name(ctx: _Context, value: Any) -> str:
    name = _str(ctx, "name", value)
    if not _NAME_RE.match(name) or len(name) > _NAME_MAX:
        ctx.fail("name", f"{name!r} must start with a letter or digit and use only letters, digits and"
                         f" . _ - + = , @ (at most {_NAME_MAX} characters): it names the run directory")
    return name


def _validate_train(ctx: _Context, table: dict[str, Any]) -> TrainConfig:
    _check_keys(ctx, table, "train", _TRAIN_KEYS)
    defaults = TrainConfig()
    epochs = _int(ctx, "train.epochs", table.get("epochs", defaults.epochs), 1)
    grad_clip = table.get("grad_clip")
    return TrainConfig(
        epochs=epochs,
        batch_size=_int(ctx, "train.batch_size", table.get("batch_size", defaults.batch_size), 2),
        optimizer=_validate_optimizer(ctx, _table(ctx, "train.optimizer", table.get("optimizer", {}))),
        scheduler=_validate_scheduler(ctx, _table(ctx, "train.scheduler", table.get("scheduler", {})), epochs),
        amp=_bool(ctx, "train.amp", table.get("amp", defaults.amp)),
        eval_every=_int(ctx, "train.eval_every", table.get("eval_every", defaults.eval_every), 1),
        num_workers=_int(ctx, "train.num_workers", table.get("num_workers", defaults.num_workers), 0),
        skip_zero_loss=_bool(ctx, "train.skip_zero_loss", table.get("skip_zero_loss", defaults.skip_zero_loss)),
        grad_clip=None if grad_clip is None else _float(ctx, "train.grad_clip", grad_clip, 0.0, low_open=True),
    )


def _validate_optimizer(ctx: _Context, table: dict[str, Any]) -> OptimizerConfig:
    path = "train.optimizer"
    name = _str(ctx, f"{path}.name", table.get("name", "sgd"), tuple(_OPTIMIZERS))
    defaults = _OPTIMIZERS[name][1]
    allowed = ("name", "lr") + tuple(defaults)
    for key in table:
        if key not in allowed:
            others = [n for n, (_, keys) in _OPTIMIZERS.items() if key in keys]
            why = f" (it is a key of {' and '.join(others)})" if others else _did_you_mean(key, allowed)
            ctx.fail("", f"unknown key {path}.{key} for optimizer {name!r}{why};"
                         f" allowed: {', '.join(allowed)}", at=f"{path}.{key}")
    values: dict[str, Any] = {"momentum": None, "weight_decay": None, "nesterov": None, "betas": None,
                              "eps": None}
    for key, default in defaults.items():
        value = table.get(key, default)
        where = f"{path}.{key}"
        if key == "momentum":
            value = _float(ctx, where, value, 0.0, 1.0, high_open=True)
        elif key == "weight_decay":
            value = _float(ctx, where, value, 0.0)
        elif key == "nesterov":
            value = _bool(ctx, where, value)
        elif key == "eps":
            value = _float(ctx, where, value, 0.0, low_open=True)
        elif key == "betas":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                ctx.fail(where, f"expected two numbers like [0.9, 0.999], got {value!r}")
            value = tuple(_float(ctx, f"{where}[{i}]", b, 0.0, 1.0, high_open=True) for i, b in enumerate(value))
        values[key] = value
    if values["nesterov"] and not values["momentum"]:
        ctx.fail(f"{path}.nesterov", "needs momentum > 0")
    lr = _float(ctx, f"{path}.lr", table.get("lr", 1e-4), 0.0, low_open=True)
    return OptimizerConfig(name=name, lr=lr, **values)


def _validate_scheduler(ctx: _Context, table: dict[str, Any], epochs: int) -> SchedulerConfig:
    path = "train.scheduler"
    name = _str(ctx, f"{path}.name", table.get("name", "none"), tuple(_SCHEDULERS))
    allowed = ("name",) + _SCHEDULERS[name]
    for key in table:
        if key not in allowed:
            others = [n for n, keys in _SCHEDULERS.items() if key in keys]
            why = f" (it is a key of {' and '.join(others)})" if others else _did_you_mean(key, allowed)
            ctx.fail("", f"unknown key {path}.{key} for scheduler {name!r}{why};"
                         f" allowed: {', '.join(allowed)}", at=f"{path}.{key}")
    if name == "step":
        if "step_size" not in table:
            ctx.fail(path, "the step scheduler needs step_size (epochs between lr drops)")
        return SchedulerConfig(name=name, step_size=_int(ctx, f"{path}.step_size", table["step_size"], 1),
                               gamma=_float(ctx, f"{path}.gamma", table.get("gamma", 0.1), 0.0, 1.0,
                                            low_open=True))
    if name == "cosine":
        return SchedulerConfig(name=name, t_max=_int(ctx, f"{path}.t_max", table.get("t_max", epochs), 1),
                               eta_min=_float(ctx, f"{path}.eta_min", table.get("eta_min", 0.0), 0.0))
    return SchedulerConfig()


def _validate_eval(ctx: _Context, table: dict[str, Any]) -> EvalConfig:
    _check_keys(ctx, table, "eval", _EVAL_KEYS)
    metrics = table.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not metrics:
        ctx.fail("eval.metrics", f"expected a non-empty array like [\"map\", \"map@100\"], got {metrics!r}")
    labels: list[str] = []
    for i, spec in enumerate(metrics):
        where = f"eval.metrics[{i}]"
        if isinstance(spec, dict):
            if not isinstance(spec.get("name"), str) or not spec["name"].strip():
                ctx.fail(where, f"a metric table needs name = \"<metric>\", got {spec!r}")
            if "label" in spec and (not isinstance(spec["label"], str) or not spec["label"].strip()):
                ctx.fail(f"{where}.label", f"expected a non-empty string, got {spec['label']!r}")
        elif not isinstance(spec, str) or not spec.strip():
            ctx.fail(where, f"expected a metric like \"map@100\" or a table, got {spec!r}")
        label = _metric_label(spec)
        if label in labels:
            ctx.fail(where, f"metric {label!r} is listed twice; give one a different label")
        labels.append(label)
    select = _str(ctx, "eval.select", table.get("select", "last"), ("last", "val", "test"))
    val_fraction = _float(ctx, "eval.val_fraction", table.get("val_fraction", 0.1), 0.0, 0.5,
                          low_open=True, high_open=True)
    select_metric = table.get("select_metric")
    if select_metric is not None:
        _str(ctx, "eval.select_metric", select_metric, labels)
    elif select in ("val", "test"):
        select_metric = labels[0]
    batch_size = table.get("batch_size")
    if batch_size is not None:
        batch_size = _int(ctx, "eval.batch_size", batch_size, 1)
    return EvalConfig(metrics=copy.deepcopy(metrics), select=select, val_fraction=val_fraction,
                      select_metric=select_metric, batch_size=batch_size)


def _flatten_sweep(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"head": {"bits": [..]}, "loss.margin": [..]}`` -> ``{"head.bits": [..], "loss.margin": [..]}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = _join(prefix, key)
        if isinstance(value, dict):
            flat.update(_flatten_sweep(value, dotted))
        else:
            flat[dotted] = value
    return flat


def _validate_sweep(ctx: _Context, table: dict[str, Any]) -> dict[str, list[Any]]:
    sweep = _flatten_sweep(table)
    allowed = tuple(k for k in _TOP_SCALARS + _TOP_TABLES if k not in ("name", "sweep"))
    keys = list(sweep)
    for dotted, values in sweep.items():
        parts = dotted.split(".")
        where = f'sweep."{dotted}"'
        if any(not p for p in parts):
            ctx.fail(where, "is not a dotted key like \"head.bits\"")
        if parts[0] not in allowed:
            ctx.fail(where, f"{parts[0]!r} is not a key that can be swept{_did_you_mean(parts[0], allowed)};"
                            f" sweep keys start with one of: {', '.join(allowed)}")
        if parts[0] in _TOP_SCALARS and len(parts) > 1:
            ctx.fail(where, f"{parts[0]} is a single value, not a table")
        if parts[0] in ("train", "eval") and len(parts) > 1:
            known = _TRAIN_KEYS if parts[0] == "train" else _EVAL_KEYS
            if parts[1] not in known:
                ctx.fail(where, f"unknown key {parts[0]}.{parts[1]}{_did_you_mean(parts[1], known)}")
        if not isinstance(values, list) or not values:
            ctx.fail(where, f"expected a non-empty array of values, got {values!r}")
        seen: set[str] = set()
        for value in values:
            canonical = json.dumps(value, sort_keys=True)  # 1, 1.0 and true stay distinct
            if canonical in seen:
                ctx.fail(where, f"lists {value!r} twice")
            seen.add(canonical)
        for other in keys:
            if other != dotted and other.startswith(dotted + "."):
                ctx.fail(where, f"overlaps sweep key \"{other}\"; sweep one or the other")
    return copy.deepcopy(sweep)


# ---------------------------------------------------------------------------------------------------
# Devices and sweeps
# ---------------------------------------------------------------------------------------------------
def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; checks explicit CUDA devices exist."""
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise ConfigError(f"device: must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got {device!r}")
    if device == "cpu":
        return device
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ConfigError(f"device: {device!r} requested but CUDA is not available to torch"
                          f" {torch.__version__}; use device = \"auto\" or \"cpu\"")
    index = int(device.split(":")[1]) if ":" in device else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"device: {device!r} requested but only {count} CUDA device(s) are visible"
                          f" (cuda:0..cuda:{count - 1})")
    return device


def expand_sweep(exp: Experiment) -> list[Experiment]:
    """The experiment's ``[sweep]`` grid as validated experiments (``[exp]`` when it has no sweep).

    See :func:`hashbench.sweep.expand_sweep` for the order and the naming scheme.
    """
    from .sweep import expand_sweep as _expand

    return _expand(exp)


def _validate_document(doc: dict[str, Any], file: str, source: Path | None, point: str | None = None
                       ) -> Experiment:
    """Validate an already overridden and expanded document (used by :mod:`hashbench.sweep`)."""
    _normalize_shorthands(doc)
    return _validate(doc, _Context(file, point=point), source)
