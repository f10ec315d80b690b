"""Fixtures for the plugin tests: checkpoint files that are cheap to write and leave the temp dir small.

A test that needs a file only for its key layout (names and shapes: missing, unexpected or mis-shaped
keys, a dropped classifier, a wrapper dict) writes a :func:`lean` copy of a state dict: each tensor is a
broadcast view of one random value per leading row, so the file keeps every key, shape and dtype in a
few KB (a full-size C3D is about 300 MB). Tests that compare outputs with a reference need real random
weights: they build the file once per session and delete it when done.
"""
from __future__ import annotations

from typing import Dict, Mapping

import pytest
import torch


def lean(state: Mapping[str, torch.Tensor], seed: int = 0) -> Dict[str, torch.Tensor]:
    """``state`` with the same keys, shapes and dtypes, each tensor a broadcast of one value per leading
    row (``torch.save`` writes only that column: a few KB instead of the full tensor). Scalars are kept."""
    g = torch.Generator().manual_seed(seed)
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if value.dim() == 0:
            out[key] = value.clone()
            continue
        column = (value.shape[0],) + (1,) * (value.dim() - 1)
        if value.is_floating_point():  # small and positive: also a valid BatchNorm running_var
            base = torch.rand(column, generator=g, dtype=value.dtype) * 0.05 + 0.01
        else:
            base = torch.zeros(column, dtype=value.dtype)
        out[key] = base.expand(value.shape)
    return out


@pytest.fixture(scope="session")
def lean_state():
    """:func:`lean`, for tests that write a checkpoint only for its key layout."""
    return lean

