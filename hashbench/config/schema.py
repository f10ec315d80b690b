"""The typed experiment: dataclasses of every table, their defaults, and the names the schema allows.

:class:`Experiment` is what :func:`hashbench.config.load_experiment` returns; the module docstring of
:mod:`hashbench.config` gives the schema with its defaults and units. This module also owns the
optimizer and scheduler names (:data:`OPTIMIZERS`, :data:`SCHEDULERS`: the ``torch.optim`` class each
builds and its keys), which the validation checks and :mod:`hashbench.train.optim` builds from, and the
default metrics (:data:`DEFAULT_METRICS` of an experiment, :data:`DEFAULT_METRIC` where one is shown).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .protocol import protocol_metrics

__all__ = [
    "Experiment", "TrainConfig", "OptimizerConfig", "SchedulerConfig", "EvalConfig", "COMPONENTS",
    "METHOD_COMPONENTS", "COMPONENT_TABLES", "BUILTIN_METHOD",
    "DEFAULT_METRICS", "DEFAULT_METRIC", "HASH_EXCLUDE", "TOP_SCALARS", "TOP_TABLES", "TRAIN_KEYS",
    "EVAL_KEYS", "NAME_PATTERN", "NAME_MAX", "OPTIMIZERS", "SCHEDULERS", "metric_label", "SamplerConfig",
    "SAMPLERS", "LOSS_SCOPES", "LAUNCHER_KEYS",
]

#: The tables of an experiment built from parts (the built-in method ``deep_hashing``).
COMPONENTS = ("dataset", "backbone", "head", "loss")
#: The tables of an experiment that names a method plugin (``[method] name = "itq"``).
METHOD_COMPONENTS = ("dataset", "method")
#: Every table that names a plugin, in either kind of experiment.
COMPONENT_TABLES = COMPONENTS + ("method",)
#: The method name of an experiment built from the backbone/head/loss triple.
BUILTIN_METHOD = "deep_hashing"
#: ``[eval] metrics`` when an experiment does not list any.
DEFAULT_METRICS = ("map", "map@100", "map_tie", "precision@100")
#: The one metric scored or shown when none is named: ``hashbench.score``, ``hashbench score``, the
#: re-scoring of a run that recorded no metrics, and the leaderboard's default table.
DEFAULT_METRIC = DEFAULT_METRICS[0]
#: Keys left out of :meth:`Experiment.config_hash`: presentation (label, sweep) and execution placement
#: (device, worker processes, encoding batch size) that do not change what the experiment measures.
HASH_EXCLUDE = ("label", "loggers", "sweep", "device", "train.num_workers", "train.pin_memory", "eval.batch_size")

TOP_SCALARS = ("name", "seed", "device", "label", "loggers")
TOP_TABLES = COMPONENT_TABLES + ("train", "eval", "sweep", "launcher")
#: ``[launcher]``: where ``hashbench run --launcher slurm|local`` runs each sweep point (never part of
#: the config hash or the identity): ``gpus`` per point (a point with several runs distributed over
#: them), ``time`` (minutes), ``partition``, ``cpus_per_task``, ``mem_gb`` and ``slurm`` (a table of
#: further submitit ``slurm_*`` options, e.g. ``{ account = "abc", qos = "high" }``).
LAUNCHER_KEYS = ("gpus", "time", "partition", "cpus_per_task", "mem_gb", "slurm")
TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "scheduler", "amp", "eval_every", "eval_first", "num_workers",
               "skip_zero_loss", "grad_clip", "sampler", "clip_frames", "sync_bn", "loss_scope", "accumulate_steps",
               "channels_last_3d", "compile", "pin_memory")
#: ``train.loss_scope``: ``global`` (the loss sees the whole global batch, all-gathered) or ``rank``.
LOSS_SCOPES = ("global", "rank")
#: Batch samplers: ``shuffle`` (a seeded permutation per epoch, the default) and ``pk`` (P classes x K clips).
SAMPLERS = ("shuffle", "pk")
EVAL_KEYS = ("protocol", "metrics", "select", "val_fraction", "select_metric", "batch_size", "clips")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=,@-]*$")
NAME_MAX = 200

OPTIMIZERS = {  # name -> (torch.optim class, defaults of its keys other than lr)
    "sgd": ("SGD", {"momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}),
    "adam": ("Adam", {"betas": (0.9, 0.999), "weight_decay": 0.0, "eps": 1e-8}),
    "adamw": ("AdamW", {"betas": (0.9, 0.999), "weight_decay": 0.01, "eps": 1e-8}),
}
SCHEDULERS = {"none": (), "step": ("step_size", "gamma"), "cosine": ("t_max", "eta_min")}


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
        return OPTIMIZERS[self.name][0]

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the torch optimiser: ``lr`` plus every key that applies (not None)."""
        out: dict[str, Any] = {"lr": self.lr}
        for key in OPTIMIZERS[self.name][1]:
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

    Stepped once per epoch: after it (default), or with ``at = "epoch_start"`` before it, as training
    scripts written for PyTorch < 1.1 did (the original Video-Retrieval-C3D: StepLR(40) then runs 39 epochs
    at the first rate). ``t_max`` is resolved to ``train.epochs`` when not given.
    """

    name: str = "none"
    step_size: int | None = None
    gamma: float | None = None
    t_max: int | None = None
    eta_min: float | None = None
    at: str | None = None

    @property
    def steps_at_epoch_start(self) -> bool:
        """``at = "epoch_start"``: step before each epoch's training instead of after it."""
        return self.at == "epoch_start"

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
        return {key: getattr(self, key) for key in SCHEDULERS[self.name]}


