"""Downloading a known checkpoint: into a folder (``--dest``, else the first search path), verified
before it is kept (declared sha256, the hash prefix in a torch.hub-style name, not a web page), moved
in place atomically; a file that fails a check is deleted and told in one line."""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from ..errors import DataError
from .digest import digest_problem, looks_like_web_page, sha256_of
from .store import search_paths

if TYPE_CHECKING:
    from ..contract.checkpoints import Checkpoint

__all__ = ["fetch"]

#: ``progress(bytes_so_far, total_or_None)``.
ProgressFn = Callable[[int, Optional[int]], None]


def fetch(checkpoint: "Checkpoint", dest: Optional[Path] = None, progress: Optional[ProgressFn] = None,
          mirror: Optional[str] = None) -> Path:
    """Download ``checkpoint`` into the folder ``dest`` (``~`` expanded; default: the first search path)
    and return the saved file.

    ``mirror``: a base URL holding the same files (``<mirror>/<file>``), e.g. a cluster's shared copy.
    Any URL urllib opens works (``https://``, ``file://``). DataError when there is no URL, the download
    fails, or the file is not the published one (its sha256 differs from the declared one or from the
    prefix in its published name, or it is a web page); nothing is left behind then.
    """
    url = f"{mirror.rstrip('/')}/{checkpoint.file}" if mirror else checkpoint.url
    if not url:
        raise DataError(f"{checkpoint.name}: no download URL is known; get {checkpoint.file} from"
                        f" {checkpoint.source or 'its publisher'} and put it in {search_paths()[0]}")
    folder = Path(dest).expanduser().absolute() if dest is not None else search_paths()[0]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{checkpoint.file}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise DataError(f"{checkpoint.name}: cannot write to {folder}: {exc.strerror or exc}; pass --dest with"
                        " a writable folder") from None
    tmp = Path(tmp_name)
    try:
        _download(url, fd, progress)
        problem = _problem(tmp, checkpoint)
        if problem:
            raise DataError(f"{checkpoint.name}: refused the file from {url}: {problem}; nothing was saved"
                            " (try again, or another --mirror)")
        target = folder / checkpoint.file
        shutil.move(str(tmp), str(target))
    except OSError as exc:
        raise DataError(f"{checkpoint.name}: cannot download {url}: {exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _download(url: str, fd: int, progress: Optional[ProgressFn]) -> None:
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as response:  # noqa: S310
        total = response.headers.get("Content-Length")
        total_bytes = int(total) if total and total.isdigit() else None
        done = 0
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total_bytes)


def _problem(path: Path, checkpoint: "Checkpoint") -> Optional[str]:
    """Why the downloaded file is not ``checkpoint``'s (None when every available check passes)."""
    if looks_like_web_page(path):
        return "it is a web page (HTML), not a checkpoint"
    return digest_problem(checkpoint, sha256_of(path))
