"""hashbench.data.sampling: the original repo's frame choice round(i * n / T)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashbench.data.sampling import sample_indices


def test_sampling_is_the_original_round_with_bankers_rounding():
    assert sample_indices(240, 4) == [0, 60, 120, 180]
    assert sample_indices(5, 2) == [0, 2]  # 2.5 rounds to even 2, not 3
    assert sample_indices(7, 2) == [0, 4]  # 3.5 rounds to even 4
    assert sample_indices(3, 4) == [0, 1, 2, 2]  # 2.25 -> 2; frames repeat when n < T


def test_sampling_clamps_where_the_original_would_index_past_the_end():
    assert sample_indices(1, 32) == [0] * 32
    assert sample_indices(2, 8)[-1] == 1  # round(7 * 2 / 8) = 2 -> clamped to n - 1
    with pytest.raises(ValueError):
        sample_indices(0, 4)


@given(st.integers(1, 2000), st.integers(1, 64))
def test_sampling_properties(n, t):
    idx = sample_indices(n, t)
    assert len(idx) == t and idx[0] == 0
    assert all(0 <= i < n for i in idx) and idx == sorted(idx)
    if 2 * n > t:
        assert idx == [round(i * n / t) for i in range(t)]
