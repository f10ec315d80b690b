"""The clip cache: decoded, sampled, resized clips stored once as memory-mappable uint8 arrays.

Layout of one cache directory (one frame count and size; see :func:`format_dir`)::

    format.json       {"version", "frames": T, "size": [H, W], "layout": "N,C,T,H,W"}
    shard-00000.npy   uint8 (n0, 3, T, H, W): the clips decoded by one prepare run (channels first,
    shard-00001.npy   so a crop is one strided copy into the (3, T, h, w) item)
    journal.jsonl     one JSON line per finished video (ok: shard/row/frame counts; bad: reason),
                      appended only after the rows it names are flushed: the source of truth
    index.json        manifest for loaders, rewritten atomically at the end of every prepare run
    report.txt        human-readable list of bad, missing and refused videos of the last run

Resumable: an interrupted run leaves rows that the journal does not name; the next run skips what the
journal says is done (unless the source file changed size or mtime, or its shard is missing or damaged:
:func:`shard_rows`) and decodes the rest into a new shard. Loaders open shards with
``np.load(mmap_mode="r")``, so workers share the page cache.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Tuple

import numpy as np

from ..atomic import write_text_atomic
from ..errors import DataError
from .locate import media_key

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
LAYOUT = "N,C,T,H,W"
INDEX = "index.json"
JOURNAL = "journal.jsonl"
FORMAT = "format.json"
REPORT = "report.txt"


def format_dir(cache_root: Path | str, num_frames: int, size: Tuple[int, int]) -> Path:
    """The directory for clips of ``num_frames`` frames at ``size = (H, W)``: ``<root>/t32_128x171``."""
    return Path(cache_root) / f"t{num_frames}_{size[0]}x{size[1]}"


def source_stamp(path: Path) -> dict[str, int]:
    """Size and mtime (ns) of a media file or frame folder, to notice changed sources on resume."""
    st = path.stat()
    return {"bytes": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


@dataclass(frozen=True)
class CacheFormat:
    """Frames per clip and stored size ``(H, W)``."""

    num_frames: int
    size: Tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "frames": self.num_frames, "size": list(self.size), "layout": LAYOUT}


def _read_format(directory: Path) -> Optional[CacheFormat]:
    path = directory / FORMAT
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != FORMAT_VERSION or data.get("layout") != LAYOUT:
            raise DataError(f"{path}: cache format {data.get('version')}/{data.get('layout')} is not "
                            f"{FORMAT_VERSION}/{LAYOUT}; delete {directory} and prepare again")
        return CacheFormat(int(data["frames"]), (int(data["size"][0]), int(data["size"][1])))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise DataError(f"{path}: unreadable cache format file ({exc}); delete {directory} and prepare again") from None


def read_journal(directory: Path) -> dict[str, dict[str, Any]]:
    """Latest journal record per cache key (a torn last line from a crash is ignored)."""
    records: dict[str, dict[str, Any]] = {}
    path = directory / JOURNAL
    if not path.exists():
        return records
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                records[str(record["key"])] = record
            except (ValueError, KeyError, TypeError):
                log.warning("%s: ignoring an incomplete journal line", path)
    return records


def shard_rows(path: Path, fmt: CacheFormat) -> Optional[int]:
    """The clip count of the shard at ``path``, or None when it is missing or does not open as a uint8
    ``(N, 3, T, H, W)`` array of ``fmt`` (a truncated or overwritten file): a cheap check, the header and
    the file size, not the pixels."""
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if array.dtype != np.uint8 or array.ndim != 5 or array.shape[1:] != (3, fmt.num_frames, *fmt.size):
        return None
    return int(array.shape[0])


class CacheWriter:
    """Appends decoded clips to a cache directory (used by :mod:`hashbench.data.prepare`).

    Not safe for two writers at once: ``prepare`` holds a file lock on the directory.
    """

    def __init__(self, directory: Path | str, fmt: CacheFormat, root: Path | str | None = None) -> None:
        self.directory = Path(directory)
        self.format = fmt
        self.root = str(root) if root is not None else None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create cache directory {self.directory} ({exc.strerror or exc}); "
                            "choose another with --cache or HASHBENCH_CACHE") from None
        existing = _read_format(self.directory)
        if existing is None:
            write_text_atomic(self.directory / FORMAT, json.dumps(fmt.to_json(), indent=1) + "\n")
        elif existing != fmt:
            raise DataError(f"{self.directory} holds clips of {existing.num_frames} frames at "
                            f"{existing.size[0]}x{existing.size[1]}, not {fmt.num_frames} at "
                            f"{fmt.size[0]}x{fmt.size[1]}; use another cache directory")
        self.records = read_journal(self.directory)
        self._shard_rows: dict[str, Optional[int]] = {}
        self._shard: Optional[np.memmap] = None
        self._shard_name = ""
        self._next_row = 0
        self._pending: list[dict[str, Any]] = []

    def is_done(self, key: str, stamp: Mapping[str, int]) -> bool:
        """True when ``key`` is already stored (ok or bad) from a source with the same stamp."""
        record = self.records.get(key)
        if record is None or record.get("bytes") != stamp.get("bytes") or \
                record.get("mtime_ns") != stamp.get("mtime_ns"):
            return False
        if record["status"] == "ok":
            rows = self.rows_of(record["shard"])
            return rows is not None and int(record["row"]) < rows
        return True

    def rows_of(self, name: str) -> Optional[int]:
        """How many clips the shard ``name`` holds, or None when it is missing or damaged (it does not open
        as a uint8 ``(N, 3, T, H, W)`` array of this format): its clips are decoded again and the shard is
        deleted at :meth:`close`. Checked once per shard."""
        if name not in self._shard_rows:
            self._shard_rows[name] = shard_rows(self.directory / name, self.format)
            if self._shard_rows[name] is None and (self.directory / name).exists():
                log.warning("%s: damaged cache shard; its clips are decoded again", self.directory / name)
        return self._shard_rows[name]

    def begin_shard(self, capacity: int) -> None:
        """Create the shard that this run's clips go into (``capacity`` rows, filled in order)."""
        number = 0
        taken = set(self._shard_rows)  # nor the name of a shard found missing: its records are dropped at close
        while (self.directory / f"shard-{number:05d}.npy").exists() or f"shard-{number:05d}.npy" in taken:
            number += 1
        self._shard_name = f"shard-{number:05d}.npy"
        T, (H, W) = self.format.num_frames, self.format.size
        self._shard = np.lib.format.open_memmap(self.directory / self._shard_name, mode="w+",
                                                dtype=np.uint8, shape=(capacity, 3, T, H, W))
        self._next_row = 0

    def put(self, key: str, clip: np.ndarray, record: Mapping[str, Any]) -> None:
        """Store ``clip`` uint8 ``(3, T, H, W)`` for ``key`` (visible once :meth:`commit` runs)."""
        if self._shard is None or self._next_row >= self._shard.shape[0]:
            raise RuntimeError("CacheWriter.put without room: call begin_shard first")
        expected = (3, self.format.num_frames, *self.format.size)
        if clip.shape != expected or clip.dtype != np.uint8:
            raise ValueError(f"clip for {key} has shape {clip.shape} {clip.dtype}, expected {expected} uint8")
        self._shard[self._next_row] = clip
        self._pending.append({**record, "key": key, "status": "ok", "shard": self._shard_name,
                              "row": self._next_row})
        self._next_row += 1

    def put_bad(self, key: str, reason: str, record: Mapping[str, Any]) -> None:
        """Record that ``key`` could not be decoded, and why."""
        self._pending.append({**record, "key": key, "status": "bad", "reason": reason})

    def commit(self) -> None:
        """Flush written rows to the file, then append their journal lines."""
        if not self._pending:
            return
        if self._shard is not None:
            self._shard.flush()
        with (self.directory / JOURNAL).open("a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in self._pending))
            handle.flush()
            os.fsync(handle.fileno())
        for record in self._pending:
            self.records[record["key"]] = record
        self._pending.clear()

    def close(self) -> None:
        """Commit, release the shard, delete shards no record uses, rewrite ``index.json``."""
        self.commit()
        if self._shard is not None:
            del self._shard
            self._shard = None
        damaged = {name for name, rows in self._shard_rows.items() if rows is None}
        for key in [k for k, r in self.records.items() if r["status"] == "ok" and r["shard"] in damaged]:
            del self.records[key]  # clips of a damaged shard that this run did not decode again
        used = {r["shard"] for r in self.records.values() if r["status"] == "ok"}
        for path in self.directory.glob("shard-*.npy"):
            if path.name not in used:  # a run that stored nothing, or rows all superseded
                path.unlink()
        self.write_index()

    def write_index(self) -> Path:
        """Rewrite ``index.json`` (atomically) from the journal records."""
        shards = sorted({r["shard"] for r in self.records.values() if r["status"] == "ok"})
        shard_no = {name: i for i, name in enumerate(shards)}
        videos, bad = {}, {}
        for key in sorted(self.records):
            record = self.records[key]
            if record["status"] == "ok":
                entry = {k: v for k, v in record.items() if k not in ("key", "status", "shard")}
                entry["shard"] = shard_no[record["shard"]]
                videos[key] = entry
            else:
                bad[key] = record.get("reason", "?")
        index = {**self.format.to_json(), "root": self.root, "shards": shards, "videos": videos, "bad": bad}
        path = self.directory / INDEX
        write_text_atomic(path, json.dumps(index, sort_keys=True) + "\n")
        return path


class ClipCache:
    """Read side of a cache directory: ``read(key)`` -> uint8 view ``(3, T, H, W)`` of a memory map.

    Picklable (for DataLoader workers); shards are opened lazily in each process.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        path = self.directory / INDEX
        if not path.exists():
            raise DataError(f"no clip cache at {self.directory} (missing {INDEX}); "
                            "run `hashbench data prepare` first")
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            self.format = CacheFormat(int(index["frames"]), (int(index["size"][0]), int(index["size"][1])))
            self.shards: list[str] = list(index["shards"])
            self.videos: dict[str, dict[str, Any]] = dict(index["videos"])
            self.bad: dict[str, str] = dict(index.get("bad", {}))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise DataError(f"{path}: unreadable cache index ({exc}); run `hashbench data prepare` again") from None
        self._by_norm = {media_key(k): k for k in self.videos}
        self._bad_by_norm = {media_key(k): k for k in self.bad}
        self._arrays: dict[int, np.ndarray] = {}

    @staticmethod
    def exists(directory: Path | str) -> bool:
        """Whether ``directory`` holds a prepared cache (an index)."""
        return (Path(directory) / INDEX).exists()

    def __len__(self) -> int:
        return len(self.videos)

    def __contains__(self, key: object) -> bool:
        return key in self.videos

    def keys(self) -> Iterator[str]:
        return iter(self.videos)

    def find(self, rel: str) -> Optional[str]:
        """The stored key for a listed relative path, tolerant of case, ``@``/``#`` and extension."""
        if rel in self.videos:
            return rel
        return self._by_norm.get(media_key(rel))

    def find_bad(self, rel: str) -> Optional[str]:
        """The reason ``rel`` was skipped by prepare, or None."""
        key = rel if rel in self.bad else self._bad_by_norm.get(media_key(rel))
        return None if key is None else self.bad[key]

    def record(self, key: str) -> dict[str, Any]:
        """Index record of ``key``: shard, row, frames (decoded count), source stamp, label, class."""
        return self.videos[key]

    def read(self, key: str) -> np.ndarray:
        """Memory-mapped uint8 ``(3, T, H, W)`` clip of ``key`` (a view; copy before modifying)."""
        record = self.videos[key]
        shard = int(record["shard"])
        array = self._arrays.get(shard)
        if array is None:
            path = self.directory / self.shards[shard]
            try:
                array = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: cannot open cache shard ({exc}); "
                                "run `hashbench data prepare` again") from None
            self._arrays[shard] = array
        return array[int(record["row"])]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state
