"""Building an experiment's components: dataset, model (backbone + head), loss and metrics, with the
context values injected, and the contract checked on two real clips before anything is written."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch

from ..config import Experiment
from ..config.validate import in_file
from ..contract import Registry
from ..contract.checks import check_batch
from ..errors import ConfigError, ContractError, DataError
from ..failures import ComponentRef, component_refs, plugin_refs
from ..train.deep_method import DeepHashing, build_deep_hashing, check_backbone_consumes
from ..train.model import HashModel
from .selection import training_size

__all__ = ["BuiltExperiment", "build_components", "head_bits", "component_context", "check_query_batch",
           "asks_for", "num_train_for", "prepare_model"]


@dataclass
class BuiltExperiment:
    """Every component of an experiment, built and checked (what `hashbench validate` reports).

    ``method`` makes and learns the codes: a ``[method]`` plugin, or the built-in
    :class:`~hashbench.train.deep_method.DeepHashing` of a ``[backbone]``/``[head]``/``[loss]``
    experiment. ``metrics`` are ``(label, metric)`` pairs, built once: every evaluation of the test split
    scores with them. ``validation_metrics`` score ``select = "val"``'s split (validation queries carved from
    training against the rest): the same specs without ``include_self``, since those queries are never the
    database's rows; None when they equal ``metrics``.
    """

    dataset: Any
    method: Any
    metrics: list[tuple[str, Any]]
    bits: int
    device: torch.device
    components: list[ComponentRef] = field(default_factory=list)
    init_from: dict[str, str] = field(default_factory=dict)
    validation_metrics: Optional[list[tuple[str, Any]]] = None

    @property
    def deep(self) -> Optional[DeepHashing]:
        """The method when it is the backbone + head + loss triple, else None."""
        return self.method if isinstance(self.method, DeepHashing) else None

    @property
    def model(self) -> Optional[HashModel]:
        """The backbone + head model of the triple (None for a ``[method]`` plugin)."""
        return self.deep.model if self.deep is not None else None

    @property
    def module(self) -> torch.nn.Module:
        """What a checkpoint's ``"model"`` holds: the triple's model, or the method plugin whole."""
        return self.deep.model if self.deep is not None else self.method

    @property
    def loss(self) -> Any:
        """The loss of the triple (None for a ``[method]`` plugin)."""
        return self.deep.loss if self.deep is not None else None

    def to_device(self) -> None:
        """Move the method (with its model and loss) to :attr:`device`."""
        self.method.to(self.device)


def head_bits(experiment: Experiment, prefix: str = "") -> int:
    """The code length: ``method.bits`` of a method experiment, else ``head.bits`` (ConfigError, after
    ``prefix``, unless an integer in 1..4096)."""
    kind = "method" if experiment.method_table is not None else "head"
    bits = experiment.table(kind).get("bits")
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 4096:
        raise ConfigError(f"{prefix}{kind}.bits: expected an integer code length such as 48, got {bits!r}")
    return bits


def component_context(experiment: Experiment, device: Any, bits: int, dataset: Any = None,
                      num_train: int | None = None) -> dict[str, Any]:
    """The context values handed to factories: ``seed``, ``device``, ``bits``, and once the dataset is
    built ``num_classes``, ``multi_label``, ``num_frames`` and ``num_train`` (the clips the run trains
    on; see :data:`hashbench.contract.CONTEXT_NAMES`)."""
    context: dict[str, Any] = {"seed": experiment.seed, "device": str(device), "bits": bits}
    if dataset is not None:
        context.update(num_classes=int(dataset.num_classes), multi_label=bool(dataset.multi_label),
                       num_frames=int(dataset.num_frames))
    if num_train is not None:
        context["num_train"] = int(num_train)
    return context


def asks_for(registry: Registry, kind: str, name: str, parameter: str) -> bool:
    """Whether plugin ``name``'s factory has a parameter ``parameter`` (a context value it wants)."""
    import inspect

    return parameter in inspect.signature(registry.get(kind, name).factory).parameters


def num_train_for(experiment: Experiment, registry: Registry, dataset: Any) -> int | None:
    """The ``num_train`` context for the loss (or the method), when its factory asks for it (resolves
    the train split)."""
    kind = "method" if experiment.method_table is not None else "loss"
    if not asks_for(registry, kind, str(experiment.table(kind)["name"]), "num_train"):
        return None
    return training_size(len(dataset.split("train")), experiment.eval)


