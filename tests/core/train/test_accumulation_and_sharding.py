"""Gradient accumulation and the sharding of global batches (one process, no process group).

``train.accumulate_steps``: a step's loss is the clip-weighted mean of its micro-batches' losses, so
for a per-clip mean loss (here a cross-entropy through the loss's own classifier) and a model without
batch statistics, k micro-batches of B/k clips give the same step as one batch of B clips.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hashbench.data import ClipArrayDataset
from hashbench.train.deep_method import DeepHashing
from hashbench.train.loaders import EpochBatches, IndexedDataset, global_batches, make_loader
from hashbench.train.loop import Training, TrainSettings, train_epoch
from hashbench.train.model import HashModel
from hashbench.train.precision import Precision
from hashbench.train.sampler import PKBatchSampler, ShardedBatches


class Tiny(nn.Module):
    feature_dim = 4
    input_mean, input_std = (128.0, 128.0, 128.0), (64.0, 64.0, 64.0)

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 4)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.linear(clips.mean(dim=(2, 3, 4)))


class ClassifierLoss(nn.Module):
    """Mean cross-entropy of a linear classifier on the relaxed codes (a per-clip mean; own parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(self.fc(codes), labels)


def data(n: int = 24) -> ClipArrayDataset:
    rng = np.random.default_rng(0)
    return ClipArrayDataset(rng.integers(0, 255, (n, 3, 2, 4, 4), dtype=np.uint8), np.arange(n) % 3)


def train(accumulate: int, batch: int = 8) -> tuple[list[float], list[torch.Tensor]]:
    torch.manual_seed(0)
    model, loss = HashModel(Tiny(), nn.Tanh()), ClassifierLoss()
    params = list(model.parameters()) + list(loss.parameters())
    optimizer = torch.optim.SGD(params, lr=0.5, momentum=0.9)
    device, losses = torch.device("cpu"), []
    training = Training(DeepHashing(model, loss, bits=4), optimizer, Precision(device, False), device,
                        TrainSettings(2), step_log=lambda entry: losses.append(entry["loss"]))
    for epoch in (1, 2):
        plan, sampler = None, None
        if accumulate > 1:
            sampler = ShardedBatches(global_batches(len(data()), batch, 100 + epoch), accumulate)
            plan = sampler.plan
        loader = make_loader(IndexedDataset(data()), batch, 0, device, shuffle_seed=100 + epoch, drop_small_last=True,
                             batch_sampler=sampler)
        train_epoch(training, epoch, EpochBatches(loader, plan))
    return losses, [p.detach().clone() for p in params]


def test_accumulated_micro_batches_equal_one_larger_batch_for_a_per_clip_mean_loss():
    whole, params_whole = train(1)
    halves, params_halves = train(2)
    quarters, params_quarters = train(4)
    assert len(whole) == len(halves) == len(quarters) == 6
    assert np.allclose(whole, halves, rtol=1e-6) and np.allclose(whole, quarters, rtol=1e-6)
    for a, b, c in zip(params_whole, params_halves, params_quarters):
        assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)


def test_global_batches_are_the_single_process_loaders_batches():
    loader = make_loader(data(10), 4, 0, torch.device("cpu"), shuffle_seed=7, drop_small_last=True)
    assert global_batches(10, 4, 7) == [labels_index for labels_index in
                                         [[int(i) for i in b] for b in make_loader(range(10), 4, 0, torch.device("cpu"),
                                                                                  shuffle_seed=7, drop_small_last=True)]]
    assert [len(b) for b in global_batches(10, 4, 7)] == [len(labels) for _, labels in loader]


def test_shards_of_every_rank_give_the_global_batch_back_in_order():
    batches = global_batches(23, 8, 3)  # 8, 8, 7 clips
    for world, accumulate in ((2, 1), (3, 2), (4, 1)):
        shards = [ShardedBatches(batches, accumulate, rank, world) for rank in range(world)]
        micro = len(shards[0])
        rebuilt, micro_of_step = [], []
        for j in range(micro):
            rebuilt.extend(i for s in shards for i in s.parts[j])
            micro_of_step.append(shards[0].plan[j])
        assert rebuilt == [i for b in batches for i in b]
        assert all(s.plan[j].sizes == shards[0].plan[j].sizes for s in shards for j in range(micro))
        assert shards[0].steps == 3
        weights = [m.weight for m in micro_of_step]
        assert np.isclose(sum(weights), 3.0)  # each step's micro-batch weights sum to 1


def test_a_batch_smaller_than_the_world_is_left_out_and_pk_batches_shard_too():
    shards = ShardedBatches([[0, 1, 2, 3], [4]], 1, 1, 2)
    assert shards.parts == [[2, 3]] and shards.dropped == 1
    labels = [c for c in range(4) for _ in range(5)]
    pk = PKBatchSampler(labels, 2, 2, seed=0, epoch=1)
    for rank in (0, 1):
        own = PKBatchSampler(labels, 2, 2, seed=0, epoch=1, rank=rank, world_size=2)
        assert list(ShardedBatches(pk.batches(), 1, rank, 2)) == list(own)
