"""`hashbench features extract` (parse, call :mod:`hashbench.data.extract`, print the progress and the TOML)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from ._app import console, features_app, parse_sets, resumable, say

SET_HELP = "Another key of the dataset table, e.g. --set split=2 (TOML value syntax). Repeatable."
BACKBONE_SET_HELP = ("A key of the backbone table, e.g. -b model=\"vgg16\" -b pretrained=\"tv_vgg16.imagenet1k_v1\". "
                     "Repeatable.")


def _table(name: str, options: List[str]) -> dict[str, Any]:
    return {"name": name, **parse_sets(options)}


def _extract(request: Any, out: Path, progress: Any) -> Any:
    from .. import registry
    from ..data.extract import extract_features

    with resumable(out):
        return extract_features(registry(), request, out, progress=progress)


@features_app.command("extract")
def extract(
    dataset: str = typer.Argument(..., help="Clip dataset plugin: ucf101, hmdb51, jhmdb, folder, moving_digits, ..."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder the <split>.h5 files are written to."),
    root: Optional[Path] = typer.Option(None, "--root", help="Dataset folder (video datasets)."),
    set_: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    backbone: str = typer.Option("tv_frames", "--backbone", help="Frame-level backbone: tv_frames, timm_frames."),
    backbone_set: List[str] = typer.Option([], "--backbone-set", "-b", help=BACKBONE_SET_HELP),
    frames: int = typer.Option(25, "--frames", min=1, help="Frames T sampled evenly over each video."),
    size: Optional[str] = typer.Option(None, "--size", help="Frame size HxW (video datasets: default 224x224; "
                                                            "generated ones: one side, default theirs)."),
    dtype: str = typer.Option("float32", "--dtype", help="Storage dtype of feats: float32 or float16."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Clips per backbone call."),
    chunk: int = typer.Option(256, "--chunk", min=1, help="Rows per flushed chunk (whole batches): what a "
                                                          "rerun after a kill keeps."),
    device: str = typer.Option("auto", "--device", help="auto (a GPU when there is one), cpu, cuda or cuda:N."),
    workers: int = typer.Option(0, "--workers", "-w", min=0, help="Decoding processes (0 = in this process)."),
    seed: int = typer.Option(0, "--seed", help="Seed of a random-init backbone and of a generated dataset."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Extract per-frame features of every split of DATASET into OUT (resumable: rerun the same command)."""
    from ..data import parse_size
    from ..data.extract import ExtractRequest, feature_table, toml_snippet

    table = _table(dataset, set_)
    if root is not None:
        table["root"] = str(root)
    request = ExtractRequest(dataset=table, backbone=_table(backbone, backbone_set), frames=frames,
                             size=parse_size(size, "--size") if size else None, dtype=dtype, batch_size=batch_size,
                             chunk_rows=chunk, device=device, workers=workers, seed=seed)
    if quiet:
        report = _extract(request, out, None)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        bar = Progress(TextColumn("extract {task.fields[split]}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
        tasks: dict[str, Any] = {}

        def update(split: str, done: int, total: int) -> None:
            if split not in tasks:
                tasks[split] = bar.add_task(split, total=total, split=split)
            bar.update(tasks[split], completed=done, total=total)

        with bar:
            report = _extract(request, out, update)
    for item in report.files:
        state = "complete already" if not item.extracted else \
            f"{item.extracted} rows now" + (f" (resumed at row {item.resumed_from})" if item.resumed_from else "")
        say(f"{item.path}: {', '.join(item.splits)}; {item.rows} x {report.frames} x {report.feature_dim}; {state}")
    if report.clips_per_s():
        say(f"{report.clips_per_s():.1f} clips/s on {report.device}")
    say("frame_features table reading these files (paste into an experiments/features TOML):")
    say(toml_snippet(feature_table(report)))
