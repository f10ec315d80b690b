"""Class-balanced batches: P classes x K clips per batch (``train.sampler = { name = "pk", ... }``).

Triplet and pairwise losses learn from the positives a batch holds; shuffled batches of many classes
hold few. :class:`PKBatchSampler` draws every batch as P distinct classes with K clips each.
Deterministic from ``(seed, epoch)`` alone, so a resumed run draws the same batches as an
uninterrupted one, and every process of a distributed run draws the same ones (each takes its own
share, see ``rank``/``world_size``).

Within an epoch each class's clips are taken in a seeded random order without repetition until the
class is exhausted, then reshuffled (a class with fewer than K clips repeats clips inside one batch).
An epoch has ``len(labels) // (P * K)`` batches (at least 1): about one pass over the data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from ..errors import ConfigError, DataError

__all__ = ["PKBatchSampler", "labels_of", "MicroBatch", "ShardedBatches"]


class PKBatchSampler(Sampler):
    """Batches (lists of dataset indices) of ``classes`` classes x ``per_class`` clips.

    ``labels``: the class id of every item (single-label data). ``rank``/``world_size``: in a
    distributed run each process yields its contiguous share of every global batch (the global batch
    is P * K clips; P * K must divide by ``world_size``).
    """

    def __init__(self, labels: Sequence[int], classes: int, per_class: int, seed: int, epoch: int,
                 rank: int = 0, world_size: int = 1) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.ndim != 1:
            raise ConfigError("train.sampler: the pk sampler needs single-label data (one class per clip)")
        self.classes_present = np.unique(self.labels)
        if classes > len(self.classes_present):
            raise DataError(f"train.sampler.classes = {classes}, but the training split has"
                            f" {len(self.classes_present)} classes; lower it")
        if (classes * per_class) % world_size:
            raise ConfigError(f"train.sampler: classes x per_class = {classes * per_class} clips per batch do not"
                              f" divide among {world_size} processes")
        self.classes, self.per_class = classes, per_class
        self.seed, self.epoch = int(seed), int(epoch)
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(1, len(self.labels) // (self.classes * self.per_class))

    def batches(self) -> list[list[int]]:
        """Every global batch of the epoch (the same in every process)."""
        rng = np.random.default_rng([self.seed, self.epoch, 0x504B])
        members = {int(c): np.flatnonzero(self.labels == c) for c in self.classes_present}
        pools = {c: list(rng.permutation(m)) for c, m in members.items()}
        out = []
        for _ in range(len(self)):
            chosen = rng.choice(self.classes_present, size=self.classes, replace=False)
            batch: list[int] = []
            for c in chosen.tolist():
                taken: list[int] = []
                for _ in range(self.per_class):
                    if not pools[c]:  # reshuffle; clips already in this batch are drawn again last
                        fresh = [int(i) for i in rng.permutation(members[c])]
                        pools[c] = [i for i in fresh if i in taken] + [i for i in fresh if i not in taken]
                    taken.append(int(pools[c].pop()))
                batch.extend(taken)
            out.append(batch)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        share = self.classes * self.per_class // self.world_size
        for batch in self.batches():
            yield batch[self.rank * share:(self.rank + 1) * share]


def labels_of(dataset: object) -> list[int]:
    """Class ids of a dataset's items without loading clips (``labels`` attribute, through Subsets and
    index wrappers); DataError when the dataset does not expose them."""
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        base = labels_of(dataset.dataset)
        return [base[i] for i in dataset.indices]
    inner = getattr(dataset, "dataset", None)
    if inner is not None and not hasattr(dataset, "labels"):
        return labels_of(inner)
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise DataError(f"{type(dataset).__name__} does not expose its items' labels; the pk sampler needs them")
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ConfigError("train.sampler: the pk sampler needs single-label data (one class per clip)")
    return [int(v) for v in array]


@dataclass(frozen=True)
class MicroBatch:
    """One micro-batch of a step as one process sees it: ``sizes`` (clips of every process, rank order),
    ``rank`` (this process), ``weight`` (the micro-batch's share of its step's clips) and whether it is
    the ``last`` of its optimizer step."""

    sizes: tuple[int, ...]
    rank: int
    weight: float
    last: bool

    @property
    def offset(self) -> int:
        """Position of this process's first clip in the global micro-batch."""
        return sum(self.sizes[: self.rank])

    @property
    def global_size(self) -> int:
        return sum(self.sizes)


class ShardedBatches(Sampler):
    """This process's part of every global batch: each global batch (dataset indices, the same list in
    every process) is cut into ``accumulate_steps`` micro-batches, each split contiguously over
    ``world_size`` processes; iterating yields this rank's index lists, :attr:`plan` the matching
    :class:`MicroBatch` descriptions. Concatenating the ranks' parts of a micro-batch, then the
    micro-batches, gives the global batch back in order. A (last, small) batch with fewer clips than
    processes is left out; one with fewer than ``accumulate_steps x world_size`` clips has fewer
    micro-batches."""

    def __init__(self, global_batches: Sequence[Sequence[int]], accumulate_steps: int = 1, rank: int = 0,
                 world_size: int = 1) -> None:
        self.rank, self.world_size = rank, world_size
        self.parts: list[list[int]] = []
        self.plan: list[MicroBatch] = []
        self.dropped = 0
        for batch in global_batches:
            batch = [int(i) for i in batch]
            count = min(accumulate_steps, len(batch) // world_size)
            if count < 1:
                self.dropped += len(batch)
                continue
            micro = np.array_split(np.asarray(batch, dtype=np.int64), count)
            for j, chunk in enumerate(micro):
                shares = np.array_split(chunk, world_size)
                sizes = tuple(len(s) for s in shares)
                self.parts.append([int(i) for i in shares[rank]])
                self.plan.append(MicroBatch(sizes, rank, len(chunk) / len(batch), j == count - 1))

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.parts)

    @property
    def steps(self) -> int:
        """Optimizer steps in the epoch."""
        return sum(1 for m in self.plan if m.last)