@dataclass(frozen=True)
class SamplerConfig:
    """``[train].sampler``: ``{ name = "pk", classes = P, per_class = K }``, class-balanced batches of P
    classes with K clips each (``train.batch_size`` is then P * K). The default ``shuffle`` is kept as
    None in :class:`TrainConfig`, so experiments without a sampler keep their config hash."""

    name: str = "pk"
    classes: int = 8
    per_class: int = 4


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: the engine's training settings (see the module docstring for units and defaults)."""

    epochs: int = 10
    batch_size: int = 32
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    amp: bool = True
    eval_every: int = 5
    eval_first: int | None = None
    num_workers: int = 0
    skip_zero_loss: bool = True
    grad_clip: float | None = None
    sampler: SamplerConfig | None = None
    clip_frames: int | None = None
    # Keys added with distributed training: None is the default behaviour (and keeps config hashes and
    # identities of experiments that do not set them); see the properties below for the values used.
    sync_bn: bool | None = None
    loss_scope: str | None = None
    accumulate_steps: int | None = None
    channels_last_3d: bool | None = None
    compile: bool | None = None
    pin_memory: bool | None = None

    def evaluates_after(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1-based) is followed by an evaluation: every ``eval_every`` epochs and
        the last one; with ``eval_first = F``, exactly epochs F, F + eval_every, ... (the original repo's
        ``epoch % 5 == 0`` over 0-based epochs is ``eval_first = 1``: 1, 6, ..., 156 of 160)."""
        if self.eval_first is not None:
            return epoch >= self.eval_first and (epoch - self.eval_first) % self.eval_every == 0
        return epoch % self.eval_every == 0 or epoch == self.epochs

    @property
    def scope(self) -> str:
        """``loss_scope`` as used: ``"global"`` unless set to ``"rank"``."""
        return self.loss_scope or "global"

    @property
    def accumulation(self) -> int:
        """``accumulate_steps`` as used (1 when unset): micro-batches per optimizer step."""
        return self.accumulate_steps or 1


@dataclass(frozen=True)
class EvalConfig:
    """``[eval]``: metric specs (strings like ``"map@100"`` or tables with ``name``) and epoch selection.

    ``protocol`` (None = ``"none"``) names a preset whose metrics come before ``metrics`` (the listed ones,
    empty when a protocol stands alone); :meth:`metric_specs` gives them all.
    """

    metrics: list[Any] = field(default_factory=lambda: list(DEFAULT_METRICS))
    select: str = "last"
    val_fraction: float = 0.1
    select_metric: str | None = None
    batch_size: int | None = None
    clips: int | None = None
    protocol: str | None = None

    def metric_specs(self, include_self: bool | None = None) -> list[Any]:
        """The protocol's specs (``include_self`` as in :func:`~hashbench.config.protocol.ssvh_metrics`,
        resolved from the dataset by the caller), then ``metrics``."""
        return protocol_metrics(self.protocol, include_self) + copy.deepcopy(list(self.metrics))

    @property
    def metric_labels(self) -> list[str]:
        """The result label of each metric: the spec string, or a table's ``label`` (else its ``name``)."""
        return [metric_label(spec) for spec in self.metric_specs()]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment. Component tables are plain dicts including ``name``.

    ``raw`` is the document as given (after overrides and ``${}`` expansion, before defaults); sweeps
    are expanded from it. ``source`` is the file it came from (None when built from a dict).
    ``method_table`` is the ``[method]`` table of an experiment that names a method plugin (its
    backbone, head and loss tables are then empty); None for the backbone/head/loss triple.
    """

    name: str
    dataset: dict[str, Any]
    backbone: dict[str, Any]
    head: dict[str, Any]
    loss: dict[str, Any]
    method_table: dict[str, Any] | None = None
    seed: int = 0
    device: str = "auto"
    label: str | None = None
    loggers: tuple[str, ...] = ()
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    launcher: dict[str, Any] = field(default_factory=dict, compare=False)
    source: Path | None = field(default=None, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def method(self) -> str:
        """The leaderboard's method label: ``label``, else the method plugin's name, else
        ``"<backbone>+<head>+<loss>"`` plugin names."""
        if self.label:
            return self.label
        if self.method_table is not None and self.method_name != BUILTIN_METHOD:
            return str(self.method_table["name"])
        return "+".join(str(self.part(kind).get("name", "")) for kind in ("backbone", "head", "loss"))

    def part(self, kind: str) -> dict[str, Any]:
        """The ``backbone``/``head``/``loss`` table of the experiment, from the top level or from inside
        ``[method]`` (``deep_hashing``'s parts, a frozen baseline's ``backbone``); {} when it has none."""
        inner = (self.method_table or {}).get(kind)
        return dict(inner) if isinstance(inner, dict) else dict(getattr(self, kind) or {})

    @property
    def method_name(self) -> str:
        """The method plugin this experiment runs: ``[method] name``, or :data:`BUILTIN_METHOD`."""
        return str(self.method_table["name"]) if self.method_table is not None else BUILTIN_METHOD

    @property
    def components(self) -> tuple[str, ...]:
        """The plugin tables this experiment has: :data:`METHOD_COMPONENTS` or :data:`COMPONENTS`."""
        return METHOD_COMPONENTS if self.method_table is not None else COMPONENTS

    def table(self, kind: str) -> dict[str, Any]:
        """The table of component ``kind`` (``method`` included)."""
        return (self.method_table or {}) if kind == "method" else getattr(self, kind)

    def to_dict(self) -> dict[str, Any]:
        """The resolved experiment, defaults included, as JSON/TOML-serialisable data.

        Keys whose value is None (unset optional keys) are left out; ``experiment_from_dict`` of the
        result gives an equal Experiment.
        """
        data: dict[str, Any] = {"name": self.name, "seed": self.seed, "device": self.device}
        if self.label is not None:
            data["label"] = self.label
        if self.loggers:
            data["loggers"] = list(self.loggers)
        for kind in self.components:
            data[kind] = copy.deepcopy(self.table(kind))
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


def metric_label(spec: Any) -> str:
    if isinstance(spec, Mapping):
        return str(spec.get("label") or spec.get("name"))
    return str(spec)

