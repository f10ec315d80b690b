"""hashbench.train.loaders.epoch_batches: one epoch's training batches from [train] (shuffled, class-balanced,
cut per process and micro-batch), and hashbench.train.seeding.epoch_seed, the one seed of an epoch."""
from __future__ import annotations

import numpy as np
import torch

from hashbench.config import SamplerConfig, TrainConfig
from hashbench.data import ClipArrayDataset
from hashbench.train.distributed import DistEnv
from hashbench.train.loaders import epoch_batches, global_batches, make_loader
from hashbench.train.seeding import epoch_seed

CPU = torch.device("cpu")


def split(n: int = 12) -> ClipArrayDataset:
    """``n`` clips whose label is their index (so a batch's labels are its dataset indices)."""
    return ClipArrayDataset(np.zeros((n, 3, 2, 2, 2), dtype=np.uint8), np.arange(n))


def labels(loader) -> list[list[int]]:
    return [batch[1].tolist() for batch in loader]


def test_epoch_seed_depends_on_seed_and_epoch_alone():
    assert epoch_seed(0, 1) == 1 and epoch_seed(3, 2) == 3 * 100_003 + 2
    assert len({epoch_seed(s, e) for s in range(5) for e in range(1, 6)}) == 25


def test_a_plain_epoch_is_the_loader_shuffled_with_the_epoch_seed():
    batches = epoch_batches(split(9), TrainConfig(batch_size=4), seed=3, epoch=2, device=CPU)
    expected = make_loader(split(9), 4, 0, CPU, shuffle_seed=epoch_seed(3, 2), drop_small_last=True)
    assert batches.plan is None and batches.seed == epoch_seed(3, 2)
    assert labels(batches.loader) == labels(expected) and [len(b) for b in labels(expected)] == [4, 4]  # 1 dropped
    other = epoch_batches(split(9), TrainConfig(batch_size=4), seed=3, epoch=3, device=CPU)
    assert labels(other.loader) != labels(batches.loader)


def test_accumulation_cuts_the_global_batches_into_micro_batches():
    train = TrainConfig(batch_size=4, accumulate_steps=2)
    batches = epoch_batches(split(), train, seed=1, epoch=1, device=CPU)
    assert [m.last for m in batches.plan] == [False, True] * 3
    assert [i for b in labels(batches.loader) for i in b] == \
        [i for b in global_batches(12, 4, epoch_seed(1, 1)) for i in b]


def test_processes_take_their_share_of_the_same_global_batches_and_indexed_items_carry_their_index():
    train = TrainConfig(batch_size=4)
    shares = [epoch_batches(split(), train, seed=1, epoch=1, device=CPU, env=DistEnv(rank, 2), indexed=True)
              for rank in (0, 1)]
    first = [b for b in shares[0].loader]
    assert len(first[0]) == 3 and torch.equal(first[0][1], first[0][2])  # (clip, label, index); label = index
    together = [a + b for a, b in zip(labels(shares[0].loader), labels(shares[1].loader))]
    assert together == global_batches(12, 4, epoch_seed(1, 1))
    assert shares[1].plan[0].sizes == (2, 2) and shares[1].plan[0].offset == 2


def test_the_pk_sampler_draws_classes_times_clips_per_batch():
    data = ClipArrayDataset(np.zeros((12, 3, 2, 2, 2), dtype=np.uint8), np.arange(12) % 3)
    train = TrainConfig(batch_size=4, sampler=SamplerConfig(classes=2, per_class=2))
    drawn = labels(epoch_batches(data, train, seed=0, epoch=1, device=CPU).loader)
    assert drawn and all(len(b) == 4 and len(set(b)) == 2 and all(b.count(c) == 2 for c in set(b)) for b in drawn)
