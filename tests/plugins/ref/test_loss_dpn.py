"""dpn: value and gradient parity with the loop re-derivation of DeepHash-pytorch's DPN.py; the targets
(exactly int(bits * p) entries -1, seeded), the multi-label centroid, DPN-A's memory bank and target
update after an epoch, the state dict and the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.contract import call_loss
from hashbench.errors import ConfigError, ContractError

from support import ATOL, RTOL, value_and_grad
from references.centres import dpn_loss


def build(bits: int = 16, num_classes: int = 6, multi_label: bool = False, seed: int = 0, num_train: int = 0,
          **table):
    """Through the registry, so that the factory is covered too (context as the engine injects it)."""
    return hashbench.registry().build("loss", {"name": "dpn", **table}, bits=bits, num_classes=num_classes,
                                      multi_label=multi_label, seed=seed, num_train=num_train)


def linear_codes(batch: int, bits: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, bits, generator=g) * 1.2


def multi_hot(batch: int, classes: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(batch, classes, generator=g) < 0.4).float()
    y[0] = 0.0          # no class at all: the tie vector is the target
    y[1] = 0.0
    y[1, :2] = 1.0      # two balanced targets: their sum is 0 wherever they differ (ties)
    return y


def assert_parity(value, grad, expected, expected_grad):
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


# -- parity -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("m,p", [(1.0, 0.5), (0.5, 0.25), (2.0, 0.7)])
@pytest.mark.parametrize("bits", [16, 48])
def test_single_label_equals_the_reference(bits, m, p):
    g = torch.Generator().manual_seed(bits)
    labels = torch.randint(0, 7, (10,), generator=g)
    x = linear_codes(10, bits, seed=bits + 1)
    loss = build(bits, 7, m=m, p=p, seed=4)
    onehot = torch.nn.functional.one_hot(labels, 7).float()
    value, grad = value_and_grad(lambda v: loss(v, labels), x)
    expected, expected_grad = value_and_grad(lambda v: dpn_loss(v, onehot, loss.targets, loss.tie, m, False), x)
    assert 0 < expected.item()
    assert_parity(value, grad, expected, expected_grad)
    torch.testing.assert_close(loss(x, onehot), loss(x, labels))


@pytest.mark.parametrize("bits,m", [(16, 1.0), (48, 0.5)])
def test_multi_label_centroid_equals_the_reference(bits, m):
    y = multi_hot(12, 5, seed=bits)
    x = linear_codes(12, bits, seed=bits + 2)
    loss = build(bits, 5, multi_label=True, m=m, seed=6)
    total = y[1] @ loss.targets
    assert bool((total == 0).any())  # the guard: ties do occur
    value, grad = value_and_grad(lambda v: loss(v, y), x)
    expected, expected_grad = value_and_grad(lambda v: dpn_loss(v, y, loss.targets, loss.tie, m, True), x)
    assert_parity(value, grad, expected, expected_grad)


# -- targets ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits,p", [(48, 0.5), (64, 0.5), (48, 0.3), (12, 0.7), (16, 0.05)])
def test_targets_have_exactly_int_bits_p_negative_entries(bits, p):
    targets = build(bits, 9, p=p, seed=1).targets
    assert targets.shape == (9, bits) and targets.dtype == torch.float32
    assert set(targets.unique().tolist()) <= {-1.0, 1.0}
    assert ((targets == -1).sum(dim=1) == int(bits * p)).all()


def test_targets_are_seeded_and_the_global_rng_is_left_alone():
    torch.manual_seed(11)
    before = torch.rand(3)
    torch.manual_seed(11)
    a = build(48, 10, seed=3)
    assert torch.equal(torch.rand(3), before)
    b, c = build(48, 10, seed=3), build(48, 10, seed=4)
    assert torch.equal(a.targets, b.targets) and torch.equal(a.tie, b.tie)
    assert not torch.equal(a.targets, c.targets)
    assert len({tuple(row) for row in a.targets.tolist()}) == 10  # distinct rows (48 bits: surely)


# -- DPN-A --------------------------------------------------------------------------------------------
def reference_bank_epoch(batches, num_train: int, bits: int, classes: int, m: float):
    """DeepHash-pytorch DPN-A, element by element: ``U[ind] = u``, ``Y[ind] = y`` for every batch of the
    epoch (later writes win), then ``update_target_vectors``: ``U <- (|U| > m) * sign(U)`` and
    ``targets = sign(Y^T U)``. Returns the bank after the update and the new targets."""
    U = [[0.0] * bits for _ in range(num_train)]
    Y = [[0.0] * classes for _ in range(num_train)]
    for u, y, ind in batches:
        for row, i in enumerate(ind.tolist()):
            U[i] = [float(v) for v in u[row]]
            Y[i] = [float(v) for v in y[row]]
    for i in range(num_train):
        for j in range(bits):
            v = U[i][j]
            U[i][j] = (1.0 if v > 0 else -1.0) if abs(v) > m else 0.0
    targets = [[0.0] * bits for _ in range(classes)]
    for c in range(classes):
        for j in range(bits):
            s = sum(Y[i][c] * U[i][j] for i in range(num_train))
            targets[c][j] = 1.0 if s > 0 else (-1.0 if s < 0 else 0.0)
    return torch.tensor(U), torch.tensor(targets)


def epoch_batches(num_train: int, bits: int, classes: int, multi_label: bool, seed: int, batch: int = 5):
    """One shuffled pass over ``num_train`` clips (the last index revisited, as a repeated clip would be)."""
    g = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(num_train, generator=g), torch.tensor([3])])
    labels = multi_hot(num_train, classes, seed) if multi_label else \
        torch.nn.functional.one_hot(torch.arange(num_train) % classes, classes).float()
    out = []
    for start in range(0, len(order), batch):
        ind = order[start:start + batch]
        out.append((torch.randn(len(ind), bits, generator=g) * 1.5, labels[ind], ind))
    return out


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_adaptive_updates_the_targets_from_the_bank_after_an_epoch(multi_label):
    n, bits, classes, m = 17, 16, 4, 1.0
    loss = build(bits, classes, multi_label=multi_label, seed=2, num_train=n, adaptive=True, m=m)
    assert loss.needs_indices is True
    initial = loss.targets.clone()
    batches = epoch_batches(n, bits, classes, multi_label, seed=8)
    loss.on_epoch_start(1, 3)
    assert torch.equal(loss.targets, initial)  # epoch 1: the random targets
    for u, y, ind in batches:
        labels = y if multi_label else y.argmax(dim=1)
        value, grad = value_and_grad(lambda v: call_loss(loss, v, labels, indices=ind), u)
        expected, expected_grad = value_and_grad(lambda v: dpn_loss(v, y, initial, loss.tie, m, multi_label), u)
        assert_parity(value, grad, expected, expected_grad)
    bank_before = loss.bank.codes.clone()
    last = {int(i): r for (u, _, ind) in batches for r, i in zip(u, ind)}  # the latest code of every clip
    torch.testing.assert_close(bank_before, torch.stack([last[i] for i in range(n)]), rtol=0, atol=0)

    loss.on_epoch_start(2, 3)
    expected_bank, expected_targets = reference_bank_epoch(batches, n, bits, classes, m)
    torch.testing.assert_close(loss.bank.codes, expected_bank, rtol=0, atol=0)
    torch.testing.assert_close(loss.targets, expected_targets, rtol=0, atol=0)
    assert not torch.equal(loss.targets, initial)
    assert bool((expected_targets == 0).any())  # the guard: some class sums cancel (0 targets)
    assert int(loss.updated_epoch) == 2

    # calling the hook again for the same epoch (a resume) changes nothing
    loss.on_epoch_start(2, 3)
    torch.testing.assert_close(loss.targets, expected_targets, rtol=0, atol=0)
    torch.testing.assert_close(loss.bank.codes, expected_bank, rtol=0, atol=0)

    # epoch 2 trains against the updated targets (zero entries included)
    u, y, ind = epoch_batches(n, bits, classes, multi_label, seed=9)[0]
    labels = y if multi_label else y.argmax(dim=1)
    value, grad = value_and_grad(lambda v: call_loss(loss, v, labels, indices=ind), u)
    expected, expected_grad = value_and_grad(
        lambda v: dpn_loss(v, y, expected_targets, loss.tie, m, multi_label), u)
    assert_parity(value, grad, expected, expected_grad)


def test_plain_dpn_takes_no_indices_and_keeps_its_targets():
    loss = build(16, 4, num_train=10)
    assert loss.needs_indices is False
    assert set(loss.state_dict()) == {"targets", "tie"}
    before = loss.targets.clone()
    x = linear_codes(4, 16, seed=0)
    # the engine's call leaves the indices out for a loss that does not ask for them
    torch.testing.assert_close(call_loss(loss, x, torch.tensor([0, 1, 2, 3]), indices=torch.arange(4)),
                               loss(x, torch.tensor([0, 1, 2, 3])))
    loss.on_epoch_start(2, 3)
    assert torch.equal(loss.targets, before)


def test_adaptive_needs_indices_and_num_train():
    with pytest.raises(ContractError, match="num_train"):
        build(16, 4, adaptive=True)
    loss = build(16, 4, adaptive=True, num_train=8)
    with pytest.raises(ContractError, match="needs_indices"):
        loss(linear_codes(2, 16, seed=0), torch.tensor([0, 1]))


# -- state, errors ----------------------------------------------------------------------------------
def test_state_dict_round_trip_restores_targets_and_bank_exactly():
    n = 9
    saved = build(48, 5, seed=0, num_train=n, adaptive=True)
    for u, y, ind in epoch_batches(n, 48, 5, False, seed=1, batch=4):
        saved(u, y.argmax(dim=1), indices=ind)
    saved.on_epoch_start(2, 4)
    fresh = build(48, 5, seed=1, num_train=n, adaptive=True)
    assert not torch.equal(fresh.targets, saved.targets)
    fresh.load_state_dict(saved.state_dict())
    for key, value in saved.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert int(fresh.updated_epoch) == 2
    plain_saved, plain_fresh = build(48, 5, seed=0), build(48, 5, seed=7)
    plain_fresh.load_state_dict(plain_saved.state_dict())
    assert torch.equal(plain_fresh.targets, plain_saved.targets)


def test_codes_of_the_wrong_length_are_refused():
    with pytest.raises(ContractError, match="bits"):
        build(16, 4)(torch.zeros(2, 8), torch.tensor([0, 1]))


@pytest.mark.parametrize("table,message", [
    ({"p": 1.5}, r"loss\.p: must be a number in \(0, 1\) \(the share of -1 entries\), got 1\.5"),
    ({"p": 0.0}, r"loss\.p: must be a number in \(0, 1\)"),
    ({"p": 1}, r"loss\.p: must be a number in \(0, 1\)"),
    ({"p": -0.5}, r"loss\.p: must be a number in \(0, 1\)"),
    ({"m": 0.0}, r"loss\.m: must be a number > 0"),
    ({"m": -1.0}, r"loss\.m: must be a number > 0"),
    ({"margin": 1.0}, r"loss\.margin: unknown key"),
    ({"adaptive": "yes"}, r"loss\.adaptive"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "dpn", **table}, where="loss", bits=16, num_classes=4,
                                   multi_label=False, seed=0, num_train=10)


@pytest.mark.gpu
def test_adaptive_runs_on_the_gpu():
    n = 9
    cpu = build(16, 3, seed=0, num_train=n, adaptive=True)
    gpu = build(16, 3, seed=0, num_train=n, adaptive=True).to("cuda")
    for u, y, ind in epoch_batches(n, 16, 3, False, seed=1, batch=4):
        a = cpu(u, y.argmax(dim=1), indices=ind)
        b = gpu(u.cuda(), y.argmax(dim=1).cuda(), indices=ind.cuda())
        assert b.item() == pytest.approx(a.item(), rel=1e-5)
    cpu.on_epoch_start(2, 3)
    gpu.on_epoch_start(2, 3)
    torch.testing.assert_close(gpu.targets.cpu(), cpu.targets)
