"""The seed experiments (experiments/seeds/): one per source project and dataset. Each loads, its sweep
expands, every point's components accept their keys, its top comment says what it reproduces, and each
states the source's key settings."""
from __future__ import annotations

import pytest

import hashbench
from support import ROOT
from support import hmdb_tree, ucf_tree
from hashbench.config import expand_sweep, load_experiment
from hashbench.contract import CORE_KEYS, TABLE_OWNED, bind_parameters
from hashbench.eval.classification import CLASSIFICATION_METRICS

SEEDS = ROOT / "experiments" / "seeds"
FILES = sorted(p.name for p in SEEDS.glob("*.toml") if not p.stem.endswith("_released"))  # siblings running a
# source's released objective: tests/plugins/ref/test_loss_video_retrieval.py
# dataset -> (folder under $HASHBENCH_DATA, classes, tree builder)
DATASETS = {"ucf101": ("UCF-101", 101, ucf_tree), "hmdb51": ("hmdb51_org", 51, hmdb_tree)}
# source project (file stem without the dataset) -> what its top comment must name
SOURCES = {
    "video_retrieval": ("zhongzhou-code/Video_Retrieval",),
    "pytorch_video_recognition": ("jfzhang95/pytorch-video-recognition",),
    "video_classification_resnet3d": ("fourierer/Video_Classification_ResNet3D_Pytorch", "3D-ResNets-PyTorch"),
}
FEATURE_DIM = {"c3d": 4096, "r3d18": 512, "r3d34": 512, "r3d50": 2048, "pvr_r3d_18": 512, "pvr_r2plus1d_18": 512}


def _split(file: str) -> tuple[str, str]:
    stem = file[: -len(".toml")]
    source, _, dataset = stem.rpartition("_")
    return source, dataset


