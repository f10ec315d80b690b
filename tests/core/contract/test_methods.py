"""The method kind: built through the registry with context injection, its base class and helpers, and
the conformance kit's checks (reference baselines pass; a method that breaks a rule fails that check)."""
from __future__ import annotations

import time

import pytest
import torch

import hashbench
from hashbench.contract import HashMethod, MethodBatch, Registry, iter_inputs, pooled_inputs
from hashbench.contract.conformance import check_method, check_registered
from hashbench.errors import ConfigError


def test_registry_builds_a_method_with_injected_bits_and_seed():
    reg = hashbench.registry()
    assert {"lsh", "pcah", "itq"} <= set(reg.names("method"))
    method = reg.build("method", {"name": "itq", "iterations": 5}, bits=16, seed=3)
    assert isinstance(method, HashMethod) and (method.bits, method.seed) == (16, 3)
    assert reg.build("method", {"name": "itq", "bits": 32}, bits=16, seed=0).bits == 32  # [method] bits owns it
    x = torch.randn(64, 5, 24, generator=torch.Generator().manual_seed(0))
    method.fit(x)
    codes = method.encode(x[:4])
    assert codes.shape == (4, 16) and codes.dtype == torch.float32
    assert torch.equal(codes, method.encode(x[:4].mean(dim=1)))  # frame features are mean-pooled
    with pytest.raises(ConfigError, match=r"method.iteratons: unknown key \(did you mean 'iterations'"):
        reg.build("method", {"name": "itq", "iteratons": 5}, bits=16, seed=0)


def test_pooled_inputs_streams_a_dataset_as_a_tensor_would():
    x = torch.randn(10, 3, 4, generator=torch.Generator().manual_seed(1))
    items = [(x[i], i % 2) for i in range(10)]
    assert torch.equal(pooled_inputs(items, batch_size=3), pooled_inputs(x, batch_size=4))
    assert torch.allclose(pooled_inputs(x), x.mean(dim=1))
    assert [len(b) for b, _ in iter_inputs(items, batch_size=4)] == [4, 4, 2]


def test_every_reference_method_passes_the_kit():
    results = check_registered(kind="method")
    failed = [str(r) for r in results if not r.passed]
    assert results and not failed, failed
    assert {r.check for r in results} >= {"fit", "encode", "state_dict", "training_loss"}


class _Trained(HashMethod):
    """A tiny method with every optional stage: a centre from fit, a linear map trained by a loss."""

    def __init__(self, bits: int, seed: int = 0, noisy: bool = False, width: int = 0) -> None:
        super().__init__(bits, seed)
        torch.manual_seed(seed)
        self.proj = torch.nn.Linear(16, bits)
        self.register_buffer("centre", torch.zeros(16))
        self.noisy, self.width = noisy, width

    def fit(self, train):
        clock = torch.Generator().manual_seed(time.perf_counter_ns())  # noisy: not from the seed
        self.centre = pooled_inputs(train).mean(dim=0) + (torch.rand(16, generator=clock) if self.noisy else 0)

    def training_loss(self, batch: MethodBatch):
        return torch.tanh(self.encode(batch.inputs)).pow(2).mean()

    def encode(self, inputs):
        pooled = inputs.mean(dim=1) if inputs.dim() == 3 else inputs
        codes = self.proj(pooled - self.centre)
        return codes[:, : self.width] if self.width else codes


def _by_check(results):
    return {r.check: r for r in results}


def test_the_kit_passes_a_trained_method_and_names_the_broken_rule():
    good = _by_check(check_method(_Trained))
    assert all(r.passed for r in good.values()), [str(r) for r in good.values()]
    assert not good["training_loss"].skipped and "gradients reach every parameter" in good["training_loss"].message
    noisy = _by_check(check_method(_Trained, {"noisy": True}))
    assert not noisy["fit"].passed and "state differs in centre" in noisy["fit"].message
    narrow = _by_check(check_method(_Trained, {"width": 3}))
    assert not narrow["encode"].passed and "(B, bits) = (4, 8)" in narrow["encode"].message


class _Forgetful(_Trained):
    """Draws a noise scale per epoch from a generator it never checkpoints: a resumed run draws anew."""

    def __init__(self, bits: int, seed: int = 0) -> None:
        super().__init__(bits, seed)
        self.draws = torch.Generator().manual_seed(seed)
        self.scale = 0.0

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.scale = float(torch.rand(1, generator=self.draws))

    def training_loss(self, batch: MethodBatch):
        return torch.tanh(self.scale * self.encode(batch.inputs)).pow(2).mean()


def test_the_kit_checks_that_resume_continues_exactly():
    good = _by_check(check_method(_Trained))["resume"]
    assert good.passed and not good.skipped, good.message
    forgetful = _by_check(check_method(_Forgetful))["resume"]
    assert not forgetful.passed and "state differs in proj" in forgetful.message


def test_a_method_that_consumes_an_unknown_item_kind_fails_consumes():
    class Odd(_Trained):
        consumes = ("audio",)

    result = _by_check(check_method(Odd))["consumes"]
    assert not result.passed and "each must be one of clips, frame_features, vector" in result.message
    assert isinstance(Registry().components["method"], dict)
