"""Label files of frame-feature datasets: MATLAB ``.mat`` (v5 and v7.3), ``.npy`` and HDF5.

The published feature sets (FCVID, ActivityNet, YFCC, UCF101, HMDB51) ship one label file per split,
row-aligned with the HDF5 ``feats`` rows: a multi-hot matrix ``(N, C)`` under a key (``labels``;
ActivityNet ``re_label`` / ``q_label``). MATLAB v7.3 files are HDF5 files that store every array
transposed (column-major), so a MATLAB ``(N, C)`` matrix reads as ``(C, N)``: :func:`read_labels`
transposes it back. A vector ``(N,)``, ``(N, 1)`` or ``(1, N)`` holds class ids.

Returned labels are int64 class ids ``(N,)`` (>= 0) or float32 multi-hot ``(N, C)`` of 0 and 1.
Every problem is a DataError of one line naming the file, the key and what to do.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import DataError

__all__ = ["read_labels", "read_label_files", "normalize_labels", "HDF5_SIGNATURE"]

#: The first 8 bytes of every HDF5 file (a MATLAB v7.3 .mat file is one after a 512-byte header).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_NPY_SUFFIXES = (".npy",)


def _is_hdf5(path: Path) -> bool:
    import h5py

    return bool(h5py.is_hdf5(str(path)))


def _keys_text(keys: Any) -> str:
    shown = sorted(str(k) for k in keys)
    return ", ".join(shown) if shown else "none"


def _from_mat_v5(path: Path, key: str) -> np.ndarray:
    from scipy.io import loadmat

    try:
        content = loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError for damaged files
        raise DataError(f"{path}: cannot read as a MATLAB .mat file ({exc}); is it a label file?") from None
    keys = [k for k in content if not k.startswith("__")]
    if key not in content:
        raise DataError(f"{path}: no key {key!r} in the label file (keys present: {_keys_text(keys)}); "
                        "set the split's label key (label_key, train_label_key, query_label_key, "
                        "database_label_key) to one of them")
    return np.asarray(content[key])


def _from_hdf5(path: Path, key: str, transposed: bool) -> np.ndarray:
    import h5py

    try:
        with h5py.File(str(path), "r") as f:
            if key not in f:
                raise DataError(f"{path}: no key {key!r} in the label file (keys present: {_keys_text(f.keys())}); "
                                "set the split's label key (label_key, train_label_key, query_label_key, "
                                "database_label_key) to one of them")
            node = f[key]
            if not isinstance(node, h5py.Dataset):
                raise DataError(f"{path}: {key!r} is a group, not an array of labels")
            values = np.asarray(node[()])
    except OSError as exc:
        raise DataError(f"{path}: cannot read as an HDF5 label file ({exc})") from None
    return values.T if transposed else values


def _from_npy(path: Path) -> np.ndarray:
    try:
        return np.load(str(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as a .npy label array ({exc})") from None


def read_label_files(paths: Sequence[Path | str], key: str = "labels", rows: Optional[int] = None) -> np.ndarray:
    """The labels of one split stacked from one or more files in order (YFCC's database labels come
    in two): each read by :func:`read_labels`; ``rows`` checks the stacked count (DataError naming the
    files)."""
    if len(paths) == 1:
        return read_labels(paths[0], key, rows)
    parts = [read_labels(path, key) for path in paths]
    if len({part.ndim for part in parts}) > 1 or len({part.shape[1:] for part in parts}) > 1:
        raise DataError(f"{', '.join(map(str, paths))}: the label files have different shapes "
                        f"{[part.shape for part in parts]}; stack files of one form and class count")
    labels = np.concatenate(parts)
    if rows is not None and labels.shape[0] != rows:
        raise DataError(f"{' + '.join(map(str, paths))}[{key}]: {labels.shape[0]} label rows for {rows} feature"
                        " rows; the label files must have one row per video, in the order of the features")
    return labels


def read_labels(path: Path | str, key: str = "labels", rows: Optional[int] = None) -> np.ndarray:
    """The labels of one split: int64 ids ``(N,)`` or float32 multi-hot ``(N, C)``.

    ``path``: ``.mat`` (v5 through scipy, v7.3 through h5py, transposed back), ``.npy`` (``key``
    unused) or HDF5 (``.h5``/``.hdf5``, read as stored). ``rows``: the split's feature rows; a label
    file with another row count is a DataError naming both counts.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: label file not found; check the split's *_labels path")
    suffix = path.suffix.lower()
    if suffix in _NPY_SUFFIXES:
        raw = _from_npy(path)
    elif suffix == ".mat":
        raw = _from_hdf5(path, key, transposed=True) if _is_hdf5(path) else _from_mat_v5(path, key)
    else:
        if not _is_hdf5(path):
            raise DataError(f"{path}: not a label file hashbench reads (.mat v5/v7.3, .npy or HDF5)")
        raw = _from_hdf5(path, key, transposed=False)
    where = str(path) if suffix in _NPY_SUFFIXES else f"{path}[{key}]"
    labels = normalize_labels(raw, where)
    if rows is not None and labels.shape[0] != rows:
        raise DataError(f"{where}: {labels.shape[0]} label rows for {rows} feature rows; the label file "
                        "must have one row per video, in the order of the feature file")
    return labels


def normalize_labels(raw: Any, where: str) -> np.ndarray:
    """``raw`` as int64 class ids ``(N,)`` (from ``(N,)``, ``(N, 1)`` or ``(1, N)``) or float32 multi-hot
    ``(N, C)`` of 0 and 1 (from any other 2-D array); DataError naming ``where`` otherwise."""
    values = np.asarray(raw)
    if values.dtype == object or not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise DataError(f"{where}: labels must be numbers, got dtype {values.dtype}")
    if values.ndim == 2 and 1 in values.shape and values.size > 1:
        values = values.reshape(-1)
    if values.ndim == 1:
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)) or np.any(values < 0):
            raise DataError(f"{where}: class ids must be whole numbers >= 0")
        return values.astype(np.int64)
    if values.ndim != 2:
        raise DataError(f"{where}: labels must be class ids (N,) or multi-hot (N, C), got shape {values.shape}")
    values = values.astype(np.float32)
    if not np.all((values == 0) | (values == 1)):
        raise DataError(f"{where}: multi-hot labels (N, C) must hold only 0 and 1")
    return values
