"""Data loaders: uint8 clips in batches, and the batches of one training epoch (shuffled, class-balanced,
or cut per process and micro-batch in a distributed or accumulating run)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from ..config import TrainConfig
from .distributed import DistEnv
from .sampler import MicroBatch, PKBatchSampler, ShardedBatches, labels_of
from .seeding import epoch_seed

__all__ = ["MIN_TRAIN_BATCH", "drops_last_batch", "make_loader", "global_batches", "IndexedDataset", "EpochBatches",
           "epoch_batches"]

#: Training batches smaller than this are dropped: BatchNorm and pairwise losses need two clips.
MIN_TRAIN_BATCH = 2


def drops_last_batch(n: int, batch_size: int) -> bool:
    """Whether training on ``n`` clips in batches of ``batch_size`` drops a last batch that is too small."""
    return n > batch_size and 0 < n % batch_size < MIN_TRAIN_BATCH


def make_loader(dataset: Dataset, batch_size: int, num_workers: int, device: torch.device,
                shuffle_seed: int | None = None, drop_small_last: bool = False,
                batch_sampler: Any = None, pin_memory: bool | None = None) -> DataLoader:
    """A DataLoader of uint8 clips; shuffled with a generator seeded by ``shuffle_seed`` when given.

    ``drop_small_last`` (training) drops a last batch of fewer than :data:`MIN_TRAIN_BATCH` clips;
    evaluation keeps every clip. A ``batch_sampler`` (e.g. :class:`~hashbench.train.sampler.PKBatchSampler`)
    decides the batches instead. ``pin_memory`` (``train.pin_memory``): pinned host memory for
    non-blocking copies; None = on CUDA.
    """
    pin = device.type == "cuda" if pin_memory is None else bool(pin_memory and device.type == "cuda")
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                          pin_memory=pin, persistent_workers=False)
    generator = None
    if shuffle_seed is not None:
        generator = torch.Generator()
        generator.manual_seed(shuffle_seed)
    drop_last = drop_small_last and drops_last_batch(len(dataset), batch_size)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_seed is not None,
                      generator=generator, num_workers=num_workers,
                      pin_memory=pin, persistent_workers=False, drop_last=drop_last)


def global_batches(n: int, batch_size: int, shuffle_seed: int, drop_small_last: bool = True) -> list[list[int]]:
    """The batches of dataset indices that :func:`make_loader` with ``shuffle_seed`` draws for ``n``
    items (the same permutation, built by the same DataLoader machinery), for sharding them."""
    indices: Any = range(n)
    loader = make_loader(indices, batch_size, 0, torch.device("cpu"), shuffle_seed=shuffle_seed,
                         drop_small_last=drop_small_last)
    return [[int(i) for i in batch] for batch in loader]


class IndexedDataset(Dataset):
    """Items ``(clip, label, index)``: ``dataset``'s items with their position in it (for memory banks)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        clip, label = self.dataset[index]
        return clip, label, index


@dataclass
class EpochBatches:
    """One epoch's training batches: the ``loader``; its ``plan`` (one
    :class:`~hashbench.train.sampler.MicroBatch` per loader batch; None = every batch is one optimizer
    step of one process); ``seed``, the epoch's seed (random training windows are drawn from it)."""

    loader: DataLoader
    plan: Sequence[MicroBatch] | None = None
    seed: int = 0


def epoch_batches(split: Dataset, train: TrainConfig, seed: int, epoch: int, device: torch.device,
                  env: DistEnv = DistEnv(), indexed: bool = False) -> EpochBatches:
    """The batches of epoch ``epoch`` over the training ``split``, from the validated ``[train]`` table:
    shuffled with :func:`~hashbench.train.seeding.epoch_seed` or class-balanced (``train.sampler``); in a
    distributed run (``env``) or with ``train.accumulate_steps`` the global batches are cut per process
    and micro-batch. ``indexed``: items carry their index in the split (a loss that ``needs_indices``)."""
    dataset: Any = IndexedDataset(split) if indexed else split
    sampler: Any = None
    if train.sampler is not None:
        sampler = PKBatchSampler(labels_of(split), train.sampler.classes, train.sampler.per_class, seed, epoch)
    plan = None
    if env.enabled or train.accumulation > 1:  # global batches, cut per process and micro-batch
        batches = sampler.batches() if sampler is not None else global_batches(
            len(dataset), train.batch_size, epoch_seed(seed, epoch))
        sampler = ShardedBatches(batches, train.accumulation, env.rank, env.world_size)
        plan = sampler.plan
    loader = make_loader(dataset, train.batch_size, train.num_workers, device, shuffle_seed=epoch_seed(seed, epoch),
                         drop_small_last=True, batch_sampler=sampler, pin_memory=train.pin_memory)
    return EpochBatches(loader, plan, epoch_seed(seed, epoch))
