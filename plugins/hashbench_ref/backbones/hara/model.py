"""Hara et al.'s 3D ResNets (3D-ResNets-PyTorch), written from the papers and the repository's behaviour.

Layout and parameter names are those of Hara's checkpoints, so their files load by name::

    conv1 (3 -> C, kernel (conv1_t_size, 7, 7), stride (conv1_t_stride, 2, 2), pad (conv1_t_size // 2, 3, 3))
    bn1, relu, maxpool (3x3x3, stride 2, pad 1; skipped with no_max_pool)
    layer1..layer4: stages of blocks, stride 1, 2, 2, 2 (on the first block), widths C, 2C, 4C, 8C
    (C = int(64 * widen_factor) for the real model)

- ``BasicBlock`` (depths 10/18/34): ``conv1`` 3x3x3 (stride), ``bn1``, ReLU, ``conv2`` 3x3x3, ``bn2``, + shortcut,
  ReLU. ``Bottleneck`` (50/101/152/200, expansion 4): ``conv1`` 1x1x1, ``bn1``, ReLU, ``conv2`` 3x3x3 (the
  stride sits here), ``bn2``, ReLU, ``conv3`` 1x1x1 to 4x, ``bn3``, + shortcut, ReLU.
- Where a block changes shape (stride 2, or a channel change: every stage's first Bottleneck), the shortcut
  is type A, ``avg_pool3d(kernel 1, stride s)`` plus zero channels, no parameters (Hara built it from
  ``tensor.data``, so no gradient flows through it; ``shortcut_grad=True`` lets it), or type B,
  ``downsample.0`` = Conv3d 1x1x1 (stride s) and ``downsample.1`` = BatchNorm3d.
- Features: the mean over the last stage's time and space positions, ``(B, 8C * expansion)`` (Hara's
  ``AdaptiveAvgPool3d(1)`` before ``fc``; for 112x112 input the retrieval repo's ``AvgPool3d((1, 4, 4))``
  followed by a temporal mean). ``fc`` exists only when the source classifier is kept.

Initialisation: ``"hara2017"`` (the 2017 code that Video-Retrieval-C3D copied: conv weights
~ N(0, sqrt(2 / (k_t * k_h * out_channels)))) or ``"kaiming"`` (the CVPR2018 and master code:
``kaiming_normal_(fan_out, relu)``); BatchNorm weight 1, bias 0 in both.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..classifier import SourceClassifier
from . import INITS
from .checkpoints import NORMALIZATIONS

__all__ = ["LAYOUTS", "INITS", "ZeroPadShortcut", "BasicBlock", "Bottleneck", "ResNet3D", "resnet3d"]

#: depth -> (block kind, blocks per stage), as in Hara's ``generate_model``.
LAYOUTS = {
    10: ("basic", (1, 1, 1, 1)),
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}


def _conv3x3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Type-A shortcut: strided subsampling plus zero channels (no parameters, so no state_dict keys);
    detached unless ``grad`` (Hara's ``torch.cat([out.data, zero_pads])``)."""

    def __init__(self, out_planes: int, in_planes: int, stride: int, grad: bool = False) -> None:
        super().__init__()
        self.stride = stride
        self.pad_channels = out_planes - in_planes
        self.grad = grad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        out = F.pad(out, (0, 0, 0, 0, 0, 0, 0, self.pad_channels))
        return out if self.grad else out.detach()

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad_channels={self.pad_channels}, grad={self.grad}"


def _shortcut(kind: str, in_planes: int, out_planes: int, stride: int, grad: bool) -> Optional[nn.Module]:
    if stride == 1 and in_planes == out_planes:
        return None
    if kind == "A":
        return ZeroPadShortcut(out_planes, in_planes, stride, grad)
    return nn.Sequential(_conv1x1x1(in_planes, out_planes, stride), nn.BatchNorm3d(out_planes))


