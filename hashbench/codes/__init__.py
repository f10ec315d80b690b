"""Binary hash codes: packing (:mod:`~hashbench.codes.packing`), their labels
(:mod:`~hashbench.codes.labels`), files (:mod:`~hashbench.codes.io`: ``codes.npz``, arrays for
``hashbench score``) and Hamming distances (:mod:`~hashbench.codes.hamming`). Import from
``hashbench.codes``.
"""
from __future__ import annotations

from .hamming import (HAS_BITWISE_COUNT, default_block, distance_dtype, hamming64, hamming_blocks,
                      hamming_distances, hamming_torch, matmul_dtype, torch_pm1)
from .io import load_array, load_codes, load_labels, save_codes
from .labels import check_labels
from .packing import PackedCodes, pack_codes, unpack_codes

__all__ = [
    "PackedCodes", "pack_codes", "unpack_codes", "save_codes", "load_codes", "load_array", "load_labels",
    "check_labels", "hamming_distances", "hamming_blocks", "HAS_BITWISE_COUNT", "hamming64", "distance_dtype",
    "torch_pm1", "matmul_dtype", "hamming_torch", "default_block",
]
