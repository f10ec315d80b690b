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



#: Backbones whose conformance case in tests/plugins/test_conformance.py (build, forward, one SGD step) runs at
#: full size on a large clip, as the kit cannot shrink them (fixed widths; MViT takes only 16x224x224, S3D at
#: least 13x209x209), measured one thread on a loaded 2-core CPU: tv_mvit_v1_b 193 s, tv_mvit_v2_s 116 s,
#: c3d 26 s, tv_s3d 10 s, against 31 s for the other 17 together. Their cases run in the slow tier
#: (``make test-slow``, CI); the others, reduced by their ``conformance_example``, stay in ``make test``.
FULL_SIZE_CONFORMANCE = ("c3d", "tv_mvit_v1_b", "tv_mvit_v2_s", "tv_s3d")


def pytest_collection_modifyitems(items) -> None:
    """Mark the full-size backbones' cases of the conformance zoo ``slow`` (see FULL_SIZE_CONFORMANCE)."""
    slow = {f"backbone:{name}" for name in FULL_SIZE_CONFORMANCE}
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.name.startswith("test_registered_component_conforms[") and callspec is not None \
                and callspec.id in slow:
            item.add_marker(pytest.mark.slow)
