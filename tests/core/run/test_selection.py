"""hashbench.run.selection: which epoch a run reports, and the validation split carved from training."""
from __future__ import annotations

import pytest
import torch

from hashbench.config import EvalConfig
from hashbench.errors import DataError
from hashbench.run.selection import Best, carve_validation, reported_epoch, selection_label, selection_metric


def test_labels_and_metric():
    assert selection_label("last", "map") == "last"
    assert selection_label("val", "map@100") == "best_val:map@100"
    assert selection_label("test", "map") == "best_test:map"
    assert selection_metric(EvalConfig(select_metric="map_tie"), ["map", "map_tie"]) == "map_tie"
    assert selection_metric(EvalConfig(), ["map@10", "map"]) == "map@10"


def test_best_keeps_the_first_of_equal_values():
    best = Best()
    assert best.offer(1, 0.5) and not best.offer(2, 0.5) and best.offer(3, 0.7) and not best.offer(4, 0.1)
    assert (best.epoch, best.value) == (3, 0.7)


@pytest.mark.parametrize("select, epochs, best, last_test, expected", [
    ("last", 5, 0, 5, (5, "last_test")),       # the last epoch's test evaluation is the report
    ("last", 5, 0, 4, (5, "current")),         # resumed after the last evaluation was lost: re-encode
    ("last", 5, 0, None, (5, "current")),
    ("test", 5, 3, 5, (3, "best")),            # the best test epoch was earlier: its saved model
    ("test", 5, 5, 5, (5, "last_test")),
    ("val", 5, 2, None, (2, "best")),          # validation runs never keep test codes of an epoch
])
def test_reported_epoch(select, epochs, best, last_test, expected):
    assert reported_epoch(select, epochs, Best(0.5, best), last_test) == expected


def test_validation_queries_are_carved_from_training_by_seed():
    train = torch.utils.data.TensorDataset(torch.arange(20))
    rest, val = carve_validation(train, 0.25, seed=3)
    assert len(val) == 5 and len(rest) == 15
    assert sorted([int(rest[i][0]) for i in range(15)] + [int(val[i][0]) for i in range(5)]) == list(range(20))
    again, _ = carve_validation(train, 0.25, seed=3)
    assert again.indices == rest.indices and carve_validation(train, 0.25, seed=4)[0].indices != rest.indices
    with pytest.raises(DataError, match="leaves too few training clips"):
        carve_validation(torch.utils.data.TensorDataset(torch.arange(2)), 0.4, seed=0)
