"""Binary hash codes: bit packing, the run directory's ``codes.npz`` and blocked Hamming distances.

A code of ``bits`` bits is stored as ``ceil(bits / 8)`` bytes in :func:`numpy.packbits` order (bit ``i``
is byte ``i // 8``, most significant bit first; padding bits are 0). Bit ``i`` is 1 where the value was
``> 0``: ±1 codes, 0/1 codes and real-valued outputs (sign) all pack the same way (an exact 0 packs as -1).

Hamming distances are computed in blocks of queries against the whole database, so memory stays
``O(block x n_db)``: on CPU from XOR + popcount of 64-bit words (``np.bitwise_count`` where numpy has it,
else a byte lookup table), on CUDA as ``(bits - Q @ D.T) / 2`` with ±1 codes in float16 (exact: every
partial sum is an integer of magnitude <= bits <= 2048). ``device="auto"`` picks CUDA for large jobs when
torch sees a GPU.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from .atomic import atomic_path
from .errors import DataError

if TYPE_CHECKING:
    import torch

__all__ = [
    "PackedCodes", "pack_codes", "unpack_codes", "save_codes", "load_codes", "load_array", "load_labels",
    "check_labels", "hamming_distances", "hamming_blocks", "resolve_device", "HAS_BITWISE_COUNT",
]

HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
#: popcount of every byte value, for numpy < 2.0 (no ``np.bitwise_count``)
_POPCOUNT_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
#: target size in bytes of the XOR scratch buffer of one CPU distance chunk (stays in cache)
_SCRATCH_BYTES = 1 << 20
#: ``device="auto"`` only considers CUDA when query x database pairs reach this many
AUTO_CUDA_MIN_PAIRS = 50_000_000


@dataclass(frozen=True, eq=False)
class PackedCodes:
    """``N`` binary codes of ``bits`` bits: ``words`` uint8 ``(N, ceil(bits/8))``, packbits order."""

    words: np.ndarray
    bits: int

    def __post_init__(self) -> None:
        words = self.words
        if not isinstance(words, np.ndarray) or words.dtype != np.uint8 or words.ndim != 2:
            raise DataError(f"PackedCodes.words must be a 2-D uint8 array, got {_describe(words)}")
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


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__


def _to_numpy(x: Any, what: str) -> np.ndarray:
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
    arr = _to_numpy(x, what)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, int(bits or 0))
    if arr.ndim != 2:
        raise DataError(f"{what}: expected a 2-D array (N codes x bits), got {_describe(arr)}")
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
                            f" (got {_describe(arr)})")
    if arr.shape[1] == 0:
        raise DataError(f"{what}: codes have 0 bits ({_describe(arr)})")
    if arr.dtype == bool:
        positive = arr
    elif np.issubdtype(arr.dtype, np.number):
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise DataError(f"{what}: complex values cannot be binarised ({_describe(arr)})")
        if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
            raise DataError(f"{what}: contains NaN values ({_describe(arr)}); binarise finite outputs")
        positive = arr > 0
    else:
        raise DataError(f"{what}: expected numbers (±1, 0/1 or real values), got {_describe(arr)}")
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


# --------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------
def check_labels(labels: Any, n: int, what: str = "labels") -> np.ndarray:
    """Validated labels: int64 ``(N,)`` class ids, or bool ``(N, C)`` multi-hot.

    Accepts integer or integral float ids (``(N,)``, or a numeric ``(N, 1)`` column), and 0/1 (or bool)
    ``(N, C)`` matrices. Raises DataError naming ``what`` for a row count other than ``n`` or unusable values.
    """
    arr = _to_numpy(labels, what)
    if arr.ndim == 2 and arr.shape[1] == 1 and arr.dtype != bool:  # a column of class ids
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        raise DataError(f"{what}: expected (N,) class ids or (N, C) multi-hot labels, got {_describe(arr)}")
    if arr.shape[0] != n:
        raise DataError(f"{what}: {arr.shape[0]} labels for {n} codes (row counts must match)")
    if arr.dtype == bool:
        return arr if arr.ndim == 2 else arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{what}: expected numeric labels, got {_describe(arr)}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise DataError(f"{what}: labels must be whole numbers (class ids or 0/1), got {_describe(arr)}"
                            " with fractional or non-finite values")
    if arr.ndim == 1:
        return arr.astype(np.int64, copy=False)
    if not np.isin(arr, (0, 1)).all():
        raise DataError(f"{what}: multi-label matrix {arr.shape} must hold only 0/1")
    return arr.astype(bool)


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------
_CODE_KEYS = ("query_codes", "query_labels", "db_codes", "db_labels", "query_ids", "db_ids", "bits")


def save_codes(path: str | os.PathLike[str], *, query_codes: Any, query_labels: Any, db_codes: Any,
               db_labels: Any, query_ids: Sequence[str] | None = None,
               db_ids: Sequence[str] | None = None) -> Path:
    """Write packed codes, labels and video ids to ``path`` (.npz) atomically; returns the path.

    Keys: ``query_codes``/``db_codes`` (packed uint8), ``query_labels``/``db_labels``,
    ``query_ids``/``db_ids`` (unicode, empty when not given), ``bits``.
    """
    path = Path(path)
    qc = pack_codes(query_codes, what="query codes")
    dc = pack_codes(db_codes, bits=qc.bits, what="database codes")
    ql = check_labels(query_labels, qc.n, "query labels")
    dl = check_labels(db_labels, dc.n, "database labels")
    arrays = {
        "query_codes": qc.words, "query_labels": ql, "db_codes": dc.words, "db_labels": dl,
        "query_ids": _ids(query_ids, qc.n, "query ids"), "db_ids": _ids(db_ids, dc.n, "database ids"),
        "bits": np.asarray(qc.bits, dtype=np.int64),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path


def _ids(ids: Sequence[str] | None, n: int, what: str) -> np.ndarray:
    if ids is None:
        return np.array([], dtype="<U1")
    out = np.asarray([str(i) for i in ids])
    if out.shape != (n,):
        raise DataError(f"{what}: {len(out)} ids for {n} codes")
    return out


def load_codes(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``codes.npz`` written by :func:`save_codes`.

    Returns ``{"query_codes": PackedCodes, "query_labels", "db_codes": PackedCodes, "db_labels",
    "query_ids": list[str] | None, "db_ids": list[str] | None, "bits": int}``. DataError names the file and
    the missing or malformed key.
    """
    path = Path(path)
    with _open_npz(path) as npz:
        missing = [k for k in _CODE_KEYS if k not in npz.files]
        if missing:
            raise DataError(f"{path}: not a hashbench codes file, missing key(s) {', '.join(missing)}"
                            f" (has: {', '.join(npz.files) or 'nothing'})")
        data = {k: _read_member(npz, k, path) for k in _CODE_KEYS}
    bits = int(data["bits"])
    out: dict[str, Any] = {"bits": bits}
    for side in ("query", "db"):
        codes = pack_codes(data[f"{side}_codes"], bits=bits, what=f"{path}: {side}_codes")
        out[f"{side}_codes"] = codes
        out[f"{side}_labels"] = check_labels(data[f"{side}_labels"], codes.n, f"{path}: {side}_labels")
        ids = data[f"{side}_ids"]
        if ids.size and ids.shape != (codes.n,):
            raise DataError(f"{path}: {side}_ids has {ids.size} entries for {codes.n} codes")
        out[f"{side}_ids"] = [str(i) for i in ids] if ids.size else None
    return out


