"""moving_digits: the embedded generated dataset (contract, determinism, splits, knobs, "needs time")."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from support import ROOT
import torch
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hashbench
from hashbench.data.memory import ClipArrayDataset
from hashbench.errors import ConfigError, DataError
from hashbench_ref.datasets.moving_digits import BASIC_MOTIONS, MOTIONS, digit_images, render
from hashbench_ref.datasets.synthetic import moving_digits

SMALL = dict(clips_per_class=6, queries_per_class=3)


@pytest.fixture(scope="module")
def default():
    return moving_digits(seed=0)


# -- contract -----------------------------------------------------------------------------------------
def test_contract_shapes_dtypes_and_labels(default):
    ds = default
    assert ds.num_classes == 8 and ds.class_names == list(BASIC_MOTIONS)
    assert ds.multi_label is False and ds.num_frames == 8
    train, query, db = ds.split("train"), ds.split("query"), ds.split("database")
    assert (len(train), len(query), len(db)) == (8 * 60, 8 * 20, 8 * 60)
    clip, label = query[5]
    assert clip.dtype == torch.uint8 and tuple(clip.shape) == (3, 8, 32, 32)
    assert isinstance(label, int) and 0 <= label < 8
    assert torch.equal(train[17][0], db[17][0]) and train[17][1] == db[17][1]  # train doubles as database
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    assert batch[0].shape == (4, 3, 8, 32, 32) and batch[1].dtype == torch.int64
    assert int(clip.max()) > 200 and int(clip.min()) == 0  # a bright digit on black
    ids = ds.video_ids("query")
    assert len(ids) == len(query) == len(set(ids)) and ids == ds.video_ids("query")
    assert ds.video_ids("train") == ds.video_ids("database")
    assert not set(ids) & set(ds.video_ids("database"))
    info = ds.info()
    assert info["split"] == "generated" and len(info["data_checksum"]) >= 12
    assert all(isinstance(v, str) for v in info.values())


def test_unknown_split_is_a_data_error(default):
    with pytest.raises(DataError, match="unknown split 'test'"):
        default.split("test")
    with pytest.raises(DataError):
        default.video_ids("val")


def test_class_balance(default):
    for name, per_class in (("train", 60), ("query", 20)):
        gen = default.generated(name)
        assert np.bincount(gen.labels, minlength=8).tolist() == [per_class] * 8
        assert np.bincount(gen.digit, minlength=10).min() >= len(gen.digit) // 10  # digits balanced too


def test_query_digit_images_are_disjoint_from_database(default):
    db, query = default.generated("database"), default.generated("query")
    assert not set(db.image.tolist()) & set(query.image.tolist())
    assert not set(default.db_images.tolist()) & set(default.query_images.tolist())
    assert len(default.db_images) + len(default.query_images) == 1797
    _, targets = digit_images()
    assert np.array_equal(targets[query.image], query.digit)  # the digit id is the image's true class
    # the split of images changes with the seed
    other = moving_digits(seed=1, **SMALL)
    assert not np.array_equal(other.query_images, default.query_images)


# -- determinism --------------------------------------------------------------------------------------
def test_same_seed_gives_identical_bytes_different_seed_differs():
    a, b, c = (moving_digits(seed=s, noise=8.0, distractor=1, color="random", **SMALL) for s in (3, 3, 4))
    for name in ("database", "query"):
        assert a.generated(name).clips.tobytes() == b.generated(name).clips.tobytes()
        assert not np.array_equal(a.generated(name).clips, c.generated(name).clips)
    assert a.info()["data_checksum"] == b.info()["data_checksum"] != c.info()["data_checksum"]
    assert a.info()["bytes_sha256"] == b.info()["bytes_sha256"] != c.info()["bytes_sha256"]
    d = moving_digits(seed=3, noise=9.0, distractor=1, color="random", **SMALL)
    assert d.info()["data_checksum"] != a.info()["data_checksum"]  # any knob changes the checksum


def test_registry_build_seed_context_and_data_seed_override():
    registry = hashbench.registry()
    assert "moving_digits" in registry.names("dataset")
    table = {"name": "moving_digits", **SMALL}
    injected = registry.build("dataset", table, seed=5)
    assert injected.config.seed == 5
    pinned = registry.build("dataset", {**table, "data_seed": 2}, seed=5)
    assert pinned.config.seed == 2
    with pytest.raises(ConfigError, match=r"dataset\.seed: set by hashbench from the top-level seed.*"
                                          r"allowed keys: .*data_seed"):
        registry.build("dataset", {**table, "seed": 2}, where="dataset", seed=5)
    direct = moving_digits(seed=2, **SMALL)
    assert pinned.info()["data_checksum"] == direct.info()["data_checksum"]
    framed = registry.build("dataset", {**table, "num_frames": 4}, num_frames=8)
    assert framed.num_frames == 4 and framed.split("query")[0][0].shape[1] == 4


# -- knobs --------------------------------------------------------------------------------------------
def test_size_frames_color_noise_distractor_knobs():
    ds = moving_digits(size=48, num_frames=5, color="#ff8000", **SMALL)
    clip = ds.generated("query").clips
    assert clip.shape == (3 * 8, 3, 5, 48, 48)
    assert clip[:, 2].max() == 0 and clip[:, 0].max() > 200  # orange tint: no blue, full red
    assert abs(int(clip[:, 1].max()) - 128) <= 2
    gray = moving_digits(**SMALL).generated("query").clips
    assert np.array_equal(gray[:, 0], gray[:, 1]) and np.array_equal(gray[:, 0], gray[:, 2])
    colored = moving_digits(color="random", **SMALL).generated("query").clips
    assert not np.array_equal(colored[:, 0], colored[:, 1])
    clean = moving_digits(**SMALL).generated("database").clips.astype(float)
    noisy = moving_digits(noise=20.0, **SMALL).generated("database").clips.astype(float)
    background = clean == 0
    assert 6.0 < noisy[background].std() < 20.0  # clipped at 0, so below the nominal std
    assert np.abs(noisy - clean)[~background].mean() > 5.0
    one = moving_digits(distractor=1, **SMALL).generated("database").clips
    two = moving_digits(distractor=True, **SMALL).generated("database").clips
    assert np.array_equal(one, two)  # true = one distractor
    assert (one > 0).mean() > (clean > 0).mean() * 1.3  # a second digit adds ink


def test_label_modes():
    digit = moving_digits(labels="digit", **SMALL)
    assert digit.num_classes == 10 and digit.multi_label is False
    assert digit.class_names == [f"digit_{d}" for d in range(10)]
    gen = digit.generated("database")
    assert np.bincount(gen.labels).tolist() == [6] * 10 and np.array_equal(gen.labels, gen.digit)
    both = moving_digits(labels="both", **SMALL)
    assert both.multi_label is True and both.num_classes == 18
    assert both.class_names[:8] == list(BASIC_MOTIONS) and both.class_names[8] == "digit_0"
    clip, label = both.split("query")[2]
    assert label.dtype == torch.float32 and label.shape == (18,) and float(label.sum()) == 2.0
    gen = both.generated("query")
    assert np.array_equal(gen.labels[:, :8].argmax(1), gen.motion)
    assert np.array_equal(gen.labels[:, 8:].argmax(1), gen.digit)
    assert (gen.labels.sum(1) == 2).all()
    motions = moving_digits(motions="all", **SMALL)
    assert motions.class_names == list(MOTIONS) and motions.num_classes == 15
    picked = moving_digits(motions=["static", "rotate_cw", "rotate_ccw"], **SMALL)
    assert picked.class_names == ["static", "rotate_cw", "rotate_ccw"] and len(picked.split("train")) == 18


@pytest.mark.parametrize("params, message", [
    ({"size": 8}, r"dataset\.size: 8 is out of range"),
    ({"num_frames": 1}, r"dataset\.num_frames: 1 is out of range"),
    ({"labels": "action"}, r"dataset\.labels: unknown mode 'action'"),
    ({"motions": ["left", "rigth"]}, r"dataset\.motions: unknown motion 'rigth' \(did you mean 'right'\?\)"),
    ({"motions": ["left"]}, r"dataset\.motions: give at least 2"),
    ({"color": "blue"}, r"dataset\.color: 'blue'"),
    ({"noise": -1.0}, r"dataset\.noise: -1\.0 is out of range"),
    ({"distractor": 9}, r"dataset\.distractor: 9 is out of range"),
    ({"speed": 0.0}, r"dataset\.speed: 0\.0 is out of range"),
    ({"clips_per_class": 0}, r"dataset\.clips_per_class"),
    ({"query_fraction": 1.0}, r"dataset\.query_fraction"),
    ({"size": "32"}, r"dataset\.size: expected an integer"),
])
def test_bad_knobs_are_config_errors_naming_the_key(params, message):
    with pytest.raises(ConfigError, match=message):
        moving_digits(**params)


def test_bad_knob_through_the_registry_names_the_key():
    with pytest.raises(ConfigError, match=r"^dataset\.labels"):
        hashbench.registry().build("dataset", {"name": "moving_digits", "labels": "both-ish"}, seed=0)
    with pytest.raises(ConfigError, match=r"dataset\.size: expected an integer"):
        hashbench.registry().build("dataset", {"name": "moving_digits", "size": 32.5}, seed=0)


# -- the motions themselves ---------------------------------------------------------------------------
def _centroid_track(clips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame position on the torus (circular mean, radians) and ink mass of gray clips (N,3,T,H,W)."""
    x = clips.astype(np.float64).mean(1)
    width = x.shape[-1]
    phase = np.exp(2j * np.pi * (np.arange(width) + 0.5) / width)
    mass = x.sum((2, 3)) + 1e-9
    zx = (x.sum(2) * phase).sum(2) / mass
    zy = (x.sum(3) * phase).sum(2) / mass
    return zx, zy, mass


