"""Every input normalisation of the backbone families: torch-free constants in 0-255 RGB pixel units.

A backbone exposes the ``(mean, std)`` its weights expect as ``input_mean`` / ``input_std`` (three numbers
each, 0-255 units, RGB order); the engine normalises uint8 clips with them on the device. Publishers
state most of them for 0-1 pixels (``ToTensor`` then ``Normalize``): :func:`times_255` converts. Each
family's ``NORMALIZATIONS`` (the names its ``normalization`` key accepts) picks from these constants.
"""
from __future__ import annotations

from typing import Tuple

__all__ = ["Triple", "Normalization", "times_255", "IMAGENET", "C3D_RETRIEVAL", "PVR_BGR", "ACTIVITYNET",
           "KINETICS_MASTER", "TORCHVISION_KINETICS", "MVIT_KINETICS", "INCEPTION", "OPENAI_CLIP"]

Triple = Tuple[float, float, float]
#: ``(mean, std)``, 0-255 RGB.
Normalization = Tuple[Triple, Triple]


def times_255(values: Triple) -> Triple:
    """Three 0-1 pixel values (a published mean or std) in 0-255 units."""
    return (values[0] * 255.0, values[1] * 255.0, values[2] * 255.0)


#: ImageNet's mean/std (torchvision's and timm's image classifiers, and torchvision's Swin3d weights).
IMAGENET: Normalization = (times_255((0.485, 0.456, 0.406)), times_255((0.229, 0.224, 0.225)))
#: Video-Retrieval-C3D (and its Video_Retrieval sibling): ToTensor (0-1) then Normalize(mean, std).
C3D_RETRIEVAL: Normalization = (times_255((0.434, 0.405, 0.378)), times_255((0.152, 0.149, 0.157)))
#: pytorch-video-recognition's loader: OpenCV BGR frames minus (90, 98, 102), no std (here in RGB order).
PVR_BGR: Normalization = ((102.0, 98.0, 90.0), (1.0, 1.0, 1.0))
#: Hara's CVPR2018 branch (``resnet-*-kinetics.pth``): 0-255 minus the ActivityNet mean, no std division.
ACTIVITYNET: Normalization = ((114.7748, 107.7354, 99.4750), (1.0, 1.0, 1.0))
#: Hara's master branch (``r3d*_200ep.pth``): 0-1 pixels, the Kinetics mean/std of ``get_mean_std``.
KINETICS_MASTER: Normalization = (times_255((0.4345, 0.4051, 0.3775)), times_255((0.2768, 0.2713, 0.2737)))
#: torchvision's R3D / MC3 / R(2+1)D / S3D weights: its Kinetics-400 statistics.
TORCHVISION_KINETICS: Normalization = (times_255((0.43216, 0.394666, 0.37645)),
                                       times_255((0.22803, 0.22145, 0.216989)))
#: torchvision's MViT weights (ported from PyTorchVideo / SlowFast).
MVIT_KINETICS: Normalization = (times_255((0.45, 0.45, 0.45)), times_255((0.225, 0.225, 0.225)))
#: Inception-style 0.5 / 0.5 (timm's Inception and many ViT weights).
INCEPTION: Normalization = (times_255((0.5, 0.5, 0.5)), times_255((0.5, 0.5, 0.5)))
#: OpenAI CLIP's image statistics (timm's CLIP-pretrained vision towers).
OPENAI_CLIP: Normalization = (times_255((0.48145466, 0.4578275, 0.40821073)),
                              times_255((0.26862954, 0.26130258, 0.27577711)))
