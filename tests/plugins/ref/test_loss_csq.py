"""csq: value and gradient parity with the loop re-derivation of DeepHash-pytorch's CSQ.py; the centre rule
(Hadamard rows, balanced random centres with the distance rule, seeds), the multi-label centroid, the
state dict and the factory's errors."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError, ContractError

from support import ATOL, RTOL, value_and_grad
from references.centres import csq_hadamard_centers, csq_loss, min_and_mean_distance, sylvester_hadamard


def build(bits: int = 16, num_classes: int = 6, multi_label: bool = False, seed: int = 0, **table):
    """Through the registry, so that the factory is covered too (context as the engine injects it)."""
    return hashbench.registry().build("loss", {"name": "csq", **table}, bits=bits, num_classes=num_classes,
                                      multi_label=multi_label, seed=seed, num_train=0)


def linear_codes(batch: int, bits: int, seed: int, squash: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, bits, generator=g) * 1.5
    return torch.tanh(x) * 0.999 if squash else x


def multi_hot(batch: int, classes: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(batch, classes, generator=g) < 0.35).float()
    y[0] = 0.0          # no class at all: the tie vector is the centre
    y[1] = 0.0
    y[1, :2] = 1.0      # two Hadamard rows: their sum is 0 on half the bits (ties)
    return y


def assert_parity(value, grad, expected, expected_grad):
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)


# -- parity -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("apply_tanh", [True, False])
@pytest.mark.parametrize("lam", [1e-4, 0.05])
@pytest.mark.parametrize("bits,classes", [(16, 6), (48, 8), (8, 20)], ids=["hadamard", "random48", "random_many"])
def test_single_label_equals_the_reference(bits, classes, lam, apply_tanh):
    g = torch.Generator().manual_seed(bits + classes)
    labels = torch.randint(0, classes, (10,), generator=g)
    x = linear_codes(10, bits, seed=bits, squash=not apply_tanh)
    loss = build(bits, classes, lam=lam, apply_tanh=apply_tanh, seed=3)
    onehot = torch.nn.functional.one_hot(labels, classes).float()
    value, grad = value_and_grad(lambda v: loss(v, labels), x)
    expected, expected_grad = value_and_grad(
        lambda v: csq_loss(v, onehot, loss.centers, loss.tie, lam, False, apply_tanh), x)
    assert_parity(value, grad, expected, expected_grad)
    # one-hot float rows on a single-label dataset are the same labels
    torch.testing.assert_close(loss(x, onehot), loss(x, labels))


@pytest.mark.parametrize("apply_tanh", [True, False])
@pytest.mark.parametrize("bits,classes", [(16, 5), (48, 6)], ids=["hadamard", "random48"])
def test_multi_label_centroid_equals_the_reference(bits, classes, apply_tanh):
    y = multi_hot(12, classes, seed=bits)
    x = linear_codes(12, bits, seed=bits + 1, squash=not apply_tanh)
    loss = build(bits, classes, multi_label=True, lam=0.01, apply_tanh=apply_tanh, seed=5)
    value, grad = value_and_grad(lambda v: loss(v, y), x)
    expected, expected_grad = value_and_grad(
        lambda v: csq_loss(v, y, loss.centers, loss.tie, 0.01, True, apply_tanh), x)
    assert_parity(value, grad, expected, expected_grad)


def test_multi_label_centroid_rule():
    """sign of the summed centres; every tie takes the fixed random vector's entry (0 -> -1, 1 -> +1)."""
    loss = build(16, 4, multi_label=True, seed=2)
    y = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    centre = loss.targets_of(y, multi_label=True)
    ties = 2 * loss.tie - 1
    total = y @ loss.centers
    assert bool((total[0] == 0).any()) and bool((total[0] != 0).any())  # the guard: ties do occur
    torch.testing.assert_close(centre[0], torch.where(total[0] == 0, ties, total[0].sign()))
    torch.testing.assert_close(centre[1], ties)                           # no class: the tie vector
    torch.testing.assert_close(centre[2], total[2].sign())                # 3 rows of +-1: never 0
    torch.testing.assert_close(centre[3], loss.centers[2])
    assert set(loss.tie.tolist()) <= {0.0, 1.0}