def motion_features(clips: np.ndarray) -> np.ndarray:
    """Hand-made temporal features ``(N, 4)``: mean velocity x/y, turning (cross product of successive
    velocities) and change of log ink mass between successive frames. Each needs frame ORDER."""
    zx, zy, mass = _centroid_track(clips)
    vx = np.angle(zx[:, 1:] * np.conj(zx[:, :-1]))
    vy = np.angle(zy[:, 1:] * np.conj(zy[:, :-1]))
    turn = vx[:, :-1] * vy[:, 1:] - vy[:, :-1] * vx[:, 1:]
    grow = np.diff(np.log(mass), axis=1)
    return np.stack([vx.mean(1), vy.mean(1), turn.mean(1), grow.mean(1)], axis=1)


def test_each_motion_moves_the_way_its_name_says(default):
    feats = motion_features(default.generated("database").clips)
    motion = default.generated("database").motion
    mean = {name: feats[motion == k].mean(0) for k, name in enumerate(BASIC_MOTIONS)}
    assert mean["left"][0] < -0.1 and mean["right"][0] > 0.1 and abs(mean["left"][1]) < 0.05
    assert mean["up"][1] < -0.1 and mean["down"][1] > 0.1 and abs(mean["up"][0]) < 0.05
    assert mean["circle_cw"][2] > 0.005 and mean["circle_ccw"][2] < -0.005  # y points down: cw turns right
    assert mean["zoom_in"][3] > 0.03 and mean["zoom_out"][3] < -0.03
    for name in ("left", "right", "up", "down", "circle_cw", "circle_ccw"):
        assert abs(mean[name][3]) < 0.01  # no scale change


