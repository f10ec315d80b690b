"""orthohash: value and gradient parity with the loop re-derivation of the authors' OrthoHashLoss (cos and
arc margins, the three quantisation types, single- and multi-label); the codebook (±1, seeded, buffer
or learnable parameter with its lr multiplier), the state dict and the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError, ContractError

from support import ATOL, RTOL, value_and_grad
from references.centres import orthohash_loss


def build(bits: int = 16, num_classes: int = 6, multi_label: bool = False, seed: int = 0, **table):
    """Through the registry, so that the factory is covered too (context as the engine injects it)."""
    return hashbench.registry().build("loss", {"name": "orthohash", **table}, bits=bits, num_classes=num_classes,
                                      multi_label=multi_label, seed=seed, num_train=0)


def bn_codes(batch: int, bits: int, seed: int) -> torch.Tensor:
    """Codes as a BatchNorm head gives them: about zero mean, unit variance per bit."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, bits, generator=g)


def multi_hot(batch: int, classes: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(batch, classes, generator=g) < 0.4).float()
    y[torch.arange(batch), torch.randint(0, classes, (batch,), generator=g)] = 1.0  # every row has a class
    return y


def assert_parity(value, grad, expected, expected_grad):
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


QUANTISATIONS = [(0.0, "cs"), (0.1, "cs"), (0.5, "l1"), (0.3, "l2")]


# -- parity -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("quan,quan_type", QUANTISATIONS, ids=["none", "cs", "l1", "l2"])
@pytest.mark.parametrize("margin_type", ["cos", "arc"])
@pytest.mark.parametrize("bits,s,m", [(16, 8.0, 0.2), (48, 4.0, 0.5)])
def test_single_label_equals_the_reference(bits, s, m, margin_type, quan, quan_type):
    g = torch.Generator().manual_seed(bits)
    labels = torch.randint(0, 6, (10,), generator=g)
    x = bn_codes(10, bits, seed=bits + 1)
    loss = build(bits, 6, s=s, m=m, margin_type=margin_type, quan=quan, quan_type=quan_type, seed=3)
    onehot = torch.nn.functional.one_hot(labels, 6).float()
    value, grad = value_and_grad(lambda v: loss(v, labels), x)
    expected, expected_grad = value_and_grad(
        lambda v: orthohash_loss(v, onehot, loss.codebook, s, m, False, margin_type, quan, quan_type), x)
    assert_parity(value, grad, expected, expected_grad)
    torch.testing.assert_close(loss(x, onehot), loss(x, labels))


@pytest.mark.parametrize("quan,quan_type", QUANTISATIONS, ids=["none", "cs", "l1", "l2"])
@pytest.mark.parametrize("margin_type", ["cos", "arc"])
def test_multi_label_label_smoothing_equals_the_reference(margin_type, quan, quan_type):
    y = multi_hot(12, 5, seed=2)
    assert bool((y.sum(dim=1) > 1).any())  # the guard: some rows have several classes
    x = bn_codes(12, 32, seed=3)
    loss = build(32, 5, multi_label=True, margin_type=margin_type, quan=quan, quan_type=quan_type, seed=4)
    value, grad = value_and_grad(lambda v: loss(v, y), x)
    expected, expected_grad = value_and_grad(
        lambda v: orthohash_loss(v, y, loss.codebook, 8.0, 0.2, True, margin_type, quan, quan_type), x)
    assert_parity(value, grad, expected, expected_grad)


def test_arc_margin_near_a_codeword_is_clamped_like_the_reference():
    loss = build(16, 4, margin_type="arc", seed=1)
    x = bn_codes(4, 16, seed=5)
    x[0] = loss.codebook[2] * 0.7   # cos = 1: acos clamped at 0.99999
    x[1] = -loss.codebook[0]        # cos = -1 to its own class
    labels = torch.tensor([2, 0, 1, 3])
    onehot = torch.nn.functional.one_hot(labels, 4).float()
    value, grad = value_and_grad(lambda v: loss(v, labels), x)
    expected, expected_grad = value_and_grad(
        lambda v: orthohash_loss(v, onehot, loss.codebook, 8.0, 0.2, False, "arc"), x)
    assert_parity(value, grad, expected, expected_grad)
    assert torch.isfinite(grad).all()


