"""VideoDataset: the dataset contract (see :mod:`hashbench.contract.hookspecs`) for real video collections.

(About 300 lines, one class: serving the splits, provenance, prepare and check all read the same
resolved lists, so they stay together.)

A dataset plugin parses its split lists into :class:`ListedVideo` records and hands them, with the
class names, to :class:`VideoDataset`, which then

- serves ``split("train"|"query"|"database")`` as :class:`~hashbench.data.torch_dataset.ClipDataset`
  reading the clip cache (``source="cache"``), decoding media on demand (``"files"``), or the cache
  when it is prepared and media otherwise (``"auto"``, the default);
- tells ``hashbench data prepare`` which media to decode (:meth:`media_plan`) and where the cache is;
- checks lists, disk and cache against the official counts (:func:`check_dataset`).

Construction never touches the media, so a dataset with missing videos can still be prepared and
checked; ``split()`` raises DataError naming unusable videos unless ``missing="skip"``.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError, DataError
from .cache import ClipCache, format_dir
from .lists import entries_checksum
from .locate import MediaLocator
from .prepare import MediaItem, MediaPlan, Problem

log = logging.getLogger(__name__)

SPLITS = ("train", "query", "database")
SOURCES = ("auto", "cache", "files")
MISSING = ("error", "skip")
CACHE_ENV = "HASHBENCH_CACHE"
#: With source="auto" and no cache, decoding on demand is fine for this many videos; above, warn.
SMALL_SET = 500


@dataclass(frozen=True)
class ListedVideo:
    """One list entry: ``vid`` the relative path as listed (the stable id), 0-based ``label``.

    ``problem`` non-empty marks an entry refused while parsing (e.g. a path leaving the root).
    """

    vid: str
    label: int
    where: str = ""
    problem: str = ""


def default_cache_root(root: Path | str, cache: Optional[str] = None) -> Path:
    """Where clips of ``root`` are cached: ``cache`` if given, else ``$HASHBENCH_CACHE/<name>-<hash>``,
    else ``<root>/.hashbench-cache``. Frame count and size add a sub-folder (``t32_128x171``)."""
    if cache:
        return Path(os.path.expandvars(str(cache))).expanduser()
    root_abs = os.path.abspath(str(root))
    env = os.environ.get(CACHE_ENV)
    if env:
        digest = hashlib.sha256(root_abs.encode()).hexdigest()[:8]
        return Path(env).expanduser() / f"{Path(root_abs).name}-{digest}"
    return Path(root_abs) / ".hashbench-cache"


@dataclass
class _Resolved:
    refs: list[str]
    labels: list[int]
    ids: list[str]
    problems: list[str] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)


class VideoDataset:
    """A real video dataset: class names, split lists, media under ``root``, and its clip cache.

    Parameters: ``name`` (for messages), ``root`` (dataset folder), ``class_names`` (index = label),
    ``splits`` (``train``/``query``/``database`` -> list of :class:`ListedVideo`), ``split_label``
    (recorded in results, e.g. ``"1"``), ``num_frames`` (T), ``resize`` ``(H, W)`` of stored frames,
    ``crop`` (square crop side; None = none), ``augment`` (random crop + flip on ``train``),
    ``cache`` (cache root; see :func:`default_cache_root`), ``source`` (auto/cache/files),
    ``missing`` (error/skip), ``all_videos`` (everything prepare should decode; default the union of
    the splits), ``expected`` (official counts for ``check``: ``videos``, ``classes`` and per split),
    ``provenance`` (extra ``info()`` items), ``checksum_extra`` (generation parameters to hash),
    ``official_splits`` (the splits as the dataset's official lists define them, if it has any:
    ``info()["data_origin"]`` is ``"official"`` when the clips used are exactly those, else ``"custom"``).
    """

    multi_label = False

    def __init__(self, *, name: str, root: Path | str, class_names: Sequence[str],
                 splits: Mapping[str, Sequence[ListedVideo]], split_label: str, num_frames: int,
                 resize: Tuple[int, int], crop: Optional[int], augment: bool = False,
                 cache: Optional[str] = None, source: str = "auto", missing: str = "error",
                 all_videos: Optional[Sequence[ListedVideo]] = None,
                 expected: Optional[Mapping[str, int]] = None,
                 provenance: Optional[Mapping[str, str]] = None,
                 checksum_extra: Sequence[str] = (),
                 official_splits: Optional[Mapping[str, Sequence[ListedVideo]]] = None) -> None:
        if source not in SOURCES:
            raise ConfigError(f"dataset.source: expected one of {', '.join(SOURCES)}, got {source!r}")
        if missing not in MISSING:
            raise ConfigError(f"dataset.missing: expected one of {', '.join(MISSING)}, got {missing!r}")
        if num_frames < 1:
            raise ConfigError(f"dataset.num_frames: expected a positive integer, got {num_frames}")
        if crop is not None and (crop < 1 or crop > min(resize)):
            raise ConfigError(f"dataset.crop: {crop} does not fit the resized frames {resize[0]}x{resize[1]}")
        missing_splits = [s for s in SPLITS if s not in splits]
        if missing_splits:
            raise ValueError(f"splits lacks {missing_splits}")
        self.name = name
        self.root = Path(root)
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.num_frames = int(num_frames)
        self.resize = (int(resize[0]), int(resize[1]))
        self.crop = crop
        self.augment = augment
        self.source = source
        self.missing = missing
        self.split_label = split_label
        self.splits = {k: list(v) for k, v in splits.items()}
        if all_videos is None:
            seen: dict[str, ListedVideo] = {}
            for s in SPLITS:
                for v in self.splits[s]:
                    seen.setdefault(v.vid, v)
            all_videos = list(seen.values())
        self.all_videos = list(all_videos)
        self.expected = dict(expected or {})
        self.provenance = dict(provenance or {})
        self.checksum_extra = list(checksum_extra)
        self.official_checksum: Optional[str] = None
        if official_splits is not None:
            entries = {s: [(v.vid, v.label) for v in official_splits[s]] for s in SPLITS}
            self.official_checksum = entries_checksum(entries, self.checksum_extra)[:16]
        self.cache_root = default_cache_root(self.root, cache)
        self.cache_dir = format_dir(self.cache_root, self.num_frames, self.resize)
        self._locator = MediaLocator(self.root)
        self._cache: Optional[ClipCache] = None
        self._resolved: dict[str, _Resolved] = {}
        self._mode: Optional[str] = None

    # -- where clips come from ----------------------------------------------------------------------
    def mode(self) -> str:
        """``"cache"`` or ``"files"``: what ``split()`` reads (``source="auto"`` decides here)."""
        if self._mode is None:
            if self.source == "files":
                self._mode = "files"
            elif self.source == "cache" or ClipCache.exists(self.cache_dir):
                self._mode = "cache"
            else:
                self._mode = "files"
                if len(self.all_videos) > SMALL_SET:
                    log.warning("%s: no clip cache at %s; decoding %d videos on demand is slow. Run "
                                "`hashbench data prepare %s --root %s --frames %d --size %dx%d` once.",
                                self.name, self.cache_dir, len(self.all_videos), self.name, self.root,
                                self.num_frames, *self.resize)
        return self._mode

    def clip_cache(self) -> ClipCache:
        """The prepared cache (DataError with the prepare command when there is none)."""
        if self._cache is None:
            if not ClipCache.exists(self.cache_dir):
                raise DataError(f"{self.name}: no clip cache at {self.cache_dir}; run `hashbench data prepare "
                                f"{self.name} --root {self.root} --frames {self.num_frames} "
                                f"--size {self.resize[0]}x{self.resize[1]}` (or set source = \"files\")")
            self._cache = ClipCache(self.cache_dir)
        return self._cache

    # -- the dataset contract -----------------------------------------------------------------------
    def _resolve(self, split: str) -> _Resolved:
        if split not in SPLITS:
            raise DataError(f"{self.name}: unknown split {split!r}; splits are {', '.join(SPLITS)}")
        if split in self._resolved:
            return self._resolved[split]
        out = _Resolved([], [], [])
        mode = self.mode()
        cache = self.clip_cache() if mode == "cache" else None
        for video in self.splits[split]:
            where = f" ({video.where})" if video.where else ""
            if video.problem:
                out.problems.append(f"{video.vid}{where}: {video.problem}")
                out.skipped.add(video.vid)
                continue
            if cache is not None:
                key = cache.find(video.vid)
                if key is None:
                    out.problems.append(f"{video.vid}{where}: {self._why_not_cached(cache, video.vid)}")
                    out.skipped.add(video.vid)
                    continue
                ref = key
            else:
                path = self._locator.locate(video.vid)
                if path is None:
                    out.problems.append(f"{video.vid}{where}: missing under {self.root}")
                    out.skipped.add(video.vid)
                    continue
                if self.missing == "skip":  # decoding on demand: find undecodable videos now, not mid-epoch
                    reason = self._undecodable(path)
                    if reason:
                        out.problems.append(f"{video.vid}{where}: cannot be decoded ({reason})")
                        out.skipped.add(video.vid)
                        continue
                ref = str(path)
            out.refs.append(ref)
            out.labels.append(video.label)
            out.ids.append(video.vid)
        if out.problems:
            more = len(out.problems) - 5
            shown = "; ".join(out.problems[:5]) + (f"; ... ({more} more)" if more > 0 else "")
            if self.missing == "error":
                raise DataError(
                    f"{self.name} {split}: {len(out.problems)} of {len(self.splits[split])} listed videos are "
                    f"unusable: {shown}. Fix them (see `hashbench data check {self.name} --root {self.root}`) "
                    "or set missing = \"skip\" in [dataset]")
            log.warning("%s %s: skipping %d unusable videos: %s", self.name, split, len(out.problems), shown)
        if not out.refs:
            raise DataError(f"{self.name} {split}: no usable video among {len(self.splits[split])} listed")
        self._resolved[split] = out
        return out

    def _undecodable(self, path: Path) -> str:
        """Why ``path`` cannot be read as a clip ("" when it can); each video is decoded once to know."""
        from .media import read_media

        try:
            read_media(path, self.num_frames, self.resize)
        except DataError as exc:
            return str(exc).split(": ", 1)[-1]
        return ""

    def _why_not_cached(self, cache: ClipCache, vid: str) -> str:
        reason = cache.find_bad(vid)
        if reason is not None:
            return f"could not be decoded by prepare ({reason})"
        if self._locator.locate(vid) is None:
            return f"missing under {self.root} and not in the cache"
        return f"not in the cache {self.cache_dir}; run `hashbench data prepare {self.name}` again"

    def split(self, name: str) -> Any:
        """torch Dataset of ``(clip uint8 (3, T, crop, crop), label int)`` for train/query/database."""
        from .torch_dataset import CacheReader, ClipDataset, MediaReader

        resolved = self._resolve(name)
        reader = CacheReader(self.clip_cache()) if self.mode() == "cache" else \
            MediaReader(self.num_frames, self.resize)
        return ClipDataset(resolved.refs, resolved.labels, reader, crop=self.crop,
                           augment=self.augment and name == "train")

    def video_ids(self, name: str) -> list[str]:
        """Stable ids (paths as listed, relative to the root) of ``split(name)``'s items, in order."""
        return list(self._resolve(name).ids)

    def clip_geometry(self) -> dict[str, Any]:
        """``{"num_frames": T, "resize": [H, W], "crop": side or None}``: how a video becomes a clip (the
        optional part of the dataset contract; recorded in ``record.json``, used by ``search --video``)."""
        return {"num_frames": self.num_frames, "resize": list(self.resize), "crop": self.crop}

    def info(self) -> dict[str, str]:
        """Provenance for results rows: ``split``, ``data_checksum`` (of the lists used), source, counts."""
        resolved = {s: self._resolve(s) for s in SPLITS}
        lists = {s: list(zip(r.ids, r.labels)) for s, r in resolved.items()}
        info = {
            "dataset": self.name,
            "split": self.split_label,
            "data_checksum": entries_checksum(lists, self.checksum_extra)[:16],
            "source": self.mode(),
            "clips": " ".join(f"{s}={len(resolved[s].ids)}" for s in SPLITS),
            "frames": str(self.num_frames),
            "resize": f"{self.resize[0]}x{self.resize[1]}",
            "crop": str(self.crop),
        }
        skipped = len(set().union(*(r.skipped for r in resolved.values())))
        info["skipped"] = str(skipped)
        official = self.official_checksum is not None and info["data_checksum"] == self.official_checksum
        info["data_origin"] = "official" if official else "custom"
        if self.mode() == "cache":
            info["cache"] = str(self.cache_dir)
        info.update(self.provenance)
        return info

    # -- prepare / check ----------------------------------------------------------------------------
    def media_plan(self) -> MediaPlan:
        """Media on disk for every listed video, plus the listed videos that are missing or refused."""
        items, problems = [], []
        for video in self.all_videos:
            if video.problem:
                problems.append(Problem("refused", video.vid, video.problem, video.where))
                continue
            path = self._locator.locate(video.vid)
            if path is None:
                problems.append(Problem("missing", video.vid, f"not found under {self.root}", video.where))
                continue
            class_name = self.class_names[video.label] if 0 <= video.label < self.num_classes else ""
            items.append(MediaItem(self._locator.relative(path), path, video.label, class_name))
        return MediaPlan(self.root, items, problems)

    def prepare(self, workers: int = 0, progress: Any = None) -> Any:
        """Decode every listed video into the cache (see :func:`hashbench.data.prepare.prepare_media`)."""
        from .prepare import prepare_media

        plan = self.media_plan()
        if self.all_videos and not plan.items:
            first = next((p for p in plan.problems if p.what == "missing"), plan.problems[0])
            raise DataError(f"{self.name}: none of the {len(self.all_videos)} listed videos was found under "
                            f"{self.root} (first: {first.name}); is --root the folder that holds the class "
                            "folders?")
        report = prepare_media(plan, self.cache_dir, self.num_frames, self.resize, workers=workers,
                               progress=progress)
        self._cache, self._mode, self._resolved = None, None, {}
        return report