def build_components(experiment: Experiment, registry: Registry, device: torch.device) -> BuiltExperiment:
    """Build dataset, model, loss and metrics with context injection; errors name the file, table and key."""
    with in_file(experiment.source):
        return _build_components(experiment, registry, device)


def _build_components(experiment: Experiment, registry: Registry, device: torch.device) -> BuiltExperiment:
    registry.check_loggers(experiment.loggers)
    bits = head_bits(experiment, f"{experiment.source}: " if experiment.source else "")
    dataset = registry.build("dataset", experiment.dataset, where="dataset",
                             **component_context(experiment, device, bits))
    context = component_context(experiment, device, bits, dataset, num_train_for(experiment, registry, dataset))
    if getattr(dataset, "feature_dim", None) is not None:
        context["feature_dim"] = int(dataset.feature_dim)  # a method's, or a frame-feature backbone's, input width
    if experiment.method_table is not None:
        return _build_method(experiment, registry, device, dataset, context)
    check_backbone_consumes(registry, experiment.backbone, dataset, str(experiment.dataset["name"]))
    method = build_deep_hashing(registry, experiment.backbone, experiment.head, experiment.loss, **context)
    model, loss = method.model, method.loss
    init_from = load_init_from(model.backbone, experiment.backbone.get("init_from"))
    freeze_backbone(model.backbone, experiment.backbone.get("freeze", False))
    metrics, validation_metrics = build_metrics(registry, experiment, dataset)
    refs = component_refs(registry, [("dataset", experiment.dataset["name"], dataset),
                                     ("backbone", experiment.backbone["name"], model.backbone),
                                     ("head", experiment.head["name"], model.head),
                                     ("loss", experiment.loss["name"], loss)])
    return BuiltExperiment(dataset, method, metrics, bits, device, refs + plugin_refs(registry.plugin_manager),
                           init_from, validation_metrics)


def _build_method(experiment: Experiment, registry: Registry, device: torch.device, dataset: Any,
                  context: dict[str, Any]) -> BuiltExperiment:
    """A ``[method]`` experiment: the method built with the dataset's ``feature_dim`` in its context, and
    refused (one line naming both) when it does not consume what the dataset yields."""
    from ..contract.methods import consumption_problem

    table = experiment.method_table or {}
    method = registry.build("method", table, where="method", **context)
    problem = consumption_problem(method, str(table["name"]), dataset, str(experiment.dataset["name"]))
    if problem:
        raise ConfigError(problem)
    if not isinstance(method, torch.nn.Module) or not callable(getattr(method, "encode", None)):
        raise ContractError(f"method {table['name']!r} built {type(method).__name__!r}, not a"
                            " hashbench.contract.HashMethod (an nn.Module with encode)")
    metrics, validation_metrics = build_metrics(registry, experiment, dataset)
    refs = component_refs(registry, [("dataset", experiment.dataset["name"], dataset),
                                     ("method", table["name"], method)])
    return BuiltExperiment(dataset, method, metrics, int(context["bits"]), device,
                           refs + plugin_refs(registry.plugin_manager), validation_metrics=validation_metrics)


def build_metrics(registry: Any, experiment: Experiment, dataset: Any) -> tuple[list, Optional[list]]:
    """``(metrics, validation_metrics)`` of :class:`BuiltExperiment`, each a list of ``(label, metric)``."""
    specs = eval_metric_specs(experiment, dataset)
    metrics = [registry.build_metric(spec) for spec in specs]
    disjoint = experiment.eval.metric_specs(None)  # validation queries are never the database's rows
    return metrics, (None if disjoint == specs else [registry.build_metric(spec) for spec in disjoint])


def eval_metric_specs(experiment: Experiment, dataset: Any) -> list[Any]:
    """``[eval]``'s metric specs for the built ``dataset``: a protocol's ``include_self`` is True when the
    dataset's query and database are the same rows (FCVID's all-vs-all), else left out."""
    same_rows = getattr(dataset, "same_rows", None)
    include_self = True if callable(same_rows) and same_rows("query", "database") else None
    return experiment.eval.metric_specs(include_self)


