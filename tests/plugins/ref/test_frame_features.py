"""frame_features and moving_digits_features: the published layouts (FCVID, ActivityNet; .mat v5 and v7.3)
written by the embedded generator in tmp_path and read back through the registered ``frame_features``
plugin; ``hashbench data check`` on them as a real subprocess; order matters on the embedded data."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from support import run_cli

import hashbench
from hashbench.errors import ConfigError, DataError
from hashbench_ref.datasets.moving_digits_features import (generate_features, write_activitynet_layout,
                                                           write_fcvid_layout)

SMALL = dict(num_frames=6, feature_dim=16, size=16, clips_per_class=3, queries_per_class=2)


@pytest.fixture(scope="module")
def data():
    return generate_features(**SMALL)


def build(table):
    return hashbench.registry().build("dataset", table)


@pytest.mark.parametrize("mat", ["v5", "v7.3"])
def test_the_fcvid_layout_reads_back_all_vs_all(tmp_path, data, mat):
    ds = build(write_fcvid_layout(tmp_path, data, mat))
    assert (ds.item_kind, ds.num_frames, ds.feature_dim, ds.num_classes, ds.multi_label) == \
        ("frame_features", 6, 16, 8, True)
    assert ds.same_rows("query", "database") and ds.has_labels("train")
    query = ds.split("query")
    assert len(query) == len(data.labels["database"]) == 24
    features, label = query[5]
    assert np.array_equal(features.numpy(), data.feats["database"][5])
    assert int(label.argmax()) == data.labels["database"][5] and float(label.sum()) == 1
    assert ds.split("train").labels_tensor().argmax(1).tolist() == data.labels["train"].tolist()


@pytest.mark.parametrize("mat", ["v5", "v7.3"])
def test_the_activitynet_layout_reads_back_with_its_label_keys(tmp_path, data, mat):
    table = write_activitynet_layout(tmp_path, data, mat)
    assert (tmp_path / "re_label.mat").exists() and (tmp_path / "q_label.mat").exists()
    if mat == "v7.3":
        assert h5py.is_hdf5(tmp_path / "q_label.mat") and (tmp_path / "q_label.mat").read_bytes()[:10] == b"MATLAB 7.3"
        with h5py.File(tmp_path / "q_label.mat", "r") as f:
            assert f["q_label"].shape == (8, 16)  # stored transposed, as MATLAB does
    ds = build(table)
    assert not ds.same_rows("query", "database") and not ds.has_labels("train")
    assert len(ds.split("query")) == 16 and len(ds.split("database")) == 24
    assert ds.split("query").labels_tensor().argmax(1).tolist() == data.labels["query"].tolist()
    assert ds.split("train")[0][1] == -1


def test_label_files_given_as_a_list_are_stacked_in_order_and_counted(tmp_path, data):
    """YFCC ships its database labels in two files: a list is read in order; a wrong total is one line."""
    table = write_activitynet_layout(tmp_path, data)
    onehot = np.eye(8, dtype=np.float32)[data.labels["database"]]
    np.save(tmp_path / "db_1.npy", onehot[:10])
    np.save(tmp_path / "db_2.npy", onehot[10:])
    ds = build({**table, "database_labels": [str(tmp_path / "db_1.npy"), str(tmp_path / "db_2.npy")],
                "benchmark": "yfcc"})
    assert ds.split("database").labels_tensor().argmax(1).tolist() == data.labels["database"].tolist()
    assert ds.info()["benchmark"] == "yfcc"
    with pytest.raises(DataError, match=r"db_1.npy \+ .*db_1.npy\[re_label\]: 20 label rows for 24 feature rows"):
        build({**table, "database_labels": [str(tmp_path / "db_1.npy")] * 2})
    with pytest.raises(ConfigError, match="dataset.benchmark: .FCVID!. is not a dataset name"):
        build({**table, "benchmark": "FCVID!"})


def test_a_label_key_left_at_its_default_names_the_keys_present(tmp_path, data):
    table = write_activitynet_layout(tmp_path, data)
    del table["query_label_key"]
    with pytest.raises(DataError, match=r"q_label.mat: no key 'labels' in the label file \(keys present: q_label\)"):
        build(table)
    del table["database_label_key"]
    table["label_key"] = "q_label"  # one key for every split: the database's re_label.mat lacks it
    with pytest.raises(DataError, match=r"re_label.mat: no key 'q_label'"):
        build(table)


def test_shards_and_a_root(tmp_path, data):
    from hashbench_ref.datasets.moving_digits_features import write_feats, write_mat

    train = data.feats["train"]
    write_feats(tmp_path / "train_1.h5", train[:10])
    write_feats(tmp_path / "train_2.h5", train[10:])
    write_feats(tmp_path / "test.h5", data.feats["database"])
    write_mat(tmp_path / "test_labels.mat", "labels", data.multi_hot("database"))
    ds = build({"name": "frame_features", "root": str(tmp_path), "train": ["train_1.h5", "train_2.h5"],
                "query": "test.h5", "database": "test.h5", "query_labels": "test_labels.mat",
                "database_labels": "test_labels.mat"})
    assert np.array_equal(np.concatenate([c.numpy() for c in ds.split("train").chunks(7)]), train)
    assert ds.video_ids("train")[9:11] == ["train_1/000009", "train_2/000000"]
    with pytest.raises(DataError, match="escapes the dataset root"):
        build({"name": "frame_features", "root": str(tmp_path), "train": "../x.h5", "query": "test.h5",
               "database": "test.h5", "query_labels": "test_labels.mat", "database_labels": "test_labels.mat"})
    write_feats(tmp_path / "train_3.h5", np.zeros((2, 6, 15), np.float32))
    with pytest.raises(DataError, match=r"train_3.h5\[feats\]: shard has 6 frames x 15 dims but"):
        build({"name": "frame_features", "root": str(tmp_path), "train": ["train_1.h5", "train_3.h5"],
               "query": "test.h5", "database": "test.h5", "query_labels": "test_labels.mat",
               "database_labels": "test_labels.mat"})


def test_the_embedded_dataset_is_deterministic_and_served_from_generated_files(tmp_path):
    table = {"name": "moving_digits_features", "cache": str(tmp_path), "clips_per_class": 2, "queries_per_class": 1,
             "num_frames": 5, "dim": 8, "size": 16}
    a, b = build(table), build({**table, "cache": str(tmp_path / "elsewhere")})
    assert a.info()["data_checksum"] == b.info()["data_checksum"] and a.info()["data_origin"] == "generated"
    assert a.video_ids("query")[0].startswith("query00000-") and a.class_names[:2] == ["left", "right"]
    assert np.array_equal(a.split("database")[3][0].numpy(), b.split("database")[3][0].numpy())
    other = build({**table, "data_seed": 1})
    assert other.info()["data_checksum"] != a.info()["data_checksum"]
    fcvid = build({**table, "layout": "fcvid"})
    assert fcvid.same_rows("query", "database") and fcvid.has_labels("train")


def test_frame_order_matters_on_the_embedded_features():
    """The class is the motion: mean-pooling keeps the motion's axis but not its direction, so a linear
    model of the whole sequence beats one of the frame mean (measured on the defaults: 51% vs 89%)."""
    from sklearn.linear_model import LogisticRegression

    data = generate_features(num_frames=12, feature_dim=32, size=32, clips_per_class=24, queries_per_class=8)

    def accuracy(pool):
        model = LogisticRegression(max_iter=2000).fit(pool(data.feats["train"]), data.labels["train"])
        return float((model.predict(pool(data.feats["query"])) == data.labels["query"]).mean())

    pooled, sequence = accuracy(lambda x: x.mean(axis=1)), accuracy(lambda x: x.reshape(len(x), -1))
    assert 0.25 < pooled < 0.7, pooled     # the axis survives the mean (chance is 0.125) ...
    assert sequence > pooled + 0.15, (sequence, pooled)  # ... the direction does not


def test_data_check_reads_every_row_and_prepare_says_there_is_nothing_to_prepare(tmp_path, data):
    table = write_fcvid_layout(tmp_path, data)
    args = ["data", "check", "frame_features", "--root", str(tmp_path)]
    for key in ("train", "query", "database", "train_labels", "query_labels", "database_labels"):
        args += ["--set", f"{key}={table[key].rsplit('/', 1)[-1]}"]
    ok = run_cli(*args)
    assert ok.returncode == 0, ok.stderr
    assert "6 x 16; 8 classes, multi-label" in ok.stdout and "every feature finite" in ok.stdout
    with h5py.File(tmp_path / "fcv_train_feats.h5", "r+") as f:
        f["feats"][7, 2, 3] = np.nan  # a row the open's sample does not read
    bad = run_cli(*args)
    assert bad.returncode == 1 and "fcv_train_feats.h5[feats]: row 7 holds NaN or inf" in bad.stdout
    missing = run_cli(*args, "--set", "feature_key=vgg")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "no dataset 'vgg' in the feature file (keys present: feats)" in missing.stderr
    prepare = run_cli("data", "prepare", "frame_features", "--root", str(tmp_path))
    assert prepare.returncode == 2 and "nothing to prepare" in prepare.stderr and "Traceback" not in prepare.stderr
