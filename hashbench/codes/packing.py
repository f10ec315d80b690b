"""Bit packing: binary codes as :class:`PackedCodes`, ``ceil(bits / 8)`` bytes per code.

Bit ``i`` is byte ``i // 8``, most significant bit first (:func:`numpy.packbits` order); padding bits
are 0. Bit ``i`` is 1 where the value was ``> 0``: ±1 codes, 0/1 codes and real-valued outputs (sign)
all pack the same way (an exact 0 packs as -1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["PackedCodes", "pack_codes", "unpack_codes", "to_numpy", "describe_array"]


@dataclass(frozen=True, eq=False)
class PackedCodes:
    """``N`` binary codes of ``bits`` bits: ``words`` uint8 ``(N, ceil(bits/8))``, packbits order."""

    words: np.ndarray
    bits: int

    def __post_init__(self) -> None:
        words = self.words
        if not isinstance(words, np.ndarray) or words.dtype != np.uint8 or words.ndim != 2:
            raise DataError(f"PackedCodes.words must be a 2-D uint8 array, got {describe_array(words)}")
        if int(self.bits) < 1 or words.shape[1] != -(-int(self.bits) // 8):
            raise DataError(f"PackedCodes: {words.shape[1]} bytes per code do not hold {self.bits} bits"
                            f" (need ceil(bits/8) = {-(-int(self.bits) // 8)})")
        object.__setattr__(self, "bits", int(self.bits))

    def __len__(self) -> int:
        return int(self.words.shape[0])

    @property
    def n(self) -> int:
        """Number of codes."""
        return int(self.words.shape[0])

    def __getitem__(self, index: Any) -> "PackedCodes":
        """Rows of these codes (an int, a slice, an index array or a boolean mask)."""
        rows = self.words[index]
        return PackedCodes(np.ascontiguousarray(rows.reshape(-1, self.words.shape[1])), self.bits)

    def unpack(self, dtype: Any = np.int8) -> np.ndarray:
        """The codes as a ``(N, bits)`` array of -1/+1 (``dtype``, default int8)."""
        return unpack_codes(self, dtype)

    def words64(self) -> np.ndarray:
        """The codes as uint64 words ``(N, ceil(bits/64))`` (zero-padded; for popcount distances)."""
        n, nbytes = self.words.shape
        width = -(-nbytes // 8) * 8
        if width == nbytes:
            padded = np.ascontiguousarray(self.words)
        else:
            padded = np.zeros((n, width), dtype=np.uint8)
            padded[:, :nbytes] = self.words
        return padded.view(np.uint64)

    def __repr__(self) -> str:
        return f"PackedCodes(n={self.n}, bits={self.bits})"


def describe_array(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__


def to_numpy(x: Any, what: str) -> np.ndarray:
    """numpy view of an array-like (numpy, torch tensor on any device, nested lists)."""
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu()
        if str(x.dtype) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        x = x.numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what}: cannot be read as an array ({exc})") from None


def pack_codes(x: Any, bits: int | None = None, *, what: str = "codes") -> PackedCodes:
    """Pack codes into :class:`PackedCodes`.

    ``x`` is ``PackedCodes``; an ``(N, bits)`` array/tensor of ±1, 0/1, bool or real values (bit = value
    ``> 0``); or already packed bytes (uint8 ``(N, ceil(bits/8))``) or uint64 words
    (``(N, ceil(bits/64))``) when ``bits`` is given and the width says so. ``what`` names the input in
    error messages. Raises DataError for other shapes, NaN values or a ``bits`` mismatch.
    """
    if isinstance(x, PackedCodes):
        if bits is not None and int(bits) != x.bits:
            raise DataError(f"{what}: codes have {x.bits} bits, expected {bits}")
        return x
    arr = to_numpy(x, what)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, int(bits or 0))
    if arr.ndim != 2:
        raise DataError(f"{what}: expected a 2-D array (N codes x bits), got {describe_array(arr)}")
    if bits is not None:
        bits = int(bits)
        if arr.dtype == np.uint8 and arr.shape[1] == -(-bits // 8) and arr.shape[1] != bits:
            words = np.ascontiguousarray(arr)
            return PackedCodes(_mask_padding(words, bits), bits)
        if arr.dtype == np.uint64 and arr.shape[1] == -(-bits // 64) and arr.shape[1] != bits:
            as_bytes = np.ascontiguousarray(arr).view(np.uint8)[:, : -(-bits // 8)]
            return PackedCodes(_mask_padding(np.ascontiguousarray(as_bytes), bits), bits)
        if arr.shape[1] != bits:
            raise DataError(f"{what}: {arr.shape[1]} columns but {bits} bits expected"
                            f" (got {describe_array(arr)})")
    if arr.shape[1] == 0:
        raise DataError(f"{what}: codes have 0 bits ({describe_array(arr)})")
    if bits is None and arr.dtype == np.uint8 and arr.size and int(arr.max()) > 1:
        raise DataError(f"{what}: uint8 values above 1 look like packed bytes, whose signs mean nothing"
                        f" ({describe_array(arr)}); pass bits, or read a run's codes.npz with"
                        " hashbench.codes.load_codes")
    if arr.dtype == bool:
        positive = arr
    elif np.issubdtype(arr.dtype, np.number):
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise DataError(f"{what}: complex values cannot be binarised ({describe_array(arr)})")
        if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
            raise DataError(f"{what}: contains NaN values ({describe_array(arr)}); binarise finite outputs")
        positive = arr > 0
    else:
        raise DataError(f"{what}: expected numbers (±1, 0/1 or real values), got {describe_array(arr)}")
    return PackedCodes(np.packbits(positive, axis=1), int(arr.shape[1]))


def _mask_padding(words: np.ndarray, bits: int) -> np.ndarray:
    spare = (-bits) % 8
    if spare and words.shape[0] and (words[:, -1] & np.uint8((1 << spare) - 1)).any():
        words = words.copy()
        words[:, -1] &= np.uint8(0xFF ^ ((1 << spare) - 1))
    return words


def unpack_codes(codes: PackedCodes, dtype: Any = np.int8) -> np.ndarray:
    """``(N, bits)`` array of -1/+1 in ``dtype`` from packed codes."""
    bits01 = np.unpackbits(codes.words, axis=1, count=codes.bits)
    out = bits01.astype(dtype, copy=False) if np.dtype(dtype) != np.uint8 else bits01.copy()
    out *= 2
    out -= 1
    return out

