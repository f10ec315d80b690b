"""Independent transcriptions of the ORIGINAL method, used only as oracles by the parity tests.

Written from the behaviour of Hara et al.'s ``resnet.py`` (3D-ResNets-PyTorch) as used by the
Video-Retrieval-C3D repo and of that repo's ``TripletLoss`` (see docs/reference-method.md), in a
deliberately different style from the plugin code: Hara's classification model keeps its 400-way
``fc`` (so its state dict IS Hara's checkpoint layout), the retrieval features use the original
``AvgPool3d((1, 4, 4), stride=1)`` + squeeze + temporal mean (valid for 112x112 input only), the
type-A shortcut concatenates a zero tensor to a detached (``.data``-like) subsample, and the loss is
built from a Python list of triplets exactly as the original did.
"""
from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------------------------------
# Hara's 3D ResNet-18 (shortcut A) + the retrieval repo's pooling
# --------------------------------------------------------------------------------------------------
def _shortcut_a(x: torch.Tensor, planes: int, stride: int) -> torch.Tensor:
    sub = F.avg_pool3d(x, kernel_size=1, stride=stride)
    zeros = torch.zeros(sub.size(0), planes - sub.size(1), sub.size(2), sub.size(3), sub.size(4),
                        dtype=sub.dtype, device=sub.device)
    # Hara: Variable(torch.cat([out.data, zero_pads], dim=1)) -> no gradient through the shortcut
    return torch.cat([sub.data, zeros], dim=1)


class HaraBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.relu(out)


class HaraResNet18(nn.Module):
    """Hara's classifier (with ``fc``); ``features()`` is the retrieval repo's trunk + pooling."""

    def __init__(self, num_classes: int = 400, width: int = 64) -> None:
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv3d(3, width, kernel_size=7, stride=(1, 2, 2), padding=(3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=(3, 3, 3), stride=2, padding=1)
        self.layer1 = self._stage(width, 2, 1)
        self.layer2 = self._stage(width * 2, 2, 2)
        self.layer3 = self._stage(width * 4, 2, 2)
        self.layer4 = self._stage(width * 8, 2, 2)
        self.avgpool = nn.AvgPool3d((1, 4, 4), stride=1)
        self.fc = nn.Linear(width * 8, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / fan))
            elif isinstance(m, nn.BatchNorm3d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            def downsample(x, planes=planes, stride=stride):
                return _shortcut_a(x, planes, stride)
        layers = [HaraBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(HaraBasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Retrieval feature: AvgPool3d((1,4,4)) (112x112 input), squeeze H, W, mean over time."""
        out = self.avgpool(self.trunk(x))
        assert out.shape[-1] == 1 and out.shape[-2] == 1, "the original pooling needs 112x112 input"
        out = out.squeeze(-1).squeeze(-1)  # (B, 512, T')
        return out.mean(dim=2)


class HashLayer(nn.Module):
    """The original hash layer: Linear(512 -> bits), Tanh."""

    def __init__(self, bits: int, feature_dim: int = 512) -> None:
        super().__init__()
        self.hashcoder = nn.Sequential(nn.Linear(feature_dim, bits), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hashcoder(x)


# --------------------------------------------------------------------------------------------------
# The original TripletLoss (list of triplets, python loops)
# --------------------------------------------------------------------------------------------------
def original_triplet_loss(x: torch.Tensor, labels, margin: float) -> torch.Tensor:
    """For each sample in order: if its class has >= 2 members and a non-member exists, append every
    (a < p in class, n outside); mean of relu(margin + d_ap - d_an) over the list; 0 if empty."""
    y = [int(v) for v in labels]
    triplets = []
    for label in y:
        members = [i for i, v in enumerate(y) if v == label]
        others = [i for i, v in enumerate(y) if v != label]
        if len(members) < 2 or len(others) < 1:
            continue
        for a, p in itertools.combinations(members, 2):
            for n in others:
                triplets.append((a, p, n))
    if not triplets:
        return torch.tensor(0.0)
    losses = []
    for a, p, n in triplets:
        d_ap = (x[a] - x[p]).pow(2).sum()
        d_an = (x[a] - x[n]).pow(2).sum()
        losses.append(F.relu(margin + d_ap - d_an))
    return torch.stack(losses).sum() / float(len(losses))


def brute_force_uniform(x: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Textbook batch-all mean over DISTINCT triplets (a < p relevant, n irrelevant to a).

    ``labels``: (B,) ids or (B, C) multi-hot (relevant = share a class)."""
    b = x.shape[0]

    def related(i: int, j: int) -> bool:
        if labels.dim() == 1:
            return bool(labels[i] == labels[j])
        return bool(((labels[i] > 0) & (labels[j] > 0)).any())

    losses = []
    for a in range(b):
        for p in range(a + 1, b):
            if not related(a, p):
                continue
            for n in range(b):
                if related(a, n):
                    continue
                d_ap = (x[a] - x[p]).pow(2).sum()
                d_an = (x[a] - x[n]).pow(2).sum()
                losses.append(F.relu(margin + d_ap - d_an))
    if not losses:
        return torch.tensor(0.0)
    return torch.stack(losses).mean()
