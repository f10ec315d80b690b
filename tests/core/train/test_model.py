"""hashbench.train.model: backbone + head, normalisation on the device, binarisation, contract errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hashbench.contract import Component, load_registry
from hashbench.errors import ContractError
from hashbench.train.model import HashModel, binarize, build_hash_model


class Flat(nn.Module):
    def __init__(self, width: int = 4, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
        super().__init__()
        self.feature_dim = width
        self.linear = nn.Linear(3, width)
        if mean is not None:
            self.input_mean, self.input_std = mean, std

    def forward(self, clips):
        return self.linear(clips.mean(dim=(2, 3, 4)))


def registry_with(**factories):
    reg = load_registry()
    for key, factory in factories.items():
        kind, name = key.split("__")
        reg.components[kind][name] = Component(kind, name, factory, "tests", "0")
    return reg


def test_normalisation_is_the_backbones_declared_mean_and_std_never_a_guess():
    clips = torch.full((1, 3, 1, 2, 2), 100, dtype=torch.uint8)
    own = HashModel(Flat(mean=(50.0, 60.0, 70.0), std=(2.0, 2.0, 2.0)), nn.Identity())
    assert own.normalize(clips)[0, :, 0, 0, 0].tolist() == pytest.approx([25.0, 20.0, 15.0])
    assert not any("input_mean" in k for k in own.state_dict())  # not persisted in checkpoints
    with pytest.raises(ContractError, match=r"does not declare its input normalisation: set input_mean"):
        HashModel(Flat(mean=None), nn.Identity())
    with pytest.raises(ContractError, match=r"input_std \(1\.0, 0\.0, 1\.0\); the contract is 3 numbers"):
        HashModel(Flat(std=(1.0, 0.0, 1.0)), nn.Identity())


def test_the_model_returns_features_with_the_codes_when_asked():
    model = HashModel(Flat(4), nn.Linear(4, 2))
    clips = torch.rand(3, 3, 2, 4, 4)
    features, codes = model(clips, return_features=True)
    assert features.shape == (3, 4) and codes.shape == (3, 2)
    assert torch.equal(codes, model(clips))


def test_binarize_is_the_sign_as_int8_and_encode_uses_it():
    relaxed = torch.tensor([[0.3, -0.2, 0.0, -1.0]])
    assert binarize(relaxed).tolist() == [[1, -1, 0, -1]] and binarize(relaxed).dtype == torch.int8
    model = HashModel(Flat(4), nn.Tanh())
    codes = model.encode(torch.randint(0, 255, (3, 3, 2, 4, 4), dtype=torch.uint8))
    assert codes.shape == (3, 4) and codes.dtype == torch.int8 and set(codes.unique().tolist()) <= {-1, 0, 1}


def test_build_injects_feature_dim_into_the_head_and_checks_the_contract():
    def head(feature_dim: int, bits: int):
        return nn.Linear(feature_dim, bits)

    reg = registry_with(backbone__flat=lambda width=4: Flat(width), head__lin=head,
                        backbone__notmodule=lambda: object(), backbone__nodim=lambda: nn.Identity(),
                        head__notmodule=lambda feature_dim, bits: object())
    model = build_hash_model(reg, {"name": "flat", "width": 6}, {"name": "lin", "bits": 5}, bits=5)
    assert model.head.in_features == 6 and model.head.out_features == 5
    with pytest.raises(ContractError, match=r"backbone 'notmodule' \(tests 0\) built 'object', not a torch.nn.Module"):
        build_hash_model(reg, {"name": "notmodule"}, {"name": "lin", "bits": 5})
    with pytest.raises(ContractError, match="does not expose a positive int `feature_dim`"):
        build_hash_model(reg, {"name": "nodim"}, {"name": "lin", "bits": 5})
    with pytest.raises(ContractError, match=r"head 'notmodule' \(tests 0\) built 'object'"):
        build_hash_model(reg, {"name": "flat"}, {"name": "notmodule", "bits": 5})
