"""Base classes for hashing losses: one override point, the batch it receives, and a memory bank.

A loss plugin subclasses :class:`HashLoss` and implements :meth:`HashLoss.compute_loss` only (the way
PyTorch Metric Learning's losses override ``compute_loss``). The base class checks the shapes,
turns class ids or multi-hot rows into one-hot float labels, builds the pairwise similarity once,
and checks that the result is a finite-shaped scalar::

    class MyLoss(HashLoss):
        def compute_loss(self, batch: LossBatch) -> torch.Tensor:
            inner = batch.codes @ batch.codes.T / batch.bits          # (B, B)
            return ((inner - (2 * batch.similarity.float() - 1)) ** 2).mean()

What a loss may declare (``needs_indices``, ``needs_features``, ``supports_multi_label``, own
parameters at ``lr * lr_multiplier``, ``classify``, ``on_epoch_start``, ``weight_penalty``) and the
shapes it gets are stated in :mod:`hashbench.contract.hookspecs`; the attributes below are their
defaults. Relevance is "same class" or "share a class", as for the metrics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import torch
from torch import nn

from ..errors import ContractError

__all__ = ["HashLoss", "LossBatch", "MemoryBank", "one_hot_labels", "wants", "call_loss", "classifies",
           "penalises_weights", "head_weight_penalty"]


def classifies(loss_fn: object) -> bool:
    """Whether the loss trains a classifier: it overrides :meth:`HashLoss.classify` (or, not being a
    HashLoss, has a ``classify`` method)."""
    method = getattr(type(loss_fn), "classify", None)
    return callable(method) and method is not HashLoss.classify


def penalises_weights(loss_fn: object) -> bool:
    """Whether the loss overrides :meth:`HashLoss.weight_penalty` (so the head must expose ``hash_weight``)."""
    method = getattr(type(loss_fn), "weight_penalty", None)
    return callable(method) and method is not HashLoss.weight_penalty


def head_weight_penalty(loss_fn: object, head: nn.Module) -> Optional[torch.Tensor]:
    """``loss_fn.weight_penalty(head.hash_weight)`` for a loss that overrides it, else None.

    ContractError, in one line naming both, when the head exposes no ``hash_weight`` tensor, or when
    the penalty is not a scalar tensor."""
    if not penalises_weights(loss_fn):
        return None
    weight = getattr(head, "hash_weight", None)
    loss_name, head_name = type(loss_fn).__name__, type(head).__name__
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ContractError(f"{loss_name} penalises the hash layer's weight (weight_penalty), but the head"
                            f" {head_name} exposes no `hash_weight` (bits, D) tensor: pick a head that does"
                            " (the reference heads all do)")
    value = loss_fn.weight_penalty(weight)  # type: ignore[attr-defined]
    if value is not None and (not isinstance(value, torch.Tensor) or value.numel() != 1):
        raise ContractError(f"{loss_name}.weight_penalty returned {type(value).__name__}; it must return a"
                            " scalar tensor or None")
    return None if value is None else value.reshape(())


def wants(loss_fn: object, what: str) -> bool:
    """Whether the loss declares ``needs_indices`` / ``needs_features`` (``what`` = indices / features)."""
    return bool(getattr(loss_fn, f"needs_{what}", False))


def call_loss(loss_fn: object, codes: torch.Tensor, labels: torch.Tensor, indices: Optional[torch.Tensor] = None,
              features: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``loss_fn(codes, labels)``, plus ``indices``/``features`` for a loss that declares it needs them
    (a loss that is not a :class:`HashLoss` gets the two arguments of the original contract)."""
    kwargs = {}
    if wants(loss_fn, "indices"):
        kwargs["indices"] = indices
    if wants(loss_fn, "features"):
        kwargs["features"] = features
    return loss_fn(codes, labels, **kwargs)  # type: ignore[operator]


