"""hashbench.data.prepare: decoding a dataset into the cache — contents, report, resume after an
interruption, changed sources, worker processes."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from support import KINETICS, RATRACE, SOCCER_23, SOCCER_24, TRUMAN, TURNK, VIDEOS, media_plan, place
from hashbench.data.cache import INDEX, JOURNAL, CacheFormat, ClipCache, format_dir
from hashbench.data.media import read_media
from hashbench.data.prepare import MediaItem, Problem, prepare_media

T, SIZE = 4, (24, 32)


def test_prepare_stores_the_same_pixels_as_decoding_and_a_readable_index(tmp_path):
    plan = media_plan(tmp_path)
    cache_dir = format_dir(tmp_path / "cache", T, SIZE)
    seen = []
    report = prepare_media(plan, cache_dir, T, SIZE, progress=lambda d, n, k, s: seen.append((d, n, s)))
    assert (report.decoded, report.reused, report.bad) == (4, 0, [])
    assert seen[-1] == (4, 4, "ok") and report.videos_per_s > 0
    cache = ClipCache(cache_dir)
    assert len(cache) == 4 and cache.format == CacheFormat(T, SIZE)
    for item in plan.items:
        stored = cache.read(item.key)
        assert stored.shape == (3, T, *SIZE) and stored.dtype == np.uint8
        expected, info = read_media(VIDEOS / item.key.split("/")[1], T, SIZE)
        np.testing.assert_array_equal(stored, expected.transpose(3, 0, 1, 2))
        record = cache.record(item.key)
        assert record["frames"] == info.decoded_frames and record["label"] == item.label
        assert record["source"] == item.key
    assert isinstance(cache.read(plan.items[0].key), np.memmap) or \
        isinstance(cache.read(plan.items[0].key).base, np.memmap)
    index = json.loads((cache_dir / INDEX).read_text())
    assert index["layout"] == "N,C,T,H,W" and index["frames"] == T and index["size"] == list(SIZE)
    # one shard array, loadable as a plain memory-mapped .npy
    shard = np.load(cache_dir / index["shards"][0], mmap_mode="r")
    assert shard.shape == (4, 3, T, *SIZE)


def test_bad_files_are_skipped_and_reported_never_fatal(tmp_path):
    root = tmp_path / "root"
    (root / "c").mkdir(parents=True)
    (root / "c" / "empty.avi").write_bytes(b"")
    (root / "c" / "text.avi").write_text("hello\n")
    data = (VIDEOS / SOCCER_24).read_bytes()
    (root / "c" / "cut.avi").write_bytes(data[: len(data) // 3])
    bad_items = [MediaItem(f"c/{n}", root / "c" / n) for n in ("empty.avi", "text.avi", "cut.avi")]
    missing = Problem("missing", "c/gone.avi", "not found under root", "list.txt:3")
    plan = media_plan(tmp_path, names=(TRUMAN,), extra=bad_items)
    plan.problems.append(missing)
    report = prepare_media(plan, tmp_path / "cache", T, SIZE, workers=0)
    assert report.decoded == 1 and report.failed == 3
    reasons = {p.name: p.detail for p in report.bad}
    assert reasons["c/empty.avi"] == "empty file (0 bytes)"
    assert reasons["c/text.avi"].startswith("cannot open as a video")
    assert reasons["c/cut.avi"].startswith("truncated: decoded")
    text = report.report_file.read_text()
    for name in ("c/empty.avi", "c/text.avi", "c/cut.avi", "c/gone.avi (list.txt:3)"):
        assert name in text
    cache = ClipCache(tmp_path / "cache")
    assert list(cache.keys()) == [f"c/{TRUMAN}"] and set(cache.bad) == {b.key for b in bad_items}
    assert cache.find_bad("c/empty.avi") == "empty file (0 bytes)"
    # a later run that only retries bad files leaves no empty shard behind
    (root / "c" / "empty.avi").write_bytes(b"still nothing useful")
    prepare_media(plan, tmp_path / "cache", T, SIZE)
    assert sorted(p.name for p in (tmp_path / "cache").glob("shard-*.npy")) == ["shard-00000.npy"]


def test_prepare_resumes_after_an_interruption(tmp_path):
    plan = media_plan(tmp_path)
    cache_dir = tmp_path / "cache"

    def stop_after_two(done, total, key, status):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_media(plan, cache_dir, T, SIZE, progress=stop_after_two)
    assert len(ClipCache(cache_dir)) == 2  # the index was written on the way out
    assert "INTERRUPTED" in (cache_dir / "report.txt").read_text()
    report = prepare_media(plan, cache_dir, T, SIZE)
    assert (report.reused, report.decoded) == (2, 2)
    cache = ClipCache(cache_dir)
    assert len(cache) == 4 and len(cache.shards) == 2
    for item in plan.items:
        expected, _ = read_media(item.path, T, SIZE)
        np.testing.assert_array_equal(cache.read(item.key), expected.transpose(3, 0, 1, 2))
    again = prepare_media(plan, cache_dir, T, SIZE)
    assert (again.reused, again.decoded) == (4, 0)


def test_a_torn_journal_line_and_changed_sources_are_handled(tmp_path):
    plan = media_plan(tmp_path, names=(SOCCER_23, TRUMAN))
    cache_dir = tmp_path / "cache"
    prepare_media(plan, cache_dir, T, SIZE)
    with (cache_dir / JOURNAL).open("a") as handle:
        handle.write('{"key": "c/half')  # a crash mid-write
    changed = plan.items[1].path
    os.unlink(changed)
    place(KINETICS[1], changed, mode="copy")  # the user replaced a file
    report = prepare_media(plan, cache_dir, T, SIZE)
    assert (report.reused, report.decoded) == (1, 1)
    expected, _ = read_media(VIDEOS / KINETICS[1], T, SIZE)
    np.testing.assert_array_equal(ClipCache(cache_dir).read(plan.items[1].key), expected.transpose(3, 0, 1, 2))


def test_worker_processes_give_the_same_cache(tmp_path):
    plan = media_plan(tmp_path, names=(SOCCER_23, RATRACE, TURNK))
    report = prepare_media(plan, tmp_path / "par", T, SIZE, workers=2)
    assert report.decoded == 3
    serial = media_plan(tmp_path / "s", names=(SOCCER_23, RATRACE, TURNK))
    prepare_media(serial, tmp_path / "ser", T, SIZE, workers=0)
    par, ser = ClipCache(tmp_path / "par"), ClipCache(tmp_path / "ser")
    for key in ser.keys():
        np.testing.assert_array_equal(par.read(key), ser.read(key))
