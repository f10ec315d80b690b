"""Backbone benchmark: parameters and forward clips/s of every registered backbone on this machine.

Each backbone is built with its defaults (full size, random init: no weights are read) and run in eval
mode under ``torch.no_grad`` on a batch of uint8-range clips normalised with its own ``input_mean`` /
``input_std``, at 16x112x112 (Hara's and C3D's training input) or, for a model that refuses it, the
smallest clip it takes (S3D 16x209x209, MViT 16x224x224). The ratio column is clips/s relative to
``r3d18`` measured in the same run (machines differ; the ratio travels better than the number).

    .venv/bin/python benchmarks/bench_backbones.py [--batch 2] [--repeats 3] [--only r3d18,c3d]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import hashbench
from hashbench.errors import HashbenchError

#: Models whose input is fixed or has a minimum above 16x112x112: the clip they are measured on (T, H, W).
CLIPS = {"tv_s3d": (16, 209, 209), "tv_mvit_v1_b": (16, 224, 224), "tv_mvit_v2_s": (16, 224, 224)}


def measure(name: str, batch: int, repeats: int) -> tuple[int, tuple[int, int, int], float]:
    """(parameters, clip (T, H, W), median forward clips/s) of backbone ``name``."""
    registry = hashbench.registry()
    frames, height, width = CLIPS.get(name, (16, 112, 112))
    model = registry.build("backbone", {"name": name}, where="backbone", seed=0, device="cpu", bits=64,
                           num_classes=10, multi_label=False, num_frames=frames, num_train=10).eval()
    params = sum(p.numel() for p in model.parameters())
    mean = torch.tensor(model.input_mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(model.input_std).view(1, 3, 1, 1, 1)
    clips = (torch.randint(0, 256, (batch, 3, frames, height, width)).float() - mean) / std
    times = []
    with torch.no_grad():
        model(clips)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(clips)
            times.append(time.perf_counter() - start)
    return params, (frames, height, width), batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated backbone names (default: every one)")
    args = parser.parse_args()
    registry = hashbench.registry()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or registry.names("backbone")
    if "r3d18" not in names:
        names = ["r3d18", *names]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, eval forward")
    print(f"{'backbone':<18} {'params':>9} {'clip':>12} {'clips/s':>9} {'vs r3d18':>9}")
    rows = {}
    for name in names:
        try:
            rows[name] = measure(name, args.batch, args.repeats)
        except (HashbenchError, ImportError) as exc:  # e.g. timm not installed
            print(f"{name:<18} skipped: {str(exc).splitlines()[0]}")
    base = rows["r3d18"][2]
    for name, (params, clip, speed) in rows.items():
        shape = "x".join(map(str, clip))
        print(f"{name:<18} {params / 1e6:>8.1f}M {shape:>12} {speed:>9.2f} {speed / base:>8.2f}x")


if __name__ == "__main__":
    main()