def one_hot_labels(labels: torch.Tensor, num_classes: int, batch: int, where: str = "loss") -> torch.Tensor:
    """``(B,)`` class ids or ``(B, C)`` multi-hot -> ``(B, C)`` float32 (ContractError on a bad shape)."""
    if labels.dim() == 1 and labels.shape[0] == batch:
        if labels.is_floating_point():
            labels = labels.long()
        if batch and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ContractError(f"{where}: class ids must lie in 0..{num_classes - 1}, got"
                                f" {int(labels.min())}..{int(labels.max())}")
        return torch.nn.functional.one_hot(labels, num_classes).float()
    if labels.dim() == 2 and labels.shape == (batch, num_classes):
        return (labels > 0).float()
    raise ContractError(f"{where}: labels must be (B,) class ids or (B, C) multi-hot with B={batch},"
                        f" C={num_classes}; got {tuple(labels.shape)}")


@dataclass
class LossBatch:
    """What :meth:`HashLoss.compute_loss` receives (``B`` clips, ``C`` classes).

    ``codes`` (B, bits) float32 relaxed codes as the head returned them (the binary code is their
    sign); ``onehot`` (B, C) float32 labels (multi-hot for multi-label data); ``class_ids`` (B,) int64
    for single-label data (None for multi-label); ``indices`` (B,) int64 positions in the training split
    (when ``needs_indices``); ``features`` (B, D) backbone features (when ``needs_features``).
    """

    codes: torch.Tensor
    onehot: torch.Tensor
    class_ids: Optional[torch.Tensor]
    multi_label: bool
    indices: Optional[torch.Tensor] = None
    features: Optional[torch.Tensor] = None
    _similarity: Optional[torch.Tensor] = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """B, the number of clips."""
        return int(self.codes.shape[0])

    @property
    def bits(self) -> int:
        """The code length."""
        return int(self.codes.shape[1])

    @property
    def similarity(self) -> torch.Tensor:
        """(B, B) bool: the two clips share a class (the diagonal included); computed once."""
        if self._similarity is None:
            self._similarity = (self.onehot @ self.onehot.T) > 0
        return self._similarity


