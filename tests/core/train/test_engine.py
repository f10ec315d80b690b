"""hashbench.train.engine: the training epoch (zero-loss skips, NaN stops), encoding in order, loaders."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hashbench.data import ClipArrayDataset
from hashbench.errors import TrainingError
from hashbench.train.engine import Precision, drops_last_batch, encode, make_loader, seed_everything, train_epoch
from hashbench.train.model import HashModel
from hashbench.train.progress import NullReporter, Position


class Tiny(nn.Module):
    feature_dim = 4
    input_mean, input_std = (128.0, 128.0, 128.0), (64.0, 64.0, 64.0)

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4)

    def forward(self, clips):
        return self.linear(clips.mean(dim=(2, 3, 4)))


def dataset(n=10):
    rng = np.random.default_rng(0)
    return ClipArrayDataset(rng.integers(0, 255, (n, 3, 2, 4, 4), dtype=np.uint8), np.arange(n) % 3)


def model():
    torch.manual_seed(0)
    return HashModel(Tiny(), nn.Tanh())


def test_a_last_batch_of_one_clip_is_dropped_in_training_only():
    assert drops_last_batch(9, 4) and not drops_last_batch(10, 4) and not drops_last_batch(3, 4)
    device = torch.device("cpu")
    train = make_loader(dataset(9), 4, 0, device, shuffle_seed=1, drop_small_last=True)
    assert [len(labels) for _, labels in train] == [4, 4]
    assert [len(labels) for _, labels in make_loader(dataset(9), 4, 0, device)] == [4, 4, 1]
    a = [labels.tolist() for _, labels in make_loader(dataset(9), 4, 0, device, shuffle_seed=7)]
    b = [labels.tolist() for _, labels in make_loader(dataset(9), 4, 0, device, shuffle_seed=7)]
    assert a == b  # the shuffle follows its seed


def test_train_epoch_steps_skips_zero_losses_and_reports():
    net, position = model(), Position()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    loader = make_loader(dataset(), 5, 0, torch.device("cpu"))
    zero = lambda codes, labels: (codes * 0).sum()  # noqa: E731 - a loss that is exactly 0
    stats = train_epoch(net, zero, loader, optimizer, Precision(torch.device("cpu"), True), torch.device("cpu"),
                        NullReporter(), 1, 1, skip_zero_loss=True, position=position)
    assert (stats.steps, stats.skipped_steps, stats.loss) == (2, 2, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # nothing stepped
    assert (position.phase, position.epoch, position.step) == ("training", 1, 2)
    real = lambda codes, labels: (codes - 1).pow(2).mean()  # noqa: E731
    stats = train_epoch(net, real, loader, optimizer, Precision(torch.device("cpu"), True), torch.device("cpu"),
                        NullReporter(), 2, 2)
    assert stats.skipped_steps == 0 and stats.loss > 0 and stats.clips_per_s > 0
    assert not all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_a_nan_loss_stops_training_naming_the_epoch_and_step():
    net = model()
    loader = make_loader(dataset(), 5, 0, torch.device("cpu"))
    nan = lambda codes, labels: codes.sum() * float("nan")  # noqa: E731
    with pytest.raises(TrainingError, match=r"the loss became nan at epoch 3, step 1: lower train.optimizer.lr"):
        train_epoch(net, nan, loader, torch.optim.SGD(net.parameters(), lr=0.1),
                    Precision(torch.device("cpu"), True), torch.device("cpu"), NullReporter(), 3, 3)


def test_encode_keeps_item_order_and_is_deterministic():
    net, ds = model(), dataset(7)
    precision = Precision(torch.device("cpu"), True)
    assert not precision.enabled  # mixed precision is for CUDA only
    codes, labels = encode(net, ds, 3, 0, torch.device("cpu"), precision, NullReporter())
    assert codes.shape == (7, 4) and codes.dtype == np.int8 and labels.tolist() == (np.arange(7) % 3).tolist()
    one = net.encode(torch.stack([ds[i][0] for i in range(7)]))
    np.testing.assert_array_equal(codes, one.numpy())


def test_seed_everything_makes_torch_and_numpy_repeat():
    seed_everything(5)
    first = (torch.rand(3), np.random.rand(3))
    seed_everything(5)
    assert torch.equal(first[0], torch.rand(3)) and np.array_equal(first[1], np.random.rand(3))
