"""hashbench.data.locate: a listed video found on disk despite case, @/# and frames-vs-video differences."""
from __future__ import annotations

import os

from hashbench.data.locate import MediaLocator, media_key


def test_locator_handles_case_at_hash_and_frame_folders(tmp_path):
    (tmp_path / "HandstandPushups").mkdir()
    (tmp_path / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi").write_bytes(b"x")
    (tmp_path / "golf").mkdir()
    (tmp_path / "golf" / "Golf_Swing_#6Iron_0.avi").write_bytes(b"x")
    (tmp_path / "wave" / "clip_0").mkdir(parents=True)
    loc = MediaLocator(tmp_path)
    exact = loc.locate("HandstandPushups/v_HandStandPushups_g01_c01.avi")
    assert exact == tmp_path / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi"
    assert loc.locate("HandStandPushups/v_HandstandPushups_g01_c01.avi") == exact
    assert loc.locate("golf/Golf_Swing_@6Iron_0.avi") == tmp_path / "golf" / "Golf_Swing_#6Iron_0.avi"
    assert loc.locate("wave/clip_0.avi") == tmp_path / "wave" / "clip_0"
    assert loc.locate("wave/clip_1.avi") is None and loc.locate("nope/x.avi") is None
    assert loc.relative(exact) == "HandstandPushups/v_HandStandPushups_g01_c01.avi"
    assert media_key("golf/Golf_Swing_@6Iron_0.avi") == media_key("golf/golf_swing_#6iron_0") == \
        "golf/golf_swing_#6iron_0"


def test_locator_follows_symlinks_placed_inside_the_root(tmp_path):
    outside = tmp_path / "store" / "clip.avi"
    outside.parent.mkdir()
    outside.write_bytes(b"x")
    (tmp_path / "root" / "A").mkdir(parents=True)
    os.symlink(outside, tmp_path / "root" / "A" / "clip.avi")
    assert MediaLocator(tmp_path / "root").locate("A/clip.avi") == tmp_path / "root" / "A" / "clip.avi"
