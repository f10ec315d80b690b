"""Frame-feature datasets: the dataset contract over precomputed per-frame features ``(N, T, D)``.

The self-supervised video hashing papers (SSVH, BTH, ConMH, S5VH, AutoSSVH) read one HDF5 array
``feats`` of shape ``(videos, frames, dim)`` per split (or several shards of one split) with
row-aligned labels in MATLAB ``.mat`` files; :class:`FrameFeatureDataset` serves such files through
the dataset contract (:mod:`hashbench.contract.hookspecs`), streaming rows from disk:

- ``item_kind = "frame_features"``: items are ``(features, label)``, a float32 tensor ``(T, D)`` and
  an ``int`` class id or a float32 multi-hot ``(C,)`` (``UNLABELLED`` = -1 for a split without labels);
- ``feature_dim`` = D, ``num_frames`` = T, ``num_classes``, ``class_names``, ``multi_label``;
- ``split(name)`` is a :class:`FeatureSplit` (len / getitem / batched ``__getitems__``, and
  ``chunks(rows)`` of float32 ``(n, T, D)`` tensors for fitting and encoding without holding a split);
- ``has_labels(name)``; ``same_rows(a, b)`` (True when two splits read the same files, as FCVID's
  query and database do); ``video_ids(name)``; ``info()``.

Train labels are optional; query and database labels are required (retrieval is scored with them).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np

from ..errors import DataError
from .feature_labels import read_label_files
from .feature_store import FeatureStore

__all__ = ["FrameFeatureDataset", "FeatureSplit", "FRAME_FEATURES", "UNLABELLED", "VIDEO_IDS_KEY", "FEATURE_SPLITS",
           "feature_files"]

#: What a frame-feature dataset yields (its ``item_kind``); clip datasets yield ``"clips"``.
FRAME_FEATURES = "frame_features"
#: The label of an item of a split without labels.
UNLABELLED = -1
#: An optional string dataset of a feature file holding one id per row (``hashbench features extract``).
VIDEO_IDS_KEY = "video_ids"
FEATURE_SPLITS = ("train", "query", "database")


class FeatureSplit:
    """One split as a map-style torch Dataset: item ``i`` is ``(float32 tensor (T, D), label)``.

    Rows are read from disk on demand (one row per ``__getitem__``, one sorted read per shard for a
    batch through ``__getitems__``, which torch's DataLoader uses); nothing else is held but the
    labels. ``labels``: int64 ``(N,)``, float32 ``(N, C)`` or None; ``ids``: one string per row.
    """

    item_kind = FRAME_FEATURES

    def __init__(self, store: FeatureStore, labels: Optional[np.ndarray], ids: Sequence[str]) -> None:
        self.store = store
        self.labels = labels
        self.ids = list(ids)
        self.num_frames = store.num_frames
        self.feature_dim = store.feature_dim

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def multi_label(self) -> bool:
        return self.labels is not None and self.labels.ndim == 2

    def __len__(self) -> int:
        return self.store.num_rows

    def label(self, index: int) -> Any:
        """The label of row ``index``: int id, float32 multi-hot tensor ``(C,)``, or ``UNLABELLED``."""
        if self.labels is None:
            return UNLABELLED
        if self.labels.ndim == 2:
            import torch

            return torch.from_numpy(self.labels[index])
        return int(self.labels[index])

    def __getitem__(self, index: int) -> tuple:
        import torch

        if index < 0:
            index += len(self)
        return torch.from_numpy(self.store.read(index, index + 1)[0]), self.label(index)

    def __getitems__(self, indices: Sequence[int]) -> list:
        import torch

        rows = self.store.read_rows(indices)
        return [(torch.from_numpy(rows[k]), self.label(int(i))) for k, i in enumerate(indices)]

    def chunks(self, rows: int = 256) -> Iterator[Any]:
        """Float32 tensors ``(<= rows, T, D)`` of every row in order (memory: one chunk)."""
        import torch

        for block in self.store.chunks(rows):
            yield torch.from_numpy(block)

    def labels_tensor(self) -> Any:
        """All labels as one tensor (int64 ``(N,)`` or float32 ``(N, C)``); DataError without labels."""
        import torch

        if self.labels is None:
            raise DataError(f"{self.store.where}: this split has no labels")
        return torch.from_numpy(self.labels)


def feature_files(value: Any, root: Optional[Path], key: str, single: bool = False) -> list[Path]:
    """A split's files from a table value: one path or a list of shard paths (``single``: one path
    only); relative paths resolve under ``root`` and may not leave it (None: the working folder)."""
    from .lists import safe_relpath

    if single and not isinstance(value, (str, Path)):
        raise DataError(f"dataset.{key}: expected one file path, got {value!r}")
    items = [value] if isinstance(value, (str, Path)) else list(value) if isinstance(value, (list, tuple)) else []
    if not items or not all(isinstance(v, (str, Path)) and str(v) for v in items):
        raise DataError(f"dataset.{key}: expected an HDF5 file path or a list of shard paths, got {value!r}")
    out = []
    for item in items:
        path = Path(str(item)).expanduser()
        if root is not None:
            path = root / safe_relpath(root, str(item), where=f"dataset.{key}")
        out.append(path)
    return out


def _file_ids(store: FeatureStore) -> list[str]:
    """``video_ids`` stored in every shard when present, else ``<file stem>/<row>``."""
    import h5py

    ids: list[str] = []
    for shard in store.shards:
        with h5py.File(str(shard.path), "r") as f:
            stored = f[VIDEO_IDS_KEY] if VIDEO_IDS_KEY in f else None
            if stored is not None and stored.shape == (shard.rows,):
                ids += [v.decode() if isinstance(v, bytes) else str(v) for v in stored[()]]
            else:
                ids += [f"{shard.path.stem}/{row:06d}" for row in range(shard.rows)]
    if len(set(ids)) != len(ids):  # two shards with the same stem: number rows over the split
        ids = [f"{store.where}/{row:07d}" for row in range(store.num_rows)]
    return ids


class FrameFeatureDataset:
    """The dataset contract over frame-feature files (see the module docstring).

    ``files``: ``{split: [paths]}`` for train/query/database; ``label_files``: ``{split: path, [paths]
    stacked in order, or None}``;
    ``label_keys``: ``{split: key}``; ``feature_key``: the HDF5 dataset (default ``feats``);
    ``class_names``: names by class index (default ``"0"`` .. ``"C-1"``); ``name``: for messages;
    ``data_origin``: ``custom`` (default) or ``generated``; ``provenance``: extra ``info()`` items.
    """

    item_kind = FRAME_FEATURES

    def __init__(self, *, files: Mapping[str, Sequence[Path]], label_files: Mapping[str, Any],
                 label_keys: Mapping[str, str], feature_key: str = "feats",
                 class_names: Optional[Sequence[str]] = None, name: str = "frame_features",
                 data_origin: str = "custom", provenance: Optional[Mapping[str, str]] = None) -> None:
        self.name = name
        self.feature_key = feature_key
        self.data_origin = data_origin
        self.provenance = dict(provenance or {})
        self.files = {s: [Path(p) for p in files[s]] for s in FEATURE_SPLITS}
        self.stores: dict[str, FeatureStore] = {}
        for split in FEATURE_SPLITS:
            same = next((o for o in self.stores if self.files[o] == self.files[split]), None)
            self.stores[split] = self.stores[same] if same else FeatureStore(self.files[split], feature_key, split)
        first = self.stores["train"]
        for split, store in self.stores.items():
            if (store.num_frames, store.feature_dim) != (first.num_frames, first.feature_dim):
                raise DataError(f"{store.shards[0].path}[{feature_key}]: {split} features are {store.num_frames} x "
                                f"{store.feature_dim} but train features are {first.num_frames} x "
                                f"{first.feature_dim}; every split needs the same frames and dims")
            if store.num_rows == 0:
                raise DataError(f"{store.shards[0].path}[{feature_key}]: the {split} split has no rows")
        for store in {id(s): s for s in self.stores.values()}.values():
            store.check_sample_finite()
        self.num_frames: int = first.num_frames
        self.feature_dim: int = first.feature_dim
        self.labels = self._read_labels(label_files, label_keys)
        self.multi_label, self.num_classes = self._classes()
        self.class_names = list(class_names) if class_names is not None else \
            [str(c) for c in range(self.num_classes)]
        if len(self.class_names) != self.num_classes:
            raise DataError(f"{name}: {len(self.class_names)} class names for {self.num_classes} classes in the labels")
        self._ids: dict[str, list[str]] = {}

    def _read_labels(self, label_files: Mapping[str, Any],
                     label_keys: Mapping[str, str]) -> dict[str, Optional[np.ndarray]]:
        labels: dict[str, Optional[np.ndarray]] = {}
        for split in FEATURE_SPLITS:
            path = label_files.get(split)
            if path is None:
                if split != "train":
                    raise DataError(f"{self.name}: no {split}_labels given; query and database need labels "
                                    "to score retrieval (a .mat, .npy or HDF5 file row-aligned with the features)")
                labels[split] = None
                continue
            paths = [path] if isinstance(path, (str, Path)) else list(path)
            labels[split] = read_label_files(paths, label_keys[split], rows=self.stores[split].num_rows)
        return labels

    def _classes(self) -> tuple[bool, int]:
        given = {s: v for s, v in self.labels.items() if v is not None}
        kinds = {s: v.ndim == 2 for s, v in given.items()}
        if len(set(kinds.values())) > 1:
            shown = ", ".join(f"{s}: {'multi-hot' if m else 'class ids'}" for s, m in kinds.items())
            raise DataError(f"{self.name}: label files mix multi-hot and class-id labels ({shown}); use one form")
        if any(kinds.values()):
            widths = {s: v.shape[1] for s, v in given.items()}
            if len(set(widths.values())) > 1:
                raise DataError(f"{self.name}: multi-hot labels have different class counts {widths}; "
                                "every split needs the same C")
            return True, next(iter(widths.values()))
        return False, max(int(v.max()) + 1 for v in given.values())

    def close(self) -> None:
        """Close the HDF5 handles this process opened (reads reopen them)."""
        for store in self.stores.values():
            store.close()

    # -- the dataset contract -----------------------------------------------------------------------
    def _check_split(self, name: str) -> None:
        if name not in FEATURE_SPLITS:
            raise DataError(f"{self.name}: unknown split {name!r}; splits are {', '.join(FEATURE_SPLITS)}")

    def split(self, name: str) -> FeatureSplit:
        """Split ``name`` (train/query/database) as a :class:`FeatureSplit` of ``(float32 (T, D), label)``."""
        self._check_split(name)
        return FeatureSplit(self.stores[name], self.labels[name], self.video_ids(name))

    def has_labels(self, name: str) -> bool:
        """Whether split ``name`` has labels (train labels are optional)."""
        self._check_split(name)
        return self.labels[name] is not None

    def same_rows(self, a: str, b: str) -> bool:
        """True when splits ``a`` and ``b`` read the same files (FCVID: query is the database)."""
        self._check_split(a)
        self._check_split(b)
        return self.stores[a] is self.stores[b]

    def video_ids(self, name: str) -> list[str]:
        """One id per row: the shards' ``video_ids`` dataset when present, else ``<file stem>/<row>``."""
        self._check_split(name)
        if name not in self._ids:
            self._ids[name] = _file_ids(self.stores[name])
        return list(self._ids[name])

    def data_checksum(self) -> str:
        """sha256 (16 hex) of, per split: T, D, each shard's byte size, rows and dtype, a few sampled rows
        (first, last, two between per shard), and the full label array (or "unlabelled")."""
        digest = hashlib.sha256()
        for split in FEATURE_SPLITS:
            digest.update(f"|{split}|".encode())
            self.stores[split].fingerprint(digest)
            labels = self.labels[split]
            digest.update(b"unlabelled" if labels is None else
                          f"{labels.dtype}{labels.shape}".encode() + np.ascontiguousarray(labels).tobytes())
        return digest.hexdigest()[:16]

    def info(self) -> dict[str, str]:
        """Provenance for results rows: ``split`` (``features``), ``data_checksum``, ``data_origin``
        (``custom`` for your files, ``generated`` for the embedded set), ``skipped``, sizes and key."""
        info = {
            "dataset": self.name,
            "split": "features",
            "data_checksum": self.data_checksum(),
            "data_origin": self.data_origin,
            "skipped": "0",
            "item_kind": self.item_kind,
            "rows": " ".join(f"{s}={self.stores[s].num_rows}" for s in FEATURE_SPLITS),
            "frames": str(self.num_frames),
            "feature_dim": str(self.feature_dim),
            "feature_key": self.feature_key,
            "train_labels": "yes" if self.labels["train"] is not None else "no",
        }
        if self.name != "frame_features":
            info["benchmark"] = self.name  # the dataset column of its results rows
        info.update(self.provenance)
        return info

    def check_lines(self) -> list[tuple[bool, str]]:
        """``hashbench data check``: per split, the files and shape, labels aligned, every row finite."""
        multi = ", multi-label" if self.multi_label else ""
        lines = [(True, f"frames x dims: {self.num_frames} x {self.feature_dim}; {self.num_classes} classes{multi}")]
        scanned: dict[int, Optional[str]] = {}
        for split in FEATURE_SPLITS:
            store = self.stores[split]
            files = ", ".join(str(s.path) for s in store.shards)
            labels = self.labels[split]
            label_text = "no labels" if labels is None else f"{labels.shape[0]} label rows"
            lines.append((True, f"{split}: {store.num_rows} rows in {len(store.shards)} file(s) ({files}); "
                                f"{label_text}"))
            if id(store) not in scanned:
                scanned[id(store)] = store.scan_finite()
                problem = scanned[id(store)]
                lines.append((problem is None, problem or f"{split}: every feature finite"))
        return lines
