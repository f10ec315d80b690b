"""Builders of small UCF101-, HMDB-51-, JHMDB- and frame-folder-shaped trees from the nine real clips.

Names and list lines are taken from the official split lists in tests/data/splits, so labels and
quirks (CRLF, trailing spaces, HandstandPushups vs v_HandStandPushups_, JHMDB @ vs HMDB #) are real.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .cli import TEST_DATA

__all__ = ["VIDEOS", "SPLITS", "SOCCER_23", "SOCCER_24", "RATRACE", "SCHOOL", "TRUMAN", "TURNK", "KINETICS", "ALL_NINE",
           "UCF_TRAIN", "UCF_TEST", "place", "official_lines", "ucf_tree", "hmdb_tree", "jhmdb_tree", "write_frames",
           "add_bad_files", "PLAN_CLIPS", "media_plan"]

VIDEOS = TEST_DATA / "videos"
SPLITS = TEST_DATA / "splits"

SOCCER_23 = "v_SoccerJuggling_g23_c01.avi"
SOCCER_24 = "v_SoccerJuggling_g24_c01.avi"
RATRACE = "RATRACE_wave_f_nm_np1_fr_goo_37.avi"  # HMDB wave, DivX with out-of-order pts
SCHOOL = "SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi"
TRUMAN = "TrumanShow_wave_f_nm_np1_fr_med_26.avi"
TURNK = "hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi"  # non-UTF-8 metadata
KINETICS = ("R6llTwEh07w.mp4", "SOX5yA1l24A.mp4", "WUzgd7C1pWA.mp4")
ALL_NINE = (SOCCER_23, SOCCER_24, RATRACE, SCHOOL, TRUMAN, TURNK) + KINETICS


def place(src: str, dst: Path, mode: str = "symlink") -> Path:
    """Put the real clip ``src`` at ``dst`` (symlink by default; ``copy`` for byte edits)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy":
        shutil.copyfile(VIDEOS / src, dst)
    else:
        os.symlink(VIDEOS / src, dst)
    return dst


def official_lines(path: Path, wanted: set[str]) -> bytes:
    """The raw lines (line ends and trailing spaces kept) of an official list whose path is in ``wanted``."""
    out = []
    for raw in path.read_bytes().splitlines(keepends=True):
        name = raw.split()[0].decode() if raw.strip() else ""
        if name in wanted:
            out.append(raw)
    assert len(out) == len(wanted), f"{path.name}: found {len(out)} of {sorted(wanted)}"
    return b"".join(out)


# -- UCF101 ----------------------------------------------------------------------------------------
UCF_TRAIN = {"SoccerJuggling/v_SoccerJuggling_g23_c01.avi": SOCCER_23,
             "SoccerJuggling/v_SoccerJuggling_g24_c01.avi": SOCCER_24,
             "HandstandPushups/v_HandStandPushups_g08_c01.avi": RATRACE,
             "HandstandPushups/v_HandStandPushups_g09_c01.avi": KINETICS[1]}
UCF_TEST = {"SoccerJuggling/v_SoccerJuggling_g01_c01.avi": KINETICS[2],
            "HandstandPushups/v_HandStandPushups_g01_c01.avi": TRUMAN}


def ucf_tree(base: Path) -> tuple[Path, Path]:
    """``(root, lists)``: ``UCF-101/<Class>/v_*.avi`` with 4 train / 2 test clips, and CRLF lists
    (the full official ``classInd.txt``, split-1 lines of the present clips)."""
    root, lists = base / "UCF-101", base / "ucfTrainTestlist"
    for rel, src in {**UCF_TRAIN, **UCF_TEST}.items():
        place(src, root / rel)
    lists.mkdir(parents=True)
    shutil.copyfile(SPLITS / "ucf101" / "classInd.txt", lists / "classInd.txt")
    (lists / "trainlist01.txt").write_bytes(official_lines(SPLITS / "ucf101" / "trainlist01.txt", set(UCF_TRAIN)))
    (lists / "testlist01.txt").write_bytes(official_lines(SPLITS / "ucf101" / "testlist01.txt", set(UCF_TEST)))
    return root, lists


# -- HMDB-51 ---------------------------------------------------------------------------------------
def hmdb_tree(base: Path) -> tuple[Path, Path]:
    """``(root, lists)``: ``<class>/*.avi`` for wave (3 clips) and cartwheel (1), official lines.

    Split 1: train RATRACE + Turnk, test TrumanShow, SchoolRules unused (id 0).
    """
    root, lists = base / "hmdb51", base / "hmdb_splits"
    for name in (RATRACE, SCHOOL, TRUMAN):
        place(name, root / "wave" / name)
    turnk = TURNK[len("hmdb51_"):]
    place(TURNK, root / "cartwheel" / turnk)
    lists.mkdir(parents=True)
    for k in (1, 2, 3):
        (lists / f"wave_test_split{k}.txt").write_bytes(
            official_lines(SPLITS / "hmdb51" / f"wave_test_split{k}.txt", {RATRACE, SCHOOL, TRUMAN}))
        (lists / f"cartwheel_test_split{k}.txt").write_bytes(
            official_lines(SPLITS / "hmdb51" / f"cartwheel_test_split{k}.txt", {turnk}))
    return root, lists


