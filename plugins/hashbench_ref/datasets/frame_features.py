"""Frame-feature datasets: ``frame_features`` (your HDF5 files) and ``moving_digits_features`` (embedded).

Factories only; torch-free at import. The reading, checks and streaming live in
``hashbench.data.FrameFeatureDataset``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, List, Optional, Union

from hashbench.contract import choice, conformance_example, identity_keys, positive_int

_BENCHMARK = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def check_name(key: str, value: Any) -> str:
    """``value`` as a dataset name for results rows: lower-case letters, digits, ``_ . -`` (ValueError)."""
    if not isinstance(value, str) or not _BENCHMARK.fullmatch(value):
        raise ValueError(f"{key}: {value!r} is not a dataset name; use lower-case letters, digits, '_', '.' or"
                         " '-' (e.g. \"fcvid\")")
    return value

Files = Union[str, List[str]]
_PATH_KEYS = ("train", "query", "database", "train_labels", "query_labels", "database_labels")


def _fcvid_example(folder: Path) -> dict:
    from .moving_digits_features import generate_features, write_fcvid_layout

    data = generate_features(num_frames=4, feature_dim=8, size=16, clips_per_class=1, queries_per_class=1)
    table = write_fcvid_layout(folder, data)
    table.pop("name")
    return table


@identity_keys(ignore=("root",), basename=_PATH_KEYS)
@conformance_example(_fcvid_example)
def frame_features(train: Files, query: Files, database: Files, train_labels: Optional[Files] = None,
                   query_labels: Optional[Files] = None, database_labels: Optional[Files] = None,
                   feature_key: str = "feats", label_key: str = "labels", train_label_key: Optional[str] = None,
                   query_label_key: Optional[str] = None, database_label_key: Optional[str] = None,
                   class_names: Optional[List[str]] = None, benchmark: Optional[str] = None,
                   root: Optional[str] = None) -> Any:
    """Precomputed per-frame features ``(videos, frames, dim)`` in HDF5, as the SSVH-family papers ship them.

    - train, query, database: an HDF5 file, or a list of shards read in order (YFCC's nine training
      shards); ``database`` may be the same file as ``query`` (FCVID's all-vs-all protocol).
    - train_labels, query_labels, database_labels: row-aligned labels, MATLAB ``.mat`` (v5 or v7.3),
      ``.npy`` or HDF5, multi-hot ``(N, C)`` or class ids ``(N,)``; a list of files is stacked in order
      (YFCC's two database label files). Train labels are optional.
    - feature_key: the HDF5 dataset holding the features (default ``feats``).
    - label_key: the key in the label files (default ``labels``); ``train_label_key``,
      ``query_label_key``, ``database_label_key`` override it per split (ActivityNet: ``q_label``
      for the queries, ``re_label`` for the database).
    - class_names: names by class index (default "0".."C-1").
    - benchmark: the dataset name results rows and the leaderboard give these files (e.g. "fcvid", so
      hashbench's rows sit beside the published FCVID rows); default "frame_features".
    - root: folder that relative paths resolve under (and may not leave); default the working folder.
    Items are ``(float32 (T, D), label)`` read from disk row by row; nothing holds a whole split.
    """
    from hashbench.data import FrameFeatureDataset, feature_files

    base = None if root is None else Path(os.path.expandvars(root)).expanduser()
    given = {"train": train, "query": query, "database": database}
    files = {split: feature_files(value, base, split) for split, value in given.items()}
    labels = {"train": train_labels, "query": query_labels, "database": database_labels}
    label_files = {s: None if v is None else feature_files(v, base, f"{s}_labels") for s, v in labels.items()}
    keys = {"train": train_label_key, "query": query_label_key, "database": database_label_key}
    return FrameFeatureDataset(files=files, label_files=label_files,
                               label_keys={s: k or label_key for s, k in keys.items()},
                               feature_key=feature_key, class_names=class_names,
                               name=check_name("dataset.benchmark", benchmark) if benchmark else "frame_features")


def _default_cache() -> Path:
    env = os.environ.get("HASHBENCH_CACHE")
    if env:
        return Path(env).expanduser() / "moving_digits_features"
    return Path(tempfile.gettempdir()) / f"hashbench-{os.getuid() if hasattr(os, 'getuid') else 0}" / \
        "moving_digits_features"


@identity_keys(ignore=("cache",))
@conformance_example({"clips_per_class": 1, "queries_per_class": 1, "num_frames": 4, "dim": 8, "size": 16})
def moving_digits_features(num_frames: int = 25, dim: int = 64, size: int = 32, clips_per_class: int = 40,
                           queries_per_class: int = 10, noise: float = 0.0, motions: Union[str, List[str]] = "basic",
                           layout: str = "activitynet", data_seed: Optional[int] = None, cache: Optional[str] = None,
                           seed: int = 0) -> Any:
    """Frame features of moving_digits clips (no download): the class is the motion, so frame order matters.

    Every gray frame is average-pooled to 8 x 8 and projected by a fixed random matrix to
    ``dim`` values; mean-pooling over frames cannot tell opposite motions apart.

    - num_frames: T (default 25, as FCVID); dim: D, the feature width (default 64); size: frame side (default 32).
    - clips_per_class: clips per motion in train and in database (default 40); queries_per_class:
      query clips per motion, from held-out digit images (default 10).
    - noise: pixel noise std in 0-255 units (default 0); motions: "basic" (8), "all" (15) or a list.
    - layout: "activitynet" (separate train, query and database files; default) or "fcvid" (one test
      file that is both query and database, all-vs-all).
    - data_seed: generation seed (default: the experiment's ``seed``).
    - cache: folder the generated HDF5/.mat files are written to (default
      ``$HASHBENCH_CACHE/moving_digits_features`` or the temp folder); files are reused when present.
    """
    from hashbench.data import FrameFeatureDataset, feature_files, write_text_atomic

    choice("layout", layout, ("activitynet", "fcvid"))
    for key, value in (("num_frames", num_frames), ("dim", dim), ("clips_per_class", clips_per_class),
                       ("queries_per_class", queries_per_class)):
        positive_int(key, value)
    from .moving_digits_features import GENERATOR_VERSION, generate_features, write_activitynet_layout, \
        write_fcvid_layout

    params = dict(num_frames=num_frames, feature_dim=dim, size=size, clips_per_class=clips_per_class,
                  queries_per_class=queries_per_class, noise=noise, motions=motions,
                  seed=seed if data_seed is None else data_seed)
    text = json.dumps({**params, "layout": layout, "generator": GENERATOR_VERSION}, sort_keys=True)
    folder = (Path(cache).expanduser() if cache else _default_cache()) / hashlib.sha256(text.encode()).hexdigest()[:16]
    done = folder / "table.json"  # written last: its presence means every file is complete
    if not done.is_file():
        data = generate_features(**params)
        table = (write_fcvid_layout(folder, data) if layout == "fcvid"
                 else write_activitynet_layout(folder, data, with_ids=True))
        table = {k: Path(v).name if k in _PATH_KEYS else v for k, v in table.items() if k != "name"}
        write_text_atomic(done, json.dumps({**table, "class_names": data.class_names}, sort_keys=True))
    table = json.loads(done.read_text())
    splits = ("train", "query", "database")
    return FrameFeatureDataset(
        files={s: feature_files(table[s], folder, s) for s in splits},
        label_files={s: feature_files(table[f"{s}_labels"], folder, s, single=True)[0]
                     if f"{s}_labels" in table else None for s in splits},
        label_keys={s: table.get(f"{s}_label_key", "labels") for s in splits}, class_names=table["class_names"],
        name="moving_digits_features", data_origin="generated",
        provenance={"generator": GENERATOR_VERSION, "layout": layout, "seed": str(params["seed"]),
                    "files": str(folder)})


FACTORIES: dict = {"frame_features": frame_features, "moving_digits_features": moving_digits_features}
