"""Frame masks for masked-frame reconstruction: two complementary random views per video (ConMH, S5VH,
AutoSSVH) and BERT-style corruption of 15% of the frames (BTH, DKPH).

Papers: ConMH (Wang et al., AAAI 2023), BTH (Li et al., CVPR 2021). References followed: ConMH at d6dd5b5
(``dataset/conmh_dataset.py``, ``RandomMaskingGenerator``; S5VH 4926cb7 and AutoSSVH bf07c35 the same)
and BTH at c97db40 (``BTH/data.py``)::

    masked = int(ratio * T), visible = T - masked, order = a uniform random permutation of the T frames
    view 1 keeps order[:visible], view 2 keeps order[-visible:]; every other frame is masked (True)

With ``ratio`` 0.75 and T = 25 each view keeps 7 frames and the two views share none; with 0.5 each
keeps 13 and they share one. BTH selects 15% of the frames (``bert_corruption``); of those, 80% are zeroed,
10% replaced by a random frame of a random video, 10% kept (``random_frame``). Deliberate differences:
the replacing frame comes from a random video of the batch (BTH draws from the whole training set); all
draws come from a seeded ``torch.Generator`` (the references use the global Python/NumPy RNGs).
"""
from __future__ import annotations

import torch

__all__ = ["complementary_masks", "masked_frames", "bert_corruption"]


def complementary_masks(batch: int, frames: int, ratio: float, gen: torch.Generator) -> torch.Tensor:
    """``(batch, 2, frames)`` bool, True = masked: view 0 keeps the first ``visible`` frames of a random
    order, view 1 the last ``visible`` (module docstring); ``0 <= ratio < 1``."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {ratio}")
    visible = frames - int(ratio * frames)
    order = torch.rand(batch, frames, generator=gen).argsort(dim=1)
    masks = torch.ones(batch, 2, frames, dtype=torch.bool)
    masks[:, 0].scatter_(1, order[:, :visible], False)
    masks[:, 1].scatter_(1, order[:, frames - visible:], False)
    return masks


def masked_frames(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The frames of ``x`` (B, T, D) where ``mask`` (B, T) is True, in time order -> (B, masked, D)
    (the reference's ``x[mask].reshape(B, -1, D)``: every row must mask the same count)."""
    return x[mask].reshape(x.shape[0], -1, x.shape[-1])


def bert_corruption(x: torch.Tensor, gen: torch.Generator, select: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """``(corrupted (B, T, D), selected (B, T) bool)``: each frame selected with probability ``select``;
    a selected frame is zeroed (80%), replaced by a random frame of a random video of the batch (10%) or
    kept (10%)."""
    b, t, _ = x.shape
    selected = torch.rand(b, t, generator=gen) < select
    kind = torch.rand(b, t, generator=gen)
    video = torch.randint(0, b, (b, t), generator=gen)
    frame = torch.randint(0, t, (b, t), generator=gen)
    swapped = x[video, frame]
    out = torch.where((selected & (kind >= 0.8) & (kind < 0.9)).unsqueeze(-1), swapped, x)
    return out.masked_fill((selected & (kind < 0.8)).unsqueeze(-1), 0.0), selected
