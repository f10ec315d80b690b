"""Feature-extraction benchmark: `features extract` clips/s against decoding alone, same clips, same run.

Data: the nine real clips of tests/data/videos replicated to ``--videos`` videos (symlinks) under a
class-per-folder root, read by the ``folder`` dataset (decoded on demand, no clip cache), T frames
sampled evenly and resized to ``--size``.

(a) decode alone: every clip of the splits extraction writes (train, query), through the same
    :func:`hashbench.data.extract.clip_batches` DataLoader (batch, workers) that extraction uses;
(b) the backbone alone: ``frame_features`` of normalised uint8 clips of the same shape already in
    memory (on the device), the same number of clips;
(c) extraction: :func:`hashbench.data.extract.extract_features` end to end (decode, backbone, float
    features to the HDF5 file, flushed per chunk), clips/s as it reports.

Printed: the three rates, (c)/(a) and (c)/(b), and which of decoding and the backbone bounds
extraction (the slower of (a) and (b)). The backbone is random-init (no download), built as the CLI
builds it; ``--device auto`` uses a GPU when there is one.

    .venv/bin/python benchmarks/bench_features_extract.py [--videos 24] [--model resnet18] [--frames 8]
        [--size 112] [--batch 8] [--workers 0] [--device auto]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / "tests" / "data" / "videos"
sys.path.insert(0, str(REPO / "tests"))  # support.replicate_clips


def decode_rate(dataset, request) -> tuple[float, int]:
    """(clips/s, clips) of decoding every clip of the files extraction writes, nothing else."""
    from hashbench.data.extract import clip_batches, split_files

    stems = split_files(dataset)
    start, seen = time.perf_counter(), 0
    for split in {stem: split for split, stem in stems.items()}.values():
        for clips, _ in clip_batches(dataset.split(split), 0, request.batch_size, request.workers):
            seen += clips.shape[0]
    return seen / (time.perf_counter() - start), seen


def backbone_rate(backbone, clips: int, request, shape: tuple[int, ...], device: torch.device) -> float:
    """clips/s of the backbone's frame_features on normalised uint8 clips already on ``device``."""
    batch = torch.randint(0, 256, (request.batch_size, *shape), dtype=torch.uint8, device=device)
    mean = torch.tensor(backbone.input_mean, device=device).view(1, 3, 1, 1, 1)
    std = torch.tensor(backbone.input_std, device=device).view(1, 3, 1, 1, 1)
    backbone.to(device)
    with torch.inference_mode():
        backbone.frame_features((batch.float() - mean) / std)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, seen = time.perf_counter(), 0
        while seen < clips:
            backbone.frame_features((batch.float() - mean) / std).float().cpu()
            seen += request.batch_size
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--model", default="resnet18", help="tv_frames model (resnet50: ActivityNet's extractor)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import hashbench
    from hashbench.data.extract import ExtractRequest, build_sources, extract_features
    from hashbench.device import resolve_device
    from support import replicate_clips

    device = torch.device(resolve_device(args.device))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "videos"
        replicate_clips(root, args.videos, VIDEOS)
        request = ExtractRequest(dataset={"name": "folder", "root": str(root), "query_fraction": 0.25},
                                 backbone={"name": "tv_frames", "model": args.model}, frames=args.frames,
                                 size=(args.size, args.size), batch_size=args.batch, chunk_rows=4 * args.batch,
                                 device=args.device, workers=args.workers)
        registry = hashbench.registry()
        dataset, backbone = build_sources(registry, request)
        decoded, clips = decode_rate(dataset, request)
        forward = backbone_rate(backbone, clips, request, (3, args.frames, args.size, args.size), device)
        report = extract_features(registry, request, Path(tmp) / "out")
        extracted = report.clips_per_s()
    print(f"{clips} clips ({args.videos} videos: train + query files), {args.frames} frames at {args.size}x{args.size},"
          f" tv_frames {args.model} ({report.feature_dim}-d), batch {args.batch}, {args.workers} decode workers, "
          f"{device}, {torch.get_num_threads()} torch threads")
    print(f"(a) decode alone     {decoded:8.2f} clips/s")
    print(f"(b) backbone alone   {forward:8.2f} clips/s")
    print(f"(c) features extract {extracted:8.2f} clips/s   (c)/(a) = {extracted / decoded:.2f}   "
          f"(c)/(b) = {extracted / forward:.2f}")
    bound = "decoding" if decoded < forward else "the backbone"
    print(f"bounded by {bound} ({min(decoded, forward):.2f} clips/s; "
          f"{max(decoded, forward) / min(decoded, forward):.1f}x slower than the other)")


if __name__ == "__main__":
    main()
