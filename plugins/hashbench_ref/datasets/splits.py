"""Split lists of the real datasets: shipped copies, parsing into ListedVideo records, common options."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

from hashbench.data import ListedVideo, ListLine, parse_size, path_and_label, read_list, safe_relpath
from hashbench.contract import choice, positive_int
from hashbench.errors import ConfigError, DataError

#: The official lists shipped with the reference plugins (bytes as the dataset authors published them).
SHIPPED = Path(__file__).resolve().parents[1] / "splits"


@dataclass(frozen=True)
class Common:
    """Options every real dataset accepts (see the factories in ``real.py``)."""

    root: Path
    num_frames: int
    resize: Tuple[int, int]
    crop: Optional[int]
    augment: bool
    cache: Optional[str]
    source: str
    missing: str

    def kwargs(self) -> dict[str, Any]:
        return {"root": self.root, "num_frames": self.num_frames, "resize": self.resize, "crop": self.crop,
                "augment": self.augment, "cache": self.cache, "source": self.source, "missing": self.missing}


def common(root: str, num_frames: int, resize: Any, crop: Optional[int], augment: bool,
           cache: Optional[str], source: str, missing: str) -> Common:
    """Validate the shared options; ConfigError (or ValueError) naming the key otherwise."""
    if not root or not str(root).strip():
        raise ConfigError("dataset.root: empty; set it to the dataset folder (e.g. \"${HASHBENCH_DATA}/UCF-101\")")
    root_path = Path(str(root)).expanduser()
    if not root_path.is_dir():
        raise DataError(f"dataset.root: {root_path} is not a folder; point it at the dataset as distributed (the"
                        " folder holding the class folders): `hashbench data check DATASET --root FOLDER` checks it,"
                        " `hashbench data prepare DATASET --root FOLDER` caches its clips")
    positive_int("dataset.num_frames", num_frames)
    size = parse_size(resize, "dataset.resize")
    crop_value = None if crop in (None, 0) else int(crop)
    return Common(root_path, num_frames, size, crop_value, bool(augment), cache, source, missing)


def shipped_dir(dataset: str) -> Path:
    """The folder of the official split lists of ``dataset`` shipped with the reference plugins."""
    return SHIPPED / dataset


def lists_dir(lists: Optional[str], dataset: str) -> tuple[Path, bool]:
    """The folder of split lists to use and whether it is the shipped official copy."""
    if lists:
        folder = Path(str(lists)).expanduser()
        if not folder.is_dir():
            raise DataError(f"dataset.lists: {folder} is not a folder of split lists")
        return folder, False
    return SHIPPED / dataset, True


def check_split(split: int, allowed: Sequence[int] = (1, 2, 3)) -> int:
    """``split`` if it is one of the dataset's official splits (``allowed``); ValueError otherwise."""
    return choice("dataset.split", split, allowed)


def listed(root: Path, path: str, label: int, line: ListLine) -> ListedVideo:
    """A ListedVideo for ``path`` from ``line``; a path leaving ``root`` becomes a refused entry."""
    try:
        return ListedVideo(safe_relpath(root, path), label, line.where)
    except DataError as exc:
        return ListedVideo(path, label, line.where, problem=str(exc))


def union(*groups: Sequence[ListedVideo]) -> list[ListedVideo]:
    """Videos of all groups, first occurrence kept, in order."""
    seen: dict[str, ListedVideo] = {}
    for group in groups:
        for video in group:
            seen.setdefault(video.vid, video)
    return list(seen.values())


def read_path_label_list(root: Path, path: Path, *, label_required: bool = True) -> list[ListedVideo]:
    """A ``path label`` list (the original repo's format); paths relative to ``root`` or inside it."""
    out = []
    for line in read_list(path):
        rel, label = path_and_label(line, label_required=label_required)
        if label is not None and label < 0:
            raise DataError(f"{line.where}: negative label {label}")
        out.append(listed(root, rel, -1 if label is None else label, line))
    return out


def rank(seed: int, name: str) -> str:
    """A seed-dependent, platform- and version-independent sort key for drawing clips."""
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def write_list(path: Path, videos: Sequence[ListedVideo]) -> None:
    """Write ``path label`` lines atomically (the format :func:`read_path_label_list` reads)."""
    from hashbench.data import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(f"{v.vid} {v.label}\n" for v in videos))