class _open_npz:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        if not self.path.is_file():
            raise DataError(f"{self.path}: file not found")
        try:
            self.npz = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"{self.path}: not a readable .npz file ({_first_line(exc)})") from None
        if not hasattr(self.npz, "files"):
            raise DataError(f"{self.path}: expected an .npz archive, found a single array")
        return self.npz

    def __exit__(self, *exc: Any) -> None:
        self.npz.close()


def _read_member(npz: Any, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: key {key!r} cannot be read ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_array(spec: str | os.PathLike[str], role: str) -> tuple[np.ndarray, int | None]:
    """Load one array for ``hashbench score``: ``FILE.npy``, ``FILE.npz`` or ``FILE.npz:KEY``.

    For an .npz without ``:KEY``, the member named ``role`` (``query_codes``, ``db_labels``, ...) is used
    when present (so a run's ``codes.npz`` works for every option), else its only member. Returns the
    array and the ``bits`` stored beside it (a hashbench codes file), or None. DataError otherwise.
    """
    text = str(spec)
    key = None
    if ":" in text and not Path(text).exists():
        text, key = text.rsplit(":", 1)
    path = Path(text)
    if not path.is_file():
        raise DataError(f"{path}: file not found (for {role.replace('_', ' ')})")
    if path.suffix.lower() == ".npy":
        if key is not None:
            raise DataError(f"{spec}: a key can only be chosen in an .npz file")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npy file ({_first_line(exc)})") from None
        if not isinstance(arr, np.ndarray):
            raise DataError(f"{path}: expected a single array")
        return arr, None
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path}: unsupported file type {path.suffix or '(none)'}; use .npy or .npz")
    with _open_npz(path) as npz:
        names = list(npz.files)
        if key is None:
            if role in names:
                key = role
            elif len(names) == 1:
                key = names[0]
            else:
                raise DataError(f"{path}: holds {', '.join(names) or 'no arrays'}; choose one with"
                                f" {path}:KEY")
        elif key not in names:
            raise DataError(f"{path}: no array named {key!r} (has: {', '.join(names) or 'nothing'})")
        arr = _read_member(npz, key, path)
        bits = int(_read_member(npz, "bits", path)) if "bits" in names and key.endswith("_codes") else None
    return arr, bits


