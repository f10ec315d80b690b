"""A Mamba layer in pure PyTorch and S5VH's bidirectional Mamba block, on CPU or any device.

Papers: A. Gu, T. Dao, "Mamba", 2023; S5VH (Wang et al., AAAI 2025). References followed:
state-spaces/mamba at v2.0.4 (f9dbb4f, ``mamba_ssm/modules/mamba_simple.py``, the version S5VH pins) for
:class:`Mamba`: the same parameters under the same names (``in_proj``, ``conv1d``, ``x_proj``,
``dt_proj``, ``A_log``, ``D``, ``out_proj``, so a mamba-ssm state dict loads), the same initialisation
(S4D-real ``A = -[1..N]``, dt bias = softplus^-1 of a log-uniform dt in [dt_min, dt_max] floored at
1e-4, ``dt_proj.weight`` uniform in +-dt_rank^-0.5) and the same forward with ``x`` (B, L, d_model)::

    x, z = in_proj(x).chunk(2)                       (B, d_inner, L) each, d_inner = expand * d_model
    x = silu(causal depthwise conv1d(x, d_conv))
    dt, B, C = x_proj(x).split(dt_rank, d_state, d_state);   dt = dt_proj.weight dt
    y = selective_scan(x, dt, -exp(A_log), B, C, D, z, delta_bias=dt_proj.bias, delta_softplus=True)
    out = out_proj(y)                                 (B, L, d_model)

and gimpong/AAAI25-S5VH at 4926cb7 (``model/S5VH.py``, ``Block``) for :class:`BiMambaBlock`::

    x + drop_path(mamba1(norm1(x)) + flip(mamba2(norm2(flip(x)))))        flip over time

The released ``Block.forward`` assigns ``self.mamba2 = self.mamba1`` on every call, so both directions
share one Mamba (``tied=True``, the released code, which produced the published numbers); ``tied=False``
keeps two, as the paper describes. The two LayerNorms stay separate in both. Deliberate differences:
the scan is :func:`~hashbench_ref.methods.ssl.scan.selective_scan` (``scan="fused"``) or the plain loop
(``scan="loop"``), never the CUDA kernel, in the input's dtype (mamba-ssm keeps ``A``, ``D`` and the dt
bias in float32); with ``tied=True`` there is no orphan second Mamba (the
reference's stays in its optimiser, unused).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .scan import selective_scan, selective_scan_loop

__all__ = ["Mamba", "BiMambaBlock", "drop_path"]

SCANS = {"fused": selective_scan, "loop": selective_scan_loop}


class Mamba(nn.Module):
    """``(B, L, d_model) -> (B, L, d_model)``; defaults S5VH's ``Mamba(d_model, d_state=16, d_conv=4,
    expand=2)``; ``scan`` "fused" (default) or "loop"."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, dt_min: float = 1e-3,
                 dt_max: float = 0.1, dt_floor: float = 1e-4, scan: str = "fused") -> None:
        super().__init__()
        if scan not in SCANS:
            raise ValueError(f"Mamba scan must be one of {sorted(SCANS)}, got {scan!r}")
        self.scan, self.d_state = scan, d_state
        self.d_inner, self.dt_rank = expand * d_model, math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        length = hidden.shape[1]
        x, z = self.in_proj(hidden).transpose(1, 2).chunk(2, dim=1)  # (B, d_inner, L) each
        x = F.silu(self.conv1d(x)[..., :length])
        dt, b, c = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (dt @ self.dt_proj.weight.T).transpose(1, 2)
        y = SCANS[self.scan](x, dt, -torch.exp(self.A_log.to(x.dtype)), b.transpose(1, 2).contiguous(),
                             c.transpose(1, 2).contiguous(), self.D.to(x.dtype), z=z,
                             delta_bias=self.dt_proj.bias.to(x.dtype), delta_softplus=True)
        return self.out_proj(y.transpose(1, 2))


def drop_path(x: torch.Tensor, rate: float, training: bool,
              generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``rate`` and scale the rest by 1/(1-rate)
    (draws from ``generator`` when given, else the global generator)."""
    if rate == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - rate, generator=generator)
    return x * keep / (1.0 - rate)


class BiMambaBlock(nn.Module):
    """S5VH's block ``(B, L, dim) -> (B, L, dim)``; ``tied`` True (default: the released code) shares one
    Mamba between the two directions; ``drop_path`` the stochastic-depth rate (S5VH: 0.5 at the top);
    ``norm_eps`` the LayerNorms' eps (S5VH's models pass 1e-6)."""

    def __init__(self, dim: int, tied: bool = True, drop_path: float = 0.0, d_state: int = 16, scan: str = "fused",
                 norm_eps: float = 1e-5):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=norm_eps), nn.LayerNorm(dim, eps=norm_eps)
        self.mamba1 = Mamba(dim, d_state=d_state, scan=scan)
        self.mamba2 = None if tied else Mamba(dim, d_state=d_state, scan=scan)
        self.drop_rate = drop_path
        self.generator: Optional[torch.Generator] = None  # drop_path's draws (a method sets its own)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        backward = self.mamba1 if self.mamba2 is None else self.mamba2
        up = self.mamba1(self.norm1(x))
        down = torch.flip(backward(self.norm2(torch.flip(x, dims=[1]))), dims=[1])
        return x + drop_path(up + down, self.drop_rate, self.training, self.generator)