def freeze_backbone(backbone: torch.nn.Module, freeze: Any) -> None:
    """``[backbone] freeze = true``: its parameters stop requiring grad, so the optimizer leaves them out
    (only the head and the loss's own parameters train, as a linear probe or ``--ft_begin_module fc``).
    Its BatchNorm layers stay in train mode: their running statistics still follow the data."""
    if not isinstance(freeze, bool):
        raise ConfigError(f"backbone.freeze: expected true or false, got {freeze!r}")
    if freeze:
        for parameter in backbone.parameters():
            parameter.requires_grad_(False)


def load_init_from(backbone: torch.nn.Module, source: Any) -> dict[str, str]:
    """Load ``[backbone] init_from`` into ``backbone``: a run directory (its reported model,
    ``model.pt``), or a checkpoint file (a run's ``model.pt``/``checkpoint.pt``, whose ``backbone.*``
    weights are taken, or a state dict of the backbone itself). Strict: CheckpointError listing keys.
    Returns the provenance recorded in ``record.json`` (empty when there is no ``init_from``)."""
    if source is None:
        return {}
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"backbone.init_from: expected a run directory or a checkpoint file, got {source!r}")
    from pathlib import Path

    from ..results.rundir import RunDir
    from ..train.checkpoint import load_checkpoint, load_state_strict

    path = Path(source).expanduser()
    if path.is_dir():
        run = RunDir(path)
        if not run.record_path.is_file():
            raise DataError(f"backbone.init_from: {path} is not a run directory (no record.json)")
        file = run.weights_path()
    elif path.is_file():
        file = path
    else:
        raise DataError(f"backbone.init_from: {path} does not exist; give a run directory"
                        " (runs/<experiment>/<run_id>) or a checkpoint file")
    saved = load_checkpoint(file)
    state = saved.get("model", saved) if isinstance(saved, dict) else saved
    if isinstance(state, dict) and any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    load_state_strict(backbone, state, f"backbone.init_from: {file}")
    return {"path": str(path), "file": str(file), "run_id": path.name if path.is_dir() else ""}


def check_query_batch(built: BuiltExperiment, query: Sequence[Any]) -> None:
    """Forward two query clips through backbone, head and loss one by one (contract check, no grad); a
    ``[method]`` plugin's contract is checked by ``hashbench check-plugins`` instead."""
    if built.deep is None:
        return
    n = len(query)
    if n < 2:
        raise DataError(f"the query split has {n} clip(s); at least 2 are needed")
    items = [query[i] for i in (0, 1)]
    clips = torch.stack([torch.as_tensor(c) for c, _ in items]).to(built.device)
    labels = torch.stack([torch.as_tensor(label) for _, label in items]).to(built.device)
    if "clips" in built.deep.consumes and (clips.dtype != torch.uint8 or clips.dim() != 5 or clips.shape[1] != 3):
        raise ContractError(f"{built.components[0].describe()} gave clips {tuple(clips.shape[1:])}"
                            f" {clips.dtype}; the contract is uint8 (3, T, H, W)")
    import copy

    loss = copy.deepcopy(built.loss)  # a memory bank or any state of the loss stays as built
    with torch.random.fork_rng(devices=[]):
        check_batch(built.model, loss, clips, labels, built.bits, built.components, backward=False)


def prepare_model(built: BuiltExperiment, train: Any, env: Any) -> None:
    """Set up how the triple's model trains, from the validated ``[train]`` table and the process's
    :class:`~hashbench.train.distributed.DistEnv`: BatchNorm over the global batch (``sync_bn``, in a
    distributed run), channels-last 3D memory format (``channels_last_3d``), DistributedDataParallel
    (more than one process) and ``torch.compile`` (``compile``). ``built.model`` keeps the same
    parameters (the optimizer and checkpoints use it); the wrapper is what forward runs through
    (:meth:`~hashbench.train.deep_method.DeepHashing.wrap`). Nothing for a ``[method]`` plugin."""
    from ..train.distributed import convert_sync_batchnorm

    deep = built.deep
    if deep is None:
        return
    if env.enabled and train.sync_bn:
        deep.model = convert_sync_batchnorm(deep.model, built.device)  # type: ignore[assignment]
    if train.channels_last_3d:
        deep.model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    net: torch.nn.Module = deep.model
    if env.enabled:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(deep.model, device_ids=[built.device.index] if built.device.type == "cuda"
                                      else None)
    if train.compile:
        net = torch.compile(net)  # type: ignore[assignment]
    deep.wrap(net if net is not deep.model else None, bool(train.channels_last_3d))
