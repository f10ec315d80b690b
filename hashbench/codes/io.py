"""Code files: a run's ``codes.npz`` (packed codes, labels, video ids) and arrays for ``hashbench score``."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..atomic import atomic_path
from ..errors import DataError
from .labels import check_labels
from .packing import pack_codes

__all__ = ["save_codes", "load_codes", "load_array", "load_labels", "CODE_KEYS"]

CODE_KEYS = ("query_codes", "query_labels", "db_codes", "db_labels", "query_ids", "db_ids", "bits")


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
        missing = [k for k in CODE_KEYS if k not in npz.files]
        if missing:
            raise DataError(f"{path}: not a hashbench codes file, missing key(s) {', '.join(missing)}"
                            f" (has: {', '.join(npz.files) or 'nothing'})")
        data = {k: _read_member(npz, k, path) for k in CODE_KEYS}
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

