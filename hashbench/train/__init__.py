"""Training: the model, the loops, the optimizer, checkpoints (everything here needs torch).

- :mod:`~hashbench.train.model`: ``HashModel`` = backbone + hash head, ``binarize``;
- :mod:`~hashbench.train.deep_method`: ``DeepHashing``, the built-in method = backbone + head + loss;
- :mod:`~hashbench.train.precision`: mixed precision (autocast, gradient scaling);
- :mod:`~hashbench.train.loaders`: data loaders and the batches of one training epoch;
- :mod:`~hashbench.train.sampler`: class-balanced batches, global batches cut per process and micro-batch;
- :mod:`~hashbench.train.loop`: one training epoch of a method's ``training_loss`` (``TrainSettings`` from ``[train]``);
- :mod:`~hashbench.train.encoding`: encoding a split into binary codes with a method's ``encode``;
- :mod:`~hashbench.train.seeding`: the run's seed and each epoch's (``epoch_seed``);
- :mod:`~hashbench.train.optim`: optimizer and scheduler from the validated ``[train]`` table;
- :mod:`~hashbench.train.checkpoint`: atomic checkpoints, strict loading with a key listing;
- :mod:`~hashbench.train.distributed`: the processes of a distributed run and their collectives;
- :mod:`~hashbench.train.progress`: the ``Reporter`` protocol and ``Position`` (where a run is).

Devices are resolved by :mod:`hashbench.device`.
"""
from __future__ import annotations

from .checkpoint import key_listing, load_checkpoint, load_state_strict, save_checkpoint
from .encoding import Encoded, encode
from .loaders import MIN_TRAIN_BATCH, EpochBatches, drops_last_batch, epoch_batches, make_loader
from .deep_method import DeepHashing, build_deep_hashing
from .loop import EpochStats, TrainSettings, Training, train_epoch
from .model import HashModel, binarize, build_hash_model
from .optim import make_optimizer, make_scheduler
from .precision import Precision
from .progress import NullReporter, Position, Reporter
from .seeding import epoch_seed, seed_everything

__all__ = ["HashModel", "binarize", "build_hash_model", "EpochStats", "Precision", "MIN_TRAIN_BATCH",
           "drops_last_batch", "make_loader", "EpochBatches", "epoch_batches", "TrainSettings", "Training",
           "DeepHashing", "build_deep_hashing", "train_epoch", "Encoded", "encode", "seed_everything", "epoch_seed",
           "make_optimizer", "make_scheduler", "save_checkpoint", "load_checkpoint", "load_state_strict", "key_listing",
           "Reporter", "NullReporter", "Position"]
