"""The prepared GPU check (run through ``benchmarks/gpu_check.sh``): does hashbench run on this machine,
and is the GPU kept busy? One summary table; exit code 1 when a check failed.

CPU parts (always): a tiny training run; the 2-process gloo DDP equality test (1 vs 2 processes).
CUDA parts (when torch sees a GPU): the ``gpu``-marked tests; r3d18 (width 64) training at 16x112x112
for a fixed number of steps with AMP (bf16) and in fp32, from uint8 tensors already on the GPU and
from a clip cache built from the real test clips of tests/data/videos (the ratio says whether
data loading keeps the GPU busy), plus channels-last 3D and ``torch.compile`` variants: clips/s, peak
memory, GPU utilisation (nvidia-smi, when present); ranking 10,000 x 1,000,000 64-bit codes on the
GPU; a 2-process DDP run when two GPUs are present.

    python benchmarks/gpu_check.py [--work DIR] [--steps 20] [--batch 32] [--workers 8]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / "tests" / "data" / "videos"
sys.path.insert(0, str(REPO / "tests"))


@dataclass
class Row:
    check: str
    status: str  # ok, FAIL, skipped
    detail: str
    seconds: float


ROWS: list[Row] = []


def check(name: str, fn: Callable[[], str]) -> None:
    """Run one check; its row says ok with ``fn``'s detail, or FAIL with the error's last line."""
    start = time.perf_counter()
    try:
        ROWS.append(Row(name, "ok", fn(), time.perf_counter() - start))
    except Skip as exc:
        ROWS.append(Row(name, "skipped", str(exc), time.perf_counter() - start))
    except Exception as exc:  # a failed check is a row, not the end of the script
        text = str(exc).strip().splitlines()
        ROWS.append(Row(name, "FAIL", f"{type(exc).__name__}: {text[-1] if text else ''}"[:300],
                        time.perf_counter() - start))
    print(f"[gpu_check] {ROWS[-1].status:7s} {name}: {ROWS[-1].detail}", flush=True)


class Skip(Exception):
    """A check that does not apply here."""


def sh(cmd: list[str], cwd: Path, env: Optional[dict] = None, timeout: float = 600) -> str:
    full = dict(os.environ, COLUMNS="200", NO_COLOR="1", **(env or {}))
    done = subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {done.returncode}: "
                           f"{(done.stdout + done.stderr).strip().splitlines()[-1:]}")
    return done.stdout


# -- CPU parts ------------------------------------------------------------------------------------
def cpu_training(work: Path) -> str:
    from support import tiny_experiment_text

    toml = work / "tiny_cpu.toml"
    toml.write_text(tiny_experiment_text(epochs=1, num_frames=4, backbone='name = "r3d18"\nwidth = 4'))
    out = sh([sys.executable, "-m", "hashbench", "run", str(toml), "--no-record", "-q", "--runs-dir",
              str(work / "runs")], work)
    return next((line.strip() for line in out.splitlines() if line.startswith("epoch 1 test")), "trained")


def cpu_ddp() -> str:
    out = sh([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
              "tests/core/run/test_ddp.py", "-k", "same_run"], REPO, env={"OMP_NUM_THREADS": "1"})
    return next((line.strip() for line in out.splitlines() if "relative difference" in line), "passed")


# -- CUDA parts -----------------------------------------------------------------------------------
def cuda_tests() -> str:
    out = sh([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"], REPO,
             timeout=300)
    return out.strip().splitlines()[-1]


class GpuUtil:
    """nvidia-smi utilisation samples (percent) while the block runs; None without nvidia-smi."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def __enter__(self) -> "GpuUtil":
        if shutil.which("nvidia-smi"):
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()
        return self

    def _poll(self) -> None:
        while not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      "-i", "0"], capture_output=True, text=True, timeout=5).stdout
                self.samples.append(int(out.strip().splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self.stop.wait(0.2)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()

    def text(self) -> str:
        if not self.samples:
            return "util n/a"
        return f"util {sum(self.samples) / len(self.samples):.0f}% (max {max(self.samples)}%)"


def clip_cache(work: Path, workers: int):
    """The real test clips, replicated to 48 videos of 9 classes, cached at 16 frames of 112x112 (once)."""
    import hashbench

    from support import replicate_clips

    root, listing = work / "videos", work / "all.txt"
    listing.write_text("".join(f"{rel} {label}\n" for rel, label, _ in replicate_clips(root, 48, VIDEOS)))
    cache = work / "cache"
    sh([sys.executable, "-m", "hashbench", "data", "prepare", "frames", "--root", str(root), "--cache", str(cache),
        "--workers", str(workers), "--frames", "16", "-q", "--set", f"train_list={str(listing)!r}",
        "--set", f"query_list={str(listing)!r}"], work)
    table = {"name": "frames", "root": str(root), "train_list": str(listing), "query_list": str(listing),
             "cache": str(cache), "num_frames": 16, "crop": 112}
    return hashbench.registry().build("dataset", table).split("train")


def training(work: Path, steps: int, batch: int, workers: int) -> None:
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    import hashbench
    from hashbench.train.model import build_hash_model

    device = torch.device("cuda")
    reg = hashbench.registry()
    train = clip_cache(work, workers)
    rates: dict[str, float] = {}

    def run(label: str, dtype: Optional[torch.dtype], source: str, channels_last: bool = False,
            compiled: bool = False) -> str:
        torch.manual_seed(0)
        model = build_hash_model(reg, {"name": "r3d18", "width": 64}, {"name": "tanh", "bits": 64}).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        net = torch.compile(model) if compiled else model
        loss_fn = reg.build("loss", {"name": "batch_all_triplet", "margin": 14.0})
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

        def step(clips: torch.Tensor, labels: torch.Tensor) -> None:
            inputs = model.normalize(clips)
            if channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                loss = loss_fn(net(inputs).float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        torch.cuda.reset_peak_memory_stats()
        if source == "gpu":
            clips = torch.randint(0, 256, (batch, 3, 16, 112, 112), dtype=torch.uint8, device=device)
            labels = torch.randint(0, 9, (batch,), device=device)
            batches = ((clips, labels) for _ in range(steps + 3))
        else:
            sampler = RandomSampler(train, replacement=True, num_samples=(steps + 3) * batch)
            loader = DataLoader(train, batch_size=batch, sampler=sampler, num_workers=workers, pin_memory=True,
                                persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
            batches = ((c.to(device, non_blocking=True), y.to(device, non_blocking=True)) for c, y in loader)
        for _ in range(3):
            step(*next(batches))
        torch.cuda.synchronize()
        with GpuUtil() as util:
            start = time.perf_counter()
            for clips, labels in batches:
                step(clips, labels)
            torch.cuda.synchronize()
            rate = steps * batch / (time.perf_counter() - start)
        rates[label] = rate
        peak = torch.cuda.max_memory_allocated() / 2**30
        ratio = ""
        if source == "cache" and f"{label.split(',')[0]}, gpu tensors" in rates:
            ratio = f", {rate / rates[label.split(',')[0] + ', gpu tensors']:.2f} of the GPU-only rate"
        return f"{rate:.1f} clips/s, peak {peak:.2f} GiB, {util.text()}{ratio}"

    for name, dtype in (("bf16", torch.bfloat16), ("fp32", None)):
        check(f"train r3d18 w64 16x112x112 b{batch} {name}, gpu tensors",
              lambda dtype=dtype, name=name: run(f"{name}, gpu tensors", dtype, "gpu"))
        check(f"train r3d18 w64 16x112x112 b{batch} {name}, clip cache ({workers} workers)",
              lambda dtype=dtype, name=name: run(f"{name}, cache", dtype, "cache"))
    check(f"train bf16 channels_last_3d, gpu tensors",
          lambda: run("bf16 cl, gpu tensors", torch.bfloat16, "gpu", channels_last=True))
    check(f"train bf16 torch.compile, gpu tensors (compile time excluded)",
          lambda: run("bf16 compile, gpu tensors", torch.bfloat16, "gpu", compiled=True))


def ranking() -> str:
    import numpy as np
    import torch

    from hashbench.eval.ranking import Needs, compute_stats

    rng = np.random.default_rng(0)
    db = rng.choice(np.array([-1, 1], dtype=np.int8), size=(1_000_000, 64))
    queries = rng.choice(np.array([-1, 1], dtype=np.int8), size=(10_000, 64))
    db_labels, query_labels = rng.integers(0, 100, 1_000_000), rng.integers(0, 100, 10_000)
    torch.cuda.synchronize()
    start = time.perf_counter()
    stats = compute_stats(queries, query_labels, db, db_labels, Needs(ap=True, topk=100), device="cuda",
                          backend="torch", dedup=False)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return f"10,000 x 1,000,000 64-bit codes (AP + top-100) in {seconds:.1f} s ({type(stats).__name__})"


def ssvh_epochs(work: Path) -> str:
    """One epoch each of ConMH and S5VH (paper sizes, 64 bits) on 45,585 synthetic 25 x 4096 videos drawn
    on the GPU (FCVID's training split): videos/s and peak memory (benchmarks/bench_method_steps.py)."""
    out = sh([sys.executable, str(Path(__file__).with_name("bench_method_steps.py")), "--methods", "conmh,s5vh",
              "--device", "cuda", "--batch", "256", "--steps", "3", "--epoch-videos", "45585"], work, timeout=420)
    rows = [line for line in out.splitlines() if line.startswith("| conmh") or line.startswith("| s5vh")]
    return "; ".join(" ".join(row.split()) for row in rows) or out.strip().splitlines()[-1]


def ddp_two_gpus(work: Path) -> str:
    import torch

    from support import tiny_experiment_text

    if torch.cuda.device_count() < 2:
        raise Skip(f"{torch.cuda.device_count()} GPU(s)")
    toml = work / "tiny_cuda.toml"
    toml.write_text(tiny_experiment_text(epochs=1, num_frames=8, backbone='name = "r3d18"\nwidth = 16')
                    .replace('device = "cpu"', 'device = "cuda"'))
    out = sh([sys.executable, "-m", "hashbench", "run", str(toml), "--no-record", "-q", "--nproc", "2",
              "--set", "train.sync_bn=true", "--runs-dir", str(work / "runs")], work)
    return next((line.strip() for line in out.splitlines() if line.startswith("epoch 1 test")), "trained")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("HASHBENCH_GPU_CHECK_DIR",
                                                                         "/tmp/hashbench-gpu-check")))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--cpu-only", action="store_true", help="Only the CPU parts.")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    check("cpu: tiny training run", lambda: cpu_training(args.work))
    check("cpu: 2-process gloo DDP vs 1 process", cpu_ddp)
    import torch

    cuda = torch.cuda.is_available() and not args.cpu_only
    if cuda:
        check("cuda: pytest -m gpu", cuda_tests)
        training(args.work, args.steps, args.batch, args.workers)
        check("cuda: ranking on the GPU", ranking)
        check("cuda: one epoch of ConMH and S5VH, FCVID-size", lambda: ssvh_epochs(args.work))
        check("cuda: 2-process DDP (NCCL)", lambda: ddp_two_gpus(args.work))
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device: GPU parts skipped"
    print(f"\nhashbench GPU check: {device}; torch {torch.__version__}; {time.perf_counter() - started:.0f} s")
    width = max(len(r.check) for r in ROWS)
    print(f"{'check':{width}s}  {'status':7s}  {'s':>6s}  detail")
    for r in ROWS:
        print(f"{r.check:{width}s}  {r.status:7s}  {r.seconds:6.1f}  {r.detail}")
    return 1 if any(r.status == "FAIL" for r in ROWS) else 0


if __name__ == "__main__":
    sys.exit(main())
