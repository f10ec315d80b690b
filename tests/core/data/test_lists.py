"""Frame sampling, list-file parsing, safe paths, checksums and media lookup (hashbench.data)."""
from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_trees import SPLITS
from hashbench.data.lists import entries_checksum, path_and_label, read_list, safe_relpath
from hashbench.data.locate import MediaLocator, media_key
from hashbench.data.sampling import sample_indices
from hashbench.errors import DataError


# -- sampling --------------------------------------------------------------------------------------
def test_sampling_is_the_original_round_with_bankers_rounding():
    assert sample_indices(240, 4) == [0, 60, 120, 180]
    assert sample_indices(5, 2) == [0, 2]  # 2.5 rounds to even 2, not 3
    assert sample_indices(7, 2) == [0, 4]  # 3.5 rounds to even 4
    assert sample_indices(3, 4) == [0, 1, 2, 2]  # 2.25 -> 2; frames repeat when n < T


def test_sampling_clamps_where_the_original_would_index_past_the_end():
    assert sample_indices(1, 32) == [0] * 32
    assert sample_indices(2, 8)[-1] == 1  # round(7 * 2 / 8) = 2 -> clamped to n - 1
    with pytest.raises(ValueError):
        sample_indices(0, 4)


@given(st.integers(1, 2000), st.integers(1, 64))
def test_sampling_properties(n, t):
    idx = sample_indices(n, t)
    assert len(idx) == t and idx[0] == 0
    assert all(0 <= i < n for i in idx) and idx == sorted(idx)
    if 2 * n > t:
        assert idx == [round(i * n / t) for i in range(t)]


# -- list files ------------------------------------------------------------------------------------
def test_read_list_handles_crlf_trailing_spaces_bom_and_blank_lines(tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(b"\xef\xbb\xbfa/x.avi 1\r\n\r\nb/#y@.avi 2 \nc/z.avi\r\n   \n")
    lines = read_list(path)
    assert [ln.fields for ln in lines] == [("a/x.avi", "1"), ("b/#y@.avi", "2"), ("c/z.avi",)]
    assert [ln.lineno for ln in lines] == [1, 3, 4]
    assert path_and_label(lines[1], label_required=True) == ("b/#y@.avi", 2)
    assert path_and_label(lines[2], label_required=False) == ("c/z.avi", None)
    with pytest.raises(DataError, match=r"list.txt:4: expected `<path> <integer label>`"):
        path_and_label(lines[2], label_required=True)


def test_real_list_quirks_parse(tmp_path):
    ucf = read_list(SPLITS / "ucf101" / "trainlist01.txt")  # CRLF
    assert len(ucf) == 9537 and ucf[0].fields == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "1")
    hmdb = read_list(SPLITS / "hmdb51" / "golf_test_split1.txt")  # trailing space, '#' in names
    assert len(hmdb) > 100 and all(len(ln.fields) == 2 for ln in hmdb)
    assert any("#" in ln.fields[0] for ln in hmdb)


def test_missing_list_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="nope.txt: list file not found"):
        read_list(tmp_path / "nope.txt")


def test_safe_relpath_keeps_paths_inside_the_root(tmp_path):
    root = tmp_path / "root"
    assert safe_relpath(root, "A/b.avi") == "A/b.avi"
    assert safe_relpath(root, "A\\b.avi") == "A/b.avi"
    assert safe_relpath(root, "./A/../A/b.avi") == "A/b.avi"
    assert safe_relpath(root, str(root / "A" / "b.avi")) == "A/b.avi"
    for bad in ("../x.avi", "A/../../x.avi", "..", str(tmp_path / "other" / "x.avi"), str(root) + "2/x.avi"):
        with pytest.raises(DataError, match="root") as err:
            safe_relpath(root, bad, where="lists.txt:7")
        assert str(err.value).startswith("lists.txt:7: ")


def test_checksum_ignores_formatting_but_not_content():
    a = {"train": [("A/x.avi", 0), ("B/y.avi", 1)], "query": [("A/z.avi", 0)]}
    same = {"query": [("A/z.avi", 0)], "train": [("A/x.avi", 0), ("B/y.avi", 1)]}
    relabelled = {"train": [("A/x.avi", 0), ("B/y.avi", 0)], "query": [("A/z.avi", 0)]}
    assert entries_checksum(a) == entries_checksum(same)
    assert entries_checksum(a) != entries_checksum(relabelled)
    assert entries_checksum(a) != entries_checksum(a, extra=["seed=1"])
    assert len(entries_checksum(a)) == 64


# -- locating media --------------------------------------------------------------------------------
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