def test_speed_scales_the_motion():
    slow = moving_digits(speed=0.5, **SMALL).generated("database")
    fast = moving_digits(speed=1.0, **SMALL).generated("database")
    right = BASIC_MOTIONS.index("right")
    v_slow = motion_features(slow.clips[slow.motion == right])[:, 0].mean()
    v_fast = motion_features(fast.clips[fast.motion == right])[:, 0].mean()
    assert v_fast == pytest.approx(2 * v_slow, rel=0.1)
    # half the frame per clip at speed 1: 16 px over 7 steps at 32 px, i.e. 2*pi/32*16/7 rad per step
    assert v_fast == pytest.approx(2 * np.pi / 32 * 16 / 7, rel=0.1)


def test_render_places_and_wraps_the_glyph():
    images, _ = digit_images()
    cx = np.array([[0.0, 0.875]])  # 0.875 canvas units = 14 px to the right
    out = render(images, np.array([0]), cx, np.zeros((1, 2)), np.log(np.full((1, 2), 0.3)),
                 np.zeros((1, 2)), 32)
    cols0, cols1 = out[0, 0].sum(0), out[0, 1].sum(0)
    assert cols0[:10].sum() == 0 and cols0[22:].sum() == 0 and cols0[12:20].sum() > 0  # centred, ~10 px
    assert cols1[:3].sum() > 0 and cols1[26:].sum() > 0 and cols1[5:24].sum() == 0  # split over the edge
    assert abs(out[0, 0].sum() - out[0, 1].sum()) < 1e-4 * out[0, 0].sum()  # wrapping loses no ink


# -- only time tells the classes apart ----------------------------------------------------------------
def _accuracy(train_x, train_y, test_x, test_y) -> float:
    """Query accuracy of a standardised nearest-centroid classifier fit on the database clips."""
    with warnings.catch_warnings():  # constant spectrum bins (e.g. all-zero) are harmless here
        warnings.simplefilter("ignore", UserWarning)
        model = make_pipeline(StandardScaler(), NearestCentroid()).fit(train_x, train_y)
    return float((model.predict(test_x) == test_y).mean())