def load_labels(spec: str | os.PathLike[str], role: str, n: int) -> np.ndarray:
    """Labels for ``n`` codes from a file spec (see :func:`load_array`), checked (DataError names it)."""
    arr, _ = load_array(spec, role)
    return check_labels(arr, n, f"{spec} ({role.replace('_', ' ')})")


# --------------------------------------------------------------------------------------------------
# Hamming distances
# --------------------------------------------------------------------------------------------------
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
    return _hamming64(q64, d64, distance_dtype(query.bits), out, method)


def _hamming64(q64: np.ndarray, d64: np.ndarray, dtype: np.dtype, out: np.ndarray | None,
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


def resolve_device(device: Any = "auto", pairs: int = 0) -> str:
    """``"cpu"`` or a CUDA device string; ``"auto"`` = CUDA when torch sees a GPU and ``pairs`` is large."""
    name = str(device) if device is not None else "auto"
    if name == "auto":
        if pairs < AUTO_CUDA_MIN_PAIRS:
            return "cpu"
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise DataError(f"device {name!r} requested but torch sees no CUDA GPU; use device 'cpu'")
    elif name != "cpu":
        raise DataError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
    return name


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
    dev = resolve_device(device, query.n * db.n)
    dtype = distance_dtype(query.bits)
    if dev == "cpu":
        q64, d64 = query.words64(), db.words64()
        for start in range(0, query.n, block):
            yield start, _hamming64(q64[start:start + block], d64, dtype, None)
        return
    mdt = matmul_dtype(query.bits, dev)
    d_pm1 = torch_pm1(db, dev, mdt)
    for start in range(0, query.n, block):
        q_pm1 = torch_pm1(query[start:start + block], dev, mdt)
        yield start, hamming_torch(q_pm1, d_pm1).cpu().numpy().astype(dtype)


def default_block(n_db: int, target_bytes: int = 16 << 20) -> int:
    """Queries per block so that one block's distances take about ``target_bytes``."""
    return int(max(1, min(4096, target_bytes // max(1, n_db))))

