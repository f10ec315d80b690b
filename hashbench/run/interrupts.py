"""SIGTERM (a scheduler's kill) stops a run the way Ctrl-C does: as :class:`~hashbench.errors.RunInterrupted`,
so the run is recorded ``interrupted`` and can be resumed."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

from ..errors import RunInterrupted

__all__ = ["sigterm_interrupts"]


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into RunInterrupted inside the block (main thread only; elsewhere signals are left alone)."""

    def handler(signum: int, frame: object) -> None:
        raise RunInterrupted("terminated", signal_name="SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
