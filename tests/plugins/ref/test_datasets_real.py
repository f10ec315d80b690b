"""Real dataset plugins (ucf101, hmdb51, jhmdb, frames, folder) built through the registry."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import hashbench
from support import (KINETICS, RATRACE, SCHOOL, SOCCER_23, SOCCER_24, TRUMAN, TURNK, UCF_TEST, UCF_TRAIN,
                        add_bad_files, hmdb_tree, jhmdb_tree, place, ucf_tree, write_frames)
from hashbench.data.transforms import centre_offsets
from hashbench.errors import ConfigError, DataError

SMALL = {"num_frames": 4, "resize": [24, 32], "crop": 20}


def build(name, **table):
    return hashbench.registry().build("dataset", {"name": name, **table}, where="dataset")


# -- shipped official lists ------------------------------------------------------------------------
@pytest.mark.parametrize("split,train,test", [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_shipped_ucf101_lists_reproduce_official_counts(tmp_path, split, train, test):
    ds = build("ucf101", root=str(tmp_path), split=split)
    assert ds.num_classes == 101 and ds.class_names[0] == "ApplyEyeMakeup" and ds.class_names[-1] == "YoYo"
    assert (len(ds.splits["train"]), len(ds.splits["query"]), len(ds.splits["database"])) == (train, test, train)
    assert len(ds.all_videos) == 13320
    assert not {v.vid for v in ds.splits["train"]} & {v.vid for v in ds.splits["query"]}
    soccer = [v for v in ds.splits["train"] if v.vid == "SoccerJuggling/v_SoccerJuggling_g23_c01.avi"]
    assert soccer and ds.class_names[soccer[0].label] == "SoccerJuggling" and soccer[0].label == 83
    hand = [v for v in ds.splits["query"] if v.vid.startswith("HandstandPushups/v_HandStandPushups_")]
    assert hand and all(ds.class_names[v.label] == "HandstandPushups" for v in hand)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_shipped_hmdb51_lists_reproduce_official_counts(tmp_path, split):
    ds = build("hmdb51", root=str(tmp_path), split=split)
    assert ds.num_classes == 51 and ds.class_names[0] == "brush_hair" and ds.class_names[-1] == "wave"
    assert (len(ds.splits["train"]), len(ds.splits["query"])) == (3570, 1530)
    assert ds.splits["database"] == ds.splits["train"]
    assert len(ds.all_videos) == 6766
    ids = {v.vid for v in ds.splits["train"] + ds.splits["query"]}
    school = f"wave/{SCHOOL}"
    assert (school in ids) == (split == 3)  # SchoolRules is id 0 (unused) in splits 1 and 2


def test_shipped_jhmdb_lists_and_the_sampled_protocol(tmp_path):
    official = build("jhmdb", root=str(tmp_path), protocol="official", split=2)
    assert official.num_classes == 21 and len(official.all_videos) == 928
    assert (len(official.splits["train"]), len(official.splits["query"])) == (658, 270)
    ds = build("jhmdb", root=str(tmp_path))
    assert ds.expected["videos"] == 928
    counts = {s: len(v) for s, v in ds.splits.items()}
    assert counts == {"train": 210, "query": 210, "database": 420}
    for label in range(21):
        q = {v.vid for v in ds.splits["query"] if v.label == label}
        t = {v.vid for v in ds.splits["train"] if v.label == label}
        d = {v.vid for v in ds.splits["database"] if v.label == label}
        assert (len(q), len(t), len(d)) == (10, 10, 20) and t <= d and not q & d
    written = tmp_path / ".hashbench-cache" / "lists" / "jhmdb_seed0_10_10_20"
    assert sorted(p.name for p in written.iterdir()) == ["classes.txt", "db_20_420.txt", "test_10_210.txt",
                                                         "train_10_210.txt"]
    first = (written / "test_10_210.txt").read_text().splitlines()[0]
    assert first == f"{ds.splits['query'][0].vid} {ds.splits['query'][0].label}"
    # same seed -> same draw (read back from the files); another seed -> another draw
    again = build("jhmdb", root=str(tmp_path))
    assert [v.vid for v in again.splits["query"]] == [v.vid for v in ds.splits["query"]]
    assert again.info.__self__ is again
    other = build("jhmdb", root=str(tmp_path), draw_seed=1, sampled_lists=str(tmp_path / "s1"))
    assert [v.vid for v in other.splits["query"]] != [v.vid for v in ds.splits["query"]]
    assert (tmp_path / "s1" / "db_20_420.txt").exists()


def test_edited_sampled_lists_are_reused(tmp_path):
    lists = tmp_path / "mine"
    build("jhmdb", root=str(tmp_path), sampled_lists=str(lists))
    path = lists / "test_10_210.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:5]) + "\n")
    ds = build("jhmdb", root=str(tmp_path), sampled_lists=str(lists))
    assert len(ds.splits["query"]) == 5 and ds.splits["query"][0].where.endswith("test_10_210.txt:1")


def test_jhmdb_draw_needs_enough_clips_per_class(tmp_path):
    with pytest.raises(ConfigError, match="fewer than query_per_class"):
        build("jhmdb", root=str(tmp_path), query_per_class=20, sampled_lists=str(tmp_path / "x"))


# -- small real trees ------------------------------------------------------------------------------
def test_ucf101_tree_reads_videos_directly_and_labels_follow_classind(tmp_path):
    root, lists = ucf_tree(tmp_path)
    ds = build("ucf101", root=str(root), lists=str(lists), **SMALL)
    assert ds.mode() == "files"
    train, query = ds.split("train"), ds.split("query")
    assert len(train) == 4 and len(query) == 2
    clip, label = train[0]
    assert clip.dtype == torch.uint8 and clip.shape == (3, 4, 20, 20)
    ids = ds.video_ids("train")
    assert sorted(ids) == sorted(UCF_TRAIN)
    by_id = dict(zip(ids, (train[i][1] for i in range(len(train)))))
    assert by_id["SoccerJuggling/v_SoccerJuggling_g23_c01.avi"] == 83
    assert by_id["HandstandPushups/v_HandStandPushups_g08_c01.avi"] == 36
    assert sorted(ds.video_ids("query")) == sorted(UCF_TEST)
    info = ds.info()
    assert info["split"] == "1" and len(info["data_checksum"]) >= 12 and info["source"] == "files"
    assert info["clips"] == "train=4 query=2 database=4"


def test_centre_crop_for_query_random_crop_and_flip_only_for_train(tmp_path):
    root, lists = ucf_tree(tmp_path)
    ds = build("ucf101", root=str(root), lists=str(lists), augment=True, **SMALL)
    full = build("ucf101", root=str(root), lists=str(lists), num_frames=4, resize=[24, 32], crop=0)
    whole, _ = full.split("database")[0]  # (3, 4, 24, 32)
    top, left = centre_offsets(24, 32, 20)
    centre, _ = ds.split("database")[0]
    assert torch.equal(centre, whole[..., top:top + 20, left:left + 20])
    torch.manual_seed(0)
    crops = [ds.split("train")[0][0] for _ in range(12)]
    windows = {(t, l, f) for t in range(5) for l in range(13) for f in (False, True)}
    found = set()
    for crop in crops:
        for t, l, f in windows:
            ref = whole[..., t:t + 20, l:l + 20]
            if torch.equal(crop, ref.flip(-1) if f else ref):
                found.add((t, l, f))
                break
        else:
            pytest.fail("a training crop is not a window of the stored clip")
    assert len(found) > 3 and {f for _, _, f in found} == {False, True}


def test_checksum_is_the_same_for_crlf_and_lf_copies_and_changes_with_the_lists(tmp_path):
    root, lists = ucf_tree(tmp_path)
    lf = tmp_path / "lf"
    lf.mkdir()
    for p in lists.iterdir():
        (lf / p.name).write_bytes(p.read_bytes().replace(b"\r\n", b"\n"))
    a = build("ucf101", root=str(root), lists=str(lists), **SMALL).info()["data_checksum"]
    b = build("ucf101", root=str(root), lists=str(lf), **SMALL).info()["data_checksum"]
    assert a == b
    with (lf / "testlist01.txt").open("w") as handle:
        handle.write("SoccerJuggling/v_SoccerJuggling_g01_c01.avi\n")
    c = build("ucf101", root=str(root), lists=str(lf), **SMALL).info()["data_checksum"]
    assert c != a


def test_hmdb51_tree_excludes_id_0_and_decodes_the_quirky_clips(tmp_path):
    root, lists = hmdb_tree(tmp_path)
    ds = build("hmdb51", root=str(root), lists=str(lists), **SMALL)
    assert ds.class_names == ["cartwheel", "wave"]
    assert sorted(ds.video_ids("train")) == sorted([f"cartwheel/{TURNK[7:]}", f"wave/{RATRACE}"])
    assert ds.video_ids("query") == [f"wave/{TRUMAN}"]
    assert all(f"wave/{SCHOOL}" not in ds.video_ids(s) for s in ("train", "query", "database"))
    assert len(ds.all_videos) == 4  # prepare still decodes SchoolRules (used in split 3)
    clips = [ds.split("train")[i] for i in range(2)]
    assert all(c.shape == (3, 4, 20, 20) and c.float().std() > 1 for c, _ in clips)
    split3 = build("hmdb51", root=str(root), lists=str(lists), split=3, **SMALL)
    assert f"wave/{SCHOOL}" in split3.video_ids("train")


def test_jhmdb_tree_matches_at_to_hash_and_reads_frame_folders(tmp_path):
    root, lists = jhmdb_tree(tmp_path)
    ds = build("jhmdb", root=str(root), lists=str(lists), train_per_class=1, query_per_class=1,
               database_per_class=2, **SMALL)
    assert ds.class_names == ["golf", "wave"] and ds.split_label == "sampled-seed0-1/1/2"
    for split, n in (("train", 2), ("query", 2), ("database", 4)):
        data = ds.split(split)
        assert len(data) == n
        for i in range(n):
            clip, label = data[i]
            assert clip.shape == (3, 4, 20, 20) and label in (0, 1)
    assert any("@" in vid for vid in ds.video_ids("database"))
    official = build("jhmdb", root=str(root), lists=str(lists), protocol="official", **SMALL)
    assert official.split_label == "official-1"
    assert (len(official.split("train")), len(official.split("query"))) == (4, 2)


def test_frames_dataset_reads_the_original_layout(tmp_path):
    root = tmp_path / "frames"
    for i, (name, label) in enumerate(((SOCCER_23, 0), (SOCCER_24, 0), (RATRACE, 1), (TRUMAN, 1))):
        write_frames(name, root / f"c{label}" / f"v{i}", max_frames=20, size=(48, 64))
    train = tmp_path / "train.txt"
    train.write_text(f"{root}/c0/v0 0\nc1/v2 1\n")  # absolute inside the root, and relative
    query = tmp_path / "test.txt"
    query.write_text("c0/v1 0\r\nc1/v3 1\r\n")
    classes = tmp_path / "classes.txt"
    classes.write_text("1 SoccerJuggling\n2 wave\n")
    ds = build("frames", root=str(root), train_list=str(train), query_list=str(query), classes=str(classes),
               **SMALL)
    assert ds.class_names == ["SoccerJuggling", "wave"] and ds.video_ids("train") == ["c0/v0", "c1/v2"]
    assert ds.video_ids("database") == ds.video_ids("train")
    clip, label = ds.split("query")[1]
    assert clip.shape == (3, 4, 20, 20) and label == 1
    escaping = tmp_path / "bad.txt"
    escaping.write_text(f"{tmp_path}/elsewhere/v9 0\nc0/v1 0\n")
    bad = build("frames", root=str(root), train_list=str(escaping), query_list=str(query), **SMALL)
    with pytest.raises(DataError, match=r"bad.txt:1.*lies outside the dataset root"):
        bad.split("train")


def test_folder_dataset_splits_each_class(tmp_path):
    root = tmp_path / "videos"
    for name in (SOCCER_23, SOCCER_24, KINETICS[0]):
        place(name, root / "a" / name)
    for name in (RATRACE, TRUMAN, SCHOOL):
        place(name, root / "b" / name)
    ds = build("folder", root=str(root), query_fraction=0.34, **SMALL)
    assert ds.class_names == ["a", "b"]
    assert len(ds.video_ids("query")) == 2 and len(ds.video_ids("train")) == 4
    assert not set(ds.video_ids("query")) & set(ds.video_ids("database"))
    assert ds.split("query")[0][0].shape == (3, 4, 20, 20)


# -- errors ----------------------------------------------------------------------------------------
def test_missing_bad_and_escaping_entries_are_named_or_skipped(tmp_path):
    root, lists = ucf_tree(tmp_path)
    bad = add_bad_files(root, lists)
    ds = build("ucf101", root=str(root), lists=str(lists), **SMALL)
    with pytest.raises(DataError) as err:
        ds.split("train")
    message = str(err.value)
    assert "ucf101 train: 2 of 9 listed videos are unusable" in message
    assert f"{bad['missing']} (" in message and "missing under" in message
    assert "escapes the dataset root" in message and 'missing = "skip"' in message
    skip = build("ucf101", root=str(root), lists=str(lists), missing="skip", source="files", **SMALL)
    # decoding on demand, skip also leaves out the empty, truncated and text-as-.avi files (issue 8)
    assert len(skip.split("train")) == 4
    assert skip.info()["skipped"] == "5" and skip.info()["data_origin"] == "custom"
    assert not {bad["empty"], bad["truncated"], bad["text"]} & set(skip.video_ids("train"))


def test_bad_parameters_are_config_errors(tmp_path):
    root, lists = ucf_tree(tmp_path)
    with pytest.raises(ConfigError, match="dataset.split: unknown value 4; use one of 1, 2, 3"):
        build("ucf101", root=str(root), split=4)
    with pytest.raises(ConfigError, match="dataset.crop: 200 does not fit"):
        build("ucf101", root=str(root), lists=str(lists), crop=200)
    with pytest.raises(ConfigError, match="dataset.resize"):
        build("ucf101", root=str(root), lists=str(lists), resize="big")
    with pytest.raises(ConfigError, match="dataset.source"):
        build("ucf101", root=str(root), lists=str(lists), source="tape")
    with pytest.raises(DataError, match="is not a folder"):
        build("hmdb51", root=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="did you mean 'split'"):
        build("hmdb51", root=str(root), splt=1)
    broken = tmp_path / "broken"
    shutil.copytree(lists, broken)
    (broken / "trainlist01.txt").write_text("SoccerJuggling/v_SoccerJuggling_g23_c01.avi 5\n")
    with pytest.raises(DataError, match=r"trainlist01.txt:1: label 5 \(BalanceBeam\) disagrees"):
        build("ucf101", root=str(root), lists=str(broken))


def test_video_ids_and_items_align(tmp_path):
    root, lists = hmdb_tree(tmp_path)
    ds = build("hmdb51", root=str(root), lists=str(lists), crop=0, num_frames=2, resize=[16, 16])
    data = ds.split("database")
    labels = [data[i][1] for i in range(len(data))]
    expected = [ds.class_names.index(vid.split("/")[0]) for vid in ds.video_ids("database")]
    assert labels == expected and np.all(np.array(labels) >= 0)
