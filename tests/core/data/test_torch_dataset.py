"""hashbench.data.torch_dataset: items from the cache or decoded on demand; centre or random crop + flip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from support import SOCCER_23, VIDEOS
from hashbench.data.media import read_media
from hashbench.data.torch_dataset import ClipDataset, MediaReader


class ArrayReader:
    """A reader over an in-memory dict of (3, T, H, W) clips."""

    def __init__(self, clips):
        self.clips = clips

    def read(self, ref):
        return self.clips[ref]


def _clip(h=6, w=8):
    return np.arange(3 * 2 * h * w, dtype=np.uint8).reshape(3, 2, h, w)


def test_centre_crop_without_augmentation():
    clip = _clip()
    ds = ClipDataset(["a"], [4], ArrayReader({"a": clip}), crop=4)
    item, label = ds[0]
    assert label == 4 and item.dtype == torch.uint8 and item.shape == (3, 2, 4, 4)
    np.testing.assert_array_equal(item.numpy(), clip[:, :, 1:5, 2:6])
    whole, _ = ClipDataset(["a"], [4], ArrayReader({"a": clip}))[0]
    np.testing.assert_array_equal(whole.numpy(), clip)


def test_augmentation_takes_random_crops_and_flips():
    clip = _clip()
    ds = ClipDataset(["a"], [0], ArrayReader({"a": clip}), crop=4, augment=True)
    torch.manual_seed(0)
    seen = set()
    for _ in range(40):
        item = ds[0][0].numpy()
        for top in range(3):
            for left in range(5):
                window = clip[:, :, top:top + 4, left:left + 4]
                if np.array_equal(item, window):
                    seen.add((top, left, False))
                if np.array_equal(item, window[..., ::-1]):
                    seen.add((top, left, True))
    assert len({s[:2] for s in seen}) > 3 and {s[2] for s in seen} == {False, True}


def test_media_reader_decodes_channels_first():
    clip = MediaReader(2, (12, 16)).read(str(VIDEOS / SOCCER_23))
    expected, _ = read_media(VIDEOS / SOCCER_23, 2, (12, 16))
    np.testing.assert_array_equal(clip, expected.transpose(3, 0, 1, 2))
    with pytest.raises(ValueError, match="differ in length"):
        ClipDataset(["a", "b"], [0], ArrayReader({}))