def _load(file: str, monkeypatch, tmp_path):
    monkeypatch.setenv("HASHBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path / "weights"))
    return load_experiment(SEEDS / file)


def _points(file: str, monkeypatch, tmp_path) -> list:
    return expand_sweep(_load(file, monkeypatch, tmp_path))


def _backbones(points) -> dict[str, dict]:
    return {p.name.rpartition("=")[2]: p.backbone for p in points}


def test_every_source_and_dataset_has_its_seed():
    assert FILES == sorted(f"{source}_{dataset}.toml" for source in SOURCES for dataset in DATASETS)


@pytest.mark.parametrize("file", FILES)
def test_seed_loads_expands_and_binds(file, monkeypatch, tmp_path):
    source, dataset = _split(file)
    exp = _load(file, monkeypatch, tmp_path)
    folder, classes, _ = DATASETS[dataset]
    assert exp.dataset["name"] == dataset and exp.dataset["root"] == f"{tmp_path}/data/{folder}"
    assert exp.dataset["split"] == 1 and exp.dataset["resize"] == [128, 171] and exp.dataset["crop"] == 112
    assert exp.train.amp is False          # every source trained in fp32
    assert exp.eval.select == "last"
    points = expand_sweep(exp)
    assert len({p.name for p in points}) == len(points) >= 1
    reg = hashbench.registry()
    for point in points:
        bits = point.head["bits"]
        context = {"bits": bits, "feature_dim": FEATURE_DIM[point.backbone["name"]], "num_classes": classes,
                   "multi_label": False, "num_frames": point.dataset["num_frames"]}
        for kind in ("dataset", "backbone", "head", "loss"):
            table = getattr(point, kind)
            params = {k: v for k, v in table.items() if k != "name" and k not in CORE_KEYS.get(kind, ())}
            bind_parameters(reg.get(kind, table["name"]).factory, params, context, where=kind,
                            owned=TABLE_OWNED.get(kind, ()))  # every key is one the plugin accepts
        for spec in point.eval.metrics:
            reg.build_metric(spec)


@pytest.mark.parametrize("file", FILES)
def test_seed_top_comment_says_what_it_reproduces_and_what_differs(file):
    source, dataset = _split(file)
    text = (SEEDS / file).read_text(encoding="utf-8")
    comment = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        comment.append(line)
    top = "\n".join(comment)
    assert top.startswith("# Reproduces: ")
    for name in SOURCES[source]:
        assert name in top
    assert {"ucf101": "UCF101", "hmdb51": "HMDB-51"}[dataset] in top
    assert "Published" in top and "differs" in top
    assert f"experiments/seeds/{file}" in top      # the run command names this very file


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_video_retrieval_seed_sweeps_its_three_backbones(dataset, monkeypatch, tmp_path):
    points = _points(f"video_retrieval_{dataset}.toml", monkeypatch, tmp_path)
    assert _backbones(points) == {
        "c3d": {"name": "c3d", "pretrained": "c3d_sports1m", "normalization": "c3d_retrieval"},
        "r3d18": {"name": "r3d18", "pretrained": "resnet-18-kinetics", "normalization": "c3d_retrieval"},
        "r3d34": {"name": "r3d34", "pretrained": "resnet-34-kinetics", "normalization": "c3d_retrieval"},
    }
    for p in points:   # parse_config.py defaults and train.py's optimiser / scheduler
        assert p.head == {"name": "tanh", "bits": 512} and p.loss == {"name": "batch_all_triplet", "margin": 0.3}
        assert p.dataset["num_frames"] == 16 and p.dataset["augment"] is False
        assert (p.train.epochs, p.train.batch_size) == (100, 8)
        assert p.train.optimizer.name == "sgd"
        assert p.train.optimizer.params == {"lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
        assert (p.train.scheduler.name, p.train.scheduler.step_size, p.train.scheduler.gamma) == ("step", 20, 0.1)
        assert p.eval.metrics[0] == "map@100"       # its compute_mAP: top R = 100
        assert p.train.skip_zero_loss is False


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_pytorch_video_recognition_seed_has_its_three_classifiers(dataset, monkeypatch, tmp_path):
    points = _points(f"pytorch_video_recognition_{dataset}.toml", monkeypatch, tmp_path)
    assert _backbones(points) == {
        "c3d": {"name": "c3d", "pretrained": "c3d_sports1m"},
        "r2plus1d": {"name": "pvr_r2plus1d_18", "normalization": "pvr"},
        "r3d": {"name": "pvr_r3d_18", "normalization": "pvr"},
    }
    multiplier = {p.backbone["name"]: p.loss["lr_multiplier"] for p in points}
    assert multiplier == {"c3d": 10, "pvr_r2plus1d_18": 10, "pvr_r3d_18": 1}   # train.py's 10x groups
    for p in points:
        assert p.loss["name"] == "cross_entropy" and p.loss["on"] == "features"
        assert p.head == {"name": "tanh", "bits": 64}
        assert p.dataset["num_frames"] == 16 and p.dataset["augment"] is True
        assert (p.train.epochs, p.train.batch_size, p.train.eval_every) == (100, 20, 20)
        assert p.train.optimizer.params == {"lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
        assert (p.train.scheduler.name, p.train.scheduler.step_size, p.train.scheduler.gamma) == ("step", 10, 0.1)
        assert "map" in p.eval.metrics and {"top1", "top5"} <= set(CLASSIFICATION_METRICS)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_video_classification_resnet3d_seed_fine_tunes_r3d50_from_kinetics700(dataset, monkeypatch, tmp_path):
    (exp,) = _points(f"video_classification_resnet3d_{dataset}.toml", monkeypatch, tmp_path)
    assert exp.backbone == {"name": "r3d50", "pretrained": "r3d50_K_200ep", "freeze": True}
    assert exp.loss["name"] == "cross_entropy" and exp.loss["on"] == "features"   # top1/top5 rows
    assert exp.head == {"name": "tanh", "bits": 64}
    assert (exp.train.epochs, exp.train.batch_size, exp.train.clip_frames) == (200, 128, 16)
    params = exp.train.optimizer.params
    # --ft_begin_module fc: the classifier at opts.py's lr 0.1, the backbone frozen
    assert params["lr"] == pytest.approx(0.1) and "lr_multiplier" not in exp.loss
    assert (params["momentum"], params["weight_decay"], params["nesterov"]) == (0.9, 1e-3, False)
    # MultiStepLR([50, 100, 150]) over 200 epochs is StepLR(50)
    assert (exp.train.scheduler.name, exp.train.scheduler.step_size, exp.train.scheduler.gamma) == ("step", 50, 0.1)
    assert exp.dataset["num_frames"] == 32 and exp.eval.clips == 2 and exp.dataset["augment"] is True
    text = (SEEDS / f"video_classification_resnet3d_{dataset}.toml").read_text(encoding="utf-8")
    published = {"ucf101": ("81.57%", "89.3%"), "hmdb51": ("53.19%", "61.0%")}[dataset]
    assert all(number in text for number in published)


@pytest.mark.parametrize("file", FILES)
def test_seed_dataset_tables_build_with_the_official_lists(file, monkeypatch, tmp_path):
    _, dataset = _split(file)
    folder, classes, make_tree = DATASETS[dataset]
    data = tmp_path / "data"
    root, _ = make_tree(tmp_path / "tree")
    data.mkdir()
    (data / folder).symlink_to(root)
    monkeypatch.setenv("HASHBENCH_DATA", str(data))
    monkeypatch.setenv("HASHBENCH_WEIGHTS", str(tmp_path))
    for point in expand_sweep(load_experiment(SEEDS / file)):
        ds = hashbench.registry().build("dataset", point.dataset, where="dataset")
        assert ds.num_classes == classes
        assert ds.expected and len(ds.all_videos) == ds.expected["videos"]
        assert ds.num_frames == point.dataset["num_frames"]
