"""hashbench.data.build: a dataset plugin built for `hashbench data prepare/check`."""
from __future__ import annotations

import pytest

import hashbench
from support import ucf_tree
from hashbench.contract import Component, load_registry
from hashbench.data import media_dataset
from hashbench.errors import ConfigError, DataError


def test_the_table_holds_the_cache_geometry_uncropped(tmp_path):
    root, lists = ucf_tree(tmp_path)
    ds = media_dataset(hashbench.registry(), "ucf101", root, num_frames=4, size="24x32", cache=tmp_path / "c",
                       lists=lists, options={"split": 1})
    assert (ds.num_frames, ds.resize, ds.crop) == (4, (24, 32), None)
    assert ds.cache_dir == tmp_path / "c" / "t4_24x32" and len(ds.all_videos) == 6
    with pytest.raises(ConfigError, match=r"--size: expected HxW"):
        media_dataset(hashbench.registry(), "ucf101", root, num_frames=4, size="big", lists=lists)


def test_datasets_not_read_from_files_have_nothing_to_prepare():
    def generated(root: str, num_frames: int = 8, resize=None, crop=None):
        """A dataset plugin that generates its clips (no media_plan)."""
        return object()

    reg = load_registry()
    reg.components["dataset"]["generated"] = Component("dataset", "generated", generated, "tests", "0")
    with pytest.raises(DataError, match="dataset 'generated' is not read from video files; there is nothing"):
        media_dataset(reg, "generated", "/nowhere", num_frames=4, size="32x32")
