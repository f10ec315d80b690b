"""features extract (library): the file layout and provenance, features equal to the backbone's own per-frame
output, resume after an interruption gives the same arrays, mismatched settings refused, float16 storage,
and the TOML table it prints reads the files back through the frame_features dataset."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import hashbench
from hashbench.data.extract import ExtractRequest, extract_features, feature_table, toml_snippet
from hashbench.errors import ConfigError, DataError

torch.set_num_threads(2)

REGISTRY = hashbench.registry()
DATASET = {"name": "moving_digits", "clips_per_class": 1, "queries_per_class": 1, "motions": ["left", "right", "up"]}
BACKBONE = {"name": "tv_frames", "model": "resnet18"}


def request(**changes) -> ExtractRequest:
    base = dict(dataset=DATASET, backbone=BACKBONE, frames=2, size=(16, 16), batch_size=2, chunk_rows=2,
                device="cpu", seed=0)
    return ExtractRequest(**{**base, **changes})


def arrays(path: Path) -> dict:
    with h5py.File(str(path), "r") as f:
        return {"feats": f["feats"][()], "labels": f["labels"][()], "ids": [v.decode() for v in f["video_ids"][()]],
                "attrs": dict(f.attrs)}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, extract_features(REGISTRY, request(), out)


def test_layout_labels_ids_and_provenance(full):
    out, report = full
    assert sorted(p.name for p in out.iterdir()) == ["query.h5", "train.h5"]  # database = train: one file
    assert [(r.path.name, r.splits) for r in report.files] == [("train.h5", ["train", "database"]),
                                                               ("query.h5", ["query"])]
    dataset = REGISTRY.build("dataset", {**DATASET, "size": 16}, num_frames=2, seed=0)
    for split, name in (("train", "train.h5"), ("query", "query.h5")):
        got = arrays(out / name)
        n = len(dataset.split(split))
        assert got["feats"].shape == (n, 2, 512) and got["feats"].dtype == np.float32
        assert got["labels"].dtype == np.int64
        assert got["labels"].tolist() == [dataset.split(split)[i][1] for i in range(n)]
        assert got["ids"] == dataset.video_ids(split)
        attrs = got["attrs"]
        assert attrs["rows_done"] == n and attrs["split"] == split
        assert attrs["backbone"] == "tv_frames" and json.loads(attrs["backbone_table"]) == BACKBONE
        assert attrs["weights"] == "random init (seed 0)" and len(attrs["weights_digest"]) == 16
        assert (attrs["frames"], attrs["size"], attrs["dtype"]) == (2, "16x16", "float32")
        assert attrs["hashbench_version"] == hashbench.__version__ and attrs["sampling"]
        assert json.loads(attrs["class_names"]) == dataset.class_names


def test_features_are_the_backbones_per_frame_output(full):
    """An independent computation: the seeded backbone on the normalised clips, frame by frame."""
    out, _ = full
    torch.manual_seed(0)
    backbone = REGISTRY.build("backbone", BACKBONE, num_frames=2).eval()
    dataset = REGISTRY.build("dataset", {**DATASET, "size": 16}, num_frames=2, seed=0)
    mean = torch.tensor(backbone.input_mean).view(1, 3, 1, 1)
    std = torch.tensor(backbone.input_std).view(1, 3, 1, 1)
    clip = dataset.split("query")[2][0]
    with torch.no_grad():
        frames = [backbone.encoder((clip[:, t].unsqueeze(0).float() - mean) / std)[0] for t in range(2)]
    np.testing.assert_allclose(arrays(out / "query.h5")["feats"][2], torch.stack(frames).numpy(), rtol=1e-4,
                               atol=1e-5)


def test_the_printed_table_reads_the_files_through_frame_features(full):
    out, report = full
    table = tomllib.loads(toml_snippet(feature_table(report)))["dataset"]
    assert table == feature_table(report)
    assert table["database"] == table["train"] == "train.h5" and table["root"] == str(out)
    ds = REGISTRY.build("dataset", table)
    assert (ds.num_frames, ds.feature_dim, ds.num_classes) == (2, 512, 3)
    assert ds.same_rows("train", "database") and ds.class_names == table["class_names"]
    feats, label = ds.split("query")[2]
    np.testing.assert_array_equal(feats.numpy(), arrays(out / "query.h5")["feats"][2])
    assert label == arrays(out / "query.h5")["labels"][2]
    assert ds.video_ids("train") == arrays(out / "train.h5")["ids"]


def test_an_interrupted_run_resumes_to_the_same_arrays_and_refuses_other_settings(full, tmp_path):
    out, _ = full

    def stop_after_first_chunk(split, done, total):
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_features(REGISTRY, request(), tmp_path, progress=stop_after_first_chunk)
    part = tmp_path / "train.h5.part"
    assert part.is_file() and not (tmp_path / "train.h5").exists()
    with h5py.File(str(part), "r") as f:
        assert f.attrs["rows_done"] == 2
    with pytest.raises(DataError, match=r"train\.h5\.part: was extracted with frames = 2, now 3"):
        extract_features(REGISTRY, request(frames=3), tmp_path)
    report = extract_features(REGISTRY, request(), tmp_path)
    assert (report.files[0].resumed_from, report.files[0].extracted) == (2, 1)
    for name in ("train.h5", "query.h5"):
        got, want = arrays(tmp_path / name), arrays(out / name)
        assert got["feats"].tobytes() == want["feats"].tobytes()
        assert got["labels"].tobytes() == want["labels"].tobytes() and got["ids"] == want["ids"]
    again = extract_features(REGISTRY, request(), tmp_path)  # complete: nothing extracted
    assert [r.extracted for r in again.files] == [0, 0]
    with pytest.raises(DataError, match=r"train\.h5: was extracted with dtype = 'float32', now 'float16'"):
        extract_features(REGISTRY, request(dtype="float16"), tmp_path)


def test_float16_storage(full, tmp_path):
    out, _ = full
    extract_features(REGISTRY, request(dtype="float16", chunk_rows=8), tmp_path)
    half, single = arrays(tmp_path / "query.h5"), arrays(out / "query.h5")
    assert half["feats"].dtype == np.float16 and half["attrs"]["dtype"] == "float16"
    np.testing.assert_allclose(half["feats"].astype(np.float32), single["feats"], rtol=2e-3, atol=1e-3)
    assert half["labels"].tolist() == single["labels"].tolist()


def test_bad_requests_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no per-frame features"):
        extract_features(REGISTRY, request(backbone={"name": "r3d18", "width": 8}), tmp_path)
    with pytest.raises(ConfigError, match="--dtype: must be one of float32, float16"):
        extract_features(REGISTRY, request(dtype="int8"), tmp_path)
    with pytest.raises(ConfigError, match="square frames"):
        extract_features(REGISTRY, request(size=(16, 32)), tmp_path)
