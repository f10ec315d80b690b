"""hashbench.data.video_dataset: the dataset contract for listed videos — splits from files or the cache,
ids, provenance (checksum, origin, skipped), clip geometry, missing videos named or skipped."""
from __future__ import annotations

import pytest
import torch

from support import KINETICS, RATRACE, SOCCER_23, SOCCER_24, place
from hashbench.data import ListedVideo, VideoDataset, default_cache_root
from hashbench.errors import ConfigError, DataError


def tree(tmp_path):
    root = tmp_path / "root"
    for rel, src in {"a/one.avi": SOCCER_23, "a/two.avi": SOCCER_24, "b/three.avi": RATRACE,
                     "b/four.mp4": KINETICS[0]}.items():
        place(src, root / rel)
    return root


def dataset(tmp_path, *, train=("a/one.avi", "b/three.avi"), query=("a/two.avi", "b/four.mp4"), **kwargs):
    label = {"a": 0, "b": 1}
    listed = lambda paths: [ListedVideo(p, label[p[0]], where=f"list:{i + 1}") for i, p in enumerate(paths)]  # noqa: E731
    splits = {"train": listed(train), "query": listed(query), "database": listed(train)}
    options = dict(name="toy", root=tree(tmp_path), class_names=["a", "b"], splits=splits, split_label="1",
                   num_frames=2, resize=(24, 32), crop=16, cache=str(tmp_path / "cache"))
    options.update(kwargs)
    return VideoDataset(**options)


def test_splits_decode_listed_videos_with_stable_ids_and_provenance(tmp_path):
    ds = dataset(tmp_path)
    assert ds.mode() == "files"  # no cache prepared: decoded on demand
    clip, label = ds.split("query")[1]
    assert clip.dtype == torch.uint8 and clip.shape == (3, 2, 16, 16) and label == 1
    assert ds.video_ids("train") == ["a/one.avi", "b/three.avi"]
    info = ds.info()
    assert info["split"] == "1" and info["skipped"] == "0" and info["data_origin"] == "custom"
    assert info["clips"] == "train=2 query=2 database=2" and len(info["data_checksum"]) == 16
    assert ds.clip_geometry() == {"num_frames": 2, "resize": [24, 32], "crop": 16}


def test_official_lists_and_a_changed_list_are_told_apart(tmp_path):
    same = dataset(tmp_path / "x", official_splits=None)
    splits = {s: same.splits[s] for s in ("train", "query", "database")}
    official = dataset(tmp_path / "y", official_splits=splits)
    assert official.info()["data_origin"] == "official"
    assert official.info()["data_checksum"] == same.info()["data_checksum"]
    other = dataset(tmp_path / "z", query=("a/two.avi",), official_splits=splits)
    assert other.info()["data_origin"] == "custom" and other.info()["data_checksum"] != same.info()["data_checksum"]


def test_missing_videos_are_named_or_skipped(tmp_path):
    with pytest.raises(DataError, match=r"toy query: 1 of 3 listed videos are unusable: a/gone.avi \(list:3\): missing"):
        dataset(tmp_path, query=("a/two.avi", "b/four.mp4", "a/gone.avi")).split("query")
    skipping = dataset(tmp_path / "s", query=("a/two.avi", "b/four.mp4", "a/gone.avi"), missing="skip")
    assert len(skipping.split("query")) == 2 and skipping.info()["skipped"] == "1"


def test_bad_options_are_config_errors_and_the_cache_root_is_derived(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="dataset.source"):
        dataset(tmp_path / "1", source="disk")
    with pytest.raises(ConfigError, match="dataset.crop: 40 does not fit"):
        dataset(tmp_path / "2", crop=40)
    monkeypatch.delenv("HASHBENCH_CACHE", raising=False)
    assert default_cache_root(tmp_path / "r") == (tmp_path / "r").absolute() / ".hashbench-cache"
    monkeypatch.setenv("HASHBENCH_CACHE", str(tmp_path / "caches"))
    assert default_cache_root(tmp_path / "r").parent == tmp_path / "caches"
    assert default_cache_root(tmp_path / "r", "elsewhere") == default_cache_root("x", "elsewhere")


def test_prepare_switches_auto_to_the_cache(tmp_path):
    ds = dataset(tmp_path)
    report = ds.prepare(workers=0)
    assert report.cached == 4 and ds.mode() == "cache" and ds.info()["source"] == "cache"
    clip, _ = ds.split("train")[0]
    assert clip.shape == (3, 2, 16, 16)
