"""What training and evaluation tell about their progress: the :class:`Reporter` protocol and :class:`Position`.

The CLI implements :class:`Reporter` with rich progress bars (:mod:`hashbench.cli.progress`); the
library default :class:`NullReporter` says nothing. :class:`Position` is where a run is, for error
messages and the run's record.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Reporter", "NullReporter", "Position"]


class Reporter(Protocol):
    """What the engine and runner tell about progress; the CLI shows it with rich, tests ignore it.

    ``step`` gets the running mean loss of the epoch so far and the throughput in clips/s;
    ``evaluated`` the metrics of an evaluation as soon as they exist; ``note`` a line for the console.
    """

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, loss: float, clips_per_s: float) -> None: ...
    def end_epoch(self) -> None: ...
    def start_encoding(self, split: str, clips: int) -> None: ...
    def encoded(self, clips: int) -> None: ...
    def evaluated(self, epoch: int, split: str, metrics: dict[str, float]) -> None: ...
    def note(self, text: str) -> None: ...


class NullReporter:
    """Reports nothing (the library default)."""

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, loss: float, clips_per_s: float) -> None:
        pass

    def end_epoch(self) -> None:
        pass

    def start_encoding(self, split: str, clips: int) -> None:
        pass

    def encoded(self, clips: int) -> None:
        pass

    def evaluated(self, epoch: int, split: str, metrics: dict[str, float]) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass
class Position:
    """Where a run is (for error messages and the record): phase, epoch (1-based, 0 = before) and step."""

    phase: str = "building"
    epoch: int = 0
    step: int = 0

    def describe(self) -> str:
        """``at epoch 3, step 5 (training)`` / ``at epoch 5 (encoding the query split)`` / ``while building``."""
        if self.phase == "training":
            return f"at epoch {self.epoch}, step {self.step} (training)"
        if self.epoch:
            return f"at epoch {self.epoch} ({self.phase})"
        return f"while {self.phase}"

