"""greedyhash: value and gradient parity with the loop re-derivation (codes and classifier), the
straight-through sign, the classifier as the loss's own parameter (optimizer group, checkpoint)."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.config import experiment_from_dict
from hashbench.contract import HashLoss, call_loss
from hashbench.errors import ConfigError
from hashbench.run.build import build_components
from hashbench.train.optim import make_optimizer

from references.classify import greedyhash_loss

RTOL, ATOL = 1e-5, 1e-6


def build(bits: int = 12, num_classes: int = 5, multi_label: bool = False, **table):
    return hashbench.registry().build("loss", {"name": "greedyhash", **table}, bits=bits, num_classes=num_classes,
                                      multi_label=multi_label)


def linear_codes(batch: int, bits: int, seed: int) -> torch.Tensor:
    """Real-valued codes as a ``linear`` head gives them (some near 0, some beyond +-1)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, bits, generator=g) * 1.5


def labels_for(batch: int, num_classes: int, multi_label: bool, seed: int) -> torch.Tensor:
    """(B, C) float: one-hot rows, or multi-hot rows with 1 to 3 classes each."""
    g = torch.Generator().manual_seed(1000 + seed)
    onehot = torch.nn.functional.one_hot(torch.randint(0, num_classes, (batch,), generator=g), num_classes).float()
    if multi_label:
        onehot = ((onehot + (torch.rand(batch, num_classes, generator=g) < 0.3).float()) > 0).float()
    return onehot


def grads_of(fn, *tensors):
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    grads = torch.autograd.grad(value, leaves)
    return value.detach(), grads


