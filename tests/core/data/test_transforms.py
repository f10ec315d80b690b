"""hashbench.data.transforms: size parsing and crops of uint8 clips."""
from __future__ import annotations

import numpy as np
import pytest

from hashbench.data.transforms import centre_offsets, crop_view, parse_size
from hashbench.errors import ConfigError


@pytest.mark.parametrize("value, size", [("128x171", (128, 171)), ("128X171", (128, 171)), ("64,80", (64, 80)),
                                         ([128, 171], (128, 171)), ((8, 9), (8, 9)), (112, (112, 112)),
                                         ("112", (112, 112))])
def test_sizes_parse(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["128x", "axb", True, None, [1, 2, 3], [0, 5], "0x4", 3.5j])
def test_bad_sizes_name_the_key(value):
    with pytest.raises(ConfigError, match=r"^dataset\.resize: expected"):
        parse_size(value, "dataset.resize")


def test_centre_crop_rounds_like_torchvision_and_crops_a_view():
    assert centre_offsets(128, 171, 112) == (8, 30)  # round(29.5) = 30 (banker's rounding: even)
    assert centre_offsets(113, 113, 112) == (0, 0)  # round(0.5) = 0
    clip = np.arange(3 * 2 * 6 * 7, dtype=np.uint8).reshape(3, 2, 6, 7)
    view = crop_view(clip, 1, 2, 4)
    assert view.shape == (3, 2, 4, 4) and np.shares_memory(view, clip)
    np.testing.assert_array_equal(view, clip[:, :, 1:5, 2:6])
