"""Benchmark: S5VH's selective scan on CPU, the fused pure-PyTorch scan against the plain sequential loop
(``hashbench_ref.methods.ssl.scan``), at S5VH's size: T = 25 steps, batch 64, d_inner 512 (2 x 256),
d_state 16, with ``delta_softplus``, ``delta_bias``, ``D`` and ``z`` as Mamba passes them.

    .venv/bin/python benchmarks/bench_selective_scan.py              # 1 thread (default), 5 repeats
    .venv/bin/python benchmarks/bench_selective_scan.py --threads 2 --repeat 3

Prints, for the forward pass without gradients (encoding) and for forward + backward (a training
step's scan, inputs that require grad), the median wall seconds of each and the ratio loop / fused,
then the parity of the two (largest absolute difference of the output, largest relative difference of
every input's gradient; float32). Most of the loop's backward is autograd's per-step
``SelectBackward``: each of the T steps writes a zero-filled (batch, dim, T, N) gradient and adds it up
(``fill_`` and ``add_`` were 64% of its profile). One thread by default: on a shared machine the short
parallel regions of a per-step loop are dominated by waiting for the other thread, which makes
two-thread timings unsteady.

Measured on the shared 2-core build machine, 1 thread, median of 5: forward without grad loop 0.72-0.81 s,
fused 0.21-0.27 s (3.0-3.4x); forward + backward loop 6.6-7.8 s, fused 0.47-0.50 s (13.6-16.7x); parity
3.8e-6 (output), 6e-7 (relative gradient).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from hashbench_ref.methods.ssl.scan import selective_scan, selective_scan_loop


def inputs(batch: int, dim: int, state: int, steps: int, seed: int = 0) -> list[torch.Tensor]:
    """Mamba-like inputs (u, delta, A, B, C, D, z, delta_bias), each a leaf that requires grad."""
    gen = torch.Generator().manual_seed(seed)
    a_log = torch.log(torch.arange(1, state + 1, dtype=torch.float32)).repeat(dim, 1)
    tensors = [torch.randn(batch, dim, steps, generator=gen), torch.randn(batch, dim, steps, generator=gen) - 2.0,
               -torch.exp(a_log), torch.randn(batch, state, steps, generator=gen),
               torch.randn(batch, state, steps, generator=gen), torch.ones(dim),
               torch.randn(batch, dim, steps, generator=gen), torch.rand(dim, generator=gen)]
    return [t.requires_grad_() for t in tensors]


def call(fn, args: list[torch.Tensor]) -> torch.Tensor:
    u, delta, A, B, C, D, z, bias = args
    return fn(u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=True)


def timed(fn, args: list[torch.Tensor], backward: bool, repeat: int) -> float:
    """Median wall seconds of ``repeat`` runs after one warm-up."""
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        if backward:
            call(fn, args).sum().backward()
        else:
            with torch.no_grad():
                call(fn, args)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def parity(args: list[torch.Tensor]) -> tuple[float, float]:
    """Largest |fused - loop| of the output and of the gradients of every input (same upstream grad)."""
    fused, loop = call(selective_scan, args), call(selective_scan_loop, args)
    upstream = torch.randn_like(loop)
    g_fused = torch.autograd.grad(fused, args, upstream)
    g_loop = torch.autograd.grad(loop, args, upstream)
    grad = max(float((p - q).abs().max() / q.abs().max().clamp_min(1e-12)) for p, q in zip(g_fused, g_loop))
    return float((fused - loop).detach().abs().max()), grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--state", type=int, default=16)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    args = inputs(opts.batch, opts.dim, opts.state, opts.steps)
    print(f"selective scan, T={opts.steps} batch={opts.batch} d_inner={opts.dim} d_state={opts.state} "
          f"threads={opts.threads}, median of {opts.repeat}")
    for backward, label in ((False, "forward (no grad)"), (True, "forward+backward")):
        loop = timed(selective_scan_loop, args, backward, opts.repeat)
        fused = timed(selective_scan, args, backward, opts.repeat)
        print(f"{label:>17}: loop {loop:.3f} s  fused {fused:.3f} s  ratio {loop / fused:.1f}x")
    out, grad = parity(args)
    print(f"parity: max |output diff| {out:.2e}, max relative gradient diff {grad:.2e}")


if __name__ == "__main__":
    main()