# -- JHMDB -----------------------------------------------------------------------------------------
def jhmdb_tree(base: Path, frames_class: bool = True) -> tuple[Path, Path]:
    """``(root, lists)``: two JHMDB classes with 3 clips each (official split 1: 2 train, 1 test).

    ``golf`` clips are stored under HMDB-51's ``#`` names (the lists say ``@``); ``wave`` clips
    are frame folders of JPEGs when ``frames_class`` (JHMDB's ``Rename_Images`` layout).
    """
    root, lists = base / "jhmdb", base / "jhmdb_splits"
    golf = [f"Golf_Swing_@6Iron_golf_f_cm_np1_fr_med_{i}.avi" for i in range(2)]
    golf.append("Anna_Rawson_Driver_Practice_golf_f_nm_np1_ri_bad_0.avi")
    wave_lines = ["OldSchool_wave_f_cm_np1_fr_med_13.avi", "eddieizzardcircle_wave_u_nm_np1_ri_med_8.avi",
                  "20060723sfjffbartsinger_wave_f_cm_np1_ba_med_0.avi"]
    for name, src in zip(golf, (SOCCER_23, SOCCER_24, KINETICS[0])):
        place(src, root / "golf" / name.replace("@", "#"))
    for name, src in zip(wave_lines, (RATRACE, TRUMAN, SCHOOL)):
        if frames_class:
            write_frames(src, root / "wave" / name[:-4], ext=".jpg", max_frames=40)
        else:
            place(src, root / "wave" / name)
    lists.mkdir(parents=True)
    for k in (1, 2, 3):
        (lists / f"golf_test_split{k}.txt").write_bytes(
            official_lines(SPLITS / "jhmdb" / f"golf_test_split{k}.txt", set(golf)))
        (lists / f"wave_test_split{k}.txt").write_bytes(
            official_lines(SPLITS / "jhmdb" / f"wave_test_split{k}.txt", set(wave_lines)))
    return root, lists


def write_frames(src: str, folder: Path, ext: str = ".jpg", max_frames: int | None = None,
                 size: tuple[int, int] | None = None) -> int:
    """Decode real clip ``src`` and write its frames as ``00001.jpg``... into ``folder``; return the count."""
    from PIL import Image

    from hashbench.data.video import decode_all

    frames = decode_all(VIDEOS / src, size)
    if max_frames:
        frames = frames[:max_frames]
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{i:05d}{ext}", quality=90)
    return len(frames)


# -- bad data --------------------------------------------------------------------------------------
def add_bad_files(root: Path, lists: Path) -> dict[str, str]:
    """Add to a UCF tree: a zero-byte file, a truncated video, a text file renamed .avi, a listed
    video that does not exist and a list path escaping the root. Returns ``{kind: listed path}``."""
    bad = {
        "empty": "Archery/v_Archery_g01_c01.avi",
        "truncated": "Archery/v_Archery_g02_c01.avi",
        "text": "Archery/v_Archery_g03_c01.avi",
        "missing": "Archery/v_Archery_g04_c01.avi",
        "escape": "../outside/v_Archery_g05_c01.avi",
    }
    (root / "Archery").mkdir()
    (root / bad["empty"]).write_bytes(b"")
    data = (VIDEOS / SOCCER_23).read_bytes()
    (root / bad["truncated"]).write_bytes(data[: len(data) * 2 // 5])
    (root / bad["text"]).write_text("this is a text file, not a video\n")
    outside = root.parent / "outside"
    outside.mkdir()
    place(SOCCER_24, outside / "v_Archery_g05_c01.avi")
    with (lists / "trainlist01.txt").open("ab") as handle:
        for rel in bad.values():
            handle.write(f"{rel} 3\r\n".encode())  # Archery is class 3 in classInd.txt
    return bad


#: Four real clips of different containers and quirks (the clip cache and prepare tests' default plan).
PLAN_CLIPS = (SOCCER_23, RATRACE, TURNK, KINETICS[0])


def media_plan(base: Path, names: tuple[str, ...] = PLAN_CLIPS, extra: tuple = ()):
    """A ``MediaPlan`` of ``names`` placed under ``base/root/c/`` (label = position), plus ``extra`` items."""
    from hashbench.data.prepare import MediaItem, MediaPlan

    root = base / "root"
    items = [MediaItem(f"c/{name}", place(name, root / "c" / name), label=i, class_name="c")
             for i, name in enumerate(names)]
    return MediaPlan(root, items + list(extra))
