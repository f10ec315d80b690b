"""hashbench.data's frame-feature reading: shards, labels (.mat v5/v7.3, .npy, HDF5), streaming, checks.

Real HDF5 and .mat files in tmp_path, tiny shapes; every bad input is one DataError line naming the
file, the key or the value.
"""
from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import torch
from scipy.io import savemat

from hashbench.data import FeatureStore, FrameFeatureDataset, feature_files, read_labels
from hashbench.data.check import check_dataset
from hashbench.errors import DataError

T, D = 3, 4


def feats_file(path, rows, start=0, t=T, d=D, key="feats", dtype="float32"):
    """An HDF5 file whose row r holds the value start + r everywhere (so reads are easy to check)."""
    values = (start + np.arange(rows, dtype=np.float64))[:, None, None] * np.ones((1, t, d))
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=values.astype(dtype))
    return path


def mat73(path, key, array):
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 after a 512-byte header, the array transposed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset(key, data=np.ascontiguousarray(np.asarray(array, dtype=np.float64).T))
    with open(path, "r+b") as raw:
        raw.write(b"MATLAB 7.3 MAT-file")
    return path


def dataset(tmp_path, **overrides):
    """train.h5 (5 rows, no labels) and test.h5 (4 rows, query = database), written once per test."""
    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    if not train.exists():
        feats_file(train, 5)
        feats_file(test, 4, start=100)
        np.save(tmp_path / "test_labels.npy", np.array([0, 1, 2, 1]))
    kwargs = dict(files={"train": [train], "query": [test], "database": [test]},
                  label_files={"train": None, "query": tmp_path / "test_labels.npy",
                               "database": tmp_path / "test_labels.npy"},
                  label_keys={"train": "labels", "query": "labels", "database": "labels"})
    kwargs.update(overrides)
    return FrameFeatureDataset(**kwargs)


