"""One split of a frame-feature dataset on disk: HDF5 shards ``feats (N, T, D)`` read row by row.

The published feature sets keep a split in one HDF5 file, or in shards read in order (YFCC's nine
training shards, 168 GB together), each with a dataset ``feats`` of shape ``(videos, frames, dim)``.
:class:`FeatureStore` opens the shards lazily and again in every process (h5py handles do not survive a
fork), so that DataLoader workers each read their own; it never holds more than the rows asked for.

Checked when a store is opened: every shard exists, has the key (DataError listing the keys present),
is 3-D, and has the same T and D as the first one; a few sampled rows are finite (a cheap check; the
full scan is :meth:`FeatureStore.scan_finite`, run by ``hashbench data check``).
"""
from __future__ import annotations

import hashlib
import os
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from ..errors import DataError

__all__ = ["FeatureStore", "Shard", "SAMPLE_ROWS"]

#: Rows per shard read when a store opens, to catch NaN/inf cheaply (first, last and evenly between).
SAMPLE_ROWS = 4


@dataclass(frozen=True)
class Shard:
    """One HDF5 file of a split: ``path``, ``rows`` (its N), ``size`` in bytes, stored ``dtype``."""

    path: Path
    rows: int
    size: int
    dtype: str


def _describe(path: Path, key: str) -> tuple[int, int, int, str]:
    """``(N, T, D, dtype)`` of ``path[key]``; DataError for a missing file or key or a wrong shape."""
    import h5py

    if not path.is_file():
        raise DataError(f"{path}: feature file not found; put it there (the papers' released files: "
                        "docs/datasets.md) or make it from the videos with `hashbench features extract` "
                        "(UCF101, HMDB-51, JHMDB or your own videos)")
    try:
        with h5py.File(str(path), "r") as f:
            if key not in f:
                present = ", ".join(sorted(f.keys())) or "none"
                raise DataError(f"{path}: no dataset {key!r} in the feature file (keys present: {present}); "
                                "set feature_key to the one holding the (videos, frames, dim) array")
            node = f[key]
            if not isinstance(node, h5py.Dataset) or node.ndim != 3:
                shape = getattr(node, "shape", "a group")
                raise DataError(f"{path}[{key}]: expected a (videos, frames, dim) array, got {shape}")
            if not (np.issubdtype(node.dtype, np.floating) or np.issubdtype(node.dtype, np.integer)):
                raise DataError(f"{path}[{key}]: expected float features, got dtype {node.dtype}")
            n, t, d = (int(v) for v in node.shape)
            return n, t, d, str(node.dtype)
    except OSError as exc:
        raise DataError(f"{path}: cannot open as an HDF5 feature file ({exc})") from None


