"""JHMDB (21 classes, 928 clips) from ``<class>/*.avi`` or its frame folders, two protocols.

- ``"sampled"`` (default, the original repo's): per class ``query_per_class`` queries,
  ``train_per_class`` training clips and a ``database_per_class`` database that starts with the
  training clips (10/10/20: 30 distinct clips per class, as the smallest classes hold 36). Clips are
  ranked by ``sha256(f"{seed}:{name}")`` — no RNG, the same on every platform and version — and the
  lists are WRITTEN OUT (``train_10_210.txt``, ``test_10_210.txt``, ``db_20_420.txt``,
  ``classes.txt``) so they can be inspected and reused; existing files there are read, not redrawn.
- ``"official"``: the official split k (id 1 train = database, id 2 queries).

JHMDB names use ``@`` where HMDB-51's files have ``#``; both are found on disk.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from hashbench.data import ListedVideo, VideoDataset, default_cache_root, read_text_lines, write_text_atomic
from hashbench.contract import choice, positive_int
from hashbench.errors import ConfigError, DataError

from .hmdb51 import read_id_lists
from .splits import Common, check_split, lists_dir, rank, read_path_label_list, shipped_dir, write_list

log = logging.getLogger(__name__)

VIDEOS, CLASSES = 928, 21
OFFICIAL = {1: (660, 268), 2: (658, 270), 3: (663, 265)}
PROTOCOLS = ("sampled", "official")


def sampled_names(train: int, query: int, database: int, classes: int) -> dict[str, str]:
    """File names of the sampled lists, like the original's ``train_10_210``."""
    return {"train": f"train_{train}_{train * classes}.txt", "query": f"test_{query}_{query * classes}.txt",
            "database": f"db_{database}_{database * classes}.txt"}


def draw(everything: list[ListedVideo], classes: list[str], seed: int, train: int, query: int,
         database: int) -> dict[str, list[ListedVideo]]:
    """Per class: rank clips by seed; queries first, then training clips; database from the training start."""
    need = query + max(train, database)
    out: dict[str, list[ListedVideo]] = {"train": [], "query": [], "database": []}
    for label, cls in enumerate(classes):
        clips = sorted((v for v in everything if v.label == label and not v.problem),
                       key=lambda v: rank(seed, v.vid))
        if len(clips) < need:
            raise ConfigError(f"dataset: class {cls!r} has {len(clips)} clips, fewer than query_per_class + "
                              f"max(train_per_class, database_per_class) = {need}")
        out["query"] += clips[:query]
        out["train"] += clips[query:query + train]
        out["database"] += clips[query:query + database]
    return out


def build(c: Common, protocol: str, split: int, seed: int, train_per_class: int, query_per_class: int,
          database_per_class: int, lists: Optional[str], sampled_lists: Optional[str]) -> VideoDataset:
    choice("dataset.protocol", protocol, PROTOCOLS)
    check_split(split)
    folder, official = lists_dir(lists, "jhmdb")
    classes, by_id, everything = read_id_lists(c.root, folder, split, ids=(1, 2))
    off_classes, off_by_id, off_everything = (classes, by_id, everything) if official else \
        read_id_lists(c.root, shipped_dir("jhmdb"), split, ids=(1, 2))
    expected: Optional[dict[str, int]] = {"classes": CLASSES, "videos": VIDEOS} if official else None
    provenance = {"lists": "official" if official else str(folder), "protocol": protocol}
    if protocol == "official":
        splits = {"train": by_id[1], "query": by_id[2], "database": by_id[1]}
        official_splits = {"train": off_by_id[1], "query": off_by_id[2], "database": off_by_id[1]}
        label = f"official-{split}"
        if expected is not None:
            n_train, n_test = OFFICIAL[split]
            expected.update(train=n_train, query=n_test, database=n_train)
    else:
        for key, value in (("train_per_class", train_per_class), ("query_per_class", query_per_class),
                           ("database_per_class", database_per_class)):
            positive_int(f"dataset.{key}", value)
        names = sampled_names(train_per_class, query_per_class, database_per_class, len(classes))
        out_dir = Path(sampled_lists).expanduser() if sampled_lists else (
            default_cache_root(c.root, c.cache) / "lists" /
            f"jhmdb_seed{seed}_{train_per_class}_{query_per_class}_{database_per_class}")
        splits = _load_or_draw(c.root, out_dir, names, everything, classes, seed, train_per_class,
                               query_per_class, database_per_class)
        # the protocol's lists: the same draw from the official lists (edited sampled lists are custom)
        official_splits = draw(off_everything, off_classes, seed, train_per_class, query_per_class,
                               database_per_class)
        label = f"sampled-seed{seed}-{train_per_class}/{query_per_class}/{database_per_class}"
        provenance["sampled_lists"] = str(out_dir)
        if expected is not None:
            n = len(classes)
            expected.update(train=train_per_class * n, query=query_per_class * n, database=database_per_class * n)
    return VideoDataset(name="jhmdb", class_names=classes, splits=splits, split_label=label,
                        all_videos=everything, expected=expected, provenance=provenance,
                        official_splits=official_splits, **c.kwargs())


def _load_or_draw(root: Path, out_dir: Path, names: dict[str, str], everything: list[ListedVideo],
                  classes: list[str], seed: int, train: int, query: int, database: int
                  ) -> dict[str, list[ListedVideo]]:
    paths = {split: out_dir / name for split, name in names.items()}
    if all(p.exists() for p in paths.values()):
        log.info("jhmdb: reusing the sampled lists in %s", out_dir)
        class_file = out_dir / "classes.txt"
        if class_file.exists() and [n for n in read_text_lines(class_file) if n] != classes:
            raise DataError(f"{class_file}: classes differ from the JHMDB split lists; delete {out_dir} to redraw")
        loaded = {split: read_path_label_list(root, p) for split, p in paths.items()}
        for split, videos in loaded.items():
            bad = next((v for v in videos if not 0 <= v.label < len(classes)), None)
            if bad is not None:
                raise DataError(f"{bad.where}: label {bad.label} outside 0..{len(classes) - 1}")
        return loaded
    drawn = draw(everything, classes, seed, train, query, database)
    try:
        for split, path in paths.items():
            write_list(path, drawn[split])
        write_text_atomic(out_dir / "classes.txt", "".join(f"{name}\n" for name in classes))
        log.info("jhmdb: wrote the sampled lists to %s", out_dir)
    except OSError as exc:
        log.warning("jhmdb: could not write the sampled lists to %s (%s); set sampled_lists to a writable "
                    "folder to keep them", out_dir, exc.strerror or exc)
    return drawn
