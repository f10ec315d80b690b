"""Strict loading of pretrained backbone weights (Hara et al.'s checkpoint format).

Hara's ``resnet-18-kinetics.pth`` is a dict with ``state_dict`` (keys prefixed ``module.`` by
DataParallel) plus ``epoch``/``arch``/``optimizer``; its 400-way ``fc.*`` classifier is dropped here.
Everything else must match the model exactly: missing keys, unexpected keys and shape mismatches are
a CheckpointError that lists them (never a silent partial load, unlike the original loader).
BatchNorm ``num_batches_tracked`` counters may be absent (checkpoints from PyTorch < 0.4).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from hashbench.errors import CheckpointError

log = logging.getLogger(__name__)

_MAX_LISTED = 12


def _listing(label: str, keys: Iterable[str]) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:_MAX_LISTED])
    more = f" ... and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else ""
    return f"{label} ({len(keys)}): {shown}{more}"


def read_state_dict(path: str | Path, where: str = "backbone.pretrained") -> dict[str, torch.Tensor]:
    """Read a checkpoint file (``weights_only=True``) -> plain state dict with ``module.`` stripped.

    Accepts Hara's format (``{"state_dict": {...}, ...}``) or a bare state dict.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise CheckpointError(f"{where}: weight file not found: {file} (check the path, or remove the key"
                              " to start from Hara's random initialisation)")
    try:
        obj: Any = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or pickled objects that weights_only refuses
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{where}: cannot read {file} as a weights-only torch checkpoint"
                              f" ({type(exc).__name__}: {first})") from exc
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{where}: {file} holds no state dict (expected a dict of tensors, or a dict"
                              " with a 'state_dict' entry as in Hara's checkpoints)")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_strict(model: nn.Module, path: str | Path, *, drop_prefixes: tuple[str, ...] = ("fc.",),
                where: str = "backbone.pretrained") -> None:
    """Load ``path`` into ``model``; keys starting with ``drop_prefixes`` are ignored (Hara's ``fc.``).

    Raises CheckpointError naming the file and listing missing / unexpected / mis-shaped keys.
    """
    state = read_state_dict(path, where)
    dropped = [k for k in state if k.startswith(drop_prefixes)]
    state = {k: v for k, v in state.items() if not k.startswith(drop_prefixes)}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        parts = [_listing(label, keys) for label, keys in (
            ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
            if keys]
        raise CheckpointError(f"{where}: {Path(path).expanduser()} does not fit this model; "
                              + "; ".join(parts))
    try:
        # A plain dict carries no BatchNorm version metadata, so absent num_batches_tracked are filled.
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{where}: {Path(path).expanduser()}: {first}") from exc
    log.info("loaded %d tensors from %s (ignored %d: %s)", len(state), path, len(dropped),
             ", ".join(dropped) or "none")
