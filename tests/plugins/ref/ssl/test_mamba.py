"""The pure-PyTorch Mamba layer and S5VH's bidirectional block: mamba-ssm's parameter names, shapes and
initialisation, the fused scan against the plain loop through the whole layer (value and gradients),
causality, and the tied (released) and untied (paper) variants."""
from __future__ import annotations

import math

import pytest
import torch

from hashbench_ref.methods.ssl.mamba import BiMambaBlock, Mamba


def test_mamba_has_mamba_ssms_parameters_and_initialisation():
    torch.manual_seed(0)
    layer = Mamba(256)
    shapes = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    assert shapes == {"in_proj.weight": (1024, 256), "conv1d.weight": (512, 1, 4), "conv1d.bias": (512,),
                      "x_proj.weight": (48, 512), "dt_proj.weight": (512, 16), "dt_proj.bias": (512,),
                      "A_log": (512, 16), "D": (512,), "out_proj.weight": (256, 512)}
    assert torch.equal(layer.A_log[3], torch.log(torch.arange(1, 17, dtype=torch.float32)))
    dt = torch.nn.functional.softplus(layer.dt_proj.bias)
    assert dt.min() >= 1e-3 - 1e-7 and dt.max() <= 0.1 + 1e-6
    assert layer.dt_proj.weight.abs().max() <= 16 ** -0.5
    with pytest.raises(ValueError, match="scan"):
        Mamba(8, scan="cuda")


def test_fused_layer_equals_the_loop_layer_in_value_and_gradient():
    torch.manual_seed(1)
    fused, loop = Mamba(32, scan="fused").double(), Mamba(32, scan="loop").double()
    loop.load_state_dict(fused.state_dict())
    x = torch.randn(3, 25, 32, dtype=torch.float64)
    out_f, out_l = fused(x), loop(x)
    assert torch.allclose(out_f, out_l, rtol=1e-10, atol=1e-12)
    upstream = torch.randn_like(out_f)
    grads_f = torch.autograd.grad(out_f, list(fused.parameters()), upstream)
    grads_l = torch.autograd.grad(out_l, list(loop.parameters()), upstream)
    for a, b in zip(grads_f, grads_l):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-11)


def test_mamba_is_causal():
    torch.manual_seed(2)
    layer = Mamba(16).double()
    x = torch.randn(2, 10, 16, dtype=torch.float64)
    changed = x.clone()
    changed[:, 6:] += 1.0
    assert torch.allclose(layer(x)[:, :6], layer(changed)[:, :6], rtol=0, atol=1e-12)
    assert not torch.allclose(layer(x)[:, 6:], layer(changed)[:, 6:])


def test_bimamba_tied_and_untied():
    torch.manual_seed(3)
    tied, untied = BiMambaBlock(16), BiMambaBlock(16, tied=False)
    assert not any(k.startswith("mamba2") for k in tied.state_dict())
    assert any(k.startswith("mamba2") for k in untied.state_dict())
    x = torch.randn(2, 7, 16)
    ref = x + tied.mamba1(tied.norm1(x)) + torch.flip(tied.mamba1(tied.norm2(torch.flip(x, [1]))), [1])
    assert torch.allclose(tied(x), ref, atol=1e-6)
    flipped = BiMambaBlock(16)
    flipped.load_state_dict(tied.state_dict())
    # with equal norms, the tied block treats both time directions alike
    assert torch.allclose(flipped(torch.flip(x, [1])), torch.flip(tied(x), [1]), atol=1e-5)


def test_drop_path_scales_kept_samples_only_in_training():
    block = BiMambaBlock(8, drop_path=0.5)
    x = torch.randn(64, 5, 8)
    plain = BiMambaBlock(8)
    plain.load_state_dict(block.state_dict())
    block.eval()
    assert torch.allclose(block(x), plain.train()(x), atol=1e-6)  # no drop at evaluation
    block.train()
    torch.manual_seed(0)
    delta = block(x) - x
    dropped = (delta.abs().amax(dim=(1, 2)) == 0).float().mean().item()
    assert 0.3 < dropped < 0.7 and math.isfinite(delta.sum().item())
