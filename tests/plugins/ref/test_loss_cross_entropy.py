"""cross_entropy: value and gradient parity with the loop re-derivation, on the codes and on the
backbone's features, with and without quantisation; the classifier as the loss's own parameter."""
from __future__ import annotations

import pytest
import torch

import hashbench
from hashbench.config import experiment_from_dict
from hashbench.contract import HashLoss
from hashbench.contract.losses import call_loss, wants
from hashbench.errors import ConfigError, ContractError
from hashbench.run.build import build_components
from hashbench.train.optim import make_optimizer

from references.classify import cross_entropy_loss

RTOL, ATOL = 1e-5, 1e-6


def build(bits: int = 12, num_classes: int = 5, multi_label: bool = False, feature_dim: int = 20, **table):
    return hashbench.registry().build("loss", {"name": "cross_entropy", **table}, bits=bits,
                                      num_classes=num_classes, multi_label=multi_label, feature_dim=feature_dim)


def codes_for(batch: int, bits: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(batch, bits, generator=g) * 1.5)


def labels_for(batch: int, num_classes: int, multi_label: bool, seed: int) -> torch.Tensor:
    """(B, C) float: one-hot rows, or multi-hot rows with 1 to 3 classes each."""
    g = torch.Generator().manual_seed(1000 + seed)
    onehot = torch.nn.functional.one_hot(torch.randint(0, num_classes, (batch,), generator=g), num_classes).float()
    if multi_label:
        onehot = ((onehot + (torch.rand(batch, num_classes, generator=g) < 0.3).float()) > 0).float()
    return onehot


def ours_and_reference(loss, u, y, labels_in, features=None):
    """Value and gradients (codes, [features,] weight, bias) of the loss and of the re-derivation."""
    weight, bias = loss.classifier.weight, loss.classifier.bias
    u_leaf = u.clone().requires_grad_(True)
    inputs = [u_leaf]
    kwargs = {}
    if features is not None:
        kwargs["features"] = features.clone().requires_grad_(True)
        inputs.append(kwargs["features"])
    value = loss(u_leaf, labels_in, **kwargs)
    grads = torch.autograd.grad(value, inputs + [weight, bias])

    ref_inputs = [t.detach().clone().requires_grad_(True) for t in inputs + [weight, bias]]
    ref_u = ref_inputs[0]
    ref_x = ref_inputs[1] if features is not None else ref_u
    ref_w, ref_b = ref_inputs[-2:]
    expected = cross_entropy_loss(ref_x, ref_u, y, ref_w, ref_b, loss.quantization, loss.multi_label)
    expected_grads = torch.autograd.grad(expected, ref_inputs, allow_unused=True)
    expected_grads = [torch.zeros_like(t) if g is None else g for t, g in zip(ref_inputs, expected_grads)]
    return value.detach(), grads, expected.detach(), expected_grads


def assert_parity(loss, u, y, labels_in, features=None):
    value, grads, expected, expected_grads = ours_and_reference(loss, u, y, labels_in, features)
    assert value.item() == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    return grads


@pytest.mark.parametrize("quantization", [0.0, 0.5])
@pytest.mark.parametrize("seed", range(3))
def test_on_codes_single_label_equals_the_reference(seed, quantization):
    torch.manual_seed(seed)
    loss = build(bits=12, num_classes=5, quantization=quantization)
    u, y = codes_for(9, 12, seed), labels_for(9, 5, False, seed)
    grads = assert_parity(loss, u, y, y.argmax(1))
    assert all(g.abs().sum() > 0 for g in grads)
    assert_parity(loss, u, y, y)  # one-hot rows on a single-label dataset: the same


@pytest.mark.parametrize("quantization", [0.0, 0.5])
@pytest.mark.parametrize("seed", range(3))
def test_on_codes_multi_label_equals_the_reference(seed, quantization):
    torch.manual_seed(seed)
    loss = build(bits=10, num_classes=6, multi_label=True, quantization=quantization)
    u, y = codes_for(8, 10, seed), labels_for(8, 6, True, seed)
    assert (y.sum(1) > 1).any()
    assert_parity(loss, u, y, y)


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("quantization", [0.0, 0.25])
def test_on_features_equals_the_reference_features_gradient_included(multi_label, quantization):
    torch.manual_seed(3)
    loss = build(bits=8, num_classes=4, multi_label=multi_label, feature_dim=20, on="features",
                 quantization=quantization)
    assert loss.classifier.in_features == 20
    u, y = codes_for(7, 8, 5), labels_for(7, 4, multi_label, 5)
    features = torch.randn(7, 20, generator=torch.Generator().manual_seed(6)) * 2
    grad_u, grad_features, grad_w, grad_b = assert_parity(loss, u, y, y if multi_label else y.argmax(1), features)
    assert grad_features.abs().sum() > 0 and grad_w.abs().sum() > 0 and grad_b.abs().sum() > 0
    # the codes get only the quantisation gradient (still connected when it is 0)
    torch.testing.assert_close(grad_u, quantization * 2 * (u.abs() - 1) * torch.sign(u) / u.numel(),
                               rtol=RTOL, atol=ATOL)


def test_quantization_adds_its_term():
    torch.manual_seed(0)
    u, labels = codes_for(6, 8, 1), torch.tensor([0, 1, 2, 3, 0, 1])
    plain = build(bits=8, num_classes=4)
    quantised = build(bits=8, num_classes=4, quantization=0.5)
    quantised.load_state_dict(plain.state_dict())
    term = ((u.abs() - 1) ** 2).mean()
    assert quantised(u, labels).item() == pytest.approx(plain(u, labels).item() + 0.5 * term.item(), rel=1e-6)


