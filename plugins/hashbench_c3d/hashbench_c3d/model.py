"""C3D (Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015).

Layer names follow the common PyTorch port (conv1, conv2, conv3a/b, conv4a/b, conv5a/b, fc6, fc7);
with ``width=64, fc_dim=4096, batch_norm=False`` every parameter has the original C3D shape. The
pooling (ceil mode, adaptive pool5) and the RGB input make it a teaching variant, not the original:
hashbench's reference ``c3d`` backbone is the faithful network that loads the Sports-1M weights.
"""
from __future__ import annotations

import torch
from torch import nn

#: The original Video-Retrieval-C3D normalisation (mean/std of 0-1 pixels), in 0-255 units. This example
#: plugin imports nothing from hashbench but the hook marker, so it states the numbers itself; hashbench's
#: own copy is hashbench_ref.backbones.normalization.C3D_RETRIEVAL (tests/plugins/c3d checks they agree).
INPUT_MEAN = (0.434 * 255, 0.405 * 255, 0.378 * 255)
INPUT_STD = (0.152 * 255, 0.149 * 255, 0.157 * 255)


class C3D(nn.Module):
    """``(B, 3, T, H, W)`` float clips -> ``(B, fc_dim)`` fc7 features (after ReLU and dropout)."""

    def __init__(self, width: int = 16, fc_dim: int = 512, dropout: float = 0.5,
                 batch_norm: bool = False) -> None:
        super().__init__()
        c1, c2, c3, c4 = width, 2 * width, 4 * width, 8 * width
        self.batch_norm = batch_norm
        self.conv1 = self._conv(3, c1)
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.conv2 = self._conv(c1, c2)
        self.pool2 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
        self.conv3a = self._conv(c2, c3)
        self.conv3b = self._conv(c3, c3)
        self.pool3 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
        self.conv4a = self._conv(c3, c4)
        self.conv4b = self._conv(c4, c4)
        self.pool4 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
        self.conv5a = self._conv(c4, c4)
        self.conv5b = self._conv(c4, c4)
        self.pool5 = nn.AdaptiveMaxPool3d((1, 4, 4))
        self.fc6 = nn.Linear(c4 * 16, fc_dim)
        self.fc7 = nn.Linear(fc_dim, fc_dim)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.feature_dim: int = fc_dim
        self.input_mean = INPUT_MEAN
        self.input_std = INPUT_STD
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def _conv(self, cin: int, cout: int) -> nn.Module:
        conv = nn.Conv3d(cin, cout, kernel_size=3, padding=1)
        if not self.batch_norm:
            return conv
        return nn.Sequential(conv, nn.BatchNorm3d(cout))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ValueError(f"c3d expects clips shaped (B, 3, T, H, W), got {tuple(clips.shape)}")
        x = self.pool1(self.relu(self.conv1(clips)))
        x = self.pool2(self.relu(self.conv2(x)))
        x = self.pool3(self.relu(self.conv3b(self.relu(self.conv3a(x)))))
        x = self.pool4(self.relu(self.conv4b(self.relu(self.conv4a(x)))))
        x = self.pool5(self.relu(self.conv5b(self.relu(self.conv5a(x)))))
        x = self.dropout(self.relu(self.fc6(x.flatten(1))))
        return self.dropout(self.relu(self.fc7(x)))
