"""hashbench.suggest: the one did-you-mean of every error message."""
from __future__ import annotations

from hashbench.suggest import closest, did_you_mean


def test_misspellings_then_abbreviations_then_nothing():
    assert closest("epochz", ["epochs", "batch_size"]) == "epochs"
    assert closest("lr", ["lr_max"]) is None  # too short to be an abbreviation
    assert closest("optim", ["optimizer", "scheduler"]) == "optimizer"  # an abbreviation
    assert closest("nothing", ["epochs"]) is None
    assert did_you_mean("epochz", ["epochs"]) == " (did you mean 'epochs'?)"
    assert did_you_mean("xyz", ["epochs"]) == ""
