"""Encoding a run's query and database splits and scoring them with its metrics (built once); timed.

When the run's loss trains a classifier, the query split's class logits come with its codes and the
scores gain ``top1``/``top5`` (:mod:`hashbench.eval.classification`). ``eval.clips`` windows per clip are
averaged before the sign (and for the logits).
"""
from __future__ import annotations

import time

import numpy as np
from torch.utils.data import Dataset

from ..contract.losses import classifies
from ..eval.classification import classification_scores
from ..eval.evaluation import evaluate_metrics
from ..train.engine import Precision, encode
from ..train.progress import Position, Reporter
from .build import Built

__all__ = ["Evaluator"]


class Evaluator:
    """Encodes query/database splits and scores them with the experiment's metrics; ``seconds`` is the
    time spent so far (encoding and scoring)."""

    def __init__(self, built: Built, batch_size: int, num_workers: int, precision: Precision, reporter: Reporter,
                 position: Position, clips: int = 1) -> None:
        self.built = built
        self.batch_size, self.num_workers = batch_size, num_workers
        self.precision, self.reporter, self.position = precision, reporter, position
        self.clips = clips
        self.classifier = built.loss if classifies(built.loss) else None
        self.classification: dict[str, float] = {}
        self.seconds = 0.0

    def codes(self, query: Dataset, database: Dataset, prefix: str) -> tuple[np.ndarray, ...]:
        """``(query codes, query labels, database codes, database labels)`` of the model as it is."""
        start = time.perf_counter()
        model, device = self.built.model, self.built.device
        self.position.phase = f"encoding the {prefix}query split"
        queries = encode(model, query, self.batch_size, self.num_workers, device, self.precision,
                         self.reporter, f"{prefix}query", clips=self.clips, classifier=self.classifier)
        self.classification = {} if queries.logits is None else \
            classification_scores(queries.logits, queries.labels, queries.window_logits)
        self.position.phase = f"encoding the {prefix}database split"
        db = encode(model, database, self.batch_size, self.num_workers, device, self.precision,
                    self.reporter, f"{prefix}database", clips=self.clips)
        self.seconds += time.perf_counter() - start
        return queries.codes, queries.labels, db.codes, db.labels

    def score(self, qc: np.ndarray, ql: np.ndarray, dc: np.ndarray, dl: np.ndarray) -> dict[str, float]:
        """``{label: value}`` of every metric of the run, then the classification accuracy of the codes'
        query split (when the loss classifies)."""
        start = time.perf_counter()
        self.position.phase = "evaluating"
        scores = dict(evaluate_metrics(self.built.metrics, qc, ql, dc, dl).values)
        scores.update(self.classification)
        self.seconds += time.perf_counter() - start
        return scores