# -- the centre rule --------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [16, 32, 64])
def test_hadamard_centres_are_rows_of_h_and_minus_h(bits):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    h = torch.from_numpy(scipy_linalg.hadamard(bits)).float()
    h2 = torch.cat([h, -h])
    for classes in (2, bits // 2 + 3, bits, bits + 1, 2 * bits):
        centres = build(bits, classes, seed=classes).centers
        assert centres.shape == (classes, bits) and centres.dtype == torch.float32
        torch.testing.assert_close(centres, h2[:classes], rtol=0, atol=0)
        torch.testing.assert_close(centres, csq_hadamard_centers(classes, bits), rtol=0, atol=0)
    torch.testing.assert_close(sylvester_hadamard(bits), h, rtol=0, atol=0)
    # the Hadamard rule ignores the seed
    torch.testing.assert_close(build(bits, bits, seed=1).centers, build(bits, bits, seed=2).centers)


def assert_balanced(centres: torch.Tensor) -> None:
    assert set(centres.unique().tolist()) == {-1.0, 1.0}
    assert bool((centres.sum(dim=1) == 0).all())  # exactly bits / 2 entries -1 in each row


@pytest.mark.parametrize("bits,classes", [(48, 8), (48, 20), (24, 10), (64, 130)],
                         ids=["48_bits", "48_bits_20", "24_bits", "more_than_2_bits"])
def test_random_centres_are_balanced_far_apart_and_seeded(bits, classes):
    centres = build(bits, classes, seed=0).centers
    assert centres.shape == (classes, bits)
    assert_balanced(centres)
    low, mean = min_and_mean_distance(centres)
    assert low > bits / 4 and mean >= bits / 2  # attainable here: the retry rule finds such a draw
    torch.testing.assert_close(build(bits, classes, seed=0).centers, centres, rtol=0, atol=0)
    other = build(bits, classes, seed=1).centers
    assert not torch.equal(other, centres)
    assert_balanced(other)
    if bits == 64:  # more classes than 2 * bits: every centre random, not the Hadamard rows
        h2 = torch.cat([sylvester_hadamard(64), -sylvester_hadamard(64)])
        assert not torch.equal(centres[:128], h2)


def test_unattainable_distance_rule_still_gives_balanced_seeded_centres():
    """8 bits, 20 classes: min distance > 2 is out of reach for 20 of the 70 balanced rows; the best draw."""
    centres = build(8, 20, seed=4).centers
    assert_balanced(centres)
    torch.testing.assert_close(build(8, 20, seed=4).centers, centres, rtol=0, atol=0)
    assert not torch.equal(build(8, 20, seed=5).centers, centres)


def test_tie_vector_is_seeded():
    a, b, c = (build(32, 3, multi_label=True, seed=s).tie for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_global_rng_is_left_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    build(48, 10, seed=9)
    assert torch.equal(torch.rand(3), before)


# -- state, errors ----------------------------------------------------------------------------------
def test_state_dict_round_trip_restores_the_centres_exactly():
    saved = build(48, 8, multi_label=True, seed=0)
    fresh = build(48, 8, multi_label=True, seed=1)
    assert not torch.equal(saved.centers, fresh.centers)
    assert set(saved.state_dict()) == {"centers", "tie"}
    fresh.load_state_dict(saved.state_dict())
    assert torch.equal(fresh.centers, saved.centers) and torch.equal(fresh.tie, saved.tie)
    x, y = linear_codes(6, 48, seed=1), multi_hot(6, 8, seed=2)
    assert fresh(x, y).item() == saved(x, y).item()


def test_loss_has_no_parameters_and_is_finite_on_saturated_codes():
    loss = build(16, 4)
    assert list(loss.parameters()) == [] and not loss.needs_indices
    x = torch.tensor([[30.0] * 16, [-30.0] * 16])  # tanh == +-1 exactly in float32: BCE's log clamp
    value = loss(x.requires_grad_(), torch.tensor([0, 1]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()


def test_apply_tanh_false_refuses_codes_outside_minus_one_one():
    loss = build(16, 4, apply_tanh=False)
    with pytest.raises(ContractError, match="apply_tanh"):
        loss(torch.full((2, 16), 1.5), torch.tensor([0, 1]))


def test_codes_of_the_wrong_length_are_refused():
    with pytest.raises(ContractError, match="bits"):
        build(16, 4)(torch.zeros(2, 8), torch.tensor([0, 1]))


@pytest.mark.parametrize("table,message", [
    ({"lam": -1.0}, r"loss\.lam: must be a number >= 0"),
    ({"lam": float("nan")}, r"loss\.lam: must be a number >= 0"),
    ({"lam": "0.1"}, r"loss\.lam: expected a number"),
    ({"lambda": 0.1}, r"loss\.lambda: unknown key \(did you mean 'lam'\?\)"),
    ({"bits": 16}, r"loss\.bits: set by hashbench from head\.bits"),
])
def test_factory_rejects_bad_keys(table, message):
    with pytest.raises(ConfigError, match=message):
        hashbench.registry().build("loss", {"name": "csq", **table}, where="loss", bits=16, num_classes=4,
                                   multi_label=False, seed=0)


@pytest.mark.gpu
def test_runs_on_the_gpu_with_the_cpu_value():
    loss = build(48, 8, multi_label=True, seed=0)
    x, y = linear_codes(6, 48, seed=1), multi_hot(6, 8, seed=2)
    cpu = loss(x, y)
    gpu = loss.to("cuda")(x.cuda(), y.cuda())
    assert gpu.device.type == "cuda"
    assert gpu.item() == pytest.approx(cpu.item(), rel=1e-5)
