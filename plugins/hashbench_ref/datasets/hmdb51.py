"""HMDB-51 from ``<class>/*.avi`` and the official ``testTrainMulti_7030_splits``.

Each ``<class>_test_split<k>.txt`` line is ``<video>.avi <id>`` (id 1 train, 2 test, 0 unused).
Protocol of the original repo: train = database = id 1 of split k, queries = id 2; id 0 is excluded.
Labels: index of the class in alphabetical order.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from hashbench.data import ListedVideo, VideoDataset, path_and_label, read_list
from hashbench.errors import DataError

from .splits import Common, check_split, listed, lists_dir, shipped_dir, union

SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<k>\d)\.txt$")
VIDEOS, CLASSES, TRAIN, TEST = 6766, 51, 3570, 1530


def split_files(folder: Path) -> dict[str, dict[int, Path]]:
    """``class -> {k: file}`` for the ``<class>_test_split<k>.txt`` files in ``folder``."""
    found: dict[str, dict[int, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = SPLIT_FILE.match(path.name)
        if match:
            found.setdefault(match["cls"], {})[int(match["k"])] = path
    if not found:
        raise DataError(f"{folder}: no <class>_test_split<k>.txt files")
    return found


def read_id_lists(root: Path, folder: Path, split: int, ids: tuple[int, ...] = (0, 1, 2)
                  ) -> tuple[list[str], dict[int, list[ListedVideo]], list[ListedVideo]]:
    """Classes (sorted), split ``split``'s videos by id, and every video of every split file."""
    files = split_files(folder)
    classes = sorted(files)
    by_id: dict[int, list[ListedVideo]] = {i: [] for i in ids}
    everything: list[ListedVideo] = []
    for label, cls in enumerate(classes):
        if split not in files[cls]:
            raise DataError(f"{folder}: {cls}_test_split{split}.txt is missing")
        for k, path in sorted(files[cls].items()):
            for line in read_list(path):
                name, video_id = path_and_label(line, label_required=True)
                if video_id not in ids:
                    raise DataError(f"{line.where}: id {video_id} is not one of {', '.join(map(str, ids))}")
                video = listed(root, f"{cls}/{name}", label, line)
                everything.append(video)
                if k == split:
                    by_id[video_id].append(video)
    return classes, by_id, union(everything)


def build(c: Common, split: int, lists: Optional[str]) -> VideoDataset:
    check_split(split)
    folder, official = lists_dir(lists, "hmdb51")
    classes, by_id, everything = read_id_lists(c.root, folder, split)
    train, test = by_id[1], by_id[2]
    off = by_id if official else read_id_lists(c.root, shipped_dir("hmdb51"), split)[1]
    expected = {"classes": CLASSES, "videos": VIDEOS, "train": TRAIN, "query": TEST, "database": TRAIN} \
        if official else None
    return VideoDataset(
        name="hmdb51", class_names=classes, splits={"train": train, "query": test, "database": train},
        split_label=str(split), all_videos=everything, expected=expected,
        provenance={"lists": "official" if official else str(folder)},
        official_splits={"train": off[1], "query": off[2], "database": off[1]}, **c.kwargs())
