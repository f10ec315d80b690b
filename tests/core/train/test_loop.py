"""hashbench.train's loop, encoding and loaders: the training epoch (zero-loss skips, NaN stops), encoding in
order, loaders."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hashbench.data import ClipArrayDataset
from hashbench.errors import TrainingError
from hashbench.train.encoding import encode
from hashbench.train.deep_method import DeepHashing
from hashbench.train.loaders import EpochBatches, IndexedDataset, drops_last_batch, make_loader
from hashbench.train.loop import Training, TrainSettings, train_epoch
from hashbench.train.model import HashModel
from hashbench.train.precision import Precision
from hashbench.train.progress import NullReporter, Position
from hashbench.train.seeding import seed_everything


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


def method(net, loss=None):
    """The built-in method of ``net`` (codes of 4 bits) and ``loss``."""
    return DeepHashing(net, loss, bits=4)


def training(net, loss, optimizer, epochs=1, **settings):
    """What train_epoch trains with, on the CPU (mixed precision asked for: a no-op there)."""
    cpu = torch.device("cpu")
    return Training(method(net, loss), optimizer, Precision(cpu, True), cpu, TrainSettings(epochs, **settings))


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
    loader = make_loader(IndexedDataset(dataset()), 5, 0, torch.device("cpu"))
    zero = lambda codes, labels: (codes * 0).sum()  # noqa: E731 - a loss that is exactly 0
    run = training(net, zero, optimizer, skip_zero_loss=True)
    run.position = position
    stats = train_epoch(run, 1, EpochBatches(loader))
    assert (stats.steps, stats.skipped_steps, stats.loss) == (2, 2, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # nothing stepped
    assert (position.phase, position.epoch, position.step) == ("training", 1, 2)
    real = lambda codes, labels: (codes - 1).pow(2).mean()  # noqa: E731
    stats = train_epoch(training(net, real, optimizer, epochs=2), 2, EpochBatches(loader))
    assert stats.skipped_steps == 0 and stats.loss > 0 and stats.clips_per_s > 0
    assert not all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_a_nan_loss_stops_training_naming_the_epoch_and_step():
    net = model()
    loader = make_loader(IndexedDataset(dataset()), 5, 0, torch.device("cpu"))
    nan = lambda codes, labels: codes.sum() * float("nan")  # noqa: E731
    with pytest.raises(TrainingError, match=r"the loss became nan at epoch 3, step 1: lower train.optimizer.lr"):
        train_epoch(training(net, nan, torch.optim.SGD(net.parameters(), lr=0.1), epochs=3), 3, EpochBatches(loader))


def test_encode_keeps_item_order_and_is_deterministic():
    net, ds = model(), dataset(7)
    precision = Precision(torch.device("cpu"), True)
    assert not precision.enabled  # mixed precision is for CUDA only
    encoded = encode(method(net), ds, 3, 0, torch.device("cpu"), precision, NullReporter())
    codes, labels = encoded.codes, encoded.labels
    assert codes.shape == (7, 4) and codes.dtype == np.int8 and labels.tolist() == (np.arange(7) % 3).tolist()
    assert encoded.logits is None
    one = net.encode(torch.stack([ds[i][0] for i in range(7)]))
    np.testing.assert_array_equal(codes, one.numpy())


class Classifier:
    """A loss-like object with ``classify`` (what encode asks of a classifying loss)."""

    def classify(self, codes, features):
        return torch.cat([codes, -codes], dim=1)


def test_encode_with_clips_averages_the_windows_relaxed_codes_before_the_sign():
    net = model()
    rng = np.random.default_rng(3)
    ds = ClipArrayDataset(rng.integers(0, 255, (5, 3, 6, 4, 4), dtype=np.uint8), np.arange(5) % 2)
    cpu, precision = torch.device("cpu"), Precision(torch.device("cpu"), False)
    encoded = encode(method(net), ds, 2, 0, cpu, precision, NullReporter(), clips=3, classifier=Classifier())
    clips = torch.stack([ds[i][0] for i in range(5)])
    with torch.no_grad():
        relaxed = [net(net.normalize(clips[:, :, 2 * w:2 * w + 2])) for w in range(3)]  # windows of 2 frames
    expected = torch.sign(torch.stack(relaxed).mean(dim=0)).to(torch.int8)
    np.testing.assert_array_equal(encoded.codes, expected.numpy())
    assert encoded.window_logits.shape == (5, 3, 8) and encoded.logits.shape == (5, 8)
    np.testing.assert_allclose(encoded.logits, encoded.window_logits.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(encoded.window_logits[:, 1, :4], relaxed[1].numpy(), rtol=1e-5, atol=1e-6)
    # one window is the whole clip: the plain encoding
    whole = encode(method(net), ds, 2, 0, cpu, precision, NullReporter())
    np.testing.assert_array_equal(whole.codes, net.encode(clips).numpy())


def test_random_training_windows_are_seeded_and_windows_must_fit():
    from hashbench.errors import ConfigError
    from hashbench.train.encoding import windows
    from hashbench.train.loop import random_window

    clips = torch.arange(2 * 3 * 8).reshape(2, 3, 8, 1, 1).to(torch.uint8)
    a = random_window(clips, 3, torch.Generator().manual_seed(4))
    b = random_window(clips, 3, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and a.shape == (2, 3, 3, 1, 1)
    start = int(a[0, 0, 0, 0, 0])
    assert a[0, 0, :, 0, 0].tolist() == [start, start + 1, start + 2]  # consecutive frames
    with pytest.raises(ConfigError, match="train.clip_frames = 9 is longer than the clips"):
        random_window(clips, 9, torch.Generator())
    assert windows(clips, 4).shape == (8, 3, 2, 1, 1)
    with pytest.raises(ConfigError, match="eval.clips = 9 needs clips of at least 9 frames"):
        windows(clips, 9)


def test_seed_everything_makes_torch_and_numpy_repeat():
    seed_everything(5)
    first = (torch.rand(3), np.random.rand(3))
    seed_everything(5)
    assert torch.equal(first[0], torch.rand(3)) and np.array_equal(first[1], np.random.rand(3))
