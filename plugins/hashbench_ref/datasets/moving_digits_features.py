"""moving_digits_features: frame features of moving_digits clips, and writers of the published layouts.

Each clip of moving_digits (a real handwritten digit moving on a wrap-around canvas; the class is the
motion) becomes ``T`` feature vectors: the clip is rolled on its canvas so that the middle of the
digit's path sits at the frame centre, then every gray frame is average-pooled to an 8 x 8 grid of 0-1
intensities and projected by a fixed random Gaussian matrix ``(64, D)`` drawn from the data seed.

Why frame order matters: the mean over frames keeps the shape of the digit's trail (a horizontal or
vertical band, an arc, a blob that grows and shrinks), so mean-pooled features tell the motion's axis,
but not its direction: opposite motions (left/right, up/down, clockwise/counter-clockwise, zoom in/out)
have the same unordered frames. Measured on the defaults (seed 0, logistic regression, train -> query):
mean-pooled features 51% accuracy (8 classes, chance 12.5%), the flattened sequence 89%.

Three splits are generated: ``train`` and ``database`` from the same digit images (different clips),
``query`` from held-out images. The writers store them exactly as the published feature sets are laid
out, for the demo and the tests:

- :func:`write_fcvid_layout`: ``fcv_train_feats.h5`` / ``fcv_test_feats.h5`` (``feats``) with
  ``fcv_train_labels.mat`` / ``fcv_test_labels.mat`` (``labels``, multi-hot); the test file is both
  query and database (all-vs-all), built from the ``database`` split.
- :func:`write_activitynet_layout`: ``train_feats.h5``, ``test_feats.h5`` (database), ``query_feats.h5``,
  ``re_label.mat`` (``re_label``) and ``q_label.mat`` (``q_label``); no train labels.

``.mat`` files are MATLAB v5 (scipy) or v7.3 (HDF5 with MATLAB's 512-byte header, arrays transposed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

GRID = 8
GENERATOR_VERSION = "moving_digits_features/1"
MAT_FORMATS = ("v5", "v7.3")

__all__ = ["FeatureArrays", "generate_features", "write_fcvid_layout", "write_activitynet_layout", "write_feats",
           "write_mat", "GRID", "GENERATOR_VERSION", "MAT_FORMATS"]


@dataclass(frozen=True)
class FeatureArrays:
    """Generated splits: ``feats[split]`` float32 ``(N, T, D)``, ``labels[split]`` int64 class ids ``(N,)``,
    ``ids[split]`` one string per row; ``class_names`` the motions."""

    feats: dict
    labels: dict
    ids: dict
    class_names: list

    def multi_hot(self, split: str) -> np.ndarray:
        """The labels of ``split`` as float64 multi-hot ``(N, C)`` (how the published .mat files hold them)."""
        out = np.zeros((len(self.labels[split]), len(self.class_names)))
        out[np.arange(len(self.labels[split])), self.labels[split]] = 1.0
        return out


def centre_clips(clips: np.ndarray) -> np.ndarray:
    """Roll every clip ``(N, 3, T, S, S)`` on its wrap-around canvas (whole pixels, exact) so that the
    circular centroid of its mean frame, the middle of the digit's path, sits at the frame centre."""
    n, _, _, s, _ = clips.shape
    mean_frame = clips.astype(np.float32).mean(axis=(1, 2))                   # (N, S, S)
    phase = np.exp(2j * np.pi * np.arange(s) / s)
    out = clips
    for axis, profile in ((3, mean_frame.sum(axis=2)), (4, mean_frame.sum(axis=1))):  # rows (y), columns (x)
        where = np.angle(profile @ phase) / (2 * np.pi) * s
        shift = np.rint(s / 2 - where).astype(np.int64)
        index = (np.arange(s)[None, :] - shift[:, None]) % s                  # (N, S)
        shape = [n, 1, 1, 1, 1]
        shape[axis] = s
        out = np.take_along_axis(out, index.reshape(shape), axis=axis)
    return out


