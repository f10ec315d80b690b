"""Benchmark: one training step of each label-free method at the papers' sizes, videos/s.

Each method is built with its registered defaults (the paper's settings) at 64 bits on inputs of FCVID's
shape, frames T = 25 x D = 4096 (``--frames``, ``--dim``), fitted on ``--fit-videos`` random videos with
its preprocessing stages made small where they would take minutes on random data (anchors, clusters,
pre-training epochs: ``SMALL_STAGES``; the step itself is unchanged), then timed for ``--steps`` optimizer
steps (Adam) of ``training_loss`` at batch ``--batch`` (64) after one warm-up step, and for encoding::

    .venv/bin/python benchmarks/bench_method_steps.py                          # every method, CPU
    .venv/bin/python benchmarks/bench_method_steps.py --methods conmh,s5vh --device cuda --epoch-videos 45585

``--epoch-videos N`` also runs one epoch of N synthetic videos drawn on the device (FCVID's training split
is 45,585 videos), reporting videos/s and peak device memory: what ``benchmarks/gpu_check.py`` runs for
ConMH and S5VH when a GPU is lent. Prints one table (tabulate); the ratio column is each method's
training videos/s over ``greedyhash_u``'s (the cheapest trained method: an MLP on pooled
features), measured in the same run.
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Optional

import torch
from tabulate import tabulate

import hashbench
from hashbench.contract import MethodBatch

#: Label-free methods of the reference set, in the order of the papers' tables.
METHODS = ("greedyhash_u", "bihalf", "uhbdnn", "cibhash", "ssdh", "tbh",
           "ssvh", "bth", "dkph", "mcmsh", "conmh", "s5vh", "autossvh")
#: Preprocessing stages cut down so a fit on random data takes seconds (the training step is unchanged).
SMALL_STAGES = {"bth": {"anchors": 16, "pretrain_epochs": 1}, "dkph": {"anchors": 16, "pretrain_epochs": 1},
                "mcmsh": {"clusters": 16}, "s5vh": {"clusters": 16, "centre_sweeps": 1, "pca_dim": 64},
                "autossvh": {"clusters": [16, 8]}}


def build(name: str, args: argparse.Namespace) -> Any:
    table = {"name": name, **SMALL_STAGES.get(name, {})}
    return hashbench.registry().build("method", table, bits=args.bits, seed=0, feature_dim=args.dim,
                                      num_frames=args.frames, num_train=args.fit_videos, device=args.device)


def step_rate(method: Any, args: argparse.Namespace, device: torch.device) -> tuple[float, float]:
    """(training videos/s, encoding videos/s) at batch ``args.batch`` on random inputs."""
    gen = torch.Generator(device="cpu").manual_seed(1)
    inputs = torch.randn(args.batch, args.frames, args.dim, generator=gen).to(device)
    batch = MethodBatch(inputs, torch.arange(args.batch, device=device) % args.fit_videos)
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    method.on_epoch_start(1, 1)
    method.train()
    seconds = []
    for step in range(args.steps + 1):  # the first is a warm-up
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        method.training_loss(batch).backward()
        optimizer.step()
        _sync(device)
        if step:
            seconds.append(time.perf_counter() - start)
    method.eval()
    with torch.no_grad():
        start = time.perf_counter()
        method.encode(inputs)
        _sync(device)
        encode = time.perf_counter() - start
    return args.batch * len(seconds) / sum(seconds), args.batch / encode


def epoch_rate(method: Any, args: argparse.Namespace, device: torch.device) -> tuple[float, float]:
    """(videos/s, peak device memory in GiB) over one epoch of ``args.epoch_videos`` synthetic videos."""
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=1e-4)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    method.train()
    start, done = time.perf_counter(), 0
    while done < args.epoch_videos:
        n = min(args.batch, args.epoch_videos - done)
        inputs = torch.randn(n, args.frames, args.dim, device=device)
        batch = MethodBatch(inputs, (torch.arange(n, device=device) + done) % args.fit_videos)
        optimizer.zero_grad(set_to_none=True)
        method.training_loss(batch).backward()
        optimizer.step()
        done += n
    _sync(device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return done / (time.perf_counter() - start), peak


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, args: argparse.Namespace, device: torch.device) -> Optional[list[Any]]:
    if name not in hashbench.registry().names("method"):
        return None
    method = build(name, args).to(device)
    start = time.perf_counter()
    if callable(getattr(method, "fit", None)):
        method.fit(torch.randn(args.fit_videos, args.frames, args.dim, generator=torch.Generator().manual_seed(0)))
    fit = time.perf_counter() - start
    train, encode = step_rate(method, args, device)
    row = [name, f"{fit:.1f}", f"{train:.1f}", f"{encode:.0f}"]
    if args.epoch_videos:
        rate, peak = epoch_rate(method, args, device)
        row += [f"{rate:.1f}", f"{peak:.2f}"]
    return row


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--fit-videos", type=int, default=256)
    parser.add_argument("--epoch-videos", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = [row for name in args.methods.split(",") if (row := measure(name.strip(), args, device))]
    base = next((float(r[2]) for r in rows if r[0] == "greedyhash_u"), None)
    for row in rows:
        row.insert(3, f"{float(row[2]) / base:.3f}" if base else "")
    headers = ["method", "fit s", "train videos/s", "vs greedyhash_u", "encode videos/s"]
    if args.epoch_videos:
        headers += [f"epoch of {args.epoch_videos}: videos/s", "peak GiB"]
    print(f"batch {args.batch}, {args.frames} x {args.dim} inputs, {args.bits} bits, {args.device}, "
          f"torch threads {torch.get_num_threads()}")
    print(tabulate(rows, headers=headers, tablefmt="github"))


if __name__ == "__main__":
    main()
