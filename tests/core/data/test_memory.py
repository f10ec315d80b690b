"""hashbench.data.memory: an in-memory split of uint8 clips with labels and stable ids."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashbench.data import ClipArrayDataset
from hashbench.errors import DataError


def test_items_are_views_with_int_or_multi_hot_labels():
    clips = np.arange(4 * 3 * 2 * 5 * 5, dtype=np.uint8).reshape(4, 3, 2, 5, 5)
    ds = ClipArrayDataset(clips, np.array([3, 1, 0, 3]))
    assert len(ds) == 4 and ds.ids == ["000000", "000001", "000002", "000003"] and not ds.multi_label
    clip, label = ds[1]
    assert clip.dtype == torch.uint8 and clip.shape == (3, 2, 5, 5) and label == 1 and isinstance(label, int)
    np.testing.assert_array_equal(clip.numpy(), clips[1])
    hot = ClipArrayDataset(clips, np.eye(4, dtype=bool)[[0, 1, 2, 3]], ids=["a", "b", "c", "d"])
    assert hot.multi_label and hot[2][1].dtype == torch.float32 and hot[2][1].tolist() == [0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("clips, labels, ids, message", [
    (np.zeros((2, 3, 1, 4, 4), np.float32), [0, 1], None, "clips must be uint8"),
    (np.zeros((2, 1, 1, 4, 4), np.uint8), [0, 1], None, r"clips must be uint8 \(N, 3, T, H, W\)"),
    (np.zeros((2, 3, 1, 4, 4), np.uint8), [0], None, "labels must be"),
    (np.zeros((2, 3, 1, 4, 4), np.uint8), [0.5, 1.0], None, "must be integers"),
    (np.zeros((2, 3, 1, 4, 4), np.uint8), [0, 1], ["x", "x"], "2 unique strings"),
])
def test_malformed_splits_are_data_errors(clips, labels, ids, message):
    with pytest.raises(DataError, match=message):
        ClipArrayDataset(clips, np.asarray(labels), ids)
