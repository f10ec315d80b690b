"""Encoding a run's query and database splits and scoring them with its metrics (built once); timed."""
from __future__ import annotations

import time

import numpy as np
from torch.utils.data import Dataset

from ..eval.evaluation import evaluate_metrics
from ..train.engine import Precision, encode
from ..train.progress import Position, Reporter
from .build import Built

__all__ = ["Evaluator"]


class Evaluator:
    """Encodes query/database splits and scores them with the experiment's metrics; ``seconds`` is the
    time spent so far (encoding and scoring)."""

    def __init__(self, built: Built, batch_size: int, num_workers: int, precision: Precision, reporter: Reporter,
                 position: Position) -> None:
        self.built = built
        self.batch_size, self.num_workers = batch_size, num_workers
        self.precision, self.reporter, self.position = precision, reporter, position
        self.seconds = 0.0

    def codes(self, query: Dataset, database: Dataset, prefix: str) -> tuple[np.ndarray, ...]:
        """``(query codes, query labels, database codes, database labels)`` of the model as it is."""
        start = time.perf_counter()
        model, device = self.built.model, self.built.device
        self.position.phase = f"encoding the {prefix}query split"
        qc, ql = encode(model, query, self.batch_size, self.num_workers, device, self.precision,
                        self.reporter, f"{prefix}query")
        self.position.phase = f"encoding the {prefix}database split"
        dc, dl = encode(model, database, self.batch_size, self.num_workers, device, self.precision,
                        self.reporter, f"{prefix}database")
        self.seconds += time.perf_counter() - start
        return qc, ql, dc, dl

    def score(self, qc: np.ndarray, ql: np.ndarray, dc: np.ndarray, dl: np.ndarray) -> dict[str, float]:
        """``{label: value}`` of every metric of the run."""
        start = time.perf_counter()
        self.position.phase = "evaluating"
        scores = evaluate_metrics(self.built.metrics, qc, ql, dc, dl).values
        self.seconds += time.perf_counter() - start
        return scores
