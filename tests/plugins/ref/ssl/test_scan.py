"""S5VH's selective scan: the fused scan and the plain loop against an entry-by-entry float64 loop of the
state-space recurrence (value and every input's gradient), and the two against each other in float32 at
S5VH's width."""
from __future__ import annotations

import pytest
import torch

from hashbench_ref.methods.ssl.scan import selective_scan, selective_scan_loop
from references import ssl_blocks


def _inputs(batch, dim, state, steps, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(batch, dim, steps, generator=gen, dtype=dtype),
               torch.randn(batch, dim, steps, generator=gen, dtype=dtype) - 1.0,
               -torch.rand(dim, state, generator=gen, dtype=dtype) * 4.0 - 0.1,
               torch.randn(batch, state, steps, generator=gen, dtype=dtype),
               torch.randn(batch, state, steps, generator=gen, dtype=dtype),
               torch.randn(dim, generator=gen, dtype=dtype),
               torch.randn(batch, dim, steps, generator=gen, dtype=dtype),
               torch.randn(dim, generator=gen, dtype=dtype)]
    return [t.requires_grad_() for t in tensors]


def _call(fn, args, softplus=True):
    u, delta, A, B, C, D, z, bias = args
    return fn(u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=softplus)


@pytest.mark.parametrize("fn", [selective_scan, selective_scan_loop], ids=["fused", "loop"])
@pytest.mark.parametrize("softplus", [True, False])
def test_scan_equals_the_entrywise_recurrence(fn, softplus):
    args = _inputs(2, 3, 4, 6, torch.float64)
    if not softplus:
        args[1] = (args[1].detach().abs() * 0.3).requires_grad_()
    out = _call(fn, args, softplus)
    ref = ssl_blocks.selective_scan(*args, softplus=softplus)
    assert torch.allclose(out, ref, rtol=1e-10, atol=1e-12)
    upstream = torch.randn_like(out)
    for ours, theirs in zip(torch.autograd.grad(out, args, upstream), torch.autograd.grad(ref, args, upstream)):
        assert torch.allclose(ours, theirs, rtol=1e-9, atol=1e-11)


def test_fused_scan_equals_the_loop_in_float32_at_s5vh_width():
    args = _inputs(4, 512, 16, 25, torch.float32, seed=1)
    fused, loop = _call(selective_scan, args), _call(selective_scan_loop, args)
    assert torch.allclose(fused, loop, rtol=1e-4, atol=1e-4)
    upstream = torch.randn_like(loop)
    for a, b in zip(torch.autograd.grad(fused, args, upstream), torch.autograd.grad(loop, args, upstream)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def test_scan_without_gradients_keeps_no_states_and_gives_the_same_values():
    args = _inputs(3, 8, 4, 9, torch.float64, seed=3)
    with torch.no_grad():
        fused = _call(selective_scan, args)
    assert not fused.requires_grad
    assert torch.allclose(fused, _call(selective_scan_loop, args).detach(), rtol=1e-12, atol=1e-12)


def test_scan_without_skip_or_gate_and_bad_layout():
    args = _inputs(2, 3, 4, 5, torch.float64)
    u, delta, A, B, C = args[:5]
    plain = selective_scan(u, delta, A, B, C)
    assert torch.allclose(plain, selective_scan_loop(u, delta, A, B, C), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(batch, N, L\)"):
        selective_scan(u, delta, A, B[0], C)


@pytest.mark.gpu
def test_fused_scan_on_cuda_equals_the_loop_and_mamba_ssms_kernel():
    args = [t.detach().cuda().requires_grad_() for t in _inputs(4, 512, 16, 25, torch.float32, seed=2)]
    fused, loop = _call(selective_scan, args), _call(selective_scan_loop, args)
    assert torch.allclose(fused, loop, rtol=1e-4, atol=1e-4)
    upstream = torch.randn_like(loop)
    for a, b in zip(torch.autograd.grad(fused, args, upstream), torch.autograd.grad(loop, args, upstream)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
    kernel = pytest.importorskip("mamba_ssm.ops.selective_scan_interface")
    theirs = _call(kernel.selective_scan_fn, args)
    assert torch.allclose(fused, theirs, rtol=1e-3, atol=1e-3)
    for a, b in zip(torch.autograd.grad(fused, args, upstream), torch.autograd.grad(theirs, args, upstream)):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))
