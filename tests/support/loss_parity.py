"""Shared pieces of the loss parity tests (tests/plugins/ref/test_loss_*.py): the value and gradient of a
loss w.r.t. its codes, the fixed training set of the memory-bank tests (dpsh, hashnet, dsh, dbdh) and their
state_dict round trip."""
from __future__ import annotations

from typing import Any, Callable

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


def assert_bank_round_trips(build: Callable[[], Any], codes_for: Callable[[int, int], torch.Tensor],
                            labels: torch.Tensor) -> dict:
    """The first three batches of SEQUENCE through ``build()`` (``codes_for(step, batch)`` gives each batch's
    codes); its state_dict is the bank (codes and labels) only, and a second ``build()`` that loads it holds the
    same bank and gives the same value for the fourth batch. Returns the state_dict."""
    loss = build()
    for step, index in enumerate(SEQUENCE[:3]):
        ind = torch.tensor(index)
        loss(codes_for(step, len(ind)), labels[ind], indices=ind)
    state = loss.state_dict()
    assert set(state) == {"bank.codes", "bank.labels"}
    copy = build()
    copy.load_state_dict(state)
    assert torch.equal(copy.bank.codes, loss.bank.codes) and torch.equal(copy.bank.labels, loss.bank.labels)
    ind = torch.tensor(SEQUENCE[3])
    x = codes_for(3, len(ind))
    assert torch.equal(copy(x, labels[ind], indices=ind), loss(x, labels[ind], indices=ind))
    return state