class BasicBlock(nn.Module):
    """conv3x3x3(stride) -> BN -> ReLU -> conv3x3x3 -> BN, plus the shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "A",
                 shortcut_grad: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv3x3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = _shortcut(shortcut, in_planes, planes, stride, shortcut_grad)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1x1 -> BN -> ReLU -> 3x3x3(stride) -> BN -> ReLU -> 1x1x1 (4x) -> BN, plus the shortcut, ReLU."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B",
                 shortcut_grad: bool = False) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = _conv1x1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = _conv3x3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = _conv1x1x1(planes, out_planes)
        self.bn3 = nn.BatchNorm3d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(shortcut, in_planes, out_planes, stride, shortcut_grad)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet3D(SourceClassifier, nn.Module):
    """Hara's 3D ResNet trunk, pooled to one feature vector per clip.

    Input: float clips ``(B, 3, T, H, W)`` normalised with ``input_mean``/``input_std`` (0-255 units), any
    T, H, W >= 1 (16x112x112 as Hara trained). Output: ``(B, feature_dim)``, the mean over the last
    stage's time and space positions. ``classes``: keep a source classifier ``fc`` (``Linear(feature_dim,
    classes)``, frozen: ``requires_grad`` False) that :meth:`logits` applies; ``forward`` never does.
    ``adopt_classifier`` (without ``classes``): ``fc`` is created, to fit, by the first ``load_state_dict``
    holding ``fc.*`` (a model rebuilt from a run that kept its classifier, without the checkpoint).
    """

    repr_fields = ("arch", "feature_dim", "normalization", "shortcut")

    def __init__(self, layers: Sequence[int] = (2, 2, 2, 2), width: int = 64,
                 normalization: str = "c3d_retrieval", shortcut_grad: bool = False, *, block: str = "basic",
                 shortcut: str = "A", widen_factor: float = 1.0, conv1_t_size: int = 7, conv1_t_stride: int = 1,
                 no_max_pool: bool = False, init: str = "hara2017", classes: Optional[int] = None,
                 adopt_classifier: bool = False, arch: str = "r3d18") -> None:
        super().__init__()
        if block not in _BLOCKS or shortcut not in ("A", "B") or init not in INITS or normalization not in NORMALIZATIONS:
            raise ValueError(f"ResNet3D: block {block!r}, shortcut {shortcut!r}, init {init!r},"
                             f" normalization {normalization!r}: one of them is unknown")
        unit = _BLOCKS[block]
        widths = [int(w * widen_factor) for w in (width, width * 2, width * 4, width * 8)]
        if min(widths) < 1:
            raise ValueError(f"ResNet3D: stage widths {widths} (width {width} x widen_factor {widen_factor})")
        self.arch = arch
        self.name = arch
        self.shortcut = shortcut
        self.conv1 = nn.Conv3d(3, widths[0], kernel_size=(conv1_t_size, 7, 7), stride=(conv1_t_stride, 2, 2),
                               padding=(conv1_t_size // 2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = (nn.Identity() if no_max_pool
                                   else nn.MaxPool3d(kernel_size=(3, 3, 3), stride=2, padding=1))
        in_planes = widths[0]
        for index, (planes, blocks) in enumerate(zip(widths, layers), start=1):
            stride = 1 if index == 1 else 2
            stage = []
            for b in range(blocks):
                stage.append(unit(in_planes, planes, stride if b == 0 else 1, shortcut, shortcut_grad))
                in_planes = planes * unit.expansion
            setattr(self, f"layer{index}", nn.Sequential(*stage))
        self.feature_dim: int = widths[-1] * unit.expansion
        mean, std = NORMALIZATIONS[normalization]
        self.normalization = normalization
        self.input_mean: Tuple[float, float, float] = tuple(mean)  # type: ignore[assignment]
        self.input_std: Tuple[float, float, float] = tuple(std)  # type: ignore[assignment]
        self.init = init
        self.reset_parameters()
        self.fc: Optional[nn.Linear] = None
        if classes is not None:
            self.set_classifier(classes)
        elif adopt_classifier:  # sized by the first state dict loaded that holds fc.* (a run's own weights)
            register = getattr(self, "register_load_state_dict_pre_hook", None)
            if register is not None:
                register(_adopt_classifier)
            else:  # torch < 2.1 has only the private spelling
                self._register_load_state_dict_pre_hook(_adopt_classifier, with_module=True)

    def set_classifier(self, classes: int) -> None:
        """A frozen ``fc = Linear(feature_dim, classes)`` on the model's device (PyTorch's default init)."""
        self.fc = nn.Linear(self.feature_dim, classes).to(self.conv1.weight.device)
        self.fc.requires_grad_(False)

    def reset_parameters(self) -> None:
        """The chosen initialisation of every Conv3d (in module order) and BatchNorm3d."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                if self.init == "hara2017":
                    n = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                    module.weight.data.normal_(0.0, math.sqrt(2.0 / n))
                else:
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                module.weight.data.fill_(1.0)
                module.bias.data.zero_()

    def trunk(self, clips: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map ``(B, feature_dim, T', H', W')``."""
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ValueError(f"{self.arch} expects clips shaped (B, 3, T, H, W), got {tuple(clips.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(clips))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.trunk(clips).mean(dim=(2, 3, 4))


def _adopt_classifier(module: ResNet3D, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                      error_msgs) -> None:
    """Load pre-hook of a model built with ``keep_classifier`` but no checkpoint: create ``fc`` to fit."""
    weight = state_dict.get(f"{prefix}fc.weight")
    if module.fc is None and weight is not None and weight.dim() == 2 and weight.shape[1] == module.feature_dim:
        module.set_classifier(int(weight.shape[0]))


def resnet3d(depth: int, **options) -> ResNet3D:
    """Hara's ResNet-``depth`` (10, 18, 34, 50, 101, 152, 200); ``options`` as in :class:`ResNet3D`."""
    block, layers = LAYOUTS[depth]
    options.setdefault("arch", f"r3d{depth}")
    return ResNet3D(layers, block=block, **options)
