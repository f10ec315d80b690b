"""The fit cache: expensive, bits-independent preprocessing outputs stored once per data and parameters.

A sweep over code lengths or seeds refits a method on the same training matrix many times; the costly
parts that do not depend on the swept value (a covariance and its eigenvectors, k-means anchors, an
anchor graph) are computed once and reloaded::

    digest = data_digest(x)                       # sha256 of the pooled training matrix (dtype, shape, bytes)
    arrays = memo("covariance", {"version": 1}, digest, lambda: {"mean": m, "cov": c})

The key is the sha256 of :data:`FORMAT_VERSION`, the stage name, the canonical JSON of ``params`` and
the data digest; a value is one ``.npz`` file ``<root>/<stage>/<key>.npz``, written atomically
(:func:`hashbench.atomic.atomic_path`) and read with ``np.load(allow_pickle=False)``. A file that
cannot be read, or that names another key, is recomputed and rewritten with one warning (logger
``hashbench.data.fit_cache``); a cache that cannot be written is skipped with one warning. Values are
numpy arrays only, so what comes back from the cache equals, bit for bit, what ``compute`` returned.

Where (:func:`fit_cache_root`): ``$HASHBENCH_FIT_CACHE`` (a folder; ``off`` disables the cache), else
``$HASHBENCH_CACHE/fits``, else ``$XDG_CACHE_HOME/hashbench/fits`` (default ``~/.cache/hashbench/fits``).
Delete the folder to clear it; nothing else refers to it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

from ..atomic import atomic_path

__all__ = ["FIT_CACHE_ENV", "FORMAT_VERSION", "fit_cache_root", "data_digest", "cache_key", "memo"]

log = logging.getLogger(__name__)

#: The folder of the fit cache, or ``off`` to disable it.
FIT_CACHE_ENV = "HASHBENCH_FIT_CACHE"
#: Part of every key: bump it when the file layout changes (old entries are then never read).
FORMAT_VERSION = 1
#: Values of ``$HASHBENCH_FIT_CACHE`` that disable the cache.
OFF = ("off", "0", "none", "false", "no")
_KEY_FIELD = "__fit_cache_key__"
_STAGE = re.compile(r"^[A-Za-z0-9_.-]+$")
#: Bytes hashed per step by :func:`data_digest` (bounds the temporary copy of a non-contiguous matrix).
_DIGEST_BLOCK = 64 << 20


def fit_cache_root() -> Optional[Path]:
    """The cache folder (see the module docstring), or None when ``$HASHBENCH_FIT_CACHE`` is ``off``."""
    explicit = os.environ.get(FIT_CACHE_ENV, "").strip()
    if explicit.lower() in OFF:
        return None
    if explicit:
        return Path(explicit).expanduser()
    shared = os.environ.get("HASHBENCH_CACHE", "").strip()
    if shared:
        return Path(shared).expanduser() / "fits"
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.expanduser("~/.cache")
    return Path(base).expanduser() / "hashbench" / "fits"


def data_digest(x: np.ndarray) -> str:
    """sha256 (hex) of a training matrix: its dtype, shape and bytes in C order (about 1 GB/s; read in
    blocks of 64 MB, so a non-contiguous ``x`` is never copied whole)."""
    x = np.asarray(x)
    digest = hashlib.sha256(f"{x.dtype.str}{x.shape}".encode())
    if x.ndim == 0 or x.shape[0] == 0:
        digest.update(np.ascontiguousarray(x).tobytes())
        return digest.hexdigest()
    rows = max(1, _DIGEST_BLOCK // max(1, x[0].nbytes))
    for start in range(0, x.shape[0], rows):
        digest.update(memoryview(np.ascontiguousarray(x[start:start + rows])).cast("B"))
    return digest.hexdigest()


def cache_key(stage: str, params: Mapping[str, Any], data_digest: str) -> str:
    """sha256 (hex) of the format version, ``stage``, canonical JSON of ``params`` and ``data_digest``."""
    canonical = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(f"v{FORMAT_VERSION}\n{stage}\n{canonical}\n{data_digest}".encode()).hexdigest()


def _load(path: Path, key: str) -> Optional[dict[str, np.ndarray]]:
    """The arrays of ``path`` when it is a readable entry for ``key``; None (with a warning) otherwise."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: np.array(stored[name]) for name in stored.files}
        found = str(arrays.pop(_KEY_FIELD))
        if found != key:
            raise ValueError(f"it holds the entry {found[:16]}..., not {key[:16]}...")
        return arrays
    except Exception as exc:  # a damaged file of any kind is recomputed, never raised
        log.warning("fit cache: %s is unreadable (%s: %s); recomputing it", path, type(exc).__name__, exc)
        return None


def _store(path: Path, key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` and the key to ``path`` atomically; a failure is one warning, not an error."""
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **{_KEY_FIELD: np.array(key)}, **arrays)
    except OSError as exc:
        log.warning("fit cache: cannot write %s (%s); continuing without caching it (set %s to a writable "
                    "folder, or to off)", path, exc, FIT_CACHE_ENV)


def memo(stage: str, params: Mapping[str, Any], data_digest: str,
         compute: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of numpy arrays), or the stored result of an earlier call with the same
    ``stage``, ``params`` (JSON scalars, lists and dicts) and ``data_digest``; with the cache off,
    always ``compute()``. ``stage``: letters, digits, ``_ . -``; a new computation is stored."""
    if not _STAGE.match(stage) or _KEY_FIELD in stage:
        raise ValueError(f"fit cache: stage {stage!r} must be letters, digits, '_', '.' or '-'")
    root = fit_cache_root()
    if root is None:
        return {name: np.asarray(value) for name, value in compute().items()}
    key = cache_key(stage, params, data_digest)
    path = root / stage / f"{key}.npz"
    if path.is_file():
        arrays = _load(path, key)
        if arrays is not None:
            log.debug("fit cache: %s hit (%s)", stage, path)
            return arrays
    arrays = {name: np.asarray(value) for name, value in compute().items()}
    if _KEY_FIELD in arrays or any(value.dtype == object for value in arrays.values()):
        raise ValueError(f"fit cache: stage {stage!r} returned an object array or the reserved name {_KEY_FIELD}")
    _store(path, key, arrays)
    return arrays