def _spectrum(frames: np.ndarray) -> np.ndarray:
    """Shift-invariant appearance of gray frames (N, H, W): |FFT2| flattened."""
    return np.abs(np.fft.fft2(frames)).reshape(len(frames), -1)


def test_single_frames_do_not_tell_the_motion_but_frame_order_does(default):
    train, query = default.generated("database"), default.generated("query")
    chance = 1.0 / default.num_classes
    gray_tr, gray_q = train.clips.astype(np.float32).mean(1), query.clips.astype(np.float32).mean(1)
    # one frame, as raw pixels or as its shift-invariant spectrum: near chance
    for t in (0, default.num_frames // 2, default.num_frames - 1):
        pixels = _accuracy(gray_tr[:, t].reshape(len(gray_tr), -1), train.labels,
                           gray_q[:, t].reshape(len(gray_q), -1), query.labels)
        spectrum = _accuracy(_spectrum(gray_tr[:, t]), train.labels, _spectrum(gray_q[:, t]), query.labels)
        assert pixels < chance + 0.15 and spectrum < chance + 0.15, (t, pixels, spectrum)
    # the same classifier on features of the frame sequence: far above chance
    temporal = _accuracy(motion_features(train.clips), train.labels, motion_features(query.clips), query.labels)
    assert temporal > 0.9


def test_opposite_motions_differ_only_in_frame_order(default):
    """Order-free frame statistics cannot separate a motion from its time reversal; ordered ones can."""
    train, query = default.generated("database"), default.generated("query")

    def orderless(clips):  # per-frame spectra, averaged over frames (any permutation gives the same)
        gray = clips.astype(np.float32).mean(1)
        n, t = gray.shape[:2]
        return _spectrum(gray.reshape(n * t, *gray.shape[2:])).reshape(n, t, -1).mean(1)

    for a, b in (("left", "right"), ("up", "down"), ("circle_cw", "circle_ccw"), ("zoom_in", "zoom_out")):
        ka, kb = BASIC_MOTIONS.index(a), BASIC_MOTIONS.index(b)
        rows_tr = np.isin(train.labels, (ka, kb))
        rows_q = np.isin(query.labels, (ka, kb))
        free = _accuracy(orderless(train.clips[rows_tr]), train.labels[rows_tr],
                         orderless(query.clips[rows_q]), query.labels[rows_q])
        ordered = _accuracy(motion_features(train.clips[rows_tr]), train.labels[rows_tr],
                            motion_features(query.clips[rows_q]), query.labels[rows_q])
        assert free < 0.75 and ordered > 0.95, (a, b, free, ordered)
    # reversing time turns a clip into its opposite motion, as judged by the ordered features
    reversed_q = query.clips[:, :, ::-1]
    model = make_pipeline(StandardScaler(), NearestCentroid()).fit(motion_features(train.clips), train.labels)
    opposite = np.array([1, 0, 3, 2, 5, 4, 7, 6])
    assert (model.predict(motion_features(reversed_q)) == opposite[query.labels]).mean() > 0.9


# -- speed, memory dataset, CLI -----------------------------------------------------------------------
def test_default_generation_is_fast():
    digit_images()  # exclude the one-off scikit-learn import
    start = time.perf_counter()
    moving_digits(seed=11)
    assert time.perf_counter() - start < 3.0  # about 0.3 s on one free core


def test_clip_array_dataset_checks_its_inputs():
    clips = np.zeros((2, 3, 2, 16, 16), np.uint8)
    ds = ClipArrayDataset(clips, np.array([0, 1]), ["a", "b"])
    assert ds[1][1] == 1 and ds.ids == ["a", "b"] and not ds.multi_label
    multi = ClipArrayDataset(clips, np.eye(2, dtype=np.float64))
    assert multi.multi_label and multi[0][1].dtype == torch.float32 and multi.ids == ["000000", "000001"]
    with pytest.raises(DataError, match="uint8"):
        ClipArrayDataset(clips.astype(np.float32), np.array([0, 1]))
    with pytest.raises(DataError, match="labels"):
        ClipArrayDataset(clips, np.array([0, 1, 2]))
    with pytest.raises(DataError, match="unique"):
        ClipArrayDataset(clips, np.array([0, 1]), ["a", "a"])


def test_cli_plugins_lists_moving_digits():
    exe = Path(sys.executable).with_name("hashbench")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hashbench"]
    env = {**os.environ, "HASHBENCH_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "300"}
    done = subprocess.run(cmd + ["plugins", "--kind", "dataset"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if "moving_digits" in ln)
    assert "dataset" in line and "Generated videos of real handwritten digits" in line
