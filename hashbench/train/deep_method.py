"""The built-in method ``deep_hashing``: today's backbone + hash head + loss as one
:class:`~hashbench.contract.HashMethod`.

A TOML with ``[backbone]``, ``[head]`` and ``[loss]`` tables runs as this method (its config, hash and
results row are those of the triple); ``hashbench.registry().build("method", {"name": "deep_hashing",
"backbone": {...}, "head": {...}, "loss": {...}}, bits=..., seed=...)`` builds one in Python.

It consumes what its backbone consumes (:func:`~hashbench.train.model.backbone_consumes`): uint8 clips
``(B, 3, T, H, W)``, normalised with the backbone's ``input_mean``/``input_std``, or float frame features
``(B, T, D)`` / vectors ``(B, D)``, taken as they are. :meth:`DeepHashing.encode` gives the relaxed codes
of the inputs, :meth:`DeepHashing.training_loss` the loss of one batch (normalise, forward, the
backbone's features for a loss that ``needs_features``, all-gathered over the processes of a distributed
run when the batch says so, then :func:`~hashbench.contract.call_loss`, plus the loss's
:meth:`~hashbench.contract.HashLoss.weight_penalty` on the head's ``hash_weight`` when the loss
overrides it: once per step, as the term does not depend on the batch). Its state is ``model.*``
(backbone and head) and ``loss.*`` (memory banks, the loss's own parameters); checkpoints keep them
apart as ``"model"`` and ``"loss"`` (:mod:`hashbench.run.state`), the file format that predates methods.
"""
from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, Mapping, Optional

import torch

from ..contract import Registry
from ..contract.losses import call_loss, head_weight_penalty, wants
from ..contract.methods import HashMethod, MethodBatch, backbone_consumes, consumption_problem
from ..errors import ConfigError
from .distributed import gather_batch
from .model import HashModel, build_hash_model

__all__ = ["DeepHashing", "build_deep_hashing", "start_epoch", "check_backbone_consumes"]


def start_epoch(model: torch.nn.Module, loss_fn: Any, epoch: int, epochs: int) -> None:
    """Call ``on_epoch_start(epoch, epochs)`` on every submodule of ``model`` and on the loss that define it."""
    for component in list(model.modules()) + [loss_fn]:
        hook = getattr(component, "on_epoch_start", None)
        if callable(hook):
            hook(epoch, epochs)


class DeepHashing(HashMethod):
    """Backbone + head (``model``, a :class:`~hashbench.train.model.HashModel`) trained through ``loss``.

    ``net`` is the module forward runs through during training (a DistributedDataParallel or compiled
    wrapper of ``model``, set by :meth:`wrap`; not part of the state); ``channels_last`` converts the
    normalised clips to channels-last 3D first (``train.channels_last_3d``)."""

    consumes = ("clips",)
    needs_labels = True

    def __init__(self, model: HashModel, loss: Any, bits: int, seed: int = 0) -> None:
        super().__init__(bits, seed)
        self.model = model
        self.loss = loss
        self.consumes = model.consumes  # what the backbone consumes
        self.channels_last = False
        object.__setattr__(self, "_net", None)  # a wrapper of model: kept out of the module tree and state

    def wrap(self, net: Optional[torch.nn.Module], channels_last: bool = False) -> None:
        """Train through ``net`` (None: ``model`` itself), with channels-last inputs when asked."""
        object.__setattr__(self, "_net", net)
        self.channels_last = channels_last

    @property
    def net(self) -> torch.nn.Module:
        """The module the training forward runs through."""
        return self._net if self._net is not None else self.model

    def no_sync(self) -> contextlib.AbstractContextManager:
        """DistributedDataParallel's ``no_sync`` (gradient accumulation), else nothing."""
        no_sync = getattr(self._net, "no_sync", None)
        return no_sync() if no_sync is not None else contextlib.nullcontext()

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """uint8 clips ``(B, 3, T, H, W)`` (or float features) -> relaxed codes ``(B, bits)`` float32."""
        return self.model(self.model.normalize(inputs)).float()

    def encode_with_features(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 clips -> the backbone's features ``(B, D)`` and the relaxed codes ``(B, bits)`` float32."""
        features, codes = self.model(self.model.normalize(inputs), return_features=True)
        return features, codes.float()

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """The loss of one batch of inputs (runs in the caller's autocast; the loss in float32).
        With ``batch.sizes`` the codes, labels, indices and features of every process are all-gathered
        first, so every process computes the loss of the global batch."""
        inputs = self.model.normalize(batch.inputs)
        if self.channels_last and inputs.dim() == 5:
            inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
        features = None
        if wants(self.loss, "features"):
            features, codes = self.net(inputs, return_features=True)
            features = features.float()
        else:
            codes = self.net(inputs)
        codes, labels, indices = codes.float(), batch.labels, batch.indices
        with _full_precision(codes):
            if batch.sizes is not None:
                codes, labels = gather_batch(codes, batch.sizes), gather_batch(labels, batch.sizes)
                indices = gather_batch(indices, batch.sizes) if indices is not None else None
                features = gather_batch(features, batch.sizes) if features is not None else None
            value = call_loss(self.loss, codes, labels, indices, features)
            penalty = head_weight_penalty(self.loss, self.model.head)
            return value if penalty is None else value + penalty

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """``on_epoch_start`` of every submodule of the model that defines it, then of the loss."""
        start_epoch(self.model, self.loss, epoch, epochs)


def _full_precision(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """Autocast off on ``tensor``'s device: the loss is computed in float32 as before methods existed."""
    if tensor.is_cuda:
        return torch.autocast(device_type="cuda", enabled=False)
    return contextlib.nullcontext()


def build_deep_hashing(registry: Registry, backbone: Mapping[str, Any], head: Mapping[str, Any],
                       loss: Mapping[str, Any], **context: Any) -> DeepHashing:
    """Backbone, then head (``feature_dim`` from the backbone), then loss (with the backbone's
    ``feature_dim`` in its context), as a :class:`DeepHashing` of ``context["bits"]`` bits (the head's
    ``bits``, which the head table may leave out). ``context["feature_dim"]``, when given, is the
    dataset's D, the input width of a backbone for frame features (see
    :func:`~hashbench.train.model.build_hash_model`)."""
    bits = int(context["bits"])
    if head.get("bits", bits) != bits:
        raise ConfigError(f"head.bits = {head['bits']!r} differs from the method's bits = {bits}; leave it out")
    model = build_hash_model(registry, backbone, {**head, "bits": bits}, **context)
    context = {k: v for k, v in context.items() if k != "feature_dim"}
    loss_fn = registry.build("loss", loss, where="loss", feature_dim=int(model.backbone.feature_dim), **context)
    with torch.no_grad():
        head_weight_penalty(loss_fn, model.head)  # a head without the hash_weight the loss needs fails here
    return DeepHashing(model, loss_fn, bits, int(context.get("seed", 0)))


def check_backbone_consumes(registry: Registry, backbone: Mapping[str, Any], dataset: Any, dataset_name: str) -> None:
    """ConfigError, in one line naming both, when the backbone does not consume the dataset's item kind
    (a clip backbone on frame features, a frame-feature backbone on clips)."""
    component = registry.get("backbone", str(backbone.get("name")))
    declared = backbone_consumes(component.factory, f"backbone {component.name!r}")
    problem = consumption_problem(SimpleNamespace(consumes=declared), component.name, dataset, dataset_name,
                                  "backbone")
    if problem:
        raise ConfigError(problem)
