"""The plugin contract, stated once: hooks, factories, context values, shapes, dtypes, what each kind declares.

Everything else (the protocols, the conformance kit, the run-time checks, the README and the docs)
links here instead of restating it; a test keeps them from drifting (tests/core/contract).

Hooks and factories
-------------------
A plugin is a module registered under the ``hashbench`` entry-point group that implements any of the
hooks below with ``@hashbench.hookimpl``; a hook hashbench does not have (a typo) makes the plugin
broken. Registration hooks return ``{name: factory}``; a factory is a plain callable whose keyword
parameters ARE the keys of that component's TOML table. Keep factory modules free of heavy imports
(import torch inside the factory) so that ``hashbench plugins`` stays fast. A factory may raise
``ValueError`` for a bad key value (it becomes a one-line config error naming the table); the
validators of :mod:`hashbench.contract.validators` say it with the common messages.

Context values
--------------
Injected by parameter name when a factory declares them (a table cannot set them, except the ones its
own kind defines: the head's ``bits``, the dataset's ``num_frames``): ``bits``, ``feature_dim``,
``num_classes``, ``multi_label``, ``num_frames``, ``num_train``, ``device``, ``seed``
(:data:`hashbench.contract.CONTEXT_NAMES`). ``bits``: the code length (``head.bits``, or ``method.bits``: one key per experiment);
``feature_dim``: the backbone's output width (for a method, or a backbone that does not consume clips: the dataset's ``feature_dim``); ``num_classes``/``multi_label``: the dataset's;
``num_frames``: T, frames per clip (``dataset.num_frames``); ``num_train``: clips the run trains on;
``device``: ``cpu`` or ``cuda:<i>``; ``seed``: the experiment's seed.

Component shapes and dtypes (duck-typed; B = batch, T = frames, D = ``feature_dim``, C = ``num_classes``)
----------------------------------------------------------------------------------------------------
backbone  ``factory(**table, **context) -> nn.Module``: float clips ``(B, 3, T, H, W)`` (or, when it
          consumes them, float frame features ``(B, T, D_in)`` / vectors ``(B, D_in)``) -> float
          features ``(B, D)``, said ``(B, feature_dim)`` in error messages.
head      ``factory(feature_dim, bits, **table) -> nn.Module``: features ``(B, D)`` -> real-valued
          float codes ``(B, bits)``, of any range (``tanh`` gives (-1, 1), ``linear`` any real value,
          ``sign_ste`` -1 or +1); the binary code is their ``sign``, so no entry may be exactly 0.
loss      ``factory(**table, **context) -> nn.Module``: ``(codes (B, bits), labels)`` -> a scalar
          tensor with a gradient path to the codes; labels are int64 class ids ``(B,)`` or multi-hot
          float ``(B, C)``. Subclass :class:`hashbench.contract.HashLoss` and implement
          ``compute_loss(batch)`` (a :class:`~hashbench.contract.LossBatch`).
dataset   ``factory(**table, **context) -> object`` with ``num_classes: int``,
          ``class_names: list[str]``, ``multi_label: bool``, ``num_frames: int``;
          ``split(name) -> torch.utils.data.Dataset`` for name in ``train``/``query``/``database``,
          whose items are ``(clip, label)``: a uint8 clip ``(3, T, H, W)`` in 0-255 RGB and an ``int``
          class id or a multi-hot float ``(C,)``; ``video_ids(name) -> list[str]`` (stable ids, one per
          item); ``info() -> dict[str, str]``: provenance recorded in results rows (``split``,
          ``data_checksum``, ``data_origin`` = official / custom / generated, ``skipped``).
          ``hashbench.data.VideoDataset`` implements all of this. A dataset may declare
          ``item_kind`` (default ``"clips"``, see :data:`hashbench.contract.names.ITEM_KINDS`):
          ``"frame_features"`` items are float frame features ``(T, D)`` (with ``feature_dim = D``),
          ``"vector"`` items one float vector ``(D,)`` per video, in place of the clip. A split may be
          unlabelled (train, for label-free methods): the dataset then declares ``has_labels(name) ->
          False`` and that split's labels are ``-1``.
method    ``factory(**table, **context) -> HashMethod`` (:class:`hashbench.contract.HashMethod`, an
          ``nn.Module``) that owns how codes are made and how they learn. Its fixed Python surface:
          ``fit(train)`` (optional) runs once over the training split before any epoch: ``train``
          is the split as a dataset (stream it: it may not fit in memory) or a float tensor
          ``(N, T, D)`` or ``(N, D)``; deterministic from ``seed``, its result kept in
          ``state_dict()`` (checkpoints hold it, ``--resume`` restores it).
          ``training_loss(batch)`` (optional) -> a scalar tensor with a gradient path to the
          method's parameters; ``batch`` is a :class:`hashbench.contract.MethodBatch`: ``inputs``
          (the items of a batch, stacked), ``indices`` ``(B,)`` int64 (positions in the training
          split) and ``labels`` (when ``needs_labels``; else None). A method without it trains no
          epochs. ``encode(inputs)`` -> real-valued float codes ``(B, bits)`` (the binary code is
          their ``sign``) of frame features ``(B, T, D)``, vectors ``(B, D)``, or uint8 clips
          ``(B, 3, T, H, W)`` for a method that consumes clips.
          The backbone + head + loss triple is the built-in method ``deep_hashing``
          (:class:`hashbench.train.deep_method.DeepHashing`, consumes what its backbone consumes): a TOML with
          ``[backbone]``/``[head]``/``[loss]`` runs as it, through the same epoch loop.
metric    ``factory(**params) -> callable(query_codes, query_labels, db_codes, db_labels) -> float``
          on packed codes (``hashbench.codes.PackedCodes``), higher is better; subclass
          ``hashbench.eval.metrics.Metric`` to share the ranking pass of the reference metrics. A
          metric registered as ``"name@k"`` is asked for as ``"name@100"`` (k=100); ``"name@r"`` as
          ``"name@r2"`` (r=2).

What each kind may declare
--------------------------
backbone  ``feature_dim: int`` (required: its output width); ``input_mean``/``input_std`` (required
          when it consumes clips, no fallback): 3 numbers each in 0-255 pixel units (RGB), the normalisation its weights
          expect, which the engine applies to uint8 clips on the device (std > 0).
          ``consumes``, an attribute of the factory: the item kinds it takes (default ``("clips",)``;
          e.g. ``factory.consumes = ("frame_features",)``). One that does not consume clips declares
          no normalisation and gets the dataset's width D_in as its ``feature_dim`` context value; a
          dataset of another ``item_kind`` is refused at ``hashbench validate`` time, naming both.
loss      ``needs_indices``: the engine passes ``indices`` ``(B,)`` int64, each clip's position in
          the training split (0 .. ``num_train`` - 1), for memory banks (keep them in
          :class:`~hashbench.contract.MemoryBank` buffers so checkpoints and ``--resume`` keep them);
          ``needs_features``: it passes the backbone's features ``(B, D)`` too;
          ``supports_multi_label = False``: refuses multi-hot labels with a clear message; own
          parameters (a classifier, a codebook), optimised at ``lr * lr_multiplier`` and
          checkpointed; ``classify(codes, features)`` -> class logits ``(B, C)`` (hashbench then
          reports ``top1``/``top5``); ``weight_penalty(weight)`` -> a scalar term on the head's
          ``hash_weight`` ``(bits, D)``, or None (the default), that ``deep_hashing`` adds once per
          step (SDH-C's J3); a loss that overrides it needs a head that declares ``hash_weight``.
head      ``hash_weight``: the weight ``(bits, D)`` of the Linear that makes the codes (a parameter of
          the head), for losses with a ``weight_penalty``; every reference head declares it.
method    ``consumes``: the item kinds it accepts (default ``("frame_features", "vector")``); a
          dataset of another ``item_kind`` is refused at ``hashbench validate`` time, naming both;
          ``needs_labels = True``: ``training_loss`` gets the training labels (a dataset without
          them is refused).
dataset   ``clip_geometry() -> {"num_frames": T, "resize": [H, W] or None, "crop": int or None}``: how
          a video file becomes one of its clips (frames sampled, resized, centre-cropped), recorded in
          the run's ``record.json`` so that ``hashbench search --video`` encodes a new video the same
          way.
any       Heads, backbones, losses and methods may define ``on_epoch_start(epoch, epochs)``
          (1-based), called before every epoch and again after ``--resume`` (continuation schedules).

An experiment names either a ``[method]`` table or the ``[backbone]``/``[head]``/``[loss]`` triple;
the triple is the built-in method ``backbone_head_loss`` (clips, gradient steps from epoch 1).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import pluggy

if TYPE_CHECKING:
    from .protocols import RunInfo

__all__ = ["PROJECT", "hookspec", "hookimpl", "Factories", "hashbench_backbones", "hashbench_heads",
           "hashbench_losses", "hashbench_datasets", "hashbench_metrics", "hashbench_methods", "hashbench_run_start",
           "hashbench_epoch_end", "hashbench_evaluated", "hashbench_run_end", "hashbench_loggers"]

PROJECT = "hashbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: What a registration hook returns: ``{name: factory}``.
Factories = Mapping[str, Callable[..., Any]]


@hookspec
def hashbench_backbones() -> Factories:
    """Backbones this plugin provides: ``{name: factory}`` (see module docstring for the shape)."""


@hookspec
def hashbench_heads() -> Factories:
    """Hash heads this plugin provides: ``{name: factory(feature_dim, bits, **table)}``."""


@hookspec
def hashbench_losses() -> Factories:
    """Losses this plugin provides: ``{name: factory(**table, **context)}``."""


@hookspec
def hashbench_datasets() -> Factories:
    """Datasets this plugin provides: ``{name: factory(**table, **context)}``."""


@hookspec
def hashbench_metrics() -> Factories:
    """Retrieval metrics this plugin provides: ``{name: factory(**params)}``."""


@hookspec
def hashbench_methods() -> Factories:
    """Hashing methods this plugin provides: ``{name: factory(**table, **context)}`` returning a
    :class:`hashbench.contract.HashMethod` (see module docstring)."""


@hookspec
def hashbench_loggers() -> Mapping[str, str]:
    """Run loggers this plugin implements (with the lifecycle hooks below): ``{name: summary}``. An
    experiment turns them on by name in its top-level ``loggers = [...]`` list, which hashbench checks
    against the names every plugin declares; the hooks see the list as ``run.experiment.loggers``."""


@hookspec
def hashbench_run_start(run: "RunInfo") -> None:
    """A run begins. ``run`` is a :class:`hashbench.contract.RunInfo`: ``run_id``, ``run_dir`` (Path),
    ``experiment``, ``device``, ``rank``/``world_size`` and ``resumed_from`` (the epoch a ``--resume``
    continues from, else None)."""


@hookspec
def hashbench_epoch_end(run: "RunInfo", epoch: int, logs: Mapping[str, float]) -> None:
    """An epoch (1-based) finished; ``logs`` holds at least ``loss`` and ``clips_per_s``."""


@hookspec
def hashbench_evaluated(run: "RunInfo", epoch: int, split: str, metrics: Mapping[str, float]) -> None:
    """Codes were scored at ``epoch`` on ``split`` (``validation`` or ``test``)."""


@hookspec
def hashbench_run_end(run: "RunInfo", metrics: Mapping[str, float]) -> None:
    """A run finished; ``metrics`` are the reported test metrics of the selected epoch."""
