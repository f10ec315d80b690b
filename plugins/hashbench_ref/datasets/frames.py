"""The original repo's layout: a folder of frame images per video plus ``path label`` list files.

Paths in the lists are relative to ``root`` or absolute inside it (anything else is refused); they
may also name video files. Labels are used as written (0-based class ids). Class names come from an
optional ``classes`` file (one name per line, or ``<index> <name>`` as UCF101's ``classInd.txt``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from hashbench.data import VideoDataset, read_list
from hashbench.errors import DataError

from .splits import Common, read_path_label_list, union


def read_class_names(path: Path) -> list[str]:
    """Names from a file of ``name`` or ``<index> <name>`` lines (indices 0- or 1-based, in order)."""
    names = []
    for line in read_list(path):
        if len(line.fields) >= 2 and line.fields[0].isdigit():
            names.append(" ".join(line.fields[1:]))
        else:
            names.append(" ".join(line.fields))
    if not names:
        raise DataError(f"{path}: no class names")
    return names


def build(c: Common, train_list: str, query_list: str, database_list: Optional[str],
          classes: Optional[str]) -> VideoDataset:
    files = {"train": train_list, "query": query_list, "database": database_list or train_list}
    splits = {}
    for split, name in files.items():
        path = Path(str(name)).expanduser()
        if not path.is_file():
            raise DataError(f"dataset.{split}_list: {path} is not a file")
        splits[split] = read_path_label_list(c.root, path)
    top = max(v.label for videos in splits.values() for v in videos) if any(splits.values()) else -1
    if classes:
        class_names = read_class_names(Path(str(classes)).expanduser())
        if top >= len(class_names):
            raise DataError(f"dataset.classes: {classes} names {len(class_names)} classes but a list uses label {top}")
    else:
        class_names = [str(i) for i in range(top + 1)]
    lists = ", ".join(str(Path(str(files[s])).name) for s in ("train", "query", "database"))
    return VideoDataset(name="frames", class_names=class_names, splits=splits, split_label=lists,
                        all_videos=union(*splits.values()), provenance={"lists": lists}, **c.kwargs())