# -- shards and streaming ---------------------------------------------------------------------------
def test_shards_concatenate_in_order_and_reads_cross_their_boundaries(tmp_path):
    shards = [feats_file(tmp_path / "a.h5", 3), feats_file(tmp_path / "b.h5", 4, start=3)]
    store = FeatureStore(shards, "feats", "train")
    assert (len(store), store.num_frames, store.feature_dim) == (7, T, D)
    assert store.read(2, 5)[:, 0, 0].tolist() == [2, 3, 4]
    assert store.read_rows([6, 0, 3, 0])[:, 0, 0].tolist() == [6, 0, 3, 0]
    assert [c[:, 0, 0].tolist() for c in store.chunks(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert store.read(0, 1).dtype == np.float32


def test_batched_reads_of_runs_gaps_and_repeats_equal_row_reads(tmp_path):
    shards = [feats_file(tmp_path / "a.h5", 9), feats_file(tmp_path / "b.h5", 8, start=9)]
    store = FeatureStore(shards, "feats", "train")
    rng = np.random.default_rng(0)
    for rows in ([7, 8, 9, 10], list(range(17)), [16, 2, 3, 4, 11, 2, 0, 12, 13], rng.integers(0, 17, 30).tolist()):
        assert store.read_rows(rows)[:, 0, 0].tolist() == rows
        assert np.array_equal(store.read_rows(rows), np.concatenate([store.read(r, r + 1) for r in rows]))


def test_float16_storage_is_read_as_float32(tmp_path):
    store = FeatureStore([feats_file(tmp_path / "h.h5", 2, dtype="float16")])
    assert store.read(0, 2).dtype == np.float32 and store.shards[0].dtype == "float16"


def test_a_split_is_a_dataset_of_float_frames_with_batched_reads_and_chunks(tmp_path):
    ds = dataset(tmp_path)
    query = ds.split("query")
    features, label = query[2]
    assert features.dtype == torch.float32 and features.shape == (T, D) and float(features[0, 0]) == 102
    assert label == 2 and query[-1][1] == 1
    batch = query.__getitems__([3, 0])
    assert [float(x[0, 0]) for x, _ in batch] == [103, 100] and [y for _, y in batch] == [1, 0]
    assert [tuple(c.shape) for c in query.chunks(3)] == [(3, T, D), (1, T, D)]
    loader = torch.utils.data.DataLoader(query, batch_size=3)
    xs, ys = next(iter(loader))
    assert xs.shape == (3, T, D) and ys.tolist() == [0, 1, 2]


def test_handles_open_lazily_and_the_split_pickles_for_worker_processes(tmp_path):
    query = dataset(tmp_path).split("query")
    query[0]
    clone = pickle.loads(pickle.dumps(query))  # what a spawned DataLoader worker receives
    assert clone.store._handles == {} and float(clone[1][0][0, 0]) == 101
    loader = torch.utils.data.DataLoader(query, batch_size=2, num_workers=2)
    assert torch.cat([x[:, 0, 0] for x, _ in loader]).tolist() == [100, 101, 102, 103]


def test_the_contract_attributes_and_fcvid_all_vs_all(tmp_path):
    ds = dataset(tmp_path)
    assert (ds.item_kind, ds.num_frames, ds.feature_dim) == ("frame_features", T, D)
    assert (ds.num_classes, ds.class_names, ds.multi_label) == (3, ["0", "1", "2"], False)
    assert ds.same_rows("query", "database") and not ds.same_rows("train", "query")
    assert not ds.has_labels("train") and ds.split("train")[0][1] == -1
    assert ds.video_ids("query") == ds.video_ids("database") == [f"test/{i:06d}" for i in range(4)]
    info = ds.info()
    assert info["data_origin"] == "custom" and info["split"] == "features" and len(info["data_checksum"]) == 16
    with pytest.raises(DataError, match="unknown split 'val'"):
        ds.split("val")


def checksum(tmp_path):
    ds = dataset(tmp_path)
    try:
        return ds.data_checksum()
    finally:
        ds.close()


def test_the_checksum_is_stable_and_sees_sampled_rows_and_labels(tmp_path):
    first = checksum(tmp_path)
    assert checksum(tmp_path) == first
    np.save(tmp_path / "test_labels.npy", np.array([0, 1, 2, 2]))
    assert checksum(tmp_path) != first
    np.save(tmp_path / "test_labels.npy", np.array([0, 1, 2, 1]))
    assert checksum(tmp_path) == first
    with h5py.File(tmp_path / "train.h5", "r+") as f:
        f["feats"][4] = 7.0  # the last row is always sampled
    assert checksum(tmp_path) != first


# -- labels ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["mat_v5", "mat_v73", "npy", "h5"])
def test_multi_hot_labels_read_from_every_format(tmp_path, form):
    labels = np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float64)
    path = tmp_path / ("l.mat" if form.startswith("mat") else f"l.{form}")
    if form == "mat_v5":
        savemat(path, {"re_label": labels})
    elif form == "mat_v73":
        mat73(path, "re_label", labels)
    elif form == "npy":
        np.save(path, labels)
    else:
        with h5py.File(path, "w") as f:
            f["re_label"] = labels
    got = read_labels(path, "re_label", rows=2)
    assert got.dtype == np.float32 and got.tolist() == labels.tolist()


def test_class_ids_come_from_vectors_rows_or_columns(tmp_path):
    savemat(tmp_path / "ids.mat", {"labels": np.array([[3, 0, 2]])})  # MATLAB saves a vector as (1, N)
    assert read_labels(tmp_path / "ids.mat", rows=3).tolist() == [3, 0, 2]
    mat73(tmp_path / "ids73.mat", "labels", np.array([[3], [0], [2]]))
    assert read_labels(tmp_path / "ids73.mat", rows=3).dtype == np.int64


@pytest.mark.parametrize("form", ["mat_v5", "mat_v73"])
def test_a_label_file_without_the_key_lists_the_keys_present(tmp_path, form):
    path = tmp_path / "q_label.mat"
    savemat(path, {"q_label": np.eye(2)}) if form == "mat_v5" else mat73(path, "q_label", np.eye(2))
    with pytest.raises(DataError, match=r"q_label.mat: no key 'labels' in the label file \(keys present: q_label\); "
                                        r"set the split's label key"):
        read_labels(path, "labels")


def test_bad_label_files_are_one_line_each(tmp_path):
    np.save(tmp_path / "l.npy", np.eye(3))
    with pytest.raises(DataError, match=r"l.npy: 3 label rows for 5 feature rows"):
        read_labels(tmp_path / "l.npy", rows=5)
    with pytest.raises(DataError, match="missing.mat: label file not found"):
        read_labels(tmp_path / "missing.mat")
    np.save(tmp_path / "half.npy", np.array([[0.5, 1.0], [0.0, 1.0]]))
    with pytest.raises(DataError, match="must hold only 0 and 1"):
        read_labels(tmp_path / "half.npy")
    np.save(tmp_path / "neg.npy", np.array([0, -2]))
    with pytest.raises(DataError, match="class ids must be whole numbers >= 0"):
        read_labels(tmp_path / "neg.npy")
    (tmp_path / "text.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="not a label file hashbench reads"):
        read_labels(tmp_path / "text.csv")


def test_labels_with_the_wrong_row_count_stop_the_dataset(tmp_path):
    np.save(tmp_path / "short.npy", np.array([0, 1]))
    with pytest.raises(DataError, match=r"short.npy: 2 label rows for 4 feature rows"):
        dataset(tmp_path, label_files={"train": None, "query": tmp_path / "short.npy",
                                       "database": tmp_path / "short.npy"})


def test_query_labels_are_required_and_forms_may_not_mix(tmp_path):
    with pytest.raises(DataError, match="no query_labels given"):
        dataset(tmp_path, label_files={"train": None, "query": None, "database": None})
    np.save(tmp_path / "hot.npy", np.eye(4))
    with pytest.raises(DataError, match="mix multi-hot and class-id labels"):
        dataset(tmp_path, label_files={"train": None, "query": tmp_path / "hot.npy",
                                       "database": tmp_path / "test_labels.npy"})


# -- bad feature files -----------------------------------------------------------------------------
def test_a_missing_file_or_key_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.h5: feature file not found"):
        FeatureStore([tmp_path / "nope.h5"])
    feats_file(tmp_path / "x.h5", 2, key="features")
    with pytest.raises(DataError, match=r"x.h5: no dataset 'feats' in the feature file \(keys present: features\); "
                                        "set feature_key"):
        FeatureStore([tmp_path / "x.h5"], "feats")


def test_a_shard_with_another_dim_or_frame_count_is_refused(tmp_path):
    a = feats_file(tmp_path / "a.h5", 2)
    with pytest.raises(DataError, match=r"b.h5\[feats\]: shard has 3 frames x 5 dims but .*a.h5 has 3 x 4"):
        FeatureStore([a, feats_file(tmp_path / "b.h5", 2, d=5)], "feats", "train")
    with pytest.raises(DataError, match="shard has 2 frames x 4 dims"):
        FeatureStore([a, feats_file(tmp_path / "c.h5", 2, t=2)])


def test_a_two_dimensional_array_is_not_frame_features(tmp_path):
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["feats"] = np.zeros((3, 4), np.float32)
    with pytest.raises(DataError, match=r"flat.h5\[feats\]: expected a \(videos, frames, dim\) array, got \(3, 4\)"):
        FeatureStore([tmp_path / "flat.h5"])


def test_nan_in_a_sampled_row_stops_the_open_and_data_check_finds_any_row(tmp_path):
    dataset(tmp_path).close()
    with h5py.File(tmp_path / "test.h5", "r+") as f:
        f["feats"][3, 1, 2] = np.nan  # the last row: sampled at open
    with pytest.raises(DataError, match=r"test.h5\[feats\]: row 3 holds NaN or inf features"):
        dataset(tmp_path)
    big = feats_file(tmp_path / "big.h5", 40)
    with h5py.File(big, "r+") as f:
        f["feats"][17, 0, 0] = np.inf  # not among the 4 sampled rows
    np.save(tmp_path / "five.npy", np.arange(5))
    small = tmp_path / "train.h5"
    ds = dataset(tmp_path, files={"train": [big], "query": [small], "database": [small]},
                 label_files={"train": None, "query": tmp_path / "five.npy", "database": tmp_path / "five.npy"})
    report = check_dataset(ds)
    assert not report.ok
    assert any("big.h5[feats]: row 17 holds NaN or inf" in line.text for line in report.lines)


def test_paths_stay_inside_the_root_when_one_is_given(tmp_path):
    assert feature_files(["a.h5", "b.h5"], tmp_path, "train") == [tmp_path / "a.h5", tmp_path / "b.h5"]
    with pytest.raises(DataError, match="escapes the dataset root"):
        feature_files("../x.h5", tmp_path, "train")
    with pytest.raises(DataError, match="dataset.query_labels: expected one file path"):
        feature_files(["a.mat"], tmp_path, "query_labels", single=True)
    with pytest.raises(DataError, match="expected an HDF5 file path or a list of shard paths"):
        feature_files([], None, "train")