class HashLoss(nn.Module):
    """Base class of hashing losses: ``forward(codes, labels, indices=None, features=None) -> scalar``.

    Subclasses implement :meth:`compute_loss`; see the module docstring for what they may declare.
    ``num_classes`` (context) is needed to one-hot class ids; ``multi_label`` (context) says which
    labels the dataset gives.
    """

    #: Class defaults; a loss may also set them per instance (e.g. a memory bank only in one mode).
    needs_indices: bool = False
    needs_features: bool = False
    supports_multi_label: ClassVar[bool] = True

    def __init__(self, num_classes: int, multi_label: bool = False, lr_multiplier: float = 1.0) -> None:
        super().__init__()
        if multi_label and not self.supports_multi_label:
            raise ContractError(f"{type(self).__name__} is defined for single-label data only, and this"
                                " dataset is multi-label")
        self.num_classes = int(num_classes)
        self.multi_label = bool(multi_label)
        self.lr_multiplier = float(lr_multiplier)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor, indices: Optional[torch.Tensor] = None,
                features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Check and normalise the inputs, then :meth:`compute_loss`; the result must be a scalar."""
        batch = self.make_batch(codes, labels, indices, features)
        value = self.compute_loss(batch)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ContractError(f"{type(self).__name__}.compute_loss returned {shape}; it must return a scalar")
        return value.reshape(())

    def make_batch(self, codes: torch.Tensor, labels: torch.Tensor, indices: Optional[torch.Tensor] = None,
                   features: Optional[torch.Tensor] = None) -> LossBatch:
        """The :class:`LossBatch` of these inputs (shapes checked; labels one-hot on the codes' device)."""
        name = type(self).__name__
        if codes.dim() != 2:
            raise ContractError(f"{name}: codes must be (B, bits), got {tuple(codes.shape)}")
        size = codes.shape[0]
        labels = labels.to(codes.device)
        onehot = one_hot_labels(labels, self.num_classes, size, name)
        multi = labels.dim() == 2 and self.multi_label  # the dataset says which (as the references do)
        class_ids: Optional[torch.Tensor] = None
        if labels.dim() == 1:
            class_ids = labels.long()
        elif not multi:
            if bool((onehot.sum(dim=1) != 1).any()):
                raise ContractError(f"{name}: the dataset is single-label, but a label row has"
                                    f" {int(onehot.sum(dim=1).max())} classes")
            class_ids = onehot.argmax(dim=1)
        if indices is None and self.needs_indices:
            raise ContractError(f"{name} needs the clips' indices in the training split (needs_indices)")
        if indices is not None:
            indices = indices.to(codes.device).long()
            if indices.shape != (size,):
                raise ContractError(f"{name}: indices must be (B,) = ({size},), got {tuple(indices.shape)}")
        if features is None and self.needs_features:
            raise ContractError(f"{name} needs the backbone's features (needs_features)")
        return LossBatch(codes.float(), onehot, class_ids, multi, indices, features)

    def compute_loss(self, batch: LossBatch) -> torch.Tensor:  # pragma: no cover - the override point
        """The loss of one batch as a scalar tensor with a gradient path to ``batch.codes``."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss(batch)")

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called before epoch ``epoch`` (1-based) of ``epochs``; also after ``--resume``. Default: nothing."""

    def classify(self, codes: torch.Tensor, features: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
        """Class logits ``(B, C)`` if this loss trains a classifier, else None (the default)."""
        return None

    def weight_penalty(self, weight: torch.Tensor) -> Optional[torch.Tensor]:
        """A scalar term on the head's hash-layer weight ``(bits, D)``, added to every batch's loss; None
        (the default): no term. For losses that regularise the projection itself (SDH-C's J3).

        The loss gets that one weight tensor (the head's documented ``hash_weight``), not the head
        module, so it depends on no head's layout; the method that owns head and loss
        (``deep_hashing``) adds the term once per step, outside :meth:`compute_loss`, whose input
        stays the batch of codes. Override it only when needed: a loss that does needs a head that
        exposes ``hash_weight``."""
        return None


class MemoryBank(nn.Module):
    """The latest relaxed codes and labels of every training clip, by index (registered buffers).

    ``codes`` (N, bits) and ``labels`` (N, C) float32, zeros until a clip is seen (as the references
    start). :meth:`update` writes a batch (detached) before the loss reads the bank, as DPSH, HashNet
    and DSH do. Being buffers, both are saved in checkpoints and restored by ``--resume``.
    """

    def __init__(self, num_train: int, bits: int, num_classes: int) -> None:
        super().__init__()
        if num_train < 1:
            raise ContractError(f"a memory bank needs the size of the training split (num_train), got {num_train}")
        self.register_buffer("codes", torch.zeros(num_train, bits))
        self.register_buffer("labels", torch.zeros(num_train, num_classes))

    @property
    def size(self) -> int:
        return int(self.codes.shape[0])

    @torch.no_grad()
    def update(self, indices: torch.Tensor, codes: torch.Tensor, onehot: torch.Tensor) -> None:
        """Store ``codes`` (B, bits) and ``onehot`` (B, C) at ``indices`` (B,); later rows win on repeats."""
        if int(indices.max()) >= self.size or int(indices.min()) < 0:
            raise ContractError(f"memory bank: index {int(indices.max())} outside the training split"
                                f" (num_train = {self.size})")
        self.codes[indices] = codes.detach().to(self.codes.dtype)
        self.labels[indices] = onehot.detach().to(self.labels.dtype)

    def similarity(self, onehot: torch.Tensor) -> torch.Tensor:
        """(B, N) bool: clip i of the batch shares a class with bank entry j."""
        return (onehot @ self.labels.T) > 0
