"""Relevance between queries and database items: same class id, or a shared positive of multi-hot labels."""
from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from ..codes import check_labels
from ..errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["Relevance"]


class Relevance:
    """Who is relevant to whom: equal class ids, or multi-hot labels sharing a positive.

    ``single``: int64 ids ``(nq,)``/``(nd,)``. Multi-label: labels packed into uint64 words, relevance =
    any bit of ``q & d`` set. A single-label side meeting a multi-hot side is converted to one-hot.
    """

    def __init__(self, query_labels: Any, db_labels: Any, nq: int, nd: int) -> None:
        ql = check_labels(query_labels, nq, "query labels")
        dl = check_labels(db_labels, nd, "database labels")
        self.single = ql.ndim == 1 and dl.ndim == 1
        self._lock = threading.Lock()
        if self.single:
            self.q, self.d = ql, dl
            self._members: dict[int, np.ndarray] = {}
            self._segbase: dict[int, np.ndarray] = {}
            return
        classes = (ql if ql.ndim == 2 else dl).shape[1]
        ql = _one_hot(ql, classes, "query labels") if ql.ndim == 1 else ql
        dl = _one_hot(dl, classes, "database labels") if dl.ndim == 1 else dl
        if ql.shape[1] != dl.shape[1]:
            raise DataError(f"query labels have {ql.shape[1]} classes but database labels {dl.shape[1]}")
        self.q, self.d = _pack_labels(ql), _pack_labels(dl)
        self.q_hot, self.d_hot = ql, dl

    @property
    def nd(self) -> int:
        return int(self.d.shape[0])

    def take_queries(self, rows: np.ndarray) -> "Relevance":
        """The same relevance for the query rows ``rows`` only (database side shared)."""
        out = object.__new__(Relevance)
        out.__dict__.update(self.__dict__)
        out._lock = threading.Lock()
        out.q = self.q[rows]
        if not self.single:
            out.q_hot = self.q_hot[rows]
        return out

    def block(self, rows: np.ndarray) -> np.ndarray:
        """Relevance ``(len(rows), nd)`` bool of the query rows ``rows`` to every database item."""
        if self.single:
            return self.d[None, :] == self.q[rows, None]
        q, d = self.q[rows], self.d
        out = np.empty((len(rows), d.shape[0]), dtype=bool)
        chunk = max(1024, (1 << 20) // max(1, len(rows)))
        for start in range(0, d.shape[0], chunk):
            stop = min(d.shape[0], start + chunk)
            acc = q[:, None, 0] & d[None, start:stop, 0]
            for w in range(1, q.shape[1]):
                acc |= q[:, None, w] & d[None, start:stop, w]
            np.not_equal(acc, 0, out=out[:, start:stop])
        return out

    def pairs(self, q_rows: np.ndarray, d_cols: np.ndarray) -> np.ndarray:
        """Relevance of the pairs ``(q_rows[i], d_cols[i])`` (bool, same length)."""
        if self.single:
            return self.d[d_cols] == self.q[q_rows]
        return (self.q[q_rows] & self.d[d_cols]).any(axis=1)

    def members(self, label: int) -> np.ndarray:
        """Database indices of class ``label`` (single-label; cached for the last few classes)."""
        with self._lock:
            found = self._members.get(label)
        if found is None:
            found = np.flatnonzero(self.d == label)
            with self._lock:
                if len(self._members) >= 16:
                    self._members.pop(next(iter(self._members)))
                self._members[label] = found
        return found

    def segment_base(self, label: int) -> np.ndarray:
        """Number of class-``label`` items before each database item (intp; cached per class)."""
        with self._lock:
            found = self._segbase.get(label)
        if found is None:
            is_c = self.d == label
            found = np.cumsum(is_c, dtype=np.intp)
            found -= is_c
            with self._lock:
                if len(self._segbase) >= 16:
                    self._segbase.pop(next(iter(self._segbase)))
                self._segbase[label] = found
        return found

    def has_relevant(self) -> np.ndarray:
        """Whether each query has at least one relevant database item ``(nq,)`` bool."""
        if self.single:
            return np.isin(self.q, self.d)
        union = np.bitwise_or.reduce(self.d, axis=0)
        return (self.q & union[None, :]).any(axis=1)

    def order(self) -> np.ndarray:
        """Query processing order: by class for single-label (so per-class work is shared)."""
        if self.single:
            return np.argsort(self.q, kind="stable")
        return np.arange(self.q.shape[0])


def _one_hot(labels: np.ndarray, classes: int, what: str) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(f"{what}: class ids must lie in 0..{classes - 1} to match multi-hot labels with"
                        f" {classes} classes")
    out = np.zeros((labels.shape[0], classes), dtype=bool)
    out[np.arange(labels.shape[0]), labels] = True
    return out


def _pack_labels(hot: np.ndarray) -> np.ndarray:
    packed = np.packbits(hot, axis=1)
    width = -(-packed.shape[1] // 8) * 8
    padded = np.zeros((hot.shape[0], max(8, width)), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view(np.uint64)
