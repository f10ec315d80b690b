"""Input normalisations shared by the backbone families: torch-free constants in 0-255 RGB pixel units.

A backbone exposes the ``(mean, std)`` its weights expect as ``input_mean`` / ``input_std`` (three numbers
each, 0-255 units); the engine normalises uint8 clips with them on the device. Publishers state them
for 0-1 pixels (``ToTensor`` then ``Normalize``): :func:`times_255` converts.
"""
from __future__ import annotations

from typing import Tuple

__all__ = ["Triple", "Normalization", "times_255", "IMAGENET"]

Triple = Tuple[float, float, float]
#: ``(mean, std)``, 0-255 RGB.
Normalization = Tuple[Triple, Triple]


def times_255(values: Triple) -> Triple:
    """Three 0-1 pixel values (a published mean or std) in 0-255 units."""
    return (values[0] * 255.0, values[1] * 255.0, values[2] * 255.0)


#: ImageNet's mean/std (torchvision's and timm's image classifiers, and torchvision's Swin3d weights).
IMAGENET: Normalization = (times_255((0.485, 0.456, 0.406)), times_255((0.229, 0.224, 0.225)))
