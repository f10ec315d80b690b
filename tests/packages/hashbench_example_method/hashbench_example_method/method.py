"""The ``binary_autoencoder`` method: a :class:`~hashbench.contract.HashMethod` with all three stages."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hashbench.contract import HashMethod, MethodBatch, pooled_inputs


class BinaryAutoencoder(HashMethod):
    """Encoder ``Linear(feature_dim, bits)`` + tanh, decoder ``Linear(bits, feature_dim)``.

    Inputs: frame features ``(B, T, D)`` (averaged over T) or vectors ``(B, D)``; codes ``(B, bits)`` in
    (-1, 1), the binary code is their sign. The standardisation statistics (``mean``, ``std``, ``(D,)``
    buffers) come from ``fit`` and live in the state dict; the weights are initialised from ``seed``.
    """

    consumes = ("frame_features", "vector")

    def __init__(self, bits: int, feature_dim: int, quantization: float = 0.1, seed: int = 0) -> None:
        super().__init__(bits, seed)
        if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
            raise ValueError(f"feature_dim: expected a positive integer (the dataset's), got {feature_dim!r}")
        self.quantization = quantization
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = nn.Linear(feature_dim, bits)
            self.decoder = nn.Linear(bits, feature_dim)
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("std", torch.ones(feature_dim))

    def fit(self, train: Any) -> None:
        """Per-dimension mean and standard deviation of the pooled training features (deterministic)."""
        pooled = pooled_inputs(train).to(self.mean.device, torch.float64)
        self.mean.copy_(pooled.mean(dim=0))
        self.std.copy_(pooled.std(dim=0, unbiased=False).clamp_min(1e-6))

    def _standardised(self, inputs: torch.Tensor) -> torch.Tensor:
        pooled = inputs.float().mean(dim=1) if inputs.dim() == 3 else inputs.float()
        return (pooled - self.mean) / self.std

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` or ``(B, D)`` -> ``(B, bits)`` real codes in (-1, 1)."""
        return torch.tanh(self.encoder(self._standardised(inputs)))

    def training_loss(self, batch: MethodBatch) -> torch.Tensor:
        """Reconstruction of the standardised features from the codes, plus the quantisation term."""
        z = self._standardised(batch.inputs)
        h = torch.tanh(self.encoder(z))
        reconstruction = ((z - self.decoder(h)) ** 2).mean()
        return reconstruction + self.quantization * ((h.abs() - 1.0) ** 2).mean()
