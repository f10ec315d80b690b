"""C3D (Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015).

Module names are those of pytorch-video-recognition's ``C3D_model.py`` (``conv1`` .. ``conv5b``,
``fc6``, ``fc7``, ``fc8``), so that its fine-tuned checkpoints load by name; the Sports-1M port
``c3d-pretrained.pth`` stores the same tensors as ``features.N`` / ``classifier.N`` (an
``nn.Sequential`` layout) and is renamed on load (:mod:`.checkpoints`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import torch
from torch import nn

from hashbench.contract import read_state_dict
from hashbench.errors import ContractError

from ..classifier import SourceClassifier
from ..normalization import PVR_BGR
from . import FRAMES, SIDE
from .checkpoints import SPORTS1M_CLASSES, load_c3d_state, to_model_names

#: pool5's output that fc6 (8192 inputs) expects: 512 channels x (1, 4, 4).
POOL5_OUT = (1, 4, 4)
FEATURE_DIM = 4096


def _conv(cin: int, cout: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=True)


class C3D(SourceClassifier, nn.Module):
    """Float RGB clips ``(B, 3, T, H, W)`` normalised with ``input_mean``/``input_std`` -> fc7 ``(B, 4096)``.

    ``forward`` reverses the channel order (RGB -> BGR, the weights' order), then conv1..pool5, fc6,
    ReLU, dropout, fc7, ReLU, dropout (dropout acts in train mode only). ``fc8`` exists when
    ``classes`` is given (a kept source classifier); :meth:`logits` applies it.
    """

    name = "c3d"
    classifier_name = "fc8"
    repr_fields = ("feature_dim", "normalization", "adaptive_pool")

    def __init__(self, dropout: float = 0.5, adaptive_pool: bool = False, classes: Optional[int] = None,
                 normalization: str = "pvr", mean: Tuple[float, ...] = PVR_BGR[0],
                 std: Tuple[float, ...] = PVR_BGR[1]) -> None:
        super().__init__()
        ceil = bool(adaptive_pool)
        self.conv1 = _conv(3, 64)
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2), ceil_mode=ceil)
        self.conv2 = _conv(64, 128)
        self.pool2 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=ceil)
        self.conv3a = _conv(128, 256)
        self.conv3b = _conv(256, 256)
        self.pool3 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=ceil)
        self.conv4a = _conv(256, 512)
        self.conv4b = _conv(512, 512)
        self.pool4 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=ceil)
        self.conv5a = _conv(512, 512)
        self.conv5b = _conv(512, 512)
        self.pool5 = nn.MaxPool3d(kernel_size=2, stride=2, padding=(0, 1, 1), ceil_mode=ceil)
        self.fit = nn.AdaptiveMaxPool3d(POOL5_OUT) if adaptive_pool else None
        self.fc6 = nn.Linear(512 * POOL5_OUT[0] * POOL5_OUT[1] * POOL5_OUT[2], FEATURE_DIM)
        self.fc7 = nn.Linear(FEATURE_DIM, FEATURE_DIM)
        self.fc8 = nn.Linear(FEATURE_DIM, classes) if classes is not None else None
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.adaptive_pool = ceil
        self.feature_dim: int = FEATURE_DIM
        self.normalization = normalization
        self.input_mean: Tuple[float, float, float] = tuple(float(v) for v in mean)  # type: ignore[assignment]
        self.input_std: Tuple[float, float, float] = tuple(float(v) for v in std)  # type: ignore[assignment]
        for module in self.modules():
            if isinstance(module, nn.Conv3d):  # the source's init: He normal (fan in); biases as PyTorch's
                nn.init.kaiming_normal_(module.weight)

    def check_clips(self, clips: torch.Tensor) -> None:
        """ContractError (one line) unless ``clips`` is ``(B, 3, T, H, W)`` of a size fc6 can take."""
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ContractError(f"c3d expects clips shaped (B, 3, T, H, W), got {tuple(clips.shape)}")
        if self.adaptive_pool:
            return
        t, h, w = clips.shape[2:]
        if not (FRAMES[0] <= t <= FRAMES[1] and SIDE[0] <= h <= SIDE[1] and SIDE[0] <= w <= SIDE[1]):
            raise ContractError(f"c3d takes clips of {FRAMES[0]}-{FRAMES[1]} frames of {SIDE[0]}-{SIDE[1]} px"
                                f" (fc6's 8192 inputs; trained on 16x112x112), got {t}x{h}x{w};"
                                " set backbone.adaptive_pool = true for other sizes")

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        self.check_clips(clips)
        x = clips.flip(1)  # RGB -> BGR, the channel order of the Sports-1M weights
        x = self.pool1(self.relu(self.conv1(x)))
        x = self.pool2(self.relu(self.conv2(x)))
        x = self.pool3(self.relu(self.conv3b(self.relu(self.conv3a(x)))))
        x = self.pool4(self.relu(self.conv4b(self.relu(self.conv4a(x)))))
        x = self.pool5(self.relu(self.conv5b(self.relu(self.conv5a(x)))))
        if self.fit is not None:
            x = self.fit(x)
        x = self.dropout(self.relu(self.fc6(x.flatten(1))))
        return self.dropout(self.relu(self.fc7(x)))


def build_c3d(path: Optional[Path], *, keep_classifier: bool, dropout: float, adaptive_pool: bool,
              normalization: str, mean: Tuple[float, ...], std: Tuple[float, ...]) -> C3D:
    """The model, with the weights of ``path`` (when given) loaded strictly. With a file, the model is
    built on the meta device and only materialised once the file fits (no wasted random init)."""
    options = dict(dropout=dropout, adaptive_pool=adaptive_pool, normalization=normalization, mean=mean, std=std)
    if path is None:
        return C3D(classes=SPORTS1M_CLASSES if keep_classifier else None, **options)
    raw = read_state_dict(path)
    classes = SPORTS1M_CLASSES
    weight = to_model_names(raw)[0].get("fc8.weight")
    if isinstance(weight, torch.Tensor) and weight.dim() == 2:
        classes = int(weight.shape[0])
    with torch.device("meta"):
        model = C3D(classes=classes if keep_classifier else None, **options)
    return load_c3d_state(model, raw, f"backbone.pretrained: {Path(path).expanduser()}")
