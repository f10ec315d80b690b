"""R(2+1)D (Tran et al., CVPR 2018) and R3D as written in pytorch-video-recognition, module for module.

Parameter names follow that repo's ``R2Plus1D_model.py`` / ``R3D_model.py`` so that the state dicts its
``train.py`` saves load strictly: ``res2plus1d.conv1.spatial_conv.weight``,
``res2plus1d.conv3.block1.downsampleconv.temporal_conv.weight``, ``res3d.conv2.blocks.0.conv1.bn.running_mean``,
``linear.weight``... Behaviour kept from the source, on purpose (the weights were trained with it):

- every factored / full convolution carries its own BatchNorm + ReLU (after the spatial and after the
  temporal part for R(2+1)D), and the residual block applies its own ``bn1`` + ReLU and ``bn2`` on top;
- the shortcut of a downsampling block is such a convolution (kernel 1, stride 2 in time and space,
  with its BN + ReLU) followed by ``downsamplebn``;
- the R(2+1)D stem: 1x7x7 spatial conv (stride 1x2x2) to 45 channels, then a 3x1x1 temporal conv;
  other R(2+1)D convolutions use M = floor(t*k*k*Nin*Nout / (k*k*Nin + t*Nout)) intermediate channels;
- no bias in the convolutions; init He normal (fan in) for convolutions, BN weight 1 / bias 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from hashbench.errors import ContractError

from ..classifier import SourceClassifier
from ..normalization import PVR_BGR
from . import DEFAULT_CLASSES
from .checkpoints import load_pvr_state, read_pvr_state

Triple = Union[int, Sequence[int]]
FEATURE_DIM = 512
WIDTHS = (64, 128, 256, 512)
TRUNKS = {"r2plus1d": "res2plus1d", "r3d": "res3d"}


def _triple(value: Triple) -> Tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    t, h, w = value
    return (int(t), int(h), int(w))


class FactoredConv(nn.Module):
    """R(2+1)D convolution: ``spatial_conv`` (1 x kh x kw) -> ``bn1`` -> ReLU -> ``temporal_conv`` (kt x 1 x 1)
    -> ``bn2`` -> ReLU. ``stem``: the network's first convolution (the full kernel spatially, a 3x1x1
    temporal conv, 45 intermediate channels)."""

    def __init__(self, cin: int, cout: int, kernel: Triple, stride: Triple = 1, padding: Triple = 0,
                 stem: bool = False) -> None:
        super().__init__()
        (kt, kh, kw), (st, sh, sw), (pt, ph, pw) = _triple(kernel), _triple(stride), _triple(padding)
        if stem:
            spatial = dict(kernel_size=(kt, kh, kw), stride=(1, sh, sw), padding=(pt, ph, pw))
            temporal = dict(kernel_size=(3, 1, 1), stride=(st, 1, 1), padding=(1, 0, 0))
            mid = 45
        else:
            spatial = dict(kernel_size=(1, kh, kw), stride=(1, sh, sw), padding=(0, ph, pw))
            temporal = dict(kernel_size=(kt, 1, 1), stride=(st, 1, 1), padding=(pt, 0, 0))
            mid = (kt * kh * kw * cin * cout) // (kh * kw * cin + kt * cout)
        self.spatial_conv = nn.Conv3d(cin, mid, bias=False, **spatial)
        self.bn1 = nn.BatchNorm3d(mid)
        self.temporal_conv = nn.Conv3d(mid, cout, bias=False, **temporal)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.spatial_conv(x)))
        return self.relu(self.bn2(self.temporal_conv(x)))


class FullConv(nn.Module):
    """R3D convolution: ``temporal_spatial_conv`` (kt x kh x kw) -> ``bn`` -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: Triple, stride: Triple = 1, padding: Triple = 0,
                 stem: bool = False) -> None:
        super().__init__()
        self.temporal_spatial_conv = nn.Conv3d(cin, cout, _triple(kernel), stride=_triple(stride),
                                               padding=_triple(padding), bias=False)
        self.bn = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.temporal_spatial_conv(x)))


CONVS = {"r2plus1d": FactoredConv, "r3d": FullConv}