def assert_parity(loss, u, y, labels_in, alpha, multi_label):
    weight = loss.classifier.weight.detach().clone()

    def ours(u_, w_):
        with torch.no_grad():
            loss.classifier.weight.copy_(w_)
        loss.classifier.weight.grad = None
        value = loss(u_, labels_in)
        gw = torch.autograd.grad(value, [u_, loss.classifier.weight], retain_graph=True)
        return value, gw

    u_leaf = u.clone().requires_grad_(True)
    value, (grad_u, grad_w) = ours(u_leaf, weight)
    expected, (exp_u, exp_w) = grads_of(lambda a, w: greedyhash_loss(a, y, w, alpha, multi_label), u, weight)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    torch.testing.assert_close(grad_u, exp_u, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(grad_w, exp_w, rtol=RTOL, atol=ATOL)
    assert grad_u.abs().sum() > 0 and grad_w.abs().sum() > 0


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_single_label_equals_the_reference(seed, alpha):
    torch.manual_seed(seed)
    loss = build(bits=12, num_classes=5, alpha=alpha)
    u = linear_codes(9, 12, seed)
    y = labels_for(9, 5, False, seed)
    assert_parity(loss, u, y, y.argmax(1), alpha, False)  # class ids, as single-label datasets give them
    assert_parity(loss, u, y, y, alpha, False)  # one-hot rows on a single-label dataset: the same


@pytest.mark.parametrize("alpha", [0.1, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_multi_label_equals_the_reference(seed, alpha):
    torch.manual_seed(seed)
    loss = build(bits=10, num_classes=6, multi_label=True, alpha=alpha)
    u = linear_codes(8, 10, seed)
    y = labels_for(8, 6, True, seed)
    assert (y.sum(1) > 1).any()  # really multi-label rows
    assert_parity(loss, u, y, y, alpha, True)


def test_multi_label_differs_from_the_argmax_cross_entropy():
    """Guard: the label-smoothed form is used on multi-label data (not the argmax class)."""
    torch.manual_seed(0)
    y = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    u = linear_codes(3, 8, 3)
    multi = build(bits=8, num_classes=4, multi_label=True, alpha=0.0)
    single = build(bits=8, num_classes=4, multi_label=False, alpha=0.0)
    single.load_state_dict(multi.state_dict())
    assert abs(multi(u, y).item() - single(u, y.argmax(1)).item()) > 1e-3


def test_the_gradient_reaching_the_codes_is_the_gradient_at_their_sign():
    """Straight-through: with alpha = 0, d loss / d u equals d loss / d b evaluated at b = sign(u)
    (and equals the closed form (softmax - onehot) W / B); the cubic term adds its own derivative."""
    torch.manual_seed(1)
    loss = build(bits=8, num_classes=4, alpha=0.0)
    u = linear_codes(6, 8, 7)
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    _, (grad_u,) = grads_of(lambda a: loss(a, labels), u)
    _, (grad_b,) = grads_of(lambda b: loss(b, labels), torch.sign(u))
    torch.testing.assert_close(grad_u, grad_b, rtol=0, atol=0)
    weight = loss.classifier.weight.detach()
    probs = torch.softmax(torch.sign(u) @ weight.T, dim=1)
    closed = (probs - torch.nn.functional.one_hot(labels, 4).float()) @ weight / 6
    torch.testing.assert_close(grad_u, closed, rtol=RTOL, atol=ATOL)

    alpha = 0.3
    with_reg = build(bits=8, num_classes=4, alpha=alpha)
    with_reg.load_state_dict(loss.state_dict())
    _, (grad_reg,) = grads_of(lambda a: with_reg(a, labels), u)
    d = u.abs() - 1
    cubic = 3 * d**2 * torch.sign(d) * torch.sign(u) / u.numel()
    torch.testing.assert_close(grad_reg, grad_u + alpha * cubic, rtol=RTOL, atol=ATOL)


def test_sign_ste_codes_make_the_regulariser_vanish():
    loss = build(bits=8, num_classes=4, alpha=1.0)
    b = torch.sign(linear_codes(5, 8, 2))
    labels = torch.tensor([0, 1, 2, 3, 0])
    no_reg = build(bits=8, num_classes=4, alpha=0.0)
    no_reg.load_state_dict(loss.state_dict())
    assert loss(b, labels).item() == pytest.approx(no_reg(b, labels).item(), rel=1e-6)


def test_the_classifier_is_the_losss_own_bias_free_parameter():
    loss = build(bits=12, num_classes=5)
    assert isinstance(loss, HashLoss) and not loss.needs_indices and not loss.needs_features
    named = dict(loss.named_parameters())
    assert list(named) == ["classifier.weight"] and named["classifier.weight"].shape == (5, 12)
    assert loss.classifier.bias is None and loss.lr_multiplier == 1.0
    assert set(loss.state_dict()) == {"classifier.weight"}
    # the engine's call: codes and labels only (no indices, no features)
    value = call_loss(loss, linear_codes(4, 12, 0), torch.tensor([0, 1, 2, 3]), indices=None, features=None)
    assert value.shape == () and torch.isfinite(value)


def test_classify_gives_the_classifiers_logits_on_the_sign():
    loss = build(bits=12, num_classes=5)
    u = linear_codes(7, 12, 4)
    logits = loss.classify(u)
    assert logits.shape == (7, 5)
    torch.testing.assert_close(logits, torch.sign(u) @ loss.classifier.weight.detach().T)
    torch.testing.assert_close(loss.classify(torch.sign(u), features=torch.randn(7, 3)), logits)


def test_training_fits_fixed_codes():
    """A few optimiser steps on the codes and the classifier lower the loss (the gradient flows)."""
    torch.manual_seed(0)
    loss = build(bits=8, num_classes=4, alpha=0.1)
    u = linear_codes(16, 8, 9).requires_grad_(True)
    labels = torch.arange(16) % 4
    optimizer = torch.optim.SGD([u, *loss.parameters()], lr=0.5)
    first = loss(u, labels).item()
    for _ in range(100):
        optimizer.zero_grad()
        loss(u, labels).backward()
        optimizer.step()
    assert loss(u, labels).item() < 0.5 * first
    assert (loss.classify(u).argmax(1) == labels).float().mean() == 1.0


def tiny_experiment(**loss_table):
    return experiment_from_dict({
        "name": "t", "seed": 0, "device": "cpu",
        "dataset": {"name": "moving_digits", "size": 32, "num_frames": 8, "clips_per_class": 6,
                    "queries_per_class": 3},
        "backbone": {"name": "r3d18", "width": 8}, "head": {"name": "linear", "bits": 16},
        "loss": {"name": "greedyhash", **loss_table},
        "train": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01}}})


def test_in_a_run_the_classifier_is_optimised_at_lr_times_multiplier_and_checkpointed(tmp_path):
    from hashbench.run.state import TrainState
    from hashbench.train import Precision

    experiment = tiny_experiment(lr_multiplier=10.0)
    built = build_components(experiment, hashbench.registry(), torch.device("cpu"))
    loss = built.loss
    assert loss.bits == 16 and loss.num_classes == 8 and loss.lr_multiplier == 10.0  # context injected
    optimizer = make_optimizer(built.model, experiment.train.optimizer, loss)
    model_group, loss_group = optimizer.param_groups
    assert model_group["lr"] == pytest.approx(0.01) and loss_group["lr"] == pytest.approx(0.1)
    assert len(loss_group["params"]) == 1 and loss_group["params"][0] is loss.classifier.weight
    assert not any(p is loss.classifier.weight for p in model_group["params"])

    # one step moves the classifier; a checkpoint restores it into a freshly built loss
    codes = built.model(torch.randn(4, 3, 8, 32, 32))
    loss(codes, torch.tensor([0, 1, 2, 3])).backward()
    before = loss.classifier.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, loss.classifier.weight)
    state = TrainState(optimizer, None, Precision(torch.device("cpu"), False))
    path = tmp_path / "checkpoint.pt"
    torch.save(state.checkpoint(built.model, 1, loss), path)
    assert "classifier.weight" in torch.load(path)["loss"]

    torch.manual_seed(123)  # a different initialisation
    fresh = build_components(experiment, hashbench.registry(), torch.device("cpu"))
    assert not torch.equal(fresh.loss.classifier.weight, loss.classifier.weight)
    fresh_state = TrainState(make_optimizer(fresh.model, experiment.train.optimizer, fresh.loss), None,
                             Precision(torch.device("cpu"), False))
    fresh_state.restore(fresh.model, torch.load(path), path, fresh.loss)
    torch.testing.assert_close(fresh.loss.classifier.weight, loss.classifier.weight, rtol=0, atol=0)
    u = linear_codes(3, 16, 0)
    torch.testing.assert_close(fresh.loss.classify(u), loss.classify(u), rtol=0, atol=0)


@pytest.mark.parametrize("key, value, match", [("alpha", -1.0, "loss.alpha"), ("alpha", "big", "loss.alpha"),
                                               ("lr_multiplier", 0.0, "loss.lr_multiplier")])
def test_bad_keys_are_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build(**{key: value})


@pytest.mark.gpu
def test_runs_on_cuda_and_matches_cpu():
    loss = build(bits=12, num_classes=5, alpha=0.1)
    u = linear_codes(9, 12, 0)
    labels = torch.arange(9) % 5
    cpu, (cpu_grad,) = grads_of(lambda a: loss(a, labels), u)
    loss.cuda()
    gpu, (gpu_grad,) = grads_of(lambda a: loss(a, labels.cuda()), u.cuda())
    assert gpu.item() == pytest.approx(cpu.item(), rel=1e-5)
    torch.testing.assert_close(gpu_grad.cpu(), cpu_grad, rtol=1e-4, atol=1e-6)
