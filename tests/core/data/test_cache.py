"""hashbench.data.cache: the clip cache — tolerant lookups, pickling for workers, format checks."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from data_trees import KINETICS, RATRACE, SOCCER_23, TURNK, place
from hashbench.data.cache import CacheFormat, CacheWriter, ClipCache
from hashbench.data.prepare import MediaItem, MediaPlan, prepare_media
from hashbench.errors import DataError

T, SIZE = 4, (24, 32)
CLIPS = (SOCCER_23, RATRACE, TURNK, KINETICS[0])


def _plan(tmp_path, names=CLIPS, extra=()):
    root = tmp_path / "root"
    items = []
    for i, name in enumerate(names):
        path = place(name, root / "c" / name)
        items.append(MediaItem(f"c/{name}", path, label=i, class_name="c"))
    return MediaPlan(root, items + list(extra))


def test_cache_lookup_is_tolerant_and_pickles_without_open_maps(tmp_path):
    plan = _plan(tmp_path, names=(SOCCER_23,))
    cache_dir = tmp_path / "cache"
    prepare_media(plan, cache_dir, T, SIZE)
    cache = ClipCache(cache_dir)
    cache.read(f"c/{SOCCER_23}")
    assert cache.find(f"C/{SOCCER_23.upper()}") == f"c/{SOCCER_23}"
    assert cache.find(f"c/{SOCCER_23[:-4]}") == f"c/{SOCCER_23}"  # frame-folder spelling
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._arrays == {} and np.array_equal(clone.read(f"c/{SOCCER_23}"), cache.read(f"c/{SOCCER_23}"))


def test_a_cache_of_another_format_is_refused(tmp_path):
    CacheWriter(tmp_path / "c", CacheFormat(4, (24, 32)))
    with pytest.raises(DataError, match="holds clips of 4 frames at 24x32, not 8 at 24x32"):
        CacheWriter(tmp_path / "c", CacheFormat(8, (24, 32)))
    with pytest.raises(DataError, match="run `hashbench data prepare` first"):
        ClipCache(tmp_path / "c")
