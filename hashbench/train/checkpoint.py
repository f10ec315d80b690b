"""Checkpoints: atomic ``torch.save`` (a full disk is told as such), strict loading with a key listing.

:func:`save_checkpoint` writes through a temporary file and ``os.replace``, so an interrupted write
never leaves a half checkpoint; :func:`load_state_strict` loads a state dict only when every key and
shape fits, naming the missing, unexpected and mis-shaped keys otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..contract.state_dicts import key_listing, load_state_dict_strict
from ..errors import CheckpointError
from ..failures import os_error

__all__ = ["save_checkpoint", "load_checkpoint", "load_state_strict", "key_listing"]


class _RecordingFile:
    """A binary file whose first OSError is kept: torch's zip writer reports write failures as a bare
    RuntimeError, so this is how a full disk is still told as "No space left on device"."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file in the same folder, then atomically replace ``path``.

    ResourceError naming ``path`` when the disk refuses (the old file, if any, stays as it was).
    """
    recorder: _RecordingFile | None = None
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                recorder = _RecordingFile(handle)
                torch.save(state, recorder)
    except OSError as exc:
        raise os_error(exc, "while writing a checkpoint", path=path) from exc
    except RuntimeError as exc:
        if recorder is None or recorder.error is None:
            raise
        raise os_error(recorder.error, "while writing a checkpoint", path=path) from exc


def load_state_strict(module: torch.nn.Module, state: Any, where: str) -> None:
    """Load ``state`` into ``module`` strictly (see :func:`hashbench.contract.load_state_dict_strict`)."""
    load_state_dict_strict(module, state, where)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot load checkpoint ({type(exc).__name__}: {exc})") from exc

