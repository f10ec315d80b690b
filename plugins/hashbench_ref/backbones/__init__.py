"""Reference backbones: torch-free factory functions (see hashbench.contract), one subpackage per family.

``hara`` (Hara et al.'s 3D ResNets: ``r3d10`` ... ``r3d200``, including the reference ``r3d18``), ``c3d``,
``pvr`` (pytorch-video-recognition), ``torchvision_video`` and ``frames2d``; each family's ``FACTORIES`` are
merged here, and a name registered by two families is a bug.
"""
from __future__ import annotations

from .hara import NORMALIZATION_NAMES, r3d18

__all__ = ["FACTORIES", "NORMALIZATION_NAMES", "r3d18"]


def _families() -> dict:
    """Every family's factories (one subpackage each); a name registered twice is a bug."""
    from . import c3d, frames2d, hara, pvr, torchvision_video

    merged: dict = {}
    for family in (hara, c3d, pvr, torchvision_video, frames2d):
        clash = set(merged) & set(family.FACTORIES)
        if clash:
            raise RuntimeError(f"backbone names registered twice: {sorted(clash)}")
        merged.update(family.FACTORIES)
    return merged


FACTORIES: dict = _families()