def test_needs_features_is_an_instance_attribute_set_by_on():
    on_codes, on_features = build(), build(on="features")
    assert isinstance(on_features, HashLoss)
    assert not wants(on_codes, "features") and wants(on_features, "features")
    assert type(on_features).needs_features is False and not on_features.needs_indices  # class attribute untouched
    u, labels = codes_for(4, 12, 0), torch.tensor([0, 1, 2, 3])
    features = torch.randn(4, 20)
    assert torch.isfinite(call_loss(on_features, u, labels, features=features))
    assert torch.isfinite(call_loss(on_codes, u, labels, features=features))  # the engine passes none to it
    with pytest.raises(ContractError, match="needs the backbone's features"):
        on_features(u, labels)
    with pytest.raises(ContractError, match=r"reads features \(4, 20\), got \(4, 7\)"):
        on_features(u, labels, features=torch.randn(4, 7))


def test_on_features_needs_the_feature_dim():
    with pytest.raises(ConfigError, match="feature_dim"):
        hashbench.registry().build("loss", {"name": "cross_entropy", "on": "features"}, bits=8, num_classes=4)


def test_the_classifier_is_the_losss_own_parameter_with_bias():
    loss = build(bits=12, num_classes=5, lr_multiplier=10.0)
    named = dict(loss.named_parameters())
    assert set(named) == {"classifier.weight", "classifier.bias"}
    assert named["classifier.weight"].shape == (5, 12) and named["classifier.bias"].shape == (5,)
    assert loss.lr_multiplier == 10.0 and set(loss.state_dict()) == set(named)


def test_classify_shapes_and_values():
    loss = build(bits=12, num_classes=5)
    u = codes_for(7, 12, 2)
    logits = loss.classify(u)
    assert logits.shape == (7, 5)
    torch.testing.assert_close(logits, loss.classifier(u))
    on_features = build(bits=12, num_classes=5, on="features", feature_dim=20)
    features = torch.randn(7, 20)
    assert on_features.classify(u, features).shape == (7, 5)
    torch.testing.assert_close(on_features.classify(u, features), on_features.classifier(features))
    with pytest.raises(ValueError, match="pass features"):
        on_features.classify(u)


def tiny_experiment(**loss_table):
    return experiment_from_dict({
        "name": "t", "seed": 0, "device": "cpu",
        "dataset": {"name": "moving_digits", "size": 32, "num_frames": 8, "clips_per_class": 6,
                    "queries_per_class": 3},
        "backbone": {"name": "r3d18", "width": 8}, "head": {"name": "tanh", "bits": 16},
        "loss": {"name": "cross_entropy", **loss_table},
        "train": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "adam", "lr": 1e-3}}})


@pytest.mark.parametrize("on", ["codes", "features"])
def test_in_a_run_the_classifier_is_optimised_at_lr_times_multiplier_and_checkpointed(tmp_path, on):
    from hashbench.run.state import TrainState
    from hashbench.train import Precision

    experiment = tiny_experiment(on=on, lr_multiplier=10.0)
    built = build_components(experiment, hashbench.registry(), torch.device("cpu"))
    loss = built.loss
    feature_dim = built.model.backbone.feature_dim
    assert loss.num_classes == 8 and loss.classifier.in_features == (16 if on == "codes" else feature_dim)
    optimizer = make_optimizer(built.model, experiment.train.optimizer, loss)
    model_group, loss_group = optimizer.param_groups
    assert model_group["lr"] == pytest.approx(1e-3) and loss_group["lr"] == pytest.approx(1e-2)
    assert {id(p) for p in loss_group["params"]} == {id(loss.classifier.weight), id(loss.classifier.bias)}

    features, codes = built.model(torch.randn(4, 3, 8, 32, 32), return_features=True)
    assert features.shape == (4, feature_dim)
    call_loss(loss, codes.float(), torch.tensor([0, 1, 2, 3]), features=features.float()).backward()
    before = loss.classifier.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, loss.classifier.weight)
    path = tmp_path / "checkpoint.pt"
    state = TrainState(optimizer, None, Precision(torch.device("cpu"), False))
    torch.save(state.checkpoint(built.model, 1, loss), path)

    torch.manual_seed(321)
    fresh = build_components(experiment, hashbench.registry(), torch.device("cpu"))
    assert not torch.equal(fresh.loss.classifier.weight, loss.classifier.weight)
    state = TrainState(make_optimizer(fresh.model, experiment.train.optimizer, fresh.loss), None,
                       Precision(torch.device("cpu"), False))
    state.restore(fresh.model, torch.load(path), path, fresh.loss)
    for name, value in loss.state_dict().items():
        torch.testing.assert_close(fresh.loss.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.parametrize("key, value, match", [("on", "logits", "loss.on"),
                                               ("quantization", -1.0, "loss.quantization"),
                                               ("lr_multiplier", 0, "loss.lr_multiplier")])
def test_bad_keys_are_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build(**{key: value})


@pytest.mark.gpu
def test_runs_on_cuda_and_matches_cpu():
    loss = build(bits=12, num_classes=5, on="features", quantization=0.1)
    u, features, labels = codes_for(9, 12, 0), torch.randn(9, 20), torch.arange(9) % 5
    cpu = loss(u, labels, features=features)
    loss.cuda()
    gpu = loss(u.cuda(), labels.cuda(), features=features.cuda())
    assert gpu.item() == pytest.approx(cpu.item(), rel=1e-5)
