"""Console reporters implementing the engine's Reporter protocol: rich progress bars, or plain lines."""
from __future__ import annotations

from typing import Mapping

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from ..train.progress import NullReporter


def metrics_line(epoch: int, split: str, metrics: Mapping[str, float]) -> str:
    """``epoch 5 test: map 0.8123  map@100 0.8011`` (what is printed after each evaluation)."""
    values = "  ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    return f"epoch {epoch} {split}: {values}"


class PlainReporter(NullReporter):
    """No bars: one line per note and per evaluation (``--quiet``, logs of parallel sweep points)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def evaluated(self, epoch: int, split: str, metrics: Mapping[str, float]) -> None:
        self.console.print(metrics_line(epoch, split, metrics), highlight=False, markup=False)

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)


class RichReporter(PlainReporter):
    """One bar per epoch (running mean loss of the epoch, clips/s) and per encoded split."""

    def __init__(self, console: Console, label: str = "") -> None:
        super().__init__(console)
        self.label = f"{label} " if label else ""
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console, transient=False)
        self.task = None

    def __enter__(self) -> "RichReporter":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        self.task = self.progress.add_task(f"{self.label}epoch {epoch}/{epochs}", total=steps, info="")

    def step(self, loss: float, clips_per_s: float) -> None:
        self.progress.update(self.task, advance=1, info=f"loss (epoch mean) {loss:.4f}  {clips_per_s:.1f} clips/s")

    def start_encoding(self, split: str, clips: int) -> None:
        self.task = self.progress.add_task(f"{self.label}encode {split}", total=clips, info="", transient=True)

    def encoded(self, clips: int) -> None:
        self.progress.update(self.task, advance=clips)
        if self.progress.tasks[-1].finished:
            self.progress.remove_task(self.task)

    def evaluated(self, epoch: int, split: str, metrics: Mapping[str, float]) -> None:
        self.progress.console.print(metrics_line(epoch, split, metrics), highlight=False, markup=False)

    def note(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=False)
