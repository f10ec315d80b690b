"""AutoSSVH's adversarial frame sampler: an importance score per frame, Gumbel and Gaussian noise, top-k
with a straight-through one-hot, and gradient reversal, so the sampler keeps the frames that leave the rest
hardest to reconstruct while the encoder and decoder learn to reconstruct them.

Paper: N. Lian, J. Li et al., "AutoSSVH: Exploring Automated Frame Sampling for Efficient Self-Supervised
Video Hashing", CVPR 2025 (the adversarial sampler, Gumbel-Softmax top-k, a gradient reversal layer, one
training stage). Reference followed for the module: EliSpectre/CVPR25-AutoSSVH at bf07c35
(``model/AutoSSVH.py``: ``ImportantScore``, ``get_gumbel``, ``SampleNet``, ``SoftChooseDenseGrad``,
``Encoder.forward_features``). With the embedded frames ``h`` (B, T, C) (``patch_embed(x) + positions``)
and ``k`` frames kept::

    score   = sigmoid(w . (h + LN(W2 gelu(W1 h + b1) + b2)) + c)                        (B, T)
    noisy   = score + g + 10 z,   g = -log(-log(u + 1e-20) + 1e-20),  u ~ U[0, 1), z ~ N(0, 1)
    noisy   = (noisy - mean(noisy)) / std(noisy)                 (over the whole batch, unbiased std)
    soft    = softmax(noisy / 0.5) over the T frames;  keep = top-k of soft, in time order
    ret     = onehot(keep) - stopgrad(soft) + soft              (value: the one-hot; gradient: soft's)
    picked  = (h * R(ret))[keep]                                                         (B, k, C)

``R`` is the identity forward and negates the gradient backward (the reference's ``SoftChooseDenseGrad``:
``d picked / d h = ret``, ``d L / d ret = -sum_c dL/dpicked * h``), so every parameter before ``R``
through ``ret`` (the score MLP, and ``h``'s embedding along the score path) climbs the loss the encoder
and decoder descend. In eval mode there is no noise: ``keep`` = top-k of ``score`` (the reference's
``SampleNet`` outside training), no gradient through the choice.

Deliberate differences: (1) the noise is drawn by :func:`sampler_noise` from a given ``torch.Generator``
(the method's, reseeded per epoch, so a resumed run draws the same frames; the reference uses the global
RNG inside the module). (2) The reference's unused learnable ``temperature`` (its gradient is never
returned), its ``adv`` score negation (never set) and one-head option are left out. (3) In eval mode the
kept frames are in time order (the reference's unsorted top-k order; the encoder's output is pooled over
frames, so the codes are the same). (4) A batch of one keeps its batch axis (the reference's
``squeeze(0)`` drops it).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["FrameSampler", "GradientReversal", "sampler_noise", "kept_frames"]


class GradientReversal(torch.autograd.Function):
    """The identity forward; the negated gradient backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def sampler_noise(batch: int, frames: int, gen: torch.Generator, scale: float = 10.0) -> torch.Tensor:
    """The sampler's perturbation (batch, frames), float32 on CPU: Gumbel noise from ``u ~ U[0, 1)`` plus
    ``scale`` x N(0, 1) (drawn in that order from ``gen``)."""
    u = torch.rand(batch, frames, generator=gen)
    z = torch.randn(batch, frames, generator=gen)
    return -torch.log(-torch.log(u + 1e-20) + 1e-20) + z * scale


def kept_frames(mask_ratio: float, frames: int) -> int:
    """The frames the sampler keeps: ``int(frames * (1 - mask_ratio))`` (the reference's ``sample_token``)."""
    return int(frames * (1 - mask_ratio))


class FrameSampler(nn.Module):
    """The adversarial sampler (module docstring) over embedded frames of ``width`` channels, keeping
    ``keep`` of them; linears Xavier-uniform with zero biases (the reference's encoder init)."""

    def __init__(self, width: int, keep: int, softmax_temperature: float = 0.5) -> None:
        super().__init__()
        self.keep, self.softmax_temperature = keep, softmax_temperature
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Importance in (0, 1) of each frame of ``h`` (B, T, C) -> (B, T)."""
        return torch.sigmoid(self.out(h + self.norm(self.mlp(h)))).squeeze(-1)

    def forward(self, h: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(picked (B, keep, C), visible (B, T) bool)`` of embedded frames ``h`` (B, T, C); ``noise``
        (B, T) from :func:`sampler_noise` (ignored in eval mode)."""
        b, t, c = h.shape
        score = self.scores(h)
        if not self.training:
            visible = torch.zeros(b, t, dtype=torch.bool, device=h.device)
            visible.scatter_(1, score.topk(self.keep, dim=1).indices, True)
            return h[visible].reshape(b, self.keep, c), visible
        noisy = score + noise.to(score)
        noisy = (noisy - noisy.mean()) / noisy.std()
        soft = torch.softmax(noisy / self.softmax_temperature, dim=-1)
        hard = torch.zeros_like(soft).scatter_(1, soft.topk(self.keep, dim=1).indices, 1.0)
        ret = hard - soft.detach() + soft
        visible = hard.bool()
        picked = h * GradientReversal.apply(ret).unsqueeze(-1)
        return picked[visible].reshape(b, self.keep, c), visible
