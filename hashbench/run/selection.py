"""Which epoch a run reports: the last one, the best on a validation split carved from the training
clips (``select = "val"``), or the best on the test queries (``select = "test"``, the original repo's
protocol; every row then says ``best_test:<metric>``). Never chosen on the test queries silently.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from torch.utils.data import Dataset, Subset

from ..config import EvalConfig, Experiment
from ..errors import ConfigError, DataError

__all__ = ["SELECTIONS", "selection_metric", "selection_label", "validation_size", "training_size", "check_selectable",
           "carve_validation", "Splits", "Best", "reported_epoch"]

#: What ``eval.select`` may say.
SELECTIONS = ("last", "val", "test")


def selection_metric(config: EvalConfig, labels: list[str]) -> str:
    """The metric ``val``/``test`` maximise: ``eval.select_metric``, else the first metric's label."""
    return config.select_metric or labels[0]


def selection_label(select: str, metric: str) -> str:
    """The ``selection`` column: ``last``, ``best_val:<metric>`` or ``best_test:<metric>``."""
    return {"last": "last", "val": f"best_val:{metric}", "test": f"best_test:{metric}"}[select]


def validation_size(n: int, fraction: float) -> int:
    """How many of ``n`` training clips ``select = "val"`` holds out as validation queries."""
    return max(1, int(round(n * fraction)))


def training_size(n: int, config: EvalConfig) -> int:
    """How many of the ``n`` clips of the training split the run trains on (``num_train``)."""
    return n - validation_size(n, config.val_fraction) if config.select == "val" else n


def check_selectable(dataset: Any, experiment: Experiment) -> None:
    """ConfigError when ``select = "val"`` cannot be scored: the dataset says its training split has no
    labels (``has_labels("train")`` false, e.g. ActivityNet's and YFCC's released features), so a slice
    held out of it has no relevance to rank by."""
    has_labels = getattr(dataset, "has_labels", None)
    if experiment.eval.select == "val" and callable(has_labels) and not has_labels("train"):
        raise ConfigError(f"eval.select = \"val\": dataset {experiment.dataset['name']!r} has no training labels, so"
                          " a slice held out of train cannot be scored; give train_labels or use select = \"last\"")


def carve_validation(train: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split training items into (remaining train = validation database, validation queries)."""
    n = len(train)  # type: ignore[arg-type]
    n_val = validation_size(n, fraction)
    if n - n_val < 2:
        raise DataError(f"eval.val_fraction = {fraction} leaves too few training clips ({n} in all)")
    order = np.random.default_rng(seed + 7919).permutation(n)
    return Subset(train, sorted(order[n_val:].tolist())), Subset(train, sorted(order[:n_val].tolist()))


@dataclass
class Splits:
    """The datasets a run reads: training clips, test query/database, validation query/database."""

    train: Dataset
    query: Dataset
    database: Dataset
    val_query: Optional[Dataset] = None
    val_database: Optional[Dataset] = None

    @classmethod
    def load(cls, dataset: Any, experiment: Experiment) -> "Splits":
        check_selectable(dataset, experiment)
        train = dataset.split("train")
        query, database = dataset.split("query"), dataset.split("database")
        if experiment.eval.select == "val":
            train, val_query = carve_validation(train, experiment.eval.val_fraction, experiment.seed)
            return cls(train, query, database, val_query, train)
        return cls(train, query, database)


@dataclass
class Best:
    """The best epoch so far under the selection metric (``value`` -inf and ``epoch`` 0 before any)."""

    value: float = -np.inf
    epoch: int = 0

    def offer(self, epoch: int, value: float) -> bool:
        """Keep ``epoch`` when ``value`` beats the best so far; whether it did."""
        if value > self.value:
            self.value, self.epoch = value, epoch
            return True
        return False


def reported_epoch(select: str, epochs: int, best: Best, last_test_epoch: Optional[int]) -> tuple[int, str]:
    """The epoch a finished run reports and where its codes come from:

    - ``"last_test"``: the test codes of the last evaluation are that epoch's (no re-encoding);
    - ``"best"``: re-encode with the best epoch's saved model (``val``/``test``);
    - ``"current"``: re-encode with the model as it is (``last`` after a resume that lost the last
      epoch's evaluation).
    """
    target = best.epoch if select == "test" else epochs
    if last_test_epoch is not None and last_test_epoch == target:
        return last_test_epoch, "last_test"
    if select in ("val", "test"):
        return best.epoch, "best"
    return epochs, "current"
