"""The sequence encoders of :mod:`.` (networks; imported only when a model is built)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["FrameMLP", "FrameTransformer"]


class FrameMLP(nn.Module):
    """Frame features ``(B, T, D_in)`` (or vectors ``(B, D_in)``) -> mean over T -> MLP -> ``(B, widths[-1])``."""

    def __init__(self, input_dim: int, widths: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = input_dim
        for width in widths:
            layers += [nn.Linear(previous, width), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            previous = width
        self.mlp = nn.Sequential(*layers)
        self.input_dim = int(input_dim)
        self.feature_dim = int(previous)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        pooled = inputs.mean(dim=1) if inputs.dim() == 3 else inputs
        return self.mlp(pooled)


class FrameTransformer(nn.Module):
    """Frame features ``(B, T, D_in)``, T <= ``max_frames`` -> linear projection to ``width`` + learned
    position embeddings -> pre-norm transformer encoder -> LayerNorm -> mean over T -> ``(B, width)``."""

    def __init__(self, input_dim: int, max_frames: int, width: int, layers: int, heads: int, ff_width: int,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.input_dim, self.max_frames, self.feature_dim = int(input_dim), int(max_frames), int(width)
        self.project = nn.Linear(input_dim, width)
        self.position = nn.Parameter(torch.zeros(1, max_frames, width))
        nn.init.normal_(self.position, std=0.02)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(width, heads, ff_width, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        frames = inputs.shape[1]
        if inputs.dim() != 3 or frames > self.max_frames:
            raise ValueError(f"frame_transformer takes frame features (B, T <= {self.max_frames}, {self.input_dim}),"
                             f" got {tuple(inputs.shape)}")
        hidden = self.dropout(self.project(inputs) + self.position[:, :frames])
        return self.norm(self.encoder(hidden)).mean(dim=1)