def frame_features(clips: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """uint8 clips ``(N, 3, T, S, S)`` -> float32 ``(N, T, D)``: clips centred (:func:`centre_clips`),
    channel-mean gray frames, 8 x 8 average pool (S cropped to a multiple of 8), scaled to 0-1, times
    ``projection`` ``(64, D)``."""
    clips = centre_clips(clips)
    n, _, t, s, _ = clips.shape
    block = s // GRID
    gray = clips[:, :, :, :block * GRID, :block * GRID].astype(np.float32).mean(axis=1) / 255.0
    pooled = gray.reshape(n, t, GRID, block, GRID, block).mean(axis=(3, 5)).reshape(n, t, GRID * GRID)
    return (pooled @ projection).astype(np.float32)


def generate_features(num_frames: int = 25, feature_dim: int = 64, size: int = 32, clips_per_class: int = 40,
                      queries_per_class: int = 10, noise: float = 0.0,
                      motions: str | Sequence[str] = "basic", seed: int = 0) -> FeatureArrays:
    """Generate the three splits (deterministic from ``seed``; same parameters -> identical arrays)."""
    from .moving_digits import MovingDigitsConfig, digit_images, generate_split, split_images

    cfg = MovingDigitsConfig.from_params(
        size=size, num_frames=num_frames, clips_per_class=clips_per_class, queries_per_class=queries_per_class,
        noise=noise, speed=1.0, distractor=0, labels="motion", motions=motions, color="gray",
        query_fraction=0.25, seed=seed)
    seeds = np.random.SeedSequence([seed, 0x6D6466]).spawn(5)
    _, targets = digit_images()
    db_images, query_images = split_images(targets, cfg.query_fraction, np.random.default_rng(seeds[0]))
    projection = np.random.default_rng(seeds[1]).standard_normal((GRID * GRID, feature_dim)) / GRID
    plan = {"train": (db_images, clips_per_class, seeds[2]), "database": (db_images, clips_per_class, seeds[3]),
            "query": (query_images, queries_per_class, seeds[4])}
    feats, labels, ids = {}, {}, {}
    for split, (pool, per_class, split_seed) in plan.items():
        gen = generate_split(cfg, pool, per_class, np.random.default_rng(split_seed))
        feats[split] = frame_features(gen.clips, projection)
        labels[split] = gen.labels
        ids[split] = [f"{split}{i:05d}-{cfg.motions[m]}-{d}" for i, (m, d) in enumerate(zip(gen.motion, gen.digit))]
    return FeatureArrays(feats, labels, ids, list(cfg.motions))


def write_feats(path: Path | str, feats: np.ndarray, ids: Optional[Sequence[str]] = None,
                dtype: str = "float32") -> Path:
    """An HDF5 file with ``feats`` ``(N, T, D)`` (and ``video_ids`` when ``ids`` are given); written to a
    temporary name, then renamed, so a reader never sees half a file."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with h5py.File(str(tmp), "w") as f:
        f.create_dataset("feats", data=np.asarray(feats, dtype=dtype))
        if ids is not None:
            f.create_dataset("video_ids", data=np.array([i.encode() for i in ids]))
    tmp.replace(path)
    return path


def write_mat(path: Path | str, key: str, array: np.ndarray, version: str = "v5") -> Path:
    """A MATLAB ``.mat`` file holding ``array`` under ``key``: v5 through scipy, or v7.3 as MATLAB writes
    it (an HDF5 file after a 512-byte ``MATLAB 7.3 MAT-file`` header, the array stored transposed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if version == "v5":
        from scipy.io import savemat

        savemat(str(path), {key: array})
        return path
    if version != "v7.3":
        raise ValueError(f"mat version must be one of {', '.join(MAT_FORMATS)}, got {version!r}")
    import h5py

    with h5py.File(str(path), "w", userblock_size=512) as f:
        f.create_dataset(key, data=np.ascontiguousarray(np.asarray(array, dtype=np.float64).T))
        f[key].attrs["MATLAB_class"] = np.bytes_("double")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by hashbench. HDF5 schema 1.00 ."
    with open(path, "r+b") as raw:
        raw.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    return path


def write_fcvid_layout(folder: Path | str, data: FeatureArrays, mat: str = "v5") -> dict:
    """FCVID's files under ``folder``; returns the ``[dataset]`` table of ``frame_features`` reading them."""
    folder = Path(folder)
    write_feats(folder / "fcv_train_feats.h5", data.feats["train"])
    write_feats(folder / "fcv_test_feats.h5", data.feats["database"])
    write_mat(folder / "fcv_train_labels.mat", "labels", data.multi_hot("train"), mat)
    write_mat(folder / "fcv_test_labels.mat", "labels", data.multi_hot("database"), mat)
    test = str(folder / "fcv_test_feats.h5")
    test_labels = str(folder / "fcv_test_labels.mat")
    return {"name": "frame_features", "train": str(folder / "fcv_train_feats.h5"), "query": test, "database": test,
            "train_labels": str(folder / "fcv_train_labels.mat"), "query_labels": test_labels,
            "database_labels": test_labels}


def write_activitynet_layout(folder: Path | str, data: FeatureArrays, mat: str = "v5",
                             with_ids: bool = False) -> dict:
    """ActivityNet's files under ``folder`` (no train labels); returns the ``frame_features`` table."""
    folder = Path(folder)
    for split, stem in (("train", "train_feats"), ("database", "test_feats"), ("query", "query_feats")):
        write_feats(folder / f"{stem}.h5", data.feats[split], data.ids[split] if with_ids else None)
    write_mat(folder / "re_label.mat", "re_label", data.multi_hot("database"), mat)
    write_mat(folder / "q_label.mat", "q_label", data.multi_hot("query"), mat)
    return {"name": "frame_features", "train": str(folder / "train_feats.h5"),
            "query": str(folder / "query_feats.h5"), "database": str(folder / "test_feats.h5"),
            "query_labels": str(folder / "q_label.mat"), "database_labels": str(folder / "re_label.mat"),
            "query_label_key": "q_label", "database_label_key": "re_label"}
