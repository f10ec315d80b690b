"""Hamming distances between packed codes, in blocks of queries against the whole database.

Memory stays ``O(block x n_db)``: on CPU from XOR + popcount of 64-bit words (``np.bitwise_count``
where numpy has it, else a byte lookup table), on CUDA as ``(bits - Q @ D.T) / 2`` with ±1 codes in
float16 (exact: every partial sum is an integer of magnitude <= bits <= 2048). ``device="auto"`` picks
CUDA for large jobs when torch sees a GPU (:func:`hashbench.device.compute_device`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..device import compute_device
from ..errors import DataError
from .packing import PackedCodes

if TYPE_CHECKING:
    import torch

__all__ = ["HAS_BITWISE_COUNT", "distance_dtype", "hamming_distances", "hamming64", "torch_pm1", "matmul_dtype",
           "hamming_torch", "hamming_blocks", "default_block"]

HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
#: popcount of every byte value, for numpy < 2.0 (no ``np.bitwise_count``)
_POPCOUNT_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
#: target size in bytes of the XOR scratch buffer of one CPU distance chunk (stays in cache)
_SCRATCH_BYTES = 1 << 20


def distance_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype holding distances 0..bits."""
    return np.dtype(np.uint8) if bits <= 255 else np.dtype(np.uint16)


def hamming_distances(query: PackedCodes, db: PackedCodes, *, out: np.ndarray | None = None,
                      popcount: str = "auto") -> np.ndarray:
    """Hamming distances ``(len(query), len(db))`` on CPU (uint8, or uint16 above 255 bits).

    Memory is the output plus a ~1 MiB scratch buffer (the database is walked in cache-sized chunks).
    ``popcount`` = ``"auto"`` | ``"bitwise_count"`` (numpy >= 2) | ``"lut"`` (byte lookup table).
    """
    if query.bits != db.bits:
        raise DataError(f"query codes have {query.bits} bits but database codes {db.bits}")
    method = popcount
    if method == "auto":
        method = "bitwise_count" if HAS_BITWISE_COUNT else "lut"
    if method not in ("bitwise_count", "lut"):
        raise ValueError(f"popcount must be auto, bitwise_count or lut, not {popcount!r}")
    if method == "bitwise_count" and not HAS_BITWISE_COUNT:
        raise ValueError("this numpy has no bitwise_count; use popcount='lut'")
    q64, d64 = query.words64(), db.words64()
    return hamming64(q64, d64, distance_dtype(query.bits), out, method)


def hamming64(q64: np.ndarray, d64: np.ndarray, dtype: np.dtype, out: np.ndarray | None,
               method: str = "bitwise_count") -> np.ndarray:
    nq, nw = q64.shape
    nd = d64.shape[0]
    if out is None:
        out = np.empty((nq, nd), dtype=dtype)
    if nq == 0 or nd == 0:
        return out
    chunk = max(256, _SCRATCH_BYTES // (8 * max(1, nq)))
    xor = np.empty((nq, min(chunk, nd)), dtype=np.uint64)
    count = np.empty((nq, min(chunk, nd)), dtype=np.uint8)
    for start in range(0, nd, chunk):
        stop = min(nd, start + chunk)
        width = stop - start
        x, c = xor[:, :width], count[:, :width]
        for w in range(nw):
            np.bitwise_xor(q64[:, w, None], d64[None, start:stop, w], out=x)
            target = out[:, start:stop] if w == 0 and out.dtype == np.uint8 else c
            if method == "bitwise_count":
                np.bitwise_count(x, out=target)
            else:
                np.sum(_POPCOUNT_LUT[x.view(np.uint8).reshape(nq, width, 8)], axis=2, dtype=np.uint8,
                       out=target)
            if target is c:
                if w == 0:
                    out[:, start:stop] = c
                else:
                    out[:, start:stop] += c
    return out



def torch_pm1(codes: PackedCodes, device: Any, dtype: Any) -> "torch.Tensor":
    """±1 codes ``(N, bits)`` as a torch tensor of ``dtype`` on ``device`` (unpacked on the device)."""
    import torch

    words = torch.from_numpy(codes.words).to(device)
    shifts = torch.arange(7, -1, -1, device=device, dtype=torch.uint8)
    bits01 = (words.unsqueeze(-1) >> shifts).bitwise_and_(1).reshape(words.shape[0], -1)[:, : codes.bits]
    return bits01.to(dtype).mul_(2).sub_(1)


def matmul_dtype(bits: int, device: Any) -> "torch.dtype":
    """float16 on CUDA when every partial sum (|x| <= bits) is exact in it, else float32."""
    import torch

    if str(device).startswith("cuda") and bits <= 2048:
        return torch.float16
    return torch.float32


def hamming_torch(q_pm1: "torch.Tensor", d_pm1: "torch.Tensor") -> "torch.Tensor":
    """Hamming distances ``(B, N)`` int32 from ±1 tensors ``(B, bits)`` and ``(N, bits)``: (bits - q.d)/2."""
    import torch

    bits = q_pm1.shape[1]
    dots = (q_pm1 @ d_pm1.T).to(torch.int32)
    return torch.div(bits - dots, 2, rounding_mode="floor")


def hamming_blocks(query: PackedCodes, db: PackedCodes, *, block: int | None = None,
                   device: Any = "auto") -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_query_row, distances (b, len(db)))`` numpy blocks, CPU or CUDA as ``device`` says.

    ``block`` queries per block (default: about 16 MiB of distances per block).
    """
    if query.bits != db.bits:
        raise DataError(f"query codes have {query.bits} bits but database codes {db.bits}")
    block = default_block(db.n) if block is None else max(1, int(block))
    dev = compute_device(device, query.n * db.n)
    dtype = distance_dtype(query.bits)
    if dev == "cpu":
        q64, d64 = query.words64(), db.words64()
        for start in range(0, query.n, block):
            yield start, hamming64(q64[start:start + block], d64, dtype, None)
        return
    mdt = matmul_dtype(query.bits, dev)
    d_pm1 = torch_pm1(db, dev, mdt)
    for start in range(0, query.n, block):
        q_pm1 = torch_pm1(query[start:start + block], dev, mdt)
        yield start, hamming_torch(q_pm1, d_pm1).cpu().numpy().astype(dtype)


def default_block(n_db: int, target_bytes: int = 16 << 20) -> int:
    """Queries per block so that one block's distances take about ``target_bytes``."""
    return int(max(1, min(4096, target_bytes // max(1, n_db))))