def test_learnable_codebook_gets_the_reference_gradient():
    loss = build(16, 5, learn_codebook=True, lr_multiplier=0.5, seed=2)
    assert isinstance(loss.codebook, torch.nn.Parameter) and loss.codebook.requires_grad
    assert [p for p in loss.parameters()] == [loss.codebook] and loss.lr_multiplier == 0.5
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    x = bn_codes(7, 16, seed=6)
    loss(x, labels).backward()
    reference_codebook = loss.codebook.detach().clone().requires_grad_(True)
    onehot = torch.nn.functional.one_hot(labels, 5).float()
    orthohash_loss(x, onehot, reference_codebook, 8.0, 0.2, False).backward()
    torch.testing.assert_close(loss.codebook.grad, reference_codebook.grad, rtol=RTOL, atol=ATOL)


# -- the codebook -----------------------------------------------------------------------------------
def test_fixed_codebook_is_a_seeded_plus_minus_one_buffer():
    torch.manual_seed(21)
    before = torch.rand(3)
    torch.manual_seed(21)
    loss = build(64, 10, seed=5)
    assert torch.equal(torch.rand(3), before)  # the global RNG is left alone
    assert list(loss.parameters()) == [] and "codebook" in dict(loss.named_buffers())
    assert loss.lr_multiplier == 1.0 and not loss.needs_indices
    book = loss.codebook
    assert book.shape == (10, 64) and book.dtype == torch.float32
    assert set(book.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(build(64, 10, seed=5).codebook, book)
    assert not torch.equal(build(64, 10, seed=6).codebook, book)
    # Bernoulli(0.5): about half the entries are -1, and rows are far apart (near-orthogonal)
    assert 0.4 < float((book == -1).float().mean()) < 0.6
    cos = (book @ book.T / 64).fill_diagonal_(0)
    assert float(cos.abs().max()) < 0.6


# -- state, errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("learn_codebook", [False, True])
def test_state_dict_round_trip_restores_the_codebook_exactly(learn_codebook):
    saved = build(48, 8, seed=0, learn_codebook=learn_codebook)
    fresh = build(48, 8, seed=1, learn_codebook=learn_codebook)
    assert not torch.equal(saved.codebook, fresh.codebook)
    assert set(saved.state_dict()) == {"codebook"}
    fresh.load_state_dict(saved.state_dict())
    assert torch.equal(fresh.codebook, saved.codebook)
    x, labels = bn_codes(6, 48, seed=1), torch.tensor([0, 1, 2, 3, 4, 5])
    assert fresh(x, labels).item() == saved(x, labels).item()


def test_multi_label_row_without_a_class_is_finite():
    y = multi_hot(5, 4, seed=1)
    y[2] = 0.0
    loss = build(16, 4, multi_label=True)
    x = bn_codes(5, 16, seed=2).requires_grad_(True)
    value = loss(x, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    assert torch.equal(x.grad[2], torch.zeros(16))  # it contributes nothing


def test_codes_of_the_wrong_length_are_refused():
    with pytest.raises(ContractError, match="bits"):
        build(16, 4)(torch.zeros(2, 8), torch.tensor([0, 1]))


@pytest.mark.parametrize("table,message", [
    ({"margin_type": "sphere"}, r"loss\.margin_type: unknown value 'sphere'; use one of 'cos', 'arc'"),
    ({"quan_type": "l3"}, r"loss\.quan_type: unknown value 'l3'; use one of 'cs', 'l1', 'l2'"),
    ({"s": 0.0}, r"loss\.s: must be a number > 0"),
    ({"m": -0.1}, r"loss\.m: must be a number >= 0"),
    ({"quan": -1.0}, r"loss\.quan: must be a number >= 0"),
    ({"lr_multiplier": 0.0}, r"loss\.lr_multiplier: must be a number > 0"),
    ({"scale": 8.0}, r"loss\.scale: unknown key"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "orthohash", **table}, where="loss", bits=16, num_classes=4,
                                   multi_label=False, seed=0)


@pytest.mark.gpu
def test_runs_on_the_gpu_with_the_cpu_value():
    loss = build(32, 5, multi_label=True, margin_type="arc", quan=0.1, learn_codebook=True)
    x, y = bn_codes(6, 32, seed=1), multi_hot(6, 5, seed=2)
    cpu = loss(x, y)
    gpu = loss.to("cuda")(x.cuda(), y.cuda())
    assert gpu.device.type == "cuda"
    assert gpu.item() == pytest.approx(cpu.item(), rel=1e-5)
