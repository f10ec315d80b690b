"""Strict loading of pretrained backbone weights, on ``hashbench.contract``'s one loader.

:func:`hashbench.contract.read_state_dict` reads a file with ``weights_only=True`` (a bare state dict or
one under ``state_dict``, e.g. Hara's ``{"state_dict": {"module.conv1.weight": ...}, "epoch", ...}``;
DataParallel's ``module.`` prefix stripped) and :func:`hashbench.contract.load_state_dict_strict` loads it,
a CheckpointError listing the missing / unexpected / mis-shaped keys when it does not fit (never a silent
partial load, unlike the original loaders). Here: the source classifier (``fc.*`` for Hara's files) is
dropped unless kept, and BatchNorm ``num_batches_tracked`` counters may be absent (files written by
PyTorch < 0.4, like Hara's 2017 ``resnet-18-kinetics.pth``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from hashbench.contract import load_state_dict_strict, read_state_dict

__all__ = ["read_state_dict", "load_state", "load_strict", "COUNTERS"]

log = logging.getLogger(__name__)

#: State-dict entries a file may lack (the module keeps its own value).
COUNTERS = ("num_batches_tracked",)


def load_state(model: Any, state: Mapping[str, Any], file: Any, *, drop_prefixes: Sequence[str] = ("fc.",),
               where: str = "backbone.pretrained") -> None:
    """Load ``state`` (read from ``file``) into ``model`` strictly; keys starting with one of
    ``drop_prefixes`` are ignored. CheckpointError naming ``where`` and the file, listing the keys."""
    prefixes = tuple(drop_prefixes)
    dropped = [k for k in state if prefixes and k.startswith(prefixes)]
    kept = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    load_state_dict_strict(model, kept, f"{where}: {Path(file).expanduser()}", ignore_missing=COUNTERS)
    log.info("loaded %d tensors from %s (ignored %d: %s)", len(kept), file, len(dropped), ", ".join(dropped) or "none")


def load_strict(model: Any, path: Any, *, drop_prefixes: Sequence[str] = ("fc.",),
                where: str = "backbone.pretrained") -> None:
    """Read ``path`` and load it into ``model`` (see :func:`load_state`)."""
    load_state(model, read_state_dict(path, where), path, drop_prefixes=drop_prefixes, where=where)
