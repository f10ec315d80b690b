"""Checks shared by the method tests (tests/plugins/ref/test_method_*.py): a plain epoch loop, an exact resume
through a checkpoint, a state_dict round trip, every parameter's gradient against a re-derivation's leaves,
and a bad key's message."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pytest
import torch

#: ``train(method, optimizer, epochs)``: runs ``epochs`` (a range of 1-based epoch numbers); may return losses.
Train = Callable[[Any, torch.optim.Optimizer, range], Any]


def train_direct(method: Any, optimizer: torch.optim.Optimizer, data: torch.Tensor, epochs: range,
                 batch: int) -> None:
    """A plain epoch loop (the engine's order: ``on_epoch_start(epoch, epochs.stop - 1)``, then in-order batches
    of ``batch`` rows of ``data`` (N, T, D); one optimizer step each)."""
    from hashbench.contract import MethodBatch

    for epoch in epochs:
        method.on_epoch_start(epoch, epochs.stop - 1)
        method.train()
        for start in range(0, data.shape[0], batch):
            idx = torch.arange(start, min(start + batch, data.shape[0]))
            optimizer.zero_grad()
            method.training_loss(MethodBatch(data[idx], idx)).backward()
            optimizer.step()


@dataclass
class Resumed:
    """The three methods of :func:`assert_resumes_exactly` and what ``train`` returned for epoch 2 of each run."""

    straight: Any
    first: Any
    resumed: Any
    straight_out: Any
    resumed_out: Any


def assert_resumes_exactly(fitted: Callable[[], Any], fresh: Callable[[], Any], train: Train,
                           optimizer: type = torch.optim.Adam, lr: float = 1e-3) -> Resumed:
    """Epochs 1-2 in one go equal epoch 1, a checkpoint (model and optimizer through ``torch.save`` and
    ``torch.load``), then epoch 2 in ``fresh()`` (a new build, not fitted) that loaded it: every state_dict entry
    is equal. ``fitted()`` gives the same fitted method each call. The resumed method takes the straight run's
    ``seed`` where it has one (the run's seed comes from the experiment, as in a real ``--resume``)."""
    straight = fitted()
    opt = optimizer(straight.parameters(), lr=lr)
    straight_out = train(straight, opt, range(1, 3))
    first = fitted()
    opt1 = optimizer(first.parameters(), lr=lr)
    train(first, opt1, range(1, 2))
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optimizer": opt1.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    resumed = fresh()
    resumed.load_state_dict(saved["model"], strict=True)
    opt2 = optimizer(resumed.parameters(), lr=lr)
    opt2.load_state_dict(saved["optimizer"])
    if hasattr(straight, "seed"):
        resumed.seed = straight.seed
    resumed_out = train(resumed, opt2, range(2, 3))
    want, got = straight.state_dict(), resumed.state_dict()
    assert want.keys() == got.keys()
    for key, value in want.items():
        assert torch.equal(value, got[key]), key
    return Resumed(straight, first, resumed, straight_out, resumed_out)


def assert_same_state(a: Any, b: Any) -> None:
    """``a`` and ``b`` have the same state_dict keys and equal tensors."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key, value in sa.items():
        assert torch.equal(value, sb[key]), key


def assert_round_trips(method: Any, fresh: Any, x: torch.Tensor) -> None:
    """``fresh`` loads ``method``'s state_dict (strict) and then encodes ``x`` (N, T, D) exactly as it does
    (both in eval mode)."""
    fresh.load_state_dict(method.state_dict(), strict=True)
    method.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(method.encode(x), fresh.encode(x))


def assert_gradients_match(method: Any, leaves: Mapping[str, torch.Tensor], close: Callable[[Any, Any], None],
                           prefix: str = "", nonzero: int | None = None) -> None:
    """Every parameter of ``method`` got a gradient ``close`` to that of the re-derivation's float64 leaf
    ``leaves[name without prefix]``; every one of them nonzero, or (``nonzero``) at least that many."""
    count = 0
    for name, param in method.named_parameters():
        leaf = leaves[name.removeprefix(prefix)]
        assert param.grad is not None and leaf.grad is not None, name
        close(param.grad, leaf.grad)
        count += int(float(param.grad.abs().sum()) > 0)
        assert nonzero is not None or float(param.grad.abs().sum()) > 0, name
    assert nonzero is None or count >= nonzero, f"{count} nonzero gradients, wanted {nonzero}"


def assert_kit_passes(factory: Callable[..., Any]) -> None:
    """The conformance kit's method checks pass for ``factory`` (none fails; fit, encode, training_loss and
    state_dict ran)."""
    from hashbench.contract.conformance import check_method

    results = check_method(factory)
    assert all(r.passed or r.skipped for r in results), [(r.check, r.message) for r in results if not r.passed]
    assert {r.check for r in results if r.passed} >= {"fit", "encode", "training_loss", "state_dict"}


def assert_refused(factory: Callable[..., Any], keys: Mapping[str, Any], message: str) -> None:
    """``factory(**keys)`` raises a ValueError whose text holds ``message``."""
    with pytest.raises(ValueError) as info:
        factory(**keys)
    assert message in str(info.value)
