"""Shared pieces of the loss parity tests (tests/plugins/ref/test_loss_*.py): the value and gradient of a
loss w.r.t. its codes, and the fixed training set of the memory-bank tests (dpsh, hashnet, dsh)."""
from __future__ import annotations

from typing import Callable

import torch

#: Tolerances every parity test asserts (float32 maths in both implementations).
RTOL, ATOL = 1e-5, 1e-6
#: The memory-bank tests' training set: code length, classes, clips.
BITS, CLASSES, NUM_TRAIN = 12, 4, 20
#: Overlapping bank indices over consecutive batches (never repeated within a batch, as a sampler gives them).
SEQUENCE = [[0, 1, 2, 3, 4, 5], [4, 5, 6, 7, 8, 9], [8, 9, 0, 1, 15, 19], [3, 5, 7, 11, 13, 19]]


def value_and_grad(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(x)`` and its gradient w.r.t. a fresh copy of ``x`` (a loss that finds nothing to learn from
    and returns a constant has a zero gradient)."""
    x = x.detach().clone().requires_grad_(True)
    value = fn(x)
    if not value.requires_grad:
        return value.detach(), torch.zeros_like(x)
    value.backward()
    return value.detach(), x.grad


def train_labels(multi_label: bool, seed: int = 0) -> torch.Tensor:
    """A fixed label for every training clip: class ids ``(NUM_TRAIN,)`` or multi-hot ``(NUM_TRAIN, CLASSES)``
    (every row with at least one label, some with 2-3)."""
    g = torch.Generator().manual_seed(seed)
    if not multi_label:
        return torch.randint(0, CLASSES, (NUM_TRAIN,), generator=g)
    hot = (torch.rand(NUM_TRAIN, CLASSES, generator=g) < 0.35).float()
    hot[torch.arange(NUM_TRAIN), torch.randint(0, CLASSES, (NUM_TRAIN,), generator=g)] = 1.0
    return hot


def onehot(labels: torch.Tensor) -> torch.Tensor:
    """Class ids ``(B,)`` -> one-hot ``(B, CLASSES)`` float; multi-hot labels unchanged (as float)."""
    return torch.nn.functional.one_hot(labels, CLASSES).float() if labels.dim() == 1 else labels.float()
