"""``--resume`` of a dpsh run restores its memory bank exactly: the checkpoint of an interrupted run holds
the epoch-1 bank, and the resumed run ends with the weights and the bank of an uninterrupted one."""
from __future__ import annotations

import pytest
import torch

from hashbench import hookimpl
from hashbench.config import load_experiment
from hashbench.contract import load_registry
from hashbench.run import run_experiment
from hashbench.train import load_checkpoint

from support import tiny_experiment_text

BANK_KEYS = {"bank.codes", "bank.labels"}


class StopAfter:
    """A lifecycle plugin that interrupts the run after ``epoch`` (its checkpoint is already written)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    @hookimpl
    def hashbench_epoch_end(self, run, epoch, logs):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated interruption")


def dpsh_toml(tmp_path, epochs: int):
    text = tiny_experiment_text(name="bank", epochs=epochs, backbone='name = "r3d18"\nwidth = 4', size=16,
                                num_frames=4)
    text = text.replace('name = "tanh"', 'name = "linear"')
    text = text.replace('name = "batch_all_triplet"\nmargin = 4', 'name = "dpsh"')
    text = text.replace("eval_every = 1", f"eval_every = {epochs}")
    assert 'name = "dpsh"' in text and 'name = "linear"' in text
    path = tmp_path / f"bank_{epochs}.toml"
    path.write_text(text)
    return path


def assert_equal_states(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_of_a_dpsh_run_restores_its_memory_bank_exactly(tmp_path):
    path = dpsh_toml(tmp_path, epochs=3)
    straight = run_experiment(load_experiment(path), load_registry(), runs_dir=tmp_path / "a", results_path=None)
    final = load_checkpoint(straight.run_dir / "model.pt")
    assert set(final) == {"model", "loss", "epoch"} and set(final["loss"]) == BANK_KEYS

    registry = load_registry()
    registry.plugin_manager.register(StopAfter(1))
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_experiment(path), registry, runs_dir=tmp_path / "b", results_path=None)
    (interrupted,) = list((tmp_path / "b" / "bank").iterdir())
    saved = load_checkpoint(interrupted / "checkpoint.pt")
    assert saved["epoch"] == 1 and set(saved["loss"]) == BANK_KEYS

    # the checkpoint's bank is the bank after epoch 1: that of a 1-epoch run of the same experiment (no
    # scheduler, the same seed, shuffling and steps), filled for the clips seen and different from the end
    one = run_experiment(load_experiment(dpsh_toml(tmp_path, epochs=1)), load_registry(), runs_dir=tmp_path / "c",
                         results_path=None)
    after_one = load_checkpoint(one.run_dir / "model.pt")
    assert_equal_states(saved["loss"], after_one["loss"])
    assert_equal_states(saved["model"], after_one["model"])
    bank_codes, bank_labels = saved["loss"]["bank.codes"], saved["loss"]["bank.labels"]
    seen = bank_labels.sum(dim=1) > 0
    assert int(seen.sum()) >= bank_labels.shape[0] // 2  # most of the training split was written
    assert bool((bank_labels[seen].sum(dim=1) == 1).all())  # one-hot rows (single-label data)
    assert bool((bank_codes[seen].abs().sum(dim=1) > 0).all()) and not bank_codes[~seen].any()
    assert not torch.equal(bank_codes, final["loss"]["bank.codes"])

    resumed = run_experiment(load_experiment(path), load_registry(), runs_dir=tmp_path / "b", results_path=None,
                             resume=True)
    assert resumed.run_dir == interrupted
    end = load_checkpoint(resumed.run_dir / "model.pt")
    assert end["epoch"] == final["epoch"] == 3
    assert_equal_states(end["model"], final["model"])
    assert_equal_states(end["loss"], final["loss"])
    assert resumed.metrics == straight.metrics