class ResBlock(nn.Module):
    """``conv1`` -> ``bn1`` -> ReLU -> ``conv2`` -> ``bn2``, plus the input (through ``downsampleconv`` +
    ``downsamplebn`` when the block halves time and space), then ReLU."""

    def __init__(self, conv: type, cin: int, cout: int, kernel: int = 3, downsample: bool = False) -> None:
        super().__init__()
        self.downsample = downsample
        padding = kernel // 2
        if downsample:
            self.downsampleconv = conv(cin, cout, 1, stride=2)
            self.downsamplebn = nn.BatchNorm3d(cout)
        self.conv1 = conv(cin, cout, kernel, stride=2 if downsample else 1, padding=padding)
        self.bn1 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv(cout, cout, kernel, padding=padding)
        self.bn2 = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.relu(self.bn1(self.conv1(x)))
        res = self.bn2(self.conv2(res))
        if self.downsample:
            x = self.downsamplebn(self.downsampleconv(x))
        return self.relu(x + res)


class ResLayer(nn.Module):
    """One stage: ``block1`` (downsampling unless it is the first stage) then ``blocks`` (a ModuleList)."""

    def __init__(self, conv: type, cin: int, cout: int, size: int, downsample: bool) -> None:
        super().__init__()
        self.block1 = ResBlock(conv, cin, cout, 3, downsample)
        self.blocks = nn.ModuleList([ResBlock(conv, cout, cout, 3) for _ in range(size - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(x)
        for block in self.blocks:
            x = block(x)
        return x


class Trunk(nn.Module):
    """``conv1`` (stem, stride 1x2x2), ``conv2``..``conv5`` (stages; 3..5 halve time and space), global
    average ``pool`` -> ``(B, 512)``."""

    def __init__(self, arch: str, layers: Sequence[int]) -> None:
        super().__init__()
        conv = CONVS[arch]
        if arch == "r2plus1d":
            self.conv1 = conv(3, WIDTHS[0], (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), stem=True)
        else:
            self.conv1 = conv(3, WIDTHS[0], (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3))
        cin = WIDTHS[0]
        for index, (cout, size) in enumerate(zip(WIDTHS, layers)):
            setattr(self, f"conv{index + 2}", ResLayer(conv, cin, cout, size, downsample=index > 0))
            cin = cout
        self.pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))
        return self.pool(x).flatten(1)


class PVRResNet(SourceClassifier, nn.Module):
    """Float RGB clips ``(B, 3, T, H, W)`` -> the pooled ``(B, 512)`` of ``res2plus1d`` / ``res3d``.

    ``forward`` reverses the channel order (RGB -> BGR, the repo's OpenCV frames) before the trunk.
    ``linear`` exists when ``classes`` is given (a kept classifier); :meth:`logits` applies it.
    """

    classifier_name = "linear"
    repr_fields = ("arch", "feature_dim", "normalization")

    def __init__(self, arch: str, layers: Sequence[int] = (2, 2, 2, 2), classes: Optional[int] = None,
                 normalization: str = "pvr", mean: Tuple[float, ...] = PVR_BGR[0],
                 std: Tuple[float, ...] = PVR_BGR[1]) -> None:
        super().__init__()
        if arch not in TRUNKS:
            raise ValueError(f"unknown architecture {arch!r}; one of {', '.join(TRUNKS)}")
        self.arch = arch
        self.name = f"pvr_{arch}_18"
        self.trunk_name = TRUNKS[arch]
        setattr(self, self.trunk_name, Trunk(arch, layers))
        self.linear = nn.Linear(FEATURE_DIM, classes) if classes is not None else None
        self.feature_dim: int = FEATURE_DIM
        self.normalization = normalization
        self.input_mean: Tuple[float, float, float] = tuple(float(v) for v in mean)  # type: ignore[assignment]
        self.input_std: Tuple[float, float, float] = tuple(float(v) for v in std)  # type: ignore[assignment]
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def trunk(self) -> Trunk:
        """``res2plus1d`` or ``res3d``."""
        return getattr(self, self.trunk_name)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ContractError(f"{self.name} expects clips shaped (B, 3, T, H, W), got {tuple(clips.shape)}")
        return self.trunk(clips.flip(1))  # RGB -> BGR, the repo's channel order


def build_pvr(arch: str, path: Optional[Path], *, layers: Sequence[int], keep_classifier: bool, normalization: str,
              mean: Tuple[float, ...], std: Tuple[float, ...]) -> PVRResNet:
    """The model, with the weights of ``path`` (when given) loaded strictly (``linear.*`` dropped unless
    ``keep_classifier``; BN ``num_batches_tracked`` may be absent, as in files of PyTorch < 0.4)."""
    state, classes = read_pvr_state(path) if path is not None else (None, None)
    model = PVRResNet(arch, layers, classes=(classes or DEFAULT_CLASSES) if keep_classifier else None,
                      normalization=normalization, mean=mean, std=std)
    if state is not None:
        load_pvr_state(model, state, path, keep_classifier=keep_classifier)
    return model
