"""The built-in ``deep_hashing`` method: built in Python through the registry, its loss is exactly the
triple's (normalise, forward, the loss), its checkpoint keeps the file format that predates methods, and
the method contract's ``on_epoch_start`` reaches the hooks of submodules."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import hashbench
from hashbench.contract import HashMethod, MethodBatch, call_loss
from hashbench.errors import ConfigError
from hashbench.run.state import load_module_state, module_state
from hashbench.train.deep_method import DeepHashing

TABLES = {"backbone": {"name": "r3d18", "width": 4}, "head": {"name": "linear"}, "loss": {"name": "dpsh"}}


def build(seed: int = 0) -> DeepHashing:
    torch.manual_seed(seed)
    return hashbench.registry().build("method", {"name": "deep_hashing", **TABLES}, bits=8, seed=seed,
                                      num_classes=3, num_train=6)


def batch() -> MethodBatch:
    clips = torch.randint(0, 256, (4, 3, 4, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    return MethodBatch(clips, torch.tensor([0, 2, 3, 5]), torch.tensor([0, 1, 2, 0]))


def test_registry_builds_the_triple_as_one_method_whose_loss_is_the_triples():
    method = build()
    assert isinstance(method, DeepHashing) and method.bits == 8 and method.consumes == ("clips",)
    assert method.needs_labels and type(method.loss).__name__ == "DPSHLoss"
    reference = build()  # the same seed: the same weights, an empty memory bank
    b = batch()
    loss = method.training_loss(b)
    expected = call_loss(reference.loss, reference.model(reference.model.normalize(b.inputs)).float(), b.labels,
                         b.indices)
    assert loss.dim() == 0 and torch.equal(loss, expected)
    assert torch.equal(method.loss.state_dict()["bank.codes"], reference.loss.state_dict()["bank.codes"])
    codes = method.encode(b.inputs)
    assert codes.shape == (4, 8) and codes.dtype == torch.float32


def test_its_checkpoint_keeps_model_and_loss_apart_and_loads_back():
    method = build()
    method.training_loss(batch())  # fills four rows of the memory bank
    saved = module_state(method)
    assert set(saved) == {"model", "loss"}
    assert all(k.startswith(("backbone.", "head.")) for k in saved["model"])  # a HashModel's keys, as before
    assert set(saved["loss"]) == {"bank.codes", "bank.labels"} and saved["loss"]["bank.codes"].abs().sum() > 0
    fresh = build(seed=1)
    load_module_state(fresh, saved, "checkpoint.pt")
    for key, value in method.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_a_head_table_with_other_bits_is_one_clear_line():
    tables = dict(TABLES, head={"name": "linear", "bits": 16})
    with pytest.raises(ConfigError, match=r"head.bits = 16 differs from the method's bits = 8"):
        hashbench.registry().build("method", {"name": "deep_hashing", **tables}, bits=8, num_classes=3, num_train=6)


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int]] = []

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.calls.append((epoch, epochs))


class Nested(HashMethod):
    def __init__(self) -> None:
        super().__init__(bits=4)
        self.inner = nn.Sequential(Counting())


def test_on_epoch_start_reaches_every_submodule_hook_once():
    method = Nested()
    method.on_epoch_start(2, 5)
    assert method.inner[0].calls == [(2, 5)]
    deep = DeepHashing(hashbench.build_model({"name": "r3d18", "width": 4}, {"name": "linear", "bits": 4}),
                       Counting(), bits=4)
    deep.on_epoch_start(1, 3)
    assert deep.loss.calls == [(1, 3)]


def test_deep_hashing_built_in_python_takes_a_frame_feature_backbone():
    """``feature_dim`` (the dataset's) reaches a backbone that consumes frame features."""
    import torch

    import hashbench

    method = hashbench.registry().build("method", {"name": "deep_hashing", "backbone": {"name": "frame_mlp"},
                                                   "head": {"name": "tanh"}, "loss": {"name": "csq"}},
                                        bits=16, seed=0, feature_dim=24, num_frames=5, num_classes=3)
    assert "frame_features" in method.consumes and "clips" not in method.consumes
    assert method.encode(torch.randn(2, 5, 24)).shape == (2, 16)
