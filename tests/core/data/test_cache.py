"""hashbench.data.cache: the clip cache — tolerant lookups, pickling for workers, format checks."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from support import RATRACE, SOCCER_23, media_plan
from hashbench.data.cache import CacheFormat, CacheWriter, ClipCache
from hashbench.data.prepare import prepare_media
from hashbench.errors import DataError

T, SIZE = 4, (24, 32)


def test_cache_lookup_is_tolerant_and_pickles_without_open_maps(tmp_path):
    plan = media_plan(tmp_path, names=(SOCCER_23,))
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


@pytest.mark.parametrize("damage", ["truncate", "other_shape", "delete"])
def test_prepare_decodes_again_the_clips_of_a_damaged_or_missing_shard(tmp_path, damage):
    """The journal says done, the shard says otherwise: prepare believes the shard (shard_rows) and redoes."""
    from hashbench.data.cache import shard_rows

    plan = media_plan(tmp_path, names=(SOCCER_23, RATRACE))
    cache_dir = tmp_path / "cache"
    assert prepare_media(plan, cache_dir, T, SIZE).decoded == 2
    (shard,) = cache_dir.glob("shard-*.npy")
    assert shard_rows(shard, CacheFormat(T, SIZE)) == 2
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:200])
    elif damage == "other_shape":
        np.save(shard, np.zeros((2, 3, T, 8, 8), np.uint8))
    else:
        shard.unlink()
    assert shard_rows(shard, CacheFormat(T, SIZE)) is None
    report = prepare_media(plan, cache_dir, T, SIZE)
    assert (report.decoded, report.reused) == (2, 0)
    (new,) = cache_dir.glob("shard-*.npy")  # the damaged one is gone
    assert shard_rows(new, CacheFormat(T, SIZE)) == 2
    store = ClipCache(cache_dir)
    assert len(store) == 2 and all(store.read(k).shape == (3, T, *SIZE) for k in store.keys())
    assert prepare_media(plan, cache_dir, T, SIZE).reused == 2  # a sound shard is trusted again
