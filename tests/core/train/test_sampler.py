"""hashbench.train.sampler: class-balanced P x K batches, deterministic, resumable, shareable by rank."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from hashbench.config import experiment_from_dict
from hashbench.data import ClipArrayDataset
from hashbench.errors import ConfigError, DataError
from hashbench.train.sampler import PKBatchSampler, labels_of

LABELS = np.repeat(np.arange(6), [10, 9, 8, 7, 3, 12])  # uneven classes, one smaller than K


def test_every_batch_is_p_distinct_classes_with_k_clips_each():
    sampler = PKBatchSampler(LABELS, classes=4, per_class=4, seed=0, epoch=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(LABELS) // 16
    for batch in batches:
        classes, counts = np.unique(LABELS[batch], return_counts=True)
        assert len(classes) == 4 and set(counts) == {4}
        for c in classes:  # no clip twice in a batch unless its class has fewer than K clips
            picked = [i for i in batch if LABELS[i] == c]
            assert len(set(picked)) == min(4, int((LABELS == c).sum()))


def test_batches_follow_seed_and_epoch_only():
    a = list(PKBatchSampler(LABELS, 3, 2, seed=5, epoch=3))
    assert a == list(PKBatchSampler(LABELS, 3, 2, seed=5, epoch=3))  # what a resumed run draws
    assert a != list(PKBatchSampler(LABELS, 3, 2, seed=5, epoch=4))
    assert a != list(PKBatchSampler(LABELS, 3, 2, seed=6, epoch=3))


def test_clips_of_a_class_are_used_before_any_repeats():
    sampler = PKBatchSampler(np.repeat([0, 1], 8), classes=2, per_class=4, seed=1, epoch=1)
    batches = sampler.batches()
    assert len(batches) == 2
    for c in (0, 1):
        seen = [i for b in batches for i in b if i // 8 == c]
        assert sorted(seen) == list(range(8 * c, 8 * c + 8))  # each of its 8 clips exactly once


def test_ranks_take_contiguous_shares_of_the_same_global_batches():
    full = PKBatchSampler(LABELS, 4, 2, seed=0, epoch=1).batches()
    shares = [list(PKBatchSampler(LABELS, 4, 2, seed=0, epoch=1, rank=r, world_size=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*shares)] == full
    with pytest.raises(ConfigError, match="do not divide among 3 processes"):
        PKBatchSampler(LABELS, 4, 2, seed=0, epoch=1, world_size=3)


def test_bad_uses_are_clear_errors():
    with pytest.raises(DataError, match=r"train.sampler.classes = 9, but the training split has 6 classes"):
        PKBatchSampler(LABELS, 9, 2, seed=0, epoch=1)
    with pytest.raises(ConfigError, match="needs single-label data"):
        PKBatchSampler(np.ones((4, 3)), 2, 2, seed=0, epoch=1)


def test_labels_come_from_datasets_and_subsets_without_loading_clips():
    clips = torch.zeros(5, 3, 1, 2, 2, dtype=torch.uint8)
    ds = ClipArrayDataset(clips, np.array([3, 1, 2, 1, 0]))
    assert labels_of(ds) == [3, 1, 2, 1, 0]
    assert labels_of(Subset(ds, [4, 0])) == [0, 3]
    with pytest.raises(DataError, match="does not expose its items' labels"):
        labels_of([(clips[0], 1)])


BASE = {"name": "x", "dataset": {"name": "moving_digits"}, "backbone": {"name": "r3d18"},
        "head": {"name": "tanh", "bits": 16}, "loss": {"name": "batch_all_triplet"}}


def test_config_sets_the_batch_size_to_p_times_k_and_keeps_old_hashes():
    plain = experiment_from_dict(BASE)
    assert plain.train.sampler is None and "sampler" not in plain.to_dict()["train"]
    assert experiment_from_dict({**BASE, "train": {"sampler": "shuffle"}}).config_hash() == plain.config_hash()
    pk = experiment_from_dict({**BASE, "train": {"sampler": {"name": "pk", "classes": 4, "per_class": 3}}})
    assert pk.train.batch_size == 12 and pk.train.sampler.classes == 4
    assert experiment_from_dict(pk.to_dict(), expand=False) == pk
    with pytest.raises(ConfigError, match=r"train.batch_size: is 10, but the pk sampler makes batches of"
                                          r" classes x per_class = 12 clips"):
        experiment_from_dict({**BASE, "train": {"batch_size": 10, "sampler": {"name": "pk", "classes": 4,
                                                                               "per_class": 3}}})
    with pytest.raises(ConfigError, match=r"train.sampler: the pk sampler needs per_class"):
        experiment_from_dict({**BASE, "train": {"sampler": {"name": "pk", "classes": 4}}})
