"""torch Datasets over prepared clips (cache) or media read on demand (videos / frame folders)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import ClipCache
from .media import read_media
from .transforms import centre_offsets, crop_view


class CacheReader:
    """Reads clips ``(3, T, H, W)`` from a :class:`ClipCache` by cache key (memory-mapped)."""

    def __init__(self, cache: ClipCache) -> None:
        self.cache = cache

    def read(self, ref: str) -> np.ndarray:
        return self.cache.read(ref)


class MediaReader:
    """Decodes clips ``(3, T, H, W)`` from a video file or frame folder on every access (small sets)."""

    def __init__(self, num_frames: int, size: Tuple[int, int]) -> None:
        self.num_frames = num_frames
        self.size = size

    def read(self, ref: str) -> np.ndarray:
        clip, _ = read_media(Path(ref), self.num_frames, self.size)
        return clip.transpose(3, 0, 1, 2)


class ClipDataset(Dataset):
    """Items ``(clip, label)``: clip uint8 tensor ``(3, T, crop, crop)``, label a python int.

    ``crop=None`` keeps the stored size. ``augment=True`` takes a uniformly random crop and flips
    horizontally with probability 0.5 (torch RNG: seeded per DataLoader worker); otherwise a centre
    crop (torchvision rounding).
    """

    def __init__(self, refs: Sequence[str], labels: Sequence[int], reader: CacheReader | MediaReader,
                 crop: Optional[int] = None, augment: bool = False) -> None:
        if len(refs) != len(labels):
            raise ValueError("refs and labels differ in length")
        self.refs = list(refs)
        self.labels = [int(x) for x in labels]
        self.reader = reader
        self.crop = crop
        self.augment = augment

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        clip = self.reader.read(self.refs[index])
        height, width = clip.shape[-2:]
        if self.crop:
            if self.augment:
                top = int(torch.randint(0, height - self.crop + 1, ()).item())
                left = int(torch.randint(0, width - self.crop + 1, ()).item())
            else:
                top, left = centre_offsets(height, width, self.crop)
            clip = crop_view(clip, top, left, self.crop)
        if self.augment and bool(torch.rand(()) < 0.5):
            clip = clip[..., ::-1]
        return torch.from_numpy(np.ascontiguousarray(clip)), self.labels[index]
