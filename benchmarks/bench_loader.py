"""Loader benchmark: the original repo's JPEG pipeline vs hashbench's clip cache, in the same run.

Data: the nine real clips of tests/data/videos replicated to ``--videos`` videos (symlinks).

(a) the original way: a folder of JPEG frames per video (every frame, native resolution, as
    extracted for the original repo); per clip 32 frames chosen by round(i*n/T), each PIL-opened,
    Resize(128, 171) + CenterCrop(112) + ToTensor + Normalize, stacked to (3, 32, 112, 112) float.
(b) hashbench: ``hashbench data prepare`` once (throughput reported), then the dataset plugin reading
    the uint8 cache (3, 32, 112, 112); normalisation belongs on the device, so (b) is also reported
    with a float normalisation of each batch in the main process (CPU) for a like-for-like figure.

Both go through torch DataLoader with the same batch size and worker count; medians of ``--repeats``.
With CUDA: r3d18 training clips/s at 16x112x112, batch 120, AMP, fed from the cache vs from random
uint8 tensors already on the GPU. Without CUDA that part is skipped (and said so).

    .venv/bin/python benchmarks/bench_loader.py [--videos 48] [--workers 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / "tests" / "data" / "videos"
sys.path.insert(0, str(REPO / "tests"))  # support.replicate_clips
MEAN, STD = (0.434, 0.405, 0.378), (0.152, 0.149, 0.157)


# -- (a) the original repo's way ------------------------------------------------------------------
class JpegFolderClips(Dataset):
    """The original loader: per frame PIL open + Resize + CenterCrop + ToTensor + Normalize."""

    def __init__(self, folders: list[Path], labels: list[int], num_frames: int = 32) -> None:
        from torchvision import transforms

        self.folders, self.labels, self.num_frames = folders, labels, num_frames
        self.transform = transforms.Compose([transforms.Resize((128, 171)), transforms.CenterCrop(112),
                                             transforms.ToTensor(), transforms.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, index: int):
        from PIL import Image

        names = sorted(os.listdir(self.folders[index]))
        n = len(names)
        frames = []
        for i in range(self.num_frames):
            with Image.open(self.folders[index] / names[min(round(i * n / self.num_frames), n - 1)]) as image:
                frames.append(self.transform(image.convert("RGB")))
        return torch.stack(frames, dim=1), self.labels[index]


# -- data ------------------------------------------------------------------------------------------
def build_data(base: Path, count: int) -> tuple[Path, Path, list[Path], list[int]]:
    """Replicate the nine clips to ``count`` videos; extract every frame of each clip as JPEG once."""
    from PIL import Image

    from hashbench.data.video import decode_all

    from support import replicate_clips

    root, jpegs = base / "videos", base / "jpegs"
    lines, folders, labels = [], [], []
    for rel, label, src in replicate_clips(root, count, VIDEOS):
        lines.append(f"{rel} {label}\n")
        folder = jpegs / src.stem
        if not folder.exists():
            folder.mkdir(parents=True)
            for i, frame in enumerate(decode_all(src), start=1):
                Image.fromarray(frame).save(folder / f"image_{i:05d}.jpg", quality=95)
        folders.append(folder)
        labels.append(label)
    listing = base / "all.txt"
    listing.write_text("".join(lines))
    return root, listing, folders, labels


def prepare_cli(root: Path, listing: Path, cache: Path, workers: int, frames: int) -> str:
    """Run `hashbench data prepare frames ...` as a user would; return its summary line."""
    import subprocess

    cmd = [sys.executable, "-m", "hashbench", "data", "prepare", "frames", "--root", str(root), "--cache", str(cache),
           "--workers", str(workers), "--frames", str(frames), "-q", "--set", f"train_list={str(listing)!r}",
           "--set", f"query_list={str(listing)!r}"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    summary = next(line for line in done.stdout.splitlines() if line.startswith("cached "))
    return f"prepare ({frames} frames, {workers} worker processes; CLI wall {wall:.1f}s incl. start-up): {summary}"


def clips_per_s(dataset: Dataset, batch: int, workers: int, repeats: int, normalise: bool = False) -> float:
    """Median clips/s of full passes over ``dataset`` through a DataLoader (first pass = warm-up)."""
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, shuffle=False,
                        persistent_workers=workers > 0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1, 1) * 255
    std = torch.tensor(STD).view(1, 3, 1, 1, 1) * 255
    rates = []
    for rep in range(repeats + 1):
        start, seen = time.perf_counter(), 0
        for clips, _ in loader:
            if normalise:
                clips = clips.float().sub_(mean).div_(std)
            seen += clips.shape[0]
        if rep:  # the first pass starts workers and warms the page cache
            rates.append(seen / (time.perf_counter() - start))
    return statistics.median(rates)


# -- GPU training throughput ----------------------------------------------------------------------
def gpu_training(root: Path, listing: Path, cache: Path, workers: int, steps: int) -> None:
    import hashbench
    from hashbench.train.model import build_hash_model

    if not torch.cuda.is_available():
        print("GPU training throughput: skipped (no CUDA device)")
        return
    device = torch.device("cuda")
    reg = hashbench.registry()
    table = {"name": "frames", "root": str(root), "train_list": str(listing), "query_list": str(listing),
             "cache": str(cache), "num_frames": 16, "crop": 112}
    print(prepare_cli(root, listing, cache, workers, 16))
    ds = reg.build("dataset", table)
    train = ds.split("train")
    model = build_hash_model(reg, {"name": "r3d18"}, {"name": "tanh", "bits": 48}).to(device)
    loss_fn = reg.build("loss", {"name": "batch_all_triplet", "margin": 14.0})
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler("cuda")
    batch = 120

    def step(clips: torch.Tensor, labels: torch.Tensor) -> None:
        with torch.autocast("cuda", dtype=torch.float16):
            loss = loss_fn(model(model.normalize(clips)), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    fake = torch.randint(0, 256, (batch, 3, 16, 112, 112), dtype=torch.uint8, device=device)
    fake_labels = torch.randint(0, 9, (batch,), device=device)
    for _ in range(3):
        step(fake, fake_labels)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step(fake, fake_labels)
    torch.cuda.synchronize()
    random_rate = steps * batch / (time.perf_counter() - start)

    sampler = torch.utils.data.RandomSampler(train, replacement=True, num_samples=(steps + 3) * batch)
    loader = DataLoader(train, batch_size=batch, sampler=sampler, num_workers=workers, pin_memory=True,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    it = iter(loader)
    for _ in range(3):
        clips, labels = next(it)
        step(clips.to(device, non_blocking=True), labels.to(device, non_blocking=True))
    torch.cuda.synchronize()
    start = time.perf_counter()
    for clips, labels in it:
        step(clips.to(device, non_blocking=True), labels.to(device, non_blocking=True))
    torch.cuda.synchronize()
    cache_rate = steps * batch / (time.perf_counter() - start)
    print(f"GPU r3d18 training, 16x112x112, batch 120, AMP ({torch.cuda.get_device_name()}):")
    print(f"  random uint8 tensors on the GPU : {random_rate:8.1f} clips/s")
    print(f"  fed from the clip cache ({workers} workers): {cache_rate:8.1f} clips/s "
          f"({cache_rate / random_rate:.2f} of the GPU-only rate)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=48, help="videos after replicating the nine clips")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (both loaders) and prepare")
    parser.add_argument("--batch", type=int, default=8, help="DataLoader batch size (both loaders)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per loader (median reported)")
    parser.add_argument("--gpu-steps", type=int, default=20, help="timed training steps per GPU variant")
    parser.add_argument("--dir", type=Path, default=None, help="work folder to keep (default: a temp folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import hashbench

    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        root, listing, folders, labels = build_data(base, args.videos)
        n_jpeg = sum(len(os.listdir(f)) for f in set(folders))
        print(f"data: {args.videos} videos from the 9 real clips ({n_jpeg} JPEG frames extracted for (a), "
              f"{time.perf_counter() - t0:.1f}s); workers={args.workers}, batch={args.batch}, 32 frames, "
              f"torch {torch.__version__}, {os.cpu_count()} CPUs")
        table = {"name": "frames", "root": str(root), "train_list": str(listing), "query_list": str(listing),
                 "cache": str(base / "cache"), "num_frames": 32, "resize": [128, 171], "crop": 112}
        print(prepare_cli(root, listing, base / "cache", args.workers, 32))
        ds = hashbench.registry().build("dataset", table)
        cached = ds.split("query")
        clip, _ = cached[0]
        assert clip.shape == (3, 32, 112, 112) and clip.dtype == torch.uint8
        original = JpegFolderClips(folders, labels)
        assert original[0][0].shape == (3, 32, 112, 112)
        a = clips_per_s(original, args.batch, args.workers, args.repeats)
        b = clips_per_s(cached, args.batch, args.workers, args.repeats)
        b_norm = clips_per_s(cached, args.batch, args.workers, args.repeats, normalise=True)
        print(f"(a) original JPEG pipeline     : {a:8.1f} clips/s")
        print(f"(b) hashbench cache (uint8)    : {b:8.1f} clips/s   ratio b/a = {b / a:6.1f}x")
        print(f"(b) + CPU float normalisation  : {b_norm:8.1f} clips/s   ratio     = {b_norm / a:6.1f}x")
        gpu_training(root, listing, base / "cache16", args.workers, args.gpu_steps)


if __name__ == "__main__":
    sys.exit(main())
