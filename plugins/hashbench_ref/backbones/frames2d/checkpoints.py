"""torchvision's published ImageNet classifiers that ``tv_frames`` knows by name: torch-free declarations.

Each names its model (``options["model"]``), so ``pretrained = "tv_resnet50.imagenet1k_v2"`` implies
``model = "resnet50"``; the files are torchvision's (``resnet50-11ad3fa6.pth``, sha256 prefix in the name,
checked on load by :mod:`..torchvision_video.checkpoints`, whose strict loading both families share).
"""
from __future__ import annotations

from typing import Tuple

from hashbench.contract import Checkpoint

from ..normalization import IMAGENET

__all__ = ["TV_CHECKPOINTS"]

_TV = "https://download.pytorch.org/models/"


def _tv(model: str, tag: str, file: str, acc: float, resize: int) -> Checkpoint:
    mean, std = IMAGENET
    prefix = file.rsplit("-", 1)[1].split(".", 1)[0]
    enum = f"{model}_Weights".replace("resnet", "ResNet").replace("vgg", "VGG").replace("_bn_", "_BN_")
    return Checkpoint(name=f"tv_{model}.{tag.lower()}", file=file, url=_TV + file, classes=1000, mean=mean, std=std,
                      frames=None, size=224, options={"model": model},
                      source=f"torchvision (torchvision.models.{enum}.{tag})",
                      notes=f"ImageNet-1k acc@1 {acc} (resize {resize}, crop 224); sha256 starts with {prefix}"
                            " (checked on load)")


TV_CHECKPOINTS: Tuple[Checkpoint, ...] = (
    _tv("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth", 69.758, 256),
    _tv("resnet34", "IMAGENET1K_V1", "resnet34-b627a593.pth", 73.314, 256),
    _tv("resnet50", "IMAGENET1K_V1", "resnet50-0676ba61.pth", 76.13, 256),
    _tv("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 80.858, 232),
    _tv("resnet101", "IMAGENET1K_V1", "resnet101-63fe2227.pth", 77.374, 256),
    _tv("resnet101", "IMAGENET1K_V2", "resnet101-cd907fc2.pth", 81.886, 232),
    _tv("vgg16", "IMAGENET1K_V1", "vgg16-397923af.pth", 71.592, 256),
    _tv("vgg16_bn", "IMAGENET1K_V1", "vgg16_bn-6c64b313.pth", 73.36, 256),
    _tv("vgg19", "IMAGENET1K_V1", "vgg19-dcbb9e9d.pth", 72.376, 256),
)