class FeatureStore:
    """The rows of one split, concatenated over ``paths`` in order (``N`` = the sum of the shards').

    ``key``: the dataset name (default ``feats``); ``where``: the split, for messages. Attributes:
    ``num_rows`` (N), ``num_frames`` (T), ``feature_dim`` (D), ``shards``. Rows come back as float32
    ``(n, T, D)`` numpy arrays, whatever the stored dtype (float16 storage is read as float32).
    """

    def __init__(self, paths: Sequence[Path | str], key: str = "feats", where: str = "") -> None:
        if not paths:
            raise DataError(f"{where or 'split'}: no feature file given")
        self.key = key
        self.where = where
        shards, first = [], None
        for raw in paths:
            path = Path(raw)
            n, t, d, dtype = _describe(path, key)
            if first is None:
                first = (path, t, d)
            elif (t, d) != first[1:]:
                raise DataError(f"{path}[{key}]: shard has {t} frames x {d} dims but {first[0]} has {first[1]} x "
                                f"{first[2]}; every shard of the {where or 'split'} split needs the same T and D")
            shards.append(Shard(path, n, path.stat().st_size, dtype))
        assert first is not None
        self.shards: list[Shard] = shards
        self.num_frames, self.feature_dim = first[1], first[2]
        self.offsets: list[int] = np.cumsum([0] + [s.rows for s in shards]).tolist()
        self.num_rows: int = self.offsets[-1]
        self._handles: dict[int, Any] = {}
        self._pid: Optional[int] = None

    # -- handles: opened lazily, per process ------------------------------------------------------
    def _dataset(self, shard: int) -> Any:
        if self._pid != os.getpid():  # a forked worker: the parent's handles are not usable here
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(shard)
        if handle is None:
            import h5py

            handle = h5py.File(str(self.shards[shard].path), "r")
            self._handles[shard] = handle
        return handle[self.key]

    def close(self) -> None:
        """Close the handles this process opened (they reopen on the next read)."""
        if self._pid == os.getpid():
            for handle in self._handles.values():
                handle.close()
        self._handles = {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handles"], state["_pid"] = {}, None
        return state

    def __len__(self) -> int:
        return self.num_rows

    # -- reading -----------------------------------------------------------------------------------
    def _locate(self, row: int) -> tuple[int, int]:
        if not 0 <= row < self.num_rows:
            raise IndexError(f"row {row} out of range for {self.num_rows} rows")
        shard = bisect_right(self.offsets, row) - 1
        return shard, row - self.offsets[shard]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float32 ``(stop - start, T, D)``, across shard boundaries."""
        start, stop = max(0, start), min(stop, self.num_rows)
        parts = []
        row = start
        while row < stop:
            shard, local = self._locate(row)
            take = min(stop - row, self.shards[shard].rows - local)
            parts.append(np.asarray(self._dataset(shard)[local:local + take], dtype=np.float32))
            row += take
        if not parts:
            return np.zeros((0, self.num_frames, self.feature_dim), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def read_rows(self, rows: Sequence[int]) -> np.ndarray:
        """Rows in the order given, as float32 ``(len(rows), T, D)``; per shard, each run of consecutive
        rows is one slice read (h5py's point-list indexing is several times slower than a read per row)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.num_frames, self.feature_dim), np.float32)
        if len(rows) == 0:
            return out
        if rows.min() < 0 or rows.max() >= self.num_rows:
            raise IndexError(f"rows out of range for {self.num_rows} rows")
        if np.all(np.diff(rows) == 1):  # a sequential batch: read straight into one array, no reordering
            return self.read(int(rows[0]), int(rows[-1]) + 1)
        shard_of = np.searchsorted(self.offsets, rows, side="right") - 1
        for shard in np.unique(shard_of):
            mask = shard_of == shard
            local = rows[mask] - self.offsets[shard]
            unique, inverse = np.unique(local, return_inverse=True)
            dataset = self._dataset(int(shard))
            breaks = np.flatnonzero(np.diff(unique) != 1) + 1  # runs of consecutive rows, one slice read each
            values = np.concatenate([np.asarray(dataset[int(run[0]):int(run[-1]) + 1], dtype=np.float32)
                                     for run in np.split(unique, breaks)])
            out[mask] = values[inverse]
        return out

    def chunks(self, rows: int = 256, start: int = 0, stop: Optional[int] = None) -> Iterator[np.ndarray]:
        """Consecutive float32 blocks ``(<= rows, T, D)`` of rows ``start:stop`` (default all), in order;
        memory is bounded by one block."""
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        stop = self.num_rows if stop is None else min(stop, self.num_rows)
        for begin in range(start, stop, rows):
            yield self.read(begin, min(begin + rows, stop))

    # -- checks and fingerprint ------------------------------------------------------------------
    def sample_rows(self, per_shard: int = SAMPLE_ROWS) -> list[int]:
        """Global row numbers of ``per_shard`` rows of each shard: first, last and evenly between."""
        picked: list[int] = []
        for shard, info in enumerate(self.shards):
            if info.rows:
                local = np.unique(np.linspace(0, info.rows - 1, min(per_shard, info.rows)).round().astype(int))
                picked += [self.offsets[shard] + int(r) for r in local]
        return picked

    def check_sample_finite(self) -> None:
        """DataError when a sampled row holds NaN or inf (see :meth:`scan_finite` for every row)."""
        for row in self.sample_rows():
            if not np.all(np.isfinite(self.read(row, row + 1))):
                raise DataError(self._nonfinite_message(row))

    def scan_finite(self, rows: int = 256) -> Optional[str]:
        """Read every row once; the first row with NaN or inf as a message, or None when all are finite."""
        for begin in range(0, self.num_rows, rows):
            block = self.read(begin, begin + rows)
            bad = np.flatnonzero(~np.isfinite(block).reshape(len(block), -1).all(axis=1))
            if len(bad):
                return self._nonfinite_message(begin + int(bad[0]))
        return None

    def _nonfinite_message(self, row: int) -> str:
        shard, local = self._locate(row)
        return (f"{self.shards[shard].path}[{self.key}]: row {local} holds NaN or inf features; recompute or "
                "drop that video (`hashbench data check` scans every row)")

    def fingerprint(self, digest: Any) -> None:
        """Feed ``digest`` (a hashlib object) T, D, every shard's byte size, rows and dtype (not its name or
        folder), and the bytes of the sampled rows (:meth:`sample_rows`): cheap, stable across copies."""
        digest.update(f"{self.num_frames}x{self.feature_dim}".encode())
        for shard in self.shards:
            digest.update(f"|{shard.size}:{shard.rows}:{shard.dtype}".encode())
        for row in self.sample_rows():
            digest.update(np.ascontiguousarray(self.read(row, row + 1)).tobytes())

    def checksum(self) -> str:
        """sha256 (hex) of :meth:`fingerprint`."""
        digest = hashlib.sha256()
        self.fingerprint(digest)
        return digest.hexdigest()
