"""The labels that come with codes: class ids ``(N,)`` or multi-hot ``(N, C)``, checked against the codes."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from .packing import describe_array, to_numpy

__all__ = ["check_labels"]


def check_labels(labels: Any, n: int, what: str = "labels") -> np.ndarray:
    """Validated labels: int64 ``(N,)`` class ids, or bool ``(N, C)`` multi-hot.

    Accepts integer or integral float ids (``(N,)``, or a numeric ``(N, 1)`` column), and 0/1 (or bool)
    ``(N, C)`` matrices. Raises DataError naming ``what`` for a row count other than ``n`` or unusable values.
    """
    arr = to_numpy(labels, what)
    if arr.ndim == 2 and arr.shape[1] == 1 and arr.dtype != bool:  # a column of class ids
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        raise DataError(f"{what}: expected (N,) class ids or (N, C) multi-hot labels, got {describe_array(arr)}")
    if arr.shape[0] != n:
        raise DataError(f"{what}: {arr.shape[0]} labels for {n} codes (row counts must match)")
    if arr.dtype == bool:
        return arr if arr.ndim == 2 else arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{what}: expected numeric labels, got {describe_array(arr)}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise DataError(f"{what}: labels must be whole numbers (class ids or 0/1), got {describe_array(arr)}"
                            " with fractional or non-finite values")
    if arr.ndim == 1:
        return arr.astype(np.int64, copy=False)
    if not np.isin(arr, (0, 1)).all():
        raise DataError(f"{what}: multi-label matrix {arr.shape} must hold only 0/1")
    return arr.astype(bool)

