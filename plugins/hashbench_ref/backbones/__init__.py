"""Reference backbones: torch-free factory functions (see hashbench.contract), one subpackage per family.

``hara`` (Hara et al.'s 3D ResNets: ``r3d10`` ... ``r3d200``, including the reference ``r3d18``), ``c3d``,
``pvr`` (pytorch-video-recognition), ``torchvision_video``, ``frames2d`` and ``sequence`` (encoders of frame
features: ``frame_mlp``, ``frame_transformer``); each family's ``FACTORIES`` are
merged here, and a name registered by two families is a bug.

Every family has the same layout: the torch-free factories in ``__init__.py``, the network in ``model.py``
(imported only when a model is built), the known checkpoints, key mapping and strict loading in
``checkpoints.py``. Shared by all: the normalisation constants (:mod:`.normalization`) and the kept source
classifier (:mod:`.classifier`).
"""
from __future__ import annotations

from .hara import NORMALIZATION_NAMES, r3d18

__all__ = ["FACTORIES", "NORMALIZATION_NAMES", "r3d18"]


def _families() -> dict:
    """Every family's factories (one subpackage each); a name registered twice is a bug."""
    from . import c3d, frames2d, hara, pvr, sequence, torchvision_video

    merged: dict = {}
    for family in (hara, c3d, pvr, torchvision_video, frames2d, sequence):
        clash = set(merged) & set(family.FACTORIES)
        if clash:
            raise RuntimeError(f"backbone names registered twice: {sorted(clash)}")
        merged.update(family.FACTORIES)
    return merged


FACTORIES: dict = _families()
