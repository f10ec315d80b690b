"""`hashbench data prepare` and `hashbench data check` (parse, call :mod:`hashbench.data`, print)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from ._app import console, data_app, parse_sets, resumable, say

ROOT_HELP = "Dataset folder as distributed (the one holding the class folders)."
CACHE_HELP = "Clip cache folder (default: $HASHBENCH_CACHE/<root>-<hash> or <root>/.hashbench-cache)."
LISTS_HELP = "Folder with your own copy of the split lists (default: the official lists shipped with hashbench)."
SET_HELP = "Another key of the dataset table, e.g. --set protocol=\"official\" (TOML value syntax). Repeatable."


def _build(dataset: str, root: Path, cache: Optional[Path], frames: int, size: str, lists: Optional[Path],
           options: List[str], features: bool = False) -> Any:
    from .. import registry
    from ..data import media_dataset

    return media_dataset(registry(), dataset, root, num_frames=frames, size=size, cache=cache, lists=lists,
                         options=parse_sets(options), features=features)


@data_app.command("prepare")
def prepare(
    dataset: str = typer.Argument(..., help="Dataset plugin: ucf101, hmdb51, jhmdb, frames, folder, ..."),
    root: Path = typer.Option(..., "--root", help=ROOT_HELP),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=0,
                                          help="Decoding processes (0 = in this process; default: CPUs, max 16)."),
    frames: int = typer.Option(32, "--frames", min=1, help="Frames sampled per video (uniformly over the video)."),
    size: str = typer.Option("128x171", "--size", help="Stored frame size HxW."),
    lists: Optional[Path] = typer.Option(None, "--lists", help=LISTS_HELP),
    set_: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Decode every video of DATASET once into a memory-mappable uint8 clip cache (resumable)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from ..device import decode_workers

    ds = _build(dataset, root, cache, frames, size, lists, set_)
    n_workers = decode_workers() if workers is None else workers
    say(f"{dataset}: {len(ds.all_videos)} listed videos -> {ds.cache_dir} "
                  f"({frames} frames at {ds.resize[0]}x{ds.resize[1]}, {n_workers} workers)")
    if "sampled_lists" in ds.provenance:
        say(f"sampled lists: {ds.provenance['sampled_lists']}")
    if quiet:
        report = _prepare(ds, n_workers, None)
    else:
        progress = Progress(TextColumn("prepare"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[bad]}"),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
        with progress:
            task = progress.add_task("prepare", total=None, bad="")
            bad = 0

            def update(done: int, total: int, key: str, status: str) -> None:
                nonlocal bad
                bad += status == "bad"
                progress.update(task, completed=done, total=total, bad=f"{bad} bad" if bad else "")

            report = _prepare(ds, n_workers, update)
    missing = sum(p.what == "missing" for p in report.problems)
    refused = sum(p.what == "refused" for p in report.problems)
    say(f"cached {report.cached} of {len(ds.all_videos)} listed videos "
                  f"(decoded {report.decoded} now at {report.videos_per_s:.1f} videos/s, reused {report.reused}); "
                  f"bad {len(report.bad)}, missing {missing}, refused {refused}")
    for problem in (report.bad + report.problems)[:10]:
        say(f"  {problem.line()}")
    if len(report.bad) + len(report.problems) > 10:
        say(f"  ... {len(report.bad) + len(report.problems) - 10} more")
    if report.bad or report.problems:
        say(f"full list: {report.report_file}")


def _prepare(ds: Any, workers: int, progress: Any) -> Any:
    with resumable(ds.cache_dir):
        return ds.prepare(workers=workers, progress=progress)


@data_app.command("check")
def check(
    dataset: str = typer.Argument(..., help="Dataset plugin: ucf101, hmdb51, jhmdb, frames, folder, ..."),
    root: Path = typer.Option(..., "--root", help=ROOT_HELP),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP),
    frames: int = typer.Option(32, "--frames", min=1, help="Frames per clip of the cache to check."),
    size: str = typer.Option("128x171", "--size", help="Frame size HxW of the cache to check."),
    lists: Optional[Path] = typer.Option(None, "--lists", help=LISTS_HELP),
    set_: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    show: int = typer.Option(20, "--show", min=0, help="Name at most this many problem videos."),
) -> None:
    """Check DATASET's lists against the official counts, its videos on disk and in the cache.

    Exit status 0 when everything is present, 1 when something is missing (named in the output).
    """
    from rich.markup import escape

    from ..data import check_dataset

    ds = _build(dataset, root, cache, frames, size, lists, set_, features=True)
    report = check_dataset(ds)
    for line in report.lines:
        mark = "[green]ok[/]  " if line.ok else "[red]FAIL[/]"
        console.print(f"{mark} {escape(line.text)}", highlight=False, soft_wrap=True)
    for problem in report.problems[:show]:
        say(f"  {problem.line()}")
    if len(report.problems) > show:
        say(f"  ... {len(report.problems) - show} more")
    if not report.ok:
        raise typer.Exit(1)
