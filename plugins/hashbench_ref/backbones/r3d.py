"""Hara's 3D ResNet-18 as used by Video-Retrieval-C3D: kept for imports of the former module; the family
(depths 10-200, shortcut A/B, both checkpoint generations) lives in :mod:`.hara.model`."""
from __future__ import annotations

from .hara.checkpoints import NORMALIZATIONS
from .hara.model import BasicBlock, Bottleneck, ResNet3D, resnet3d

__all__ = ["NORMALIZATIONS", "BasicBlock", "Bottleneck", "ResNet3D", "resnet3d18"]


def resnet3d18(width: int = 64, normalization: str = "c3d_retrieval", shortcut_grad: bool = False) -> ResNet3D:
    """ResNet-18 layout: BasicBlock, [2, 2, 2, 2], shortcut A, the 2017 initialisation (as before)."""
    return resnet3d(18, width=width, normalization=normalization, shortcut_grad=shortcut_grad)
