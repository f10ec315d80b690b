"""jmlh: value and gradient parity (codes and classifier) with the loop re-derivation of FIRe's jmlh.py and
its stochastic binary layer, on the thresholds the loss's own generator draws; determinism given the
seed (per epoch, and after a state_dict round trip as --resume does); the deterministic code at
evaluation; the classifier as the loss's own parameter; bad keys."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.errors import ConfigError

from support import ATOL, RTOL
from references.fire_losses_b import jmlh_loss
from hashbench_ref.losses.jmlh import epoch_seed

BITS, CLASSES = 10, 5


def build(multi_label: bool = False, seed: int = 0, **table):
    return hashbench.registry().build("loss", {"name": "jmlh", **table}, bits=BITS, num_classes=CLASSES,
                                      multi_label=multi_label, seed=seed)


def logits_for(batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(4000 + seed)
    return torch.randn(batch, BITS, generator=g) * 2.0


def labels_for(batch: int, multi_label: bool, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(5000 + seed)
    onehot = torch.nn.functional.one_hot(torch.randint(0, CLASSES, (batch,), generator=g), CLASSES).float()
    if multi_label:
        onehot = ((onehot + (torch.rand(batch, CLASSES, generator=g) < 0.3).float()) > 0).float()
    return onehot


def drawn(seed: int, epoch: int, batches: int, batch: int) -> list:
    """The thresholds the loss draws for its first ``batches`` batches of ``epoch``."""
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return [torch.rand(batch, BITS, generator=g) for _ in range(batches)]


def parity(loss, x, y, labels_in, eps, lmbd, multi_label):
    weight, bias = loss.classifier.weight, loss.classifier.bias
    xl = x.clone().requires_grad_(True)
    value = loss(xl, labels_in)
    grads = torch.autograd.grad(value, [xl, weight, bias])
    leaves = [x.clone().requires_grad_(True), weight.detach().clone().requires_grad_(True),
              bias.detach().clone().requires_grad_(True)]
    expected = jmlh_loss(leaves[0], y, eps, leaves[1], leaves[2], lmbd, multi_label)
    expected_grads = torch.autograd.grad(expected, leaves)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want.float(), rtol=RTOL, atol=ATOL)
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0


@pytest.mark.parametrize("lmbd", [0.1, 1.0])
@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_a_sequence_of_batches_over_two_epochs_equals_the_reference(multi_label, lmbd):
    torch.manual_seed(0)
    loss = build(multi_label=multi_label, seed=7, lmbd=lmbd)
    for epoch in (1, 2):
        loss.on_epoch_start(epoch, 2)
        for step, eps in enumerate(drawn(7, epoch, 3, 9)):
            x, y = logits_for(9, 10 * epoch + step), labels_for(9, multi_label, 10 * epoch + step)
            labels_in = y if multi_label else y.argmax(1)
            parity(loss, x, y, labels_in, eps, lmbd, multi_label)


def test_evaluation_mode_and_stochastic_false_threshold_at_one_half():
    torch.manual_seed(1)
    x, y = logits_for(6, 1), labels_for(6, False, 1)
    half = torch.full((6, BITS), 0.5)
    loss = build(stochastic=False)
    parity(loss, x, y, y.argmax(1), half, 0.1, False)
    loss = build()
    loss.eval()
    parity(loss, x, y, y.argmax(1), half, 0.1, False)
    torch.testing.assert_close(loss.classify(x), loss.classifier((torch.sign(x) + 1) / 2))


def test_deterministic_given_the_seed_and_restored_by_the_state_dict():
    x, labels = logits_for(8, 2), torch.arange(8) % CLASSES

    def run(seed: int, loss=None):
        torch.manual_seed(123)  # the same classifier initialisation
        loss = loss or build(seed=seed)
        values = []
        for epoch in (1, 2):
            loss.on_epoch_start(epoch, 2)
            torch.manual_seed(epoch)  # the global generator does not matter
            values += [loss(x, labels).item() for _ in range(2)]
        return values, loss

    first, loss = run(3)
    assert run(3)[0] == first
    assert run(4)[0] != first  # another seed draws other thresholds
    assert len(set(first)) == 4  # every batch draws afresh
    copy = build(seed=3)
    copy.load_state_dict(loss.state_dict())  # as --resume: load, then the next epoch begins
    for model in (loss, copy):
        model.on_epoch_start(3, 3)
    assert copy(x, labels).item() == loss(x, labels).item()


def test_the_classifier_is_the_losss_own_parameter():
    loss = build()
    assert list(dict(loss.named_parameters())) == ["classifier.weight", "classifier.bias"]
    assert set(loss.state_dict()) == {"classifier.weight", "classifier.bias"}
    assert not loss.needs_indices and not loss.needs_features


@pytest.mark.parametrize("key, value, match", [("lmbd", -1.0, "loss.lmbd"),
                                               ("lr_multiplier", 0.0, "loss.lr_multiplier")])
def test_bad_keys_are_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build(**{key: value})
