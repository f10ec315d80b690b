"""batch_all_triplet: value and gradient parity with the original TripletLoss loop; uniform weighting."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import value_and_grad  # the original loop returns a constant 0 when it finds no triplet
from references.reference_method import brute_force_uniform, original_triplet_loss


def build(multi_label: bool = False, **table):
    """The loss from its table; ``multi_label`` is context (injected from the dataset, not a table key)."""
    return hashbench.registry().build("loss", {"name": "batch_all_triplet", **table}, multi_label=multi_label)


def relaxed_codes(batch: int, bits: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(batch, bits, generator=g) * 1.5).requires_grad_(True)


LABEL_PATTERNS = {
    "mixed": [0, 0, 1, 1, 1, 2, 0, 3],
    "mixed_unsorted": [2, 1, 2, 2, 0, 1, 3, 3, 3, 3],
    "two_classes": [1, 0, 1, 0, 0, 0, 0],
    "pairs": [0, 0, 1, 1, 2, 2],
    "one_class_rest_singletons": [5, 1, 2, 5, 3, 5],
}


@pytest.mark.parametrize("margin", [2.0, 14.0])
@pytest.mark.parametrize("pattern", sorted(LABEL_PATTERNS))
def test_original_weighting_equals_the_original_loop(pattern, margin):
    labels = torch.tensor(LABEL_PATTERNS[pattern])
    x = relaxed_codes(len(labels), 16, seed=len(pattern))
    value, grad = value_and_grad(lambda v: build(margin=margin)(v, labels), x)
    expected, expected_grad = value_and_grad(lambda v: original_triplet_loss(v, labels, margin), x)
    assert expected > 0
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_original_weighting_on_random_batches(seed):
    g = torch.Generator().manual_seed(100 + seed)
    batch = int(torch.randint(4, 24, (1,), generator=g))
    labels = torch.randint(0, int(torch.randint(2, 6, (1,), generator=g)), (batch,), generator=g)
    x = relaxed_codes(batch, 48, seed)
    loss = build()  # defaults: margin 14, original weighting
    value, grad = value_and_grad(lambda v: loss(v, labels), x)
    expected, expected_grad = value_and_grad(lambda v: original_triplet_loss(v, labels, 14.0), x)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_weighting_really_differs_when_class_sizes_differ():
    """Guard: on unequal class sizes 'original' and 'uniform' disagree (the repeats matter)."""
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    x = relaxed_codes(7, 16, seed=5)
    original = build(margin=14.0)(x, labels)
    uniform = build(margin=14.0, weighting="uniform")(x, labels)
    assert abs(original.item() - uniform.item()) > 1e-3
    assert uniform.item() == pytest.approx(brute_force_uniform(x, labels, 14.0).item(), rel=1e-5)


@pytest.mark.parametrize("labels", [[3, 3, 3, 3], [0, 1, 2, 3, 4], [7], []], ids=["all_same", "all_distinct",
                                                                                 "single", "empty"])
@pytest.mark.parametrize("weighting", ["original", "uniform"])
def test_no_valid_triplet_gives_a_zero_that_backpropagates(labels, weighting):
    labels = torch.tensor(labels, dtype=torch.long)
    x = relaxed_codes(len(labels), 8, seed=1)
    loss = build(weighting=weighting)(x, labels)
    assert loss.item() == 0.0
    assert original_triplet_loss(x, labels, 14.0).item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("seed", range(4))
def test_uniform_weighting_equals_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (10,), generator=g)
    x = relaxed_codes(10, 12, seed)
    value, grad = value_and_grad(lambda v: build(margin=6.0, weighting="uniform")(v, labels), x)
    expected, expected_grad = value_and_grad(lambda v: brute_force_uniform(v, labels, 6.0), x)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_multi_label_uniform_equals_brute_force():
    g = torch.Generator().manual_seed(9)
    labels = (torch.rand(9, 4, generator=g) < 0.35).float()
    labels[0] = 0  # a sample with no class: never an anchor with positives, always a negative
    x = relaxed_codes(9, 12, seed=9)
    value, grad = value_and_grad(lambda v: build(margin=5.0, weighting="uniform", multi_label=True)(v, labels), x)
    expected, expected_grad = value_and_grad(lambda v: brute_force_uniform(v, labels, 5.0), x)
    assert expected > 0
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_one_hot_labels_are_single_label():
    labels = torch.tensor([0, 2, 2, 1, 0, 2])
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    x = relaxed_codes(6, 10, seed=2)
    loss = build(margin=8.0)
    torch.testing.assert_close(loss(x, one_hot), loss(x, labels))


def test_original_weighting_rejects_multi_label():
    with pytest.raises(ConfigError, match=r"loss\.weighting: 'original' is defined for single-label"):
        build(multi_label=True)
    loss = build()
    with pytest.raises(ValueError, match=r"weighting='uniform'"):
        loss(relaxed_codes(3, 4, 0), torch.tensor([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]))


@pytest.mark.parametrize("margin", [0, -1.0, float("nan")])
def test_margin_must_be_positive(margin):
    with pytest.raises(ConfigError, match=r"loss\.margin: must be a number > 0 \(the original used 14"):
        build(margin=margin)


def test_margin_type_is_checked():
    with pytest.raises(ConfigError, match=r"loss\.margin: expected a number, got '14'"):
        hashbench.registry().build("loss", {"name": "batch_all_triplet", "margin": "14"}, where="loss")


def test_weighting_values_are_checked():
    with pytest.raises(ConfigError, match=r"loss\.weighting: unknown value 'mean'.*'original', 'uniform'"):
        build(weighting="mean")


def test_bad_shapes_are_reported():
    loss = build()
    with pytest.raises(ValueError, match=r"labels must be"):
        loss(relaxed_codes(4, 8, 0), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match=r"codes must be \(B, bits\)"):
        loss(torch.zeros(4), torch.tensor([0, 1, 0, 1]))


def test_half_precision_codes_are_accepted():
    labels = torch.tensor([0, 0, 1, 1, 2])
    x = relaxed_codes(5, 16, seed=4)
    full = build()(x, labels)
    half = build()(x.detach().bfloat16(), labels)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), rel=2e-2)
