"""HashModel = backbone + hash head; binarisation of relaxed codes."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import nn

from ..contract import Registry
from ..contract.methods import CLIPS, backbone_consumes
from ..errors import ConfigError, ContractError

__all__ = ["HashModel", "binarize", "build_hash_model", "input_normalization"]


def input_normalization(backbone: nn.Module, where: str = "the backbone") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The backbone's declared ``(input_mean, input_std)``: 3 numbers each, in 0-255 pixel units, std > 0.

    ContractError when it declares none or a malformed one: a backbone's weights expect one
    normalisation, and guessing it silently would train or encode with the wrong one.
    """
    mean, std = getattr(backbone, "input_mean", None), getattr(backbone, "input_std", None)
    try:
        mean_t, std_t = tuple(float(v) for v in mean), tuple(float(v) for v in std)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ContractError(f"{where} does not declare its input normalisation: set input_mean and input_std"
                            " (3 numbers each, 0-255 pixel units, RGB) to what its weights expect") from None
    if len(mean_t) != 3 or len(std_t) != 3 or min(std_t) <= 0:
        raise ContractError(f"{where} declares input_mean {mean_t} / input_std {std_t}; the contract is"
                            " 3 numbers each (0-255 pixel units, RGB), std > 0")
    return mean_t, std_t


class HashModel(nn.Module):
    """``(B, 3, T, H, W)`` float clips (or, for a backbone that consumes them, float frame features
    ``(B, T, D)`` / vectors ``(B, D)``) -> relaxed codes ``(B, bits)``; the binary code is their sign.

    ``consumes``: the item kinds of the backbone (:func:`backbone_consumes`); the input normalisation
    is required, and applied by :meth:`normalize`, only when it consumes clips."""

    def __init__(self, backbone: nn.Module, head: nn.Module, consumes: tuple[str, ...] = CLIPS) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.consumes = tuple(consumes)
        mean_t: Optional[torch.Tensor] = None
        std_t: Optional[torch.Tensor] = None
        if "clips" in self.consumes:
            mean, std = input_normalization(backbone)
            mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1, 1)
            std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1, 1)
        self.register_buffer("input_mean", mean_t, persistent=False)
        self.register_buffer("input_std", std_t, persistent=False)

    def normalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """uint8 clips ``(B,3,T,H,W)`` in 0-255 -> float clips normalised as the backbone expects; float
        inputs (frame features, vectors) pass through as float32."""
        if inputs.dtype != torch.uint8:
            return inputs.float()
        if self.input_mean is None or self.input_std is None:
            raise ContractError(f"uint8 clips {tuple(inputs.shape[1:])} reached a backbone that consumes"
                                f" {', '.join(self.consumes)}, not clips")
        return (inputs.float() - self.input_mean) / self.input_std

    def forward(self, clips: torch.Tensor, return_features: bool = False) -> Any:
        """Relaxed codes ``(B, bits)``; with ``return_features`` the pair ``(features (B, D), codes)``."""
        features = self.backbone(clips)
        codes = self.head(features)
        return (features, codes) if return_features else codes

    @torch.no_grad()
    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """uint8 clips (or float features) -> binary codes ``(B, bits)`` as int8 in {-1, 0, +1} (0 only for
        exact zeros)."""
        return binarize(self(self.normalize(inputs)))


def binarize(relaxed: torch.Tensor) -> torch.Tensor:
    """``sign`` of relaxed codes as int8 (the original repo's behaviour; an exact 0 stays 0)."""
    return torch.sign(relaxed.float()).to(torch.int8)


def build_hash_model(registry: Registry, backbone_table: Mapping[str, Any],
                     head_table: Mapping[str, Any], **context: Any) -> HashModel:
    """Build backbone then head (``feature_dim`` injected from the backbone) into a HashModel.

    ``context["feature_dim"]``, when given, is the dataset's width D: it reaches a backbone that consumes
    frame features or vectors (its input width), never a clip backbone (ConfigError when such a backbone
    gets none)."""
    component = registry.get("backbone", str(backbone_table.get("name")))
    where = f"backbone {component.name!r} ({component.dist} {component.version})"
    consumes = backbone_consumes(component.factory, where)
    input_dim = context.pop("feature_dim", None)
    if "clips" not in consumes:
        if input_dim is None:
            raise ConfigError(f"backbone {component.name!r} consumes {', '.join(consumes)}: its input width is the"
                              " dataset's feature_dim, and the dataset declares none; choose a"
                              f" {' or '.join(consumes)} dataset or a clip backbone")
        context["feature_dim"] = int(input_dim)
    backbone = registry.build("backbone", backbone_table, **context)
    context.pop("feature_dim", None)
    if not isinstance(backbone, nn.Module):
        raise ContractError(f"{where} built {type(backbone).__name__!r}, not a torch.nn.Module")
    feature_dim = getattr(backbone, "feature_dim", None)
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
        raise ContractError(f"{where} does not expose a positive int `feature_dim` (got {feature_dim!r}); the"
                            " contract asks for its output width")
    if "clips" in consumes:
        input_normalization(backbone, where)
    head_context = {k: v for k, v in context.items() if k != "bits"}
    head = registry.build("head", head_table, feature_dim=feature_dim, **head_context)
    if not isinstance(head, nn.Module):
        component = registry.get("head", str(head_table.get("name")))
        raise ContractError(f"head {component.name!r} ({component.dist} {component.version}) built"
                            f" {type(head).__name__!r}, not a torch.nn.Module")
    return HashModel(backbone, head, consumes)
