"""``hashbench data prepare``: decode every video of a dataset once into the clip cache.

Decoding runs in worker processes (``workers=0`` decodes in this process). Each worker returns the
sampled, resized clip; this process writes it into the cache and journals it, so an interruption
loses at most the clips in flight and a re-run continues where it stopped. Files that cannot be
decoded (empty, truncated, not a video) are skipped and listed in ``report.txt``; so are listed videos
that are missing on disk and list paths that leave the dataset root.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError, HashbenchError
from ..atomic import write_text_atomic
from .cache import REPORT, CacheFormat, CacheWriter, source_stamp

log = logging.getLogger(__name__)

#: progress(done, total, key, status) with status in {"ok", "bad", "cached"}.
ProgressFn = Callable[[int, int, str, str], None]


@dataclass(frozen=True)
class MediaItem:
    """One video (file or frame folder) to prepare: its cache key (path relative to the root)."""

    key: str
    path: Path
    label: int = -1
    class_name: str = ""


@dataclass(frozen=True)
class Problem:
    """A listed video that cannot be prepared: ``what`` is missing/unsafe/bad, ``where`` file:line."""

    what: str
    name: str
    detail: str
    where: str = ""

    def line(self) -> str:
        where = f" ({self.where})" if self.where else ""
        return f"{self.what}: {self.name}{where}: {self.detail}"


@dataclass
class MediaPlan:
    """What a dataset asks prepare to do: media found on disk, and the listed ones that are not usable."""

    root: Path
    items: list[MediaItem]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class PrepareReport:
    """Outcome of one prepare run."""

    cache_dir: Path
    total: int = 0  # videos found on disk and offered to prepare
    decoded: int = 0  # decoded in this run
    failed: int = 0  # tried in this run and found bad
    reused: int = 0  # already in the cache
    bad: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # missing / unsafe list entries
    seconds: float = 0.0
    report_file: Optional[Path] = None
    interrupted: bool = False

    @property
    def cached(self) -> int:
        """Videos usable from the cache after this run."""
        return self.decoded + self.reused

    @property
    def videos_per_s(self) -> float:
        """Decoding throughput of this run (decoded + failed videos per second)."""
        return (self.decoded + self.failed) / self.seconds if self.seconds > 0 else 0.0


def _decode_job(key: str, path: str, num_frames: int, size: Tuple[int, int]) -> tuple[str, Any, dict]:
    """Worker: decode one video -> (key, clip (3,T,H,W) uint8 | error message, info)."""
    from .media import read_media

    try:
        clip, info = read_media(Path(path), num_frames, size)
    except HashbenchError as exc:
        message = str(exc)
        return key, message[len(path) + 2:] if message.startswith(f"{path}: ") else message, {}
    except Exception as exc:  # any decoder failure is a bad file, never a crash of prepare
        return key, f"{type(exc).__name__}: {exc}", {}
    meta = {"frames": info.decoded_frames, "header_frames": info.header_frames, "width": info.width,
            "height": info.height, "fps": round(info.fps, 4), "codec": info.codec}
    return key, np.ascontiguousarray(clip.transpose(3, 0, 1, 2)), meta


def prepare_media(plan: MediaPlan, cache_dir: Path | str, num_frames: int, size: Tuple[int, int], *,
                  workers: int = 0, progress: Optional[ProgressFn] = None) -> PrepareReport:
    """Decode ``plan.items`` into the cache at ``cache_dir`` (one frame count and size).

    ``workers``: decoding processes (0 = in this process). Holds a lock on the cache directory;
    raises DataError if another prepare holds it. Returns a :class:`PrepareReport`; writes
    ``report.txt`` and ``index.json`` in ``cache_dir`` even when interrupted.
    """
    from filelock import FileLock, Timeout

    cache_dir = Path(cache_dir)
    started = time.perf_counter()
    writer = CacheWriter(cache_dir, CacheFormat(num_frames, tuple(size)), root=plan.root)
    report = PrepareReport(cache_dir=cache_dir, problems=list(plan.problems))
    lock = FileLock(str(cache_dir / ".prepare.lock"))
    try:
        lock.acquire(timeout=0.5)
    except Timeout:
        raise DataError(f"another `hashbench data prepare` is writing {cache_dir}; wait for it to finish") from None
    try:
        items = list({item.key: item for item in plan.items}.values())
        report.total = len(items)
        todo, stamps = _reuse_done(items, writer, report, progress)
        done = len(stamps) - len(todo)  # already in the cache
        by_key = {item.key: item for item in todo}

        def handle(key: str, result: Any, meta: dict) -> None:
            nonlocal done
            item = by_key[key]
            record = {**stamps[key], "label": item.label, "class": item.class_name,
                      "source": item.key, **meta}
            if isinstance(result, np.ndarray):
                writer.put(key, result, record)
                report.decoded += 1
                status = "ok"
            else:
                writer.put_bad(key, str(result), record)
                report.bad.append(Problem("bad", key, str(result)))
                report.failed += 1
                status = "bad"
            done += 1
            if progress:
                progress(done, len(items), key, status)

        try:
            if todo:
                writer.begin_shard(len(todo))
                if workers <= 0:
                    last = time.monotonic()
                    for item in todo:
                        handle(*_decode_job(item.key, str(item.path), num_frames, tuple(size)))
                        if time.monotonic() - last > 2.0:
                            writer.commit()
                            last = time.monotonic()
                else:
                    _run_pool(todo, workers, num_frames, tuple(size), handle, writer)
        except KeyboardInterrupt:
            report.interrupted = True
            raise
        finally:
            writer.close()
            report.seconds = time.perf_counter() - started
            report.report_file = write_report(report)
    finally:
        lock.release()
    return report


def _reuse_done(items: Sequence[MediaItem], writer: CacheWriter, report: PrepareReport,
                progress: Optional[ProgressFn]) -> tuple[list[MediaItem], dict[str, dict[str, int]]]:
    """Count what the cache already holds from unchanged sources (ok: reused; bad: reported again) and
    return the items still to decode with every source's stamp (size, mtime); unstat-able ones are bad."""
    todo, stamps = [], {}
    done = 0
    for item in items:
        try:
            stamps[item.key] = source_stamp(item.path)
        except OSError as exc:
            report.bad.append(Problem("bad", item.key, f"cannot stat ({exc.strerror or exc})"))
            continue
        if not writer.is_done(item.key, stamps[item.key]):
            todo.append(item)
            continue
        record = writer.records[item.key]
        if record["status"] == "ok":
            report.reused += 1
        else:
            report.bad.append(Problem("bad", item.key, record.get("reason", "?") + " (unchanged since last run)"))
        done += 1
        if progress:
            progress(done, len(items), item.key, "cached")
    return todo, stamps


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and keeps what is done."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_pool(todo: Sequence[MediaItem], workers: int, num_frames: int, size: Tuple[int, int],
              handle: Callable[[str, Any, dict], None], writer: CacheWriter) -> None:
    """Decode ``todo`` in a process pool; videos whose worker died are retried one at a time."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = deque(todo)
    suspects: list[MediaItem] = []
    window = max(2, 2 * workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
    try:
        in_flight: dict[Future, MediaItem] = {}
        last = time.monotonic()
        while queue or in_flight:
            while queue and len(in_flight) < window:
                item = queue.popleft()
                in_flight[pool.submit(_decode_job, item.key, str(item.path), num_frames, size)] = item
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                item = in_flight.pop(future)
                try:
                    handle(*future.result())
                except BrokenProcessPool:
                    suspects.append(item)
                    broken = True
            if broken:  # a worker died (a decoder crash): restart, retry the in-flight ones alone
                suspects.extend(in_flight.values())
                in_flight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
            if time.monotonic() - last > 2.0:
                writer.commit()
                last = time.monotonic()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    for item in suspects:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_worker_init) as single:
            try:
                handle(*single.submit(_decode_job, item.key, str(item.path), num_frames, size).result())
            except BrokenProcessPool:
                handle(item.key, "the decoder crashed (worker process died)", {})


def write_report(report: PrepareReport) -> Path:
    """Write ``report.txt`` (summary, then bad / missing / refused videos) atomically; return its path."""
    lines = [
        f"# hashbench data prepare report: {report.cache_dir}",
        f"# videos on disk: {report.total}; cached: {report.cached} "
        f"(decoded now {report.decoded}, reused {report.reused}); bad: {len(report.bad)}; "
        f"missing or refused list entries: {len(report.problems)}"
        + ("; INTERRUPTED (run prepare again to continue)" if report.interrupted else ""),
    ]
    lines += [p.line() for p in report.bad]
    lines += [p.line() for p in report.problems]
    path = report.cache_dir / REPORT
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


