"""A rich progress display implementing the engine's Reporter protocol."""
from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


class RichReporter:
    """One bar per epoch (loss, clips/s) and per encoded split."""

    def __init__(self, console: Console, label: str = "") -> None:
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
        self.progress.update(self.task, advance=1, info=f"loss {loss:.4f}  {clips_per_s:.1f} clips/s")

    def end_epoch(self) -> None:
        pass

    def start_encoding(self, split: str, clips: int) -> None:
        self.task = self.progress.add_task(f"{self.label}encode {split}", total=clips, info="", transient=True)

    def encoded(self, clips: int) -> None:
        self.progress.update(self.task, advance=clips)
        if self.progress.tasks[-1].finished:
            self.progress.remove_task(self.task)
