"""UCF101 from ``UCF-101/<Class>/v_*.avi`` and the official ``ucfTrainTestlist``.

Protocol of the original repo: train = retrieval database = ``trainlist0k``, queries = ``testlist0k``.
Labels: ``classInd.txt`` index - 1. Test lists carry no label: it comes from the class folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from hashbench.data import ListedVideo, VideoDataset, path_and_label, read_list
from hashbench.errors import DataError

from .splits import Common, check_split, listed, lists_dir, shipped_dir, union

#: Official counts (data README): train / test lines per split; 13,320 clips, 101 classes.
OFFICIAL = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}
VIDEOS, CLASSES = 13320, 101


def read_class_index(path: Path) -> list[str]:
    """Class names from ``classInd.txt`` (``<1-based index> <Name>``), ordered by index."""
    names: dict[int, str] = {}
    for line in read_list(path):
        if len(line.fields) < 2 or not line.fields[0].isdigit():
            raise DataError(f"{line.where}: expected `<index> <ClassName>`, got {' '.join(line.fields)!r}")
        index, name = int(line.fields[0]), " ".join(line.fields[1:])
        if index in names:
            raise DataError(f"{line.where}: class index {index} appears twice")
        names[index] = name
    expected = list(range(1, len(names) + 1))
    if sorted(names) != expected:
        raise DataError(f"{path}: class indices must run 1..{len(names)} without gaps")
    return [names[i] for i in expected]


def read_split_list(root: Path, path: Path, classes: list[str]) -> list[ListedVideo]:
    """``trainlist``/``testlist`` lines -> ListedVideo with 0-based labels (checked against the folder)."""
    by_folder = {c.lower(): i for i, c in enumerate(classes)}
    out = []
    for line in read_list(path):
        rel, label = path_and_label(line, label_required=False)
        folder = rel.replace("\\", "/").split("/")[0].lower()
        from_folder = by_folder.get(folder)
        if label is None:
            if from_folder is None:
                raise DataError(f"{line.where}: class folder {folder!r} of {rel!r} is not in classInd.txt")
            label0 = from_folder
        else:
            label0 = label - 1
            if not 0 <= label0 < len(classes):
                raise DataError(f"{line.where}: label {label} outside 1..{len(classes)} of classInd.txt")
            if from_folder is not None and from_folder != label0:
                raise DataError(f"{line.where}: label {label} ({classes[label0]}) disagrees with the "
                                f"class folder of {rel!r}")
        out.append(listed(root, rel, label0, line))
    return out


def read_split(root: Path, folder: Path, split: int) -> tuple[list[str], list[ListedVideo], list[ListedVideo]]:
    """Classes, train list and test list of split ``split`` from a ``ucfTrainTestlist`` folder."""
    classes = read_class_index(folder / "classInd.txt")
    train = read_split_list(root, folder / f"trainlist0{split}.txt", classes)
    test = read_split_list(root, folder / f"testlist0{split}.txt", classes)
    return classes, train, test


def build(c: Common, split: int, lists: Optional[str]) -> VideoDataset:
    check_split(split)
    folder, official = lists_dir(lists, "ucf101")
    classes, train, test = read_split(c.root, folder, split)
    _, off_train, off_test = (classes, train, test) if official else read_split(c.root, shipped_dir("ucf101"), split)
    everything = [train, test]
    for k in (1, 2, 3):  # prepare decodes every clip of the dataset, not only split k's
        for name in (f"trainlist0{k}.txt", f"testlist0{k}.txt"):
            if k != split and (folder / name).exists():
                everything.append(read_split_list(c.root, folder / name, classes))
    expected = None
    if official:
        n_train, n_test = OFFICIAL[split]
        expected = {"classes": CLASSES, "videos": VIDEOS, "train": n_train, "query": n_test, "database": n_train}
    return VideoDataset(
        name="ucf101", class_names=classes, splits={"train": train, "query": test, "database": train},
        split_label=str(split), all_videos=union(*everything), expected=expected,
        provenance={"lists": "official" if official else str(folder)},
        official_splits={"train": off_train, "query": off_test, "database": off_train}, **c.kwargs())
