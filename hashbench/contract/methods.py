"""The base class of methods, :class:`HashMethod`, and what its stages receive.

The contract of the ``method`` kind (its stages, shapes and declarations) is stated once, in
:mod:`hashbench.contract.hookspecs`; this module gives it a base class and the helpers a method uses
to read the training split the way the contract hands it over (a dataset, or a tensor):
:func:`iter_inputs` streams it in batches, :func:`pooled_inputs` mean-pools frame features into one
vector per video. :func:`fits` / :func:`trains` say which optional stage a method has; the engine
asks them, never ``isinstance``. Imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn

from ..errors import ContractError, DataError
from .names import ITEM_KINDS

__all__ = ["HashMethod", "MethodBatch", "fits", "trains", "item_kind_of", "iter_inputs", "pooled_inputs",
           "consumption_problem", "backbone_consumes", "CLIPS"]


@dataclass
class MethodBatch:
    """What ``training_loss`` receives: the stacked ``inputs`` of a batch, their ``indices`` in the
    training split, and ``labels`` when the method ``needs_labels`` (else None). ``sizes``: in a
    distributed run whose loss covers the global batch, each process's share of it (the method
    all-gathers before its loss); None otherwise."""

    inputs: torch.Tensor
    indices: torch.Tensor
    labels: Optional[torch.Tensor] = None
    sizes: Optional[tuple[int, ...]] = None


class HashMethod(nn.Module):
    """Base of methods: ``bits``, ``seed``; subclasses implement ``encode`` and may add ``fit(train)``
    and ``training_loss(batch)`` (see :mod:`hashbench.contract.hookspecs`). ``forward`` is ``encode``.

    Class attributes: ``consumes`` (item kinds accepted, from :data:`~hashbench.contract.names.ITEM_KINDS`)
    and ``needs_labels`` (it also makes the leaderboard's family: True is ``supervised``; a factory
    function that builds such a method sets ``factory.needs_labels = True`` too, read without building)."""

    consumes: tuple[str, ...] = ("frame_features", "vector")
    needs_labels: bool = False

    def __init__(self, bits: int, seed: int = 0) -> None:
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f"bits: expected a positive integer code length, got {bits!r}")
        self.bits, self.seed = int(bits), int(seed)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Real-valued codes of a batch of inputs; the binary code is their sign."""
        raise NotImplementedError(f"{type(self).__name__} does not implement encode(inputs)")

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encode(inputs)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called before every training epoch (1-based) and after ``--resume``; by default calls the
        ``on_epoch_start`` of every submodule that defines its own (a head's or a loss's schedule)."""
        for module in self.modules():
            own = getattr(type(module), "on_epoch_start", None)
            if module is not self and callable(own) and own is not HashMethod.on_epoch_start:
                module.on_epoch_start(epoch, epochs)


def fits(method: Any) -> bool:
    """Whether ``method`` has the optional ``fit(train)`` stage."""
    return callable(getattr(method, "fit", None))


def trains(method: Any) -> bool:
    """Whether ``method`` has the optional ``training_loss(batch)`` (it then trains epochs)."""
    return callable(getattr(method, "training_loss", None))


def item_kind_of(dataset: Any) -> str:
    """A dataset's declared ``item_kind``, ``"clips"`` when it declares none."""
    return str(getattr(dataset, "item_kind", "clips"))


def consumption_problem(method: Any, method_name: str, dataset: Any, dataset_name: str,
                        component: str = "method") -> Optional[str]:
    """One line when ``method`` (a ``component``: a method, or a backbone of the triple) does not consume
    what ``dataset`` yields (naming both), else None."""
    kind = item_kind_of(dataset)
    consumes = tuple(getattr(method, "consumes", ()))
    unknown = [c for c in consumes if c not in ITEM_KINDS]
    if unknown or not consumes:
        return (f"{component} {method_name!r} declares consumes = {consumes!r}; each must be one of"
                f" {', '.join(ITEM_KINDS)}")
    if kind not in consumes:
        return (f"{component} {method_name!r} consumes {', '.join(consumes)}, but dataset {dataset_name!r} yields"
                f" {kind}; choose a {' or '.join(consumes)} dataset or another {component}")
    return None


#: What a backbone consumes when its factory declares nothing.
CLIPS = ("clips",)


def backbone_consumes(factory: Any, where: str = "the backbone") -> tuple[str, ...]:
    """The item kinds a backbone factory declares it consumes (``factory.consumes``, default ``("clips",)``);
    ContractError when the declaration is empty or names an unknown kind."""
    declared = getattr(factory, "consumes", CLIPS)
    consumes = (declared,) if isinstance(declared, str) else tuple(declared)
    unknown = [c for c in consumes if c not in ITEM_KINDS]
    if unknown or not consumes:
        raise ContractError(f"{where} declares consumes = {declared!r}; each must be one of"
                            f" {', '.join(ITEM_KINDS)}")
    return consumes


def iter_inputs(train: Any, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """The training split in order, ``batch_size`` items at a time: ``(inputs, labels or None)``.

    ``train`` is a dataset of ``(item, label)`` pairs (read item by item: bounded memory) or a float
    tensor / array whose first axis is the item."""
    if isinstance(train, (torch.Tensor, np.ndarray)):
        data = torch.as_tensor(train)
        for start in range(0, data.shape[0], batch_size):
            yield data[start:start + batch_size].float(), None
        return
    try:
        n = len(train)
    except TypeError:
        raise ContractError(f"fit(train): expected a dataset or a tensor, got {type(train).__name__}") from None
    getitems = getattr(train, "__getitems__", None)  # one batched read (feature files) when the dataset has it
    for start in range(0, n, batch_size):
        indices = list(range(start, min(n, start + batch_size)))
        items = getitems(indices) if callable(getitems) else [train[i] for i in indices]
        inputs = torch.stack([torch.as_tensor(item) for item, _ in items])
        labels = torch.stack([torch.as_tensor(label) for _, label in items])
        yield (inputs if inputs.dtype == torch.uint8 else inputs.float()), labels


def pooled_inputs(train: Any, batch_size: int = 256) -> torch.Tensor:
    """One float vector per item of ``train`` (see :func:`iter_inputs`): frame features are averaged
    over their frames, vectors kept; DataError for NaN or infinite values."""
    parts = []
    for inputs, _ in iter_inputs(train, batch_size):
        pooled = inputs.mean(dim=1) if inputs.dim() == 3 else inputs
        if pooled.dim() != 2:
            raise DataError(f"training items of shape {tuple(inputs.shape[1:])}: expected frame features or"
                            " vectors")
        parts.append(pooled)
    if not parts:
        raise DataError("the training split is empty: nothing to fit")
    out = torch.cat(parts)
    if not bool(torch.isfinite(out).all()):
        raise DataError("the training features contain NaN or infinite values; clean the feature file first")
    return out
