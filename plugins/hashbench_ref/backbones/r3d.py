"""3D ResNet-18 of Hara et al. (3D-ResNets-PyTorch), as used by the original Video-Retrieval-C3D repo.

Layout and parameter names follow Hara's ``resnet.py`` so that their Kinetics checkpoints load by
name: ``conv1``, ``bn1``, ``layer{1..4}.{0,1}.{conv1,bn1,conv2,bn2}``. Shortcut type A: where a block
changes shape, the input is subsampled with ``avg_pool3d(kernel 1, stride s)`` and zero channels are
appended (no parameters). Hara's code built that shortcut from ``tensor.data``, so no gradient flows
through it; ``shortcut_grad=False`` (the default) keeps that behaviour.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

#: Input normalisations in 0-255 pixel units: name -> (mean, std).
NORMALIZATIONS = {
    # The original retrieval repo: ToTensor (0-1) then Normalize(mean, std), rescaled to 0-255.
    "c3d_retrieval": ((0.434 * 255, 0.405 * 255, 0.378 * 255), (0.152 * 255, 0.149 * 255, 0.157 * 255)),
    # What Hara's Kinetics weights were trained on: 0-255 minus the ActivityNet mean, no std division.
    "kinetics": ((114.7748, 107.7354, 99.4750), (1.0, 1.0, 1.0)),
}


def _conv3x3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3x3x3(stride) -> BN -> ReLU -> conv3x3x3 -> BN, plus a type-A shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut_grad: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv3x3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.stride = stride
        self.pad_channels = planes - in_planes
        self.downsample = stride != 1 or in_planes != planes
        self.shortcut_grad = shortcut_grad

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Identity, or (type A) strided subsampling plus zero channels; detached unless shortcut_grad."""
        if not self.downsample:
            return x
        out = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        out = F.pad(out, (0, 0, 0, 0, 0, 0, 0, self.pad_channels))
        return out if self.shortcut_grad else out.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return self.relu(out)


class ResNet3D(nn.Module):
    """Hara's 3D ResNet trunk, pooled to one feature vector per clip.

    Input: float clips ``(B, 3, T, H, W)`` normalised with ``input_mean``/``input_std`` (0-255 units).
    Output: ``(B, feature_dim)``, the mean over the last stage's time and space positions (for 112x112
    input exactly the original ``AvgPool3d((1, 4, 4))`` followed by a temporal mean).
    """

    def __init__(self, layers: Sequence[int] = (2, 2, 2, 2), width: int = 64,
                 normalization: str = "c3d_retrieval", shortcut_grad: bool = False) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        self.conv1 = nn.Conv3d(3, width, kernel_size=7, stride=(1, 2, 2), padding=(3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=(3, 3, 3), stride=2, padding=1)
        in_planes = width
        for index, (planes, blocks) in enumerate(zip(widths, layers), start=1):
            stride = 1 if index == 1 else 2
            stage = []
            for b in range(blocks):
                stage.append(BasicBlock(in_planes, planes, stride if b == 0 else 1, shortcut_grad))
                in_planes = planes
            setattr(self, f"layer{index}", nn.Sequential(*stage))
        self.feature_dim: int = widths[-1] * BasicBlock.expansion
        mean, std = NORMALIZATIONS[normalization]
        self.normalization = normalization
        self.input_mean: Tuple[float, float, float] = tuple(mean)  # type: ignore[assignment]
        self.input_std: Tuple[float, float, float] = tuple(std)  # type: ignore[assignment]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Hara's initialisation: conv ~ N(0, sqrt(2 / (k_t * k_h * out_channels))); BN weight 1, bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                n = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                module.weight.data.normal_(0.0, math.sqrt(2.0 / n))
            elif isinstance(module, nn.BatchNorm3d):
                module.weight.data.fill_(1.0)
                module.bias.data.zero_()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ValueError(f"r3d18 expects clips shaped (B, 3, T, H, W), got {tuple(clips.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(clips))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3, 4))


def resnet3d18(width: int = 64, normalization: str = "c3d_retrieval",
               shortcut_grad: bool = False) -> ResNet3D:
    """ResNet-18 layout: BasicBlock, [2, 2, 2, 2]."""
    return ResNet3D((2, 2, 2, 2), width=width, normalization=normalization, shortcut_grad=shortcut_grad)
