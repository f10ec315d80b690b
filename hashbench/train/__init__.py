"""Training: the model, the loops, the optimizer, checkpoints (everything here needs torch).

- :mod:`~hashbench.train.model`: ``HashModel`` = backbone + hash head, ``binarize``;
- :mod:`~hashbench.train.engine`: mixed precision, data loaders, one training epoch, encoding a split;
- :mod:`~hashbench.train.optim`: optimizer and scheduler from the validated ``[train]`` table;
- :mod:`~hashbench.train.checkpoint`: atomic checkpoints, strict loading with a key listing;
- :mod:`~hashbench.train.progress`: the ``Reporter`` protocol and ``Position`` (where a run is).

Devices are resolved by :mod:`hashbench.device`.
"""
from __future__ import annotations

from .checkpoint import key_listing, load_checkpoint, load_state_strict, save_checkpoint
from .engine import (MIN_TRAIN_BATCH, EpochStats, Precision, drops_last_batch, encode, make_loader, seed_everything,
                     train_epoch)
from .model import HashModel, binarize, build_hash_model
from .optim import make_optimizer, make_scheduler
from .progress import NullReporter, Position, Reporter

__all__ = ["HashModel", "binarize", "build_hash_model", "EpochStats", "Precision", "MIN_TRAIN_BATCH",
           "drops_last_batch", "make_loader", "train_epoch", "encode", "seed_everything", "make_optimizer",
           "make_scheduler", "save_checkpoint", "load_checkpoint", "load_state_strict", "key_listing",
           "Reporter", "NullReporter", "Position"]
