"""Conformance examples of the real datasets: a tiny tree of each layout, written into a given folder.

Each builder receives an empty folder, writes a few classes of a few tiny generated videos (mpeg4
AVI, 8 frames of 32x32, written with PyAV; PNG frame folders for ``frames``) plus the split lists
in that dataset's own format, and returns the ``[dataset]`` table that reads them (the lists passed
with ``lists``, the clip cache kept inside the folder). The conformance kit
(:mod:`hashbench.contract.conformance`) builds the dataset from it; each takes well under a second.
Torch-free at import; numpy, PyAV and Pillow are imported when a tree is written.
"""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Dict, Sequence

FRAMES, SIDE = 8, 32
#: The clip geometry of every example: 4 frames, resized to 24x32, centre crop 20.
GEOMETRY: Dict[str, Any] = {"num_frames": 4, "resize": [24, 32], "crop": 20}


def frames_of(name: str) -> Any:
    """``(FRAMES, SIDE, SIDE, 3)`` uint8: a bright square moving over a tinted background; the tint,
    start and direction come from ``name`` (the same name always gives the same frames)."""
    import numpy as np

    rng = np.random.default_rng(zlib.crc32(name.encode()))
    tint = rng.integers(20, 120, size=3)
    x, y = (int(v) for v in rng.integers(0, SIDE - 8, size=2))
    dx, dy = (int(v) for v in rng.choice([-2, -1, 1, 2], size=2))
    out = np.empty((FRAMES, SIDE, SIDE, 3), dtype=np.uint8)
    for t in range(FRAMES):
        out[t] = tint
        top, left = (y + dy * t) % (SIDE - 8), (x + dx * t) % (SIDE - 8)
        out[t, top:top + 8, left:left + 8] = 240
    return out


def write_video(path: Path) -> Path:
    """An mpeg4 AVI of :func:`frames_of` (its file name) at ``path``."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = SIDE, SIDE, "yuv420p"
        for frame in frames_of(path.name):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frame_folder(folder: Path) -> Path:
    """``00001.png`` ... of :func:`frames_of` (the folder's name) in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames_of(folder.name), start=1):
        Image.fromarray(frame).save(folder / f"{index:05d}.png")
    return folder


def write_lines(path: Path, lines: Sequence[str], newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}{newline}" for line in lines))
    return path


def common(folder: Path, root: Path) -> Dict[str, Any]:
    """The table keys every example shares: the root, the small geometry, a cache inside ``folder``."""
    return {"root": str(root), **GEOMETRY, "cache": str(folder / "cache")}


def ucf101_example(folder: Path) -> Dict[str, Any]:
    """``UCF-101/<Class>/v_<Class>_gNN_c01.avi``, 2 classes x 3 clips; ``classInd.txt`` and split-1
    lists (CRLF, as distributed): groups 1-2 train, group 3 test."""
    root, lists = folder / "UCF-101", folder / "ucfTrainTestlist"
    classes = ["Archery", "Bowling"]
    train, test = [], []
    for index, cls in enumerate(classes, start=1):
        for group in (1, 2, 3):
            rel = f"{cls}/v_{cls}_g{group:02d}_c01.avi"
            write_video(root / rel)
            if group < 3:
                train.append(f"{rel} {index}")
            else:
                test.append(rel)  # test lists carry no label
    write_lines(lists / "classInd.txt", [f"{i} {c}" for i, c in enumerate(classes, start=1)], "\r\n")
    write_lines(lists / "trainlist01.txt", train, "\r\n")
    write_lines(lists / "testlist01.txt", test, "\r\n")
    return {**common(folder, root), "lists": str(lists)}


def hmdb51_example(folder: Path) -> Dict[str, Any]:
    """``<class>/<name>.avi``, 2 classes x 4 clips; ``<class>_test_split1.txt`` lines ``<name>.avi <id>``
    (2 train, 1 test, 1 unused)."""
    root, lists = folder / "hmdb51", folder / "testTrainMulti_7030_splits"
    for cls in ("clap", "wave"):
        lines = []
        for number, video_id in enumerate((1, 1, 2, 0)):
            name = f"{cls}_clip_f_nm_np1_fr_med_{number}.avi"
            write_video(root / cls / name)
            lines.append(f"{name} {video_id} ")  # the official lists end lines with a space
        write_lines(lists / f"{cls}_test_split1.txt", lines)
    return {**common(folder, root), "lists": str(lists)}


def jhmdb_example(folder: Path) -> Dict[str, Any]:
    """``<class>/<name>.avi``, 2 classes x 3 clips in JHMDB's ``<class>_test_split1.txt`` lists, drawn 1 train
    / 1 query / 2 database per class (the sampled protocol), lists written inside ``folder``."""
    root, lists = folder / "jhmdb", folder / "splits"
    for cls in ("golf", "pour"):
        lines = []
        for number, video_id in enumerate((1, 1, 2)):
            name = f"{cls}_clip_u_cm_np1_fr_goo_{number}.avi"
            write_video(root / cls / name)
            lines.append(f"{name} {video_id}")
        write_lines(lists / f"{cls}_test_split1.txt", lines)
    return {**common(folder, root), "lists": str(lists), "train_per_class": 1, "query_per_class": 1,
            "database_per_class": 2, "sampled_lists": str(folder / "sampled")}


def frames_example(folder: Path) -> Dict[str, Any]:
    """A PNG frame folder per video (``<video>/00001.png``), 2 classes x 3 videos; ``path label`` lists and a
    class-name file (the original repo's layout)."""
    root = folder / "frames"
    train, query = [], []
    for label in (0, 1):
        for number in range(3):
            rel = f"class{label}_video{number}"
            write_frame_folder(root / rel)
            split = query if number == 2 else train
            split.append(f"{rel} {label}")
    return {**common(folder, root), "train_list": str(write_lines(folder / "train.txt", train)),
            "query_list": str(write_lines(folder / "query.txt", query)),
            "classes": str(write_lines(folder / "classes.txt", ["jump", "run"]))}


def folder_example(folder: Path) -> Dict[str, Any]:
    """``<class>/<video>.avi``, 2 classes x 3 videos (one query per class)."""
    root = folder / "videos"
    for cls in ("left", "right"):
        for number in range(3):
            write_video(root / cls / f"{cls}_{number}.avi")
    return common(folder, root)
