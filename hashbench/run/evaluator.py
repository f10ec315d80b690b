"""Encoding a run's query and database splits (the method's ``encode``) and scoring
them with its metrics (built once); timed.

When the run's loss trains a classifier, the query split's class logits come with its codes and the
scores gain ``top1``/``top5`` (:mod:`hashbench.eval.classification`). ``eval.clips`` windows per clip are
averaged before the sign (and for the logits).

In a distributed run each process encodes a contiguous share of every split; the shares are gathered
in dataset order on every process, and the metrics are computed once, on rank 0, and broadcast.
"""
from __future__ import annotations

import time

from typing import Optional

import numpy as np
from torch.utils.data import Dataset, Subset

from ..contract.losses import classifies
from ..eval.classification import classification_scores
from ..eval.evaluation import evaluate_metrics
from ..train.distributed import DistEnv, broadcast_object, gather_objects, split_sizes
from ..train.encoding import Encoded, encode
from ..train.precision import Precision
from ..train.progress import Position, Reporter
from .build import BuiltExperiment

__all__ = ["Evaluator"]


class Evaluator:
    """Encodes query/database splits and scores them with the experiment's metrics; ``seconds`` is the
    time spent so far (encoding and scoring)."""

    def __init__(self, built: BuiltExperiment, batch_size: int, num_workers: int, precision: Precision,
                 reporter: Reporter, position: Position, clips: int = 1, env: DistEnv = DistEnv()) -> None:
        self.built = built
        self.batch_size, self.num_workers = batch_size, num_workers
        self.precision, self.reporter, self.position = precision, reporter, position
        self.clips = clips
        self.classifier = built.loss if classifies(built.loss) else None
        self.classification: dict[str, float] = {}
        self.seconds = 0.0
        self.env = env

    def codes(self, query: Dataset, database: Dataset, prefix: str) -> tuple[np.ndarray, ...]:
        """``(query codes, query labels, database codes, database labels)`` of the model as it is."""
        start = time.perf_counter()
        self.position.phase = f"encoding the {prefix}query split"
        queries = self._encode(query, f"{prefix}query", self.classifier)
        self.classification = {} if queries.logits is None else \
            classification_scores(queries.logits, queries.labels, queries.window_logits)
        self.position.phase = f"encoding the {prefix}database split"
        db = self._encode(database, f"{prefix}database", None)
        self.seconds += time.perf_counter() - start
        return queries.codes, queries.labels, db.codes, db.labels

    def _encode(self, dataset: Dataset, split: str, classifier: object) -> Encoded:
        """Encode ``dataset`` (this process's share of it, gathered, in a distributed run)."""
        method, device = self.built.method, self.built.device
        precision = self.precision if self.built.deep is not None else None  # a plugin encodes in full precision
        if not self.env.enabled:
            return encode(method, dataset, self.batch_size, self.num_workers, device, precision, self.reporter,
                          split, clips=self.clips, classifier=classifier)
        sizes = split_sizes(len(dataset), self.env.world_size)  # type: ignore[arg-type]
        start = sum(sizes[: self.env.rank])
        mine: Optional[Encoded] = None
        if sizes[self.env.rank]:
            share = Subset(dataset, range(start, start + sizes[self.env.rank]))
            mine = encode(method, share, self.batch_size, self.num_workers, device, precision, self.reporter,
                          split, clips=self.clips, classifier=classifier)
        parts = [p for p in gather_objects(mine) if p is not None]
        joined = [np.concatenate([getattr(p, name) for p in parts]) if getattr(parts[0], name) is not None else None
                  for name in ("codes", "labels", "logits", "window_logits")]
        return Encoded(*joined)

    def score(self, qc: np.ndarray, ql: np.ndarray, dc: np.ndarray, dl: np.ndarray,
              validation: bool = False) -> dict[str, float]:
        """``{label: value}`` of every metric of the run, then the classification accuracy of the codes'
        query split (when the loss classifies). ``validation``: the codes are ``select = "val"``'s split,
        scored with the built validation metrics."""
        start = time.perf_counter()
        self.position.phase = "evaluating"
        scores: dict[str, float] = {}
        if self.env.is_main:
            metrics = self.built.validation_metrics if validation else None
            scores = dict(evaluate_metrics(metrics or self.built.metrics, qc, ql, dc, dl).values)
            scores.update(self.classification)
        scores = broadcast_object(scores)
        self.seconds += time.perf_counter() - start
        return scores
