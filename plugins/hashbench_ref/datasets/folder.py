"""Any class-per-subfolder collection: ``<root>/<class>/<video file or frame folder>``.

Per class, clips are ranked by ``sha256(f"{draw_seed}:{class}/{name}")``; the first
``round(query_fraction * n)`` (at least one when the class has two or more) are queries, the rest
are both the training set and the retrieval database.
"""
from __future__ import annotations

from typing import Any

from hashbench.data import ListedVideo, VideoDataset, is_video_file
from hashbench.contract import number
from hashbench.errors import DataError

from .splits import Common, rank


def build(c: Common, query_fraction: float, seed: int) -> VideoDataset:
    query_fraction = number("dataset.query_fraction", query_fraction, 0, 1, low_open=True, high_open=True)
    classes = sorted(p.name for p in c.root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{c.root}: no class folders")
    splits: dict[str, list[Any]] = {"train": [], "query": [], "database": []}
    for label, cls in enumerate(classes):
        names = sorted(p.name for p in (c.root / cls).iterdir()
                       if not p.name.startswith(".") and (p.is_dir() or is_video_file(p)))
        videos = sorted((ListedVideo(f"{cls}/{n}", label, f"{c.root / cls}") for n in names),
                        key=lambda v: rank(seed, v.vid))
        n_query = max(1, round(query_fraction * len(videos))) if len(videos) >= 2 else 0
        splits["query"] += videos[:n_query]
        splits["train"] += videos[n_query:]
    splits["database"] = splits["train"]
    return VideoDataset(name="folder", class_names=classes, splits=splits,
                        split_label=f"seed{seed}-query{query_fraction:g}",
                        checksum_extra=[f"seed={seed}", f"query_fraction={query_fraction}"], **c.kwargs())
